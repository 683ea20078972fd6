"""Choosing which conversations a run trains on: by language, and how many.

A model that was pretrained on English learns little from Chinese conversations in a few
steps (its tokenizer spends several tokens per character and it has no prior to build on), so
the demo on the real English-centric model trains on the English half of the bilingual sample
data; the random-init demo models and the data doctor keep both halves.  The rule lives here so
the quickstart, ``danlu plan`` and the wizard select the same conversations.
"""

from __future__ import annotations

import random

from .textnorm import is_cjk

LANGUAGES = ("en", "zh")
# a language's name in each language the wizard speaks (a viewer says "184 Chinese" or "184 条中文", not "184 zh")
LANGUAGE_NAMES = {"en": {"en": "English", "zh": "英文"}, "zh": {"en": "Chinese", "zh": "中文"}}


def language(msgs) -> str:
    """``zh`` when at least 10 % of the conversation's letters are CJK characters, else ``en``."""
    cjk = letters = 0
    for m in msgs:
        for ch in m.get("content") or "":
            if is_cjk(ch):
                cjk += 1
                letters += 1
            elif ch.isalpha():
                letters += 1
    return "zh" if letters and cjk / letters >= 0.1 else "en"


def by_language(convs: list, languages) -> tuple[list, dict]:
    """The conversations in ``languages`` (None or empty: all), and how many of each language were left out."""
    if not languages:
        return list(convs), {}
    keep, dropped = [], {}
    for c in convs:
        lang = language(c)
        if lang in languages:
            keep.append(c)
        else:
            dropped[lang] = dropped.get(lang, 0) + 1
    return keep, dropped


def sample(convs: list, n: int | None, seed: int = 42) -> list:
    """At most ``n`` conversations, a seeded random choice kept in file order (None: all)."""
    if n is None or n >= len(convs):
        return list(convs)
    picked = sorted(random.Random(seed).sample(range(len(convs)), n))
    return [convs[i] for i in picked]
