"""Read the bundled presets (``presets/``): model shapes for offline planning, demo defaults."""

from __future__ import annotations

import functools
import re

from . import paths


@functools.lru_cache(maxsize=None)
def _load(name: str) -> dict:
    import yaml

    return yaml.safe_load((paths.presets_dir() / name).read_text(encoding="utf-8")) or {}


def _norm(model_id: str) -> str:
    return re.sub(r"-(instruct|chat|it)$", "", model_id.strip().lower())


def model_config(model_id: str) -> dict | None:
    """The preset config.json fields for a model id, or None."""
    wanted = _norm(model_id)
    for key, cfg in _load("models.yaml").items():
        if _norm(key) == wanted or _norm(key.split("/")[-1]) == wanted:
            return dict(cfg)
    return None


def model_ids() -> list[str]:
    return list(_load("models.yaml"))


def demo() -> dict:
    return _load("demo.yaml")
