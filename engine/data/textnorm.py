"""Text normalisation: whitespace, and full-width/half-width characters chosen by the script around them."""

from __future__ import annotations

import re

from .model import Conversation

_FULL_ALNUM = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
_HALF_TO_FULL = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}
_FULL_TO_HALF = {v: k for k, v in _HALF_TO_FULL.items()}


def is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\u3040" <= ch <= "\u30ff")


def normalize_text(text: str, *, whitespace: bool = True, width: bool = True) -> str:
    """Whitespace: CRLF → LF, no trailing spaces, at most one blank line, trimmed ends.
    Width: full-width letters/digits → ASCII; ``,!?:;()`` full-width after CJK text, ASCII after Latin text."""
    if width:
        text = text.translate(_FULL_ALNUM)
        out = []
        for i, ch in enumerate(text):
            prev = text[i - 1] if i else ""
            if ch in _HALF_TO_FULL and is_cjk(prev) and ch not in "()":
                ch = _HALF_TO_FULL[ch]
            elif ch in _FULL_TO_HALF and prev.isascii() and prev.isalnum():
                ch = _FULL_TO_HALF[ch]
            out.append(ch)
        text = "".join(out)
    if whitespace:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
        text = re.sub(r"[ \t]+\n", "\n", text)
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text


def normalize(msgs: list[dict], mode: str = "all") -> list[dict]:
    ws, width = mode in ("all", "whitespace"), mode in ("all", "width")
    out = [dict(m, content=normalize_text(m["content"], whitespace=ws, width=width))
           if isinstance(m.get("content"), str) else m for m in msgs]
    return msgs.copy_with(out) if isinstance(msgs, Conversation) else out
