"""Task presets as the wizard shows them: names and reasons in the user's language (the engine applies them)."""

from __future__ import annotations

from danlu.engine.plan import load_tasks as load  # noqa: F401 - the engine decides (engine.plan); screens read names and reasons

from .strings import localised


def text(entry: dict, key: str) -> str:
    return localised(entry.get(key, ""))
