"""Task presets (presets/tasks.yaml): training defaults per kind of fine-tune, each with its reason.

The engine applies them (``danlu plan --task`` and the wizard's Plan screen alike); the wizard only shows
their names and reasons in the user's language."""

from __future__ import annotations

import functools

from . import paths
from .errors import DanluError

TASK_KEYS = ("epochs", "lora_r", "lora_alpha", "lora_dropout", "warmup_ratio")


@functools.lru_cache(maxsize=1)
def load() -> dict:
    import yaml

    return yaml.safe_load((paths.presets_dir() / "tasks.yaml").read_text(encoding="utf-8")) or {}


def names() -> list[str]:
    return list(load())


def settings(task: str, model: str, method: str) -> dict:
    """The TrainConfig fields a task sets for this model and method (a demo model keeps its own lr, epochs and
    LoRA shape: the random-init ones need a much higher learning rate than a pretrained model)."""
    presets = load()
    if task not in presets:
        raise DanluError(f"unknown task preset {task!r}", fix=f"use one of {', '.join(presets)}")
    entry = presets[task]
    out = {k: entry[k] for k in TASK_KEYS if k in entry}
    out["lr"] = float(entry.get("lr_full" if method == "full" else "lr", 2e-4))
    if model.startswith("demo:"):
        from . import demo

        own = demo.settings(model)
        out["lr"] = float(own["lr"][method])
        out.update({k: own[k] for k in ("epochs", "lora_r", "lora_alpha", "lora_dropout") if k in own})
    return out
