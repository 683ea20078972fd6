"""The one error type the CLI turns into a clean message (DESIGN.md §4).

A :class:`DanluError` says *what* went wrong, *where* (file, line, field) and
*how to fix it*.  The CLI prints it on one line and exits with code 2; only
``--debug`` shows a traceback.  ``what`` and ``fix`` may be :class:`~.texts.Msg`
texts: the error then carries their ``code`` and values, so the Chinese wizard
says it in its own words (``tui.strings.error_text``) and the CLI in English.
"""

from __future__ import annotations


class DanluError(Exception):
    """A user-facing error: bad input, missing file, impossible request."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None, code: str | None = None):
        self.what = what
        self.where = where
        self.fix = fix
        # what the error is, for a viewer in another language: the code of its text (or the one given), and the
        # values the text was made from
        self.code = code or getattr(what, "code", None)
        self.values = dict(getattr(what, "args", None) or {})
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.what
        if self.where:
            text = f"{self.where}: {text}"
        if self.fix:
            text = f"{text} — {self.fix}"
        return text


def debug_hint(what: str = "the traceback") -> str:
    """Where to look for the details of an unexpected failure: --debug, or (under --debug) the traceback shown."""
    import os

    if os.environ.get("DANLU_DEBUG") == "1":
        return f"see {what} printed above (--debug)"
    return f"rerun with --debug for {what}"
