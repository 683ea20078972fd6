"""Engine texts a viewer may say in its own language.

The engine speaks English: its plans, warnings and reports are plain strings, printed by the CLI and written to
JSON as they are.  A :class:`Msg` is such a string that also remembers what it says — a ``code`` and the values it
was made from — so that the wizard can show its own words for it (``tui.strings.say``) and fall back to the English
text for a code it does not know.  The engine decides what is said; a viewer only chooses the words.
"""

from __future__ import annotations


class Msg(str):
    """An English text with its ``code`` and ``args`` (the values in it, by name; a value may be a Msg too)."""

    code: str | None
    args: dict

    def __new__(cls, text: str = "", code: str | None = None, **args):
        obj = super().__new__(cls, text)
        obj.code, obj.args = code, args
        return obj

    def __reduce__(self):  # copies and pickles (dataclasses.asdict deep-copies) keep the code and args
        return (_rebuild, (str(self), self.code, self.args))


def _rebuild(text, code, args):
    return Msg(text, code, **args)


def msg(code: str, template: str, **args) -> Msg:
    """``template`` formatted with ``args``, remembering both (``msg("fits", "fits at {gb} GB", gb=3)``)."""
    return Msg(template.format(**args), code, **args)
