"""Task presets (presets/tasks.yaml): training defaults per kind of fine-tune, each with its reason.

engine.plan.make applies them (``danlu plan --task`` and the wizard's Plan screen alike) and says each value it
takes from a preset; the wizard shows a preset's name and its reason (prose, no numbers) in the user's language."""

from __future__ import annotations

import functools

from ..core import paths

@functools.lru_cache(maxsize=1)
def load() -> dict:
    import yaml

    return yaml.safe_load((paths.presets_dir() / "tasks.yaml").read_text(encoding="utf-8")) or {}


def names() -> list[str]:
    return list(load())
