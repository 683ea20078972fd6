"""JSON for the hot path: orjson when it is installed (several times faster), the standard library otherwise.

Results are the same values either way: whatever orjson refuses that the standard library accepts (NaN,
lone surrogate escapes, integers beyond 64 bits) is handed to :mod:`json`, and its errors are what users see.
"""

from __future__ import annotations

import json
import re

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency, but the data step works without it
    orjson = None


# orjson reads an integer below -2**63 or above 2**64 - 1 as a float (no error), losing digits: text with a run of 19
# or more digits goes to the standard library, which keeps every integer exact (a long number inside a string only
# costs the faster parser for that line)
_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_B = re.compile(rb"[0-9]{19}")


def loads(text: str | bytes):
    if orjson is not None and (_LONG_DIGITS_B if isinstance(text, (bytes, bytearray)) else _LONG_DIGITS).search(text) is None:
        try:
            return orjson.loads(text)
        except (orjson.JSONDecodeError, TypeError):
            pass
    return json.loads(text)


def dumps(obj) -> str:
    """Compact JSON text (one line), non-ASCII kept as it is."""
    if orjson is not None:
        try:
            return orjson.dumps(obj).decode("utf-8")
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def dumps_bytes(obj) -> bytes:
    """:func:`dumps` as UTF-8 bytes (lone surrogates, which UTF-8 cannot hold, are written as escapes)."""
    if orjson is not None:
        try:
            return orjson.dumps(obj)
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")
