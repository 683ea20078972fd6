"""Task presets (presets/tasks.yaml): training defaults per kind of fine-tune, each with its reason."""

from __future__ import annotations

import functools

from .strings import current_lang


@functools.lru_cache(maxsize=1)
def load() -> dict:
    import yaml

    from engine import paths

    return yaml.safe_load((paths.presets_dir() / "tasks.yaml").read_text(encoding="utf-8")) or {}


def text(entry: dict, key: str) -> str:
    value = entry.get(key, "")
    if isinstance(value, dict):
        return value.get(current_lang()) or value.get("en", "")
    return str(value)


def settings(task: str, model: str, method: str) -> dict:
    """The TrainConfig fields a task sets for this model and method (demo models keep their own lr)."""
    entry = load().get(task) or load().get("general", {})
    out = {k: entry[k] for k in ("epochs", "lora_r", "lora_alpha", "lora_dropout", "warmup_ratio") if k in entry}
    out["lr"] = entry.get("lr_full" if method == "full" else "lr", 2e-4)
    if model.startswith("demo:"):
        from engine import demo

        s = demo.settings(model)  # the demo's own settings (random init: a much higher lr than pretrained models)
        out["lr"] = float(s["lr"][method])
        out.update({k: s[k] for k in ("epochs", "lora_r", "lora_alpha", "lora_dropout") if k in s})
    return out
