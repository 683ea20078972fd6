"""The forgetting guard's data side: the built-in general prompts (presets/replay_prompts.yaml), how many replay
conversations a share asks for, and the training data's languages.  The answers are made by the base model when
training starts (engine.train.replay); the plan counts them here (engine.plan.make)."""

from __future__ import annotations

import functools
import math

from ..core import paths


@functools.lru_cache(maxsize=1)
def prompts() -> dict:
    import yaml

    return yaml.safe_load((paths.presets_dir() / "replay_prompts.yaml").read_text(encoding="utf-8")) or {}


def count(share: float, train: int, languages=("en",)) -> int:
    """How many general conversations make ``share`` of the mixed set (at most the built-in prompts there are in
    ``languages``)."""
    if not share or share <= 0 or train <= 0:
        return 0
    available = sum(len(prompts().get(lang, [])) for lang in languages)
    return min(available, math.ceil(share * train / (1 - share)))


def languages(convs: list) -> tuple:
    """The training data's languages, most conversations first (engine.data.select's rule)."""
    from .select import language

    seen: dict[str, int] = {}
    for c in convs:
        lang = language(c)
        seen[lang] = seen.get(lang, 0) + 1
    return tuple(sorted(seen, key=lambda k: -seen[k])) or ("en",)
