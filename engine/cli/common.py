"""What every command shares: the one-line argparse error, --json output (one document, printed last), stream
handling and number arguments."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from ..core.errors import DanluError

EPILOG = "Run `danlu` with no arguments to open the wizard. Docs: README.md."


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, and where to look
        # argparse lists an optional KEY=VALUE list among the "required" ones when the argument before it is
        # missing: name only what is really missing
        message = re.sub(r"(the following arguments are required: .*?)(, KEY=VALUE)+$", r"\1", message)
        raise DanluError(f"{message}", where=self.prog, fix=f"see `{self.prog} --help`")


# --json: a command's result and its error are printed by main() at the very end, as ONE document (a result that
# ends in an error, e.g. a data report with no usable record, is that result with an "error" key)
RESULT: list = []
ERROR: list = []


def out(args, obj, text: str | None = None):
    if getattr(args, "json", False):
        RESULT[:] = [obj]
    elif text is not None:
        print(text)


def json_error(what, where, fix, exit_code: int) -> None:
    ERROR[:] = [{"what": what, "where": where, "fix": fix, "exit_code": exit_code}]


def emit(status: int) -> int:
    """Print the --json document (if any) and flush stdout.  A reader that went away (``| head -1``) is not an
    error of danlu's: the command's own status stands, and nothing more is written to the closed pipe."""
    doc = RESULT[0] if RESULT else None
    if ERROR:
        doc = {**doc, "error": ERROR[0]} if isinstance(doc, dict) else {"error": ERROR[0]}
    try:
        if doc is not None:
            print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    return status


def silence_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def tolerant_streams() -> None:
    """Print whatever the terminal or pipe accepts: a character its encoding lacks (danlu's own "—", a Chinese
    sample under PYTHONIOENCODING=latin-1) becomes a replacement character, never a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)  # soft wrap: paths stay whole in logs and pipes


# -- train / runs / attach / stop -------------------------------------------------------------
def num(value, fmt: str, missing: str = "-") -> str:
    return format(value, fmt) if value is not None else missing


def print_answers(answers: list[dict]) -> None:
    """Held-out questions with the reference, the base and the tuned answer side by side."""
    if not answers:
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    for i, a in enumerate(answers, 1):
        table = Table(title=f"held-out question {i}: {a['prompt']}", title_justify="left", show_lines=False,
                      expand=True)
        table.add_column("base model", ratio=1)
        table.add_column("tuned model", ratio=1)
        table.add_row(shown_answer(a.get("base")), shown_answer(a.get("tuned")))
        console.print(table)
        if a.get("reference"):
            console.print(f"[dim]reference answer: {clip(a['reference'], 300)}[/dim]")


def shown_answer(text) -> str:
    from rich.markup import escape

    if text is None:
        return "(not compared)"
    if not text.strip():
        return f"(the model answered only whitespace/newlines — {len(text)} characters)"
    return escape(clip(text.strip(), 600))


def clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def number(kind, low=None, high=None, *, low_open=False, what=""):
    """An argparse type: a number of ``kind`` in [low, high] (``low_open``: above low), with the range in the error."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}")
        if value != value or (low is not None and (value <= low if low_open else value < low)) or \
                (high is not None and value > high):
            want = what or (f"more than {low}" if low_open else f"at least {low}" if high is None else
                            f"from {low} to {high}")
            raise argparse.ArgumentTypeError(f"{text} is out of range: {want}")
        return value
    return parse


POS_INT, NONNEG_INT = number(int, 1), number(int, 0)


POS_FLOAT, NONNEG_FLOAT = number(float, 0, low_open=True), number(float, 0)
