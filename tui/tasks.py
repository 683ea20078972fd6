"""Task presets as the wizard shows them: names and reasons in the user's language (the engine applies them)."""

from __future__ import annotations

from engine.tasks import load, settings  # noqa: F401 - the engine decides; screens import them from here

from .strings import current_lang


def text(entry: dict, key: str) -> str:
    value = entry.get(key, "")
    if isinstance(value, dict):
        return value.get(current_lang()) or value.get("en", "")
    return str(value)
