"""Task presets as the wizard shows them: names and reasons in the user's language (the engine applies them)."""

from __future__ import annotations

from engine.tasks import load, settings  # noqa: F401 - the engine decides; screens import them from here

from .strings import localised


def text(entry: dict, key: str) -> str:
    return localised(entry.get(key, ""))
