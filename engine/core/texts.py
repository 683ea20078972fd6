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

    def __new__(cls, text: str = "", code: str | None = None, /, **args):  # any value name, text and code too
        obj = super().__new__(cls, text)
        obj.code, obj.args = code, args
        return obj

    def __reduce__(self):  # copies and pickles (dataclasses.asdict deep-copies) keep the code and args
        return (_rebuild, (str(self), self.code, self.args))


def _rebuild(text, code, args):
    return Msg(text, code, **args)


def msg(code: str, template: str, /, **args) -> Msg:
    """``template`` formatted with ``args``, remembering both (``msg("fits", "fits at {gb} GB", gb=3)``)."""
    return Msg(template.format(**args), code, **args)


def to_json(value):
    """A value that may hold Msgs, as JSON keeps it: a Msg becomes ``{"msg": text, "code": code, "args": {…}}`` (its
    values the same way), a tuple a list; :func:`from_json` gives the Msg back, so that a text written into a run's
    events can still be said in a viewer's language."""
    if isinstance(value, Msg) and value.code:
        return {"msg": str(value), "code": value.code, "args": {k: to_json(v) for k, v in value.args.items()}}
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return str(value) if isinstance(value, str) else value


def from_json(value):
    """The value :func:`to_json` wrote, its Msgs whole again (a list comes back as a tuple: a list of texts)."""
    if isinstance(value, dict) and set(value) == {"msg", "code", "args"}:
        return Msg(str(value["msg"]), value["code"], **{k: from_json(v) for k, v in dict(value["args"]).items()})
    if isinstance(value, list):
        return tuple(from_json(v) for v in value)
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    return value


def said(value):
    """The Msgs inside a JSON-shaped value, in its shape (dicts and lists), as :func:`to_json` writes them; None
    where there are none.  A file written for any reader keeps its texts as plain strings and its ``said`` beside
    them, so that :func:`with_said` gives a viewer the Msgs back (``{"verdict": Msg, "n": 3}`` gives
    ``{"verdict": {…}}``)."""
    if isinstance(value, Msg) and value.code:
        return to_json(value)
    if isinstance(value, dict):
        out = {k: s for k, s in ((k, said(v)) for k, v in value.items() if k != "said") if s is not None}
        return out or None
    if isinstance(value, (list, tuple)):
        out = [said(v) for v in value]
        return out if any(s is not None for s in out) else None
    return None


def with_said(value, saying=None):
    """``value`` with the Msgs :func:`said` kept for it put back in their places (``saying``: its ``said`` key's by
    default); a place whose plain text no longer matches keeps the plain text."""
    if saying is None and isinstance(value, dict):
        saying = value.get("said")
    if saying is None:
        return value
    if isinstance(value, dict) and isinstance(saying, dict) and set(saying) == {"msg", "code", "args"}:
        return value
    if isinstance(value, str) and isinstance(saying, dict) and set(saying) == {"msg", "code", "args"}:
        m = from_json(saying)
        return m if str(m) == value else value
    if isinstance(value, dict) and isinstance(saying, dict):
        return {k: with_said(v, saying.get(k)) if k in saying else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(saying, list):
        return [with_said(v, s) if s is not None else v for v, s in zip(value, saying)] + value[len(saying):]
    return value
