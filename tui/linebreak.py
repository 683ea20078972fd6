"""Line breaking for Chinese on a terminal: where a wrapped line may end.

Rich and Textual wrap at spaces only.  A Chinese sentence has no spaces, so the whole rest of a sentence after its
last space moved to the next line as one "word" (a short first line, then a long one), and a number was left at a
line's end with its unit at the next line's start.  :func:`words` is Rich's word splitter with the breaks a reader
of Chinese expects (the usual rules of CJK line breaking, in short):

* between any two Chinese characters, and between a Chinese character and a Latin word or number;
* never before closing punctuation (，。）…) nor after opening punctuation (（「“…);
* never between a number and the unit after it ("10.1 GB", "5 步"), nor after a legend's mark ("■ 权重");
* never inside a phrase joined by no-break spaces (U+00A0: "■\u00a0优化器\u00a00.04").

:func:`install` puts it in Rich's wrapper, which both Rich texts and Textual's Content wrap with (one place for
every widget); a Rich without that function is left as it is.
"""

from __future__ import annotations

import re
from typing import Iterable

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f]")
NO_BREAK_BEFORE = set("，。、；：！？）」』】》〉”’…·%‰～,.;:!?)]}") | {"\uff05"}
NO_BREAK_AFTER = set("（「『【《〈“‘([{")
UNIT = re.compile(r"(GB|MB|KB|GiB|MiB|TB|B|M|K|s|ms|min|h|%|tok/s|token/s|tokens?|steps?|nats/token|"
                  r"[\u4e00-\u9fff])(?![A-Za-z])")
MARKS = set("■□●○•▪◆◇▶►→✓✗⚠")
NBSP = "\u00a0"
_CHUNK = re.compile(r"[^\S\u00a0]*(?:[^\s]|\u00a0)+[^\S\u00a0]*")  # a run without breakable spaces


def _breaks_inside(word: str) -> list[int]:
    """Offsets inside one space-free run (with its trailing spaces) where a line may break."""
    out = []
    if NBSP in word:  # a phrase kept whole
        return out
    for i in range(1, len(word.rstrip())):
        a, b = word[i - 1], word[i]
        if b in NO_BREAK_BEFORE or a in NO_BREAK_AFTER or not (_WIDE.match(a) or _WIDE.match(b)):
            continue
        if a.isdigit() and UNIT.match(word, i):  # "5步": a number keeps its unit
            continue
        out.append(i)
    return out


def _glued(word: str, rest: str) -> bool:
    """Whether the space after ``word`` must not break: a number before its unit, a legend's mark before its
    label."""
    core = word.rstrip()
    if not core:
        return False
    if core[-1] in MARKS and len(core) <= 2:
        return True
    return core[-1].isdigit() and UNIT.match(rest) is not None


def words(text: str) -> Iterable[tuple[int, int, str]]:
    """Rich's ``rich._wrap.words``: (start, end, word) for each piece a line may break before, a piece keeping the
    spaces after it; with the breaks of the module's docstring."""
    pending = None  # (start, end) of a piece still growing (glued to the next one)
    for match in _CHUNK.finditer(text):
        start, end = match.span()
        word = match.group(0)
        cuts = [start + i for i in _breaks_inside(word)] + [end]
        if pending is not None:
            start = pending
            pending = None
        at = start
        for cut in cuts:
            if cut == end and _glued(text[at:end], text[end:].lstrip()) and end < len(text):
                pending = at
                break
            yield at, cut, text[at:cut]
            at = cut
    if pending is not None:
        yield pending, len(text), text[pending:]


def install() -> bool:
    """Wrap every Rich text and Textual Content with :func:`words` (True when Rich has the function it replaces)."""
    try:
        from rich import _wrap
    except ImportError:  # pragma: no cover - a Rich without it
        return False
    if not callable(getattr(_wrap, "words", None)):
        return False
    _wrap.words = words
    return True
