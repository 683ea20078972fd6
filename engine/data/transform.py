"""In-memory steps on loaded conversations (quickstart, the wizard, ``prepare_run``): clean, split, leakage, mix."""

from __future__ import annotations

import random

from ..core.errors import DanluError
from . import dedup
from .analysis import CLEAN_RULES, DEFAULT_MAX_CHARS, preview, analyse  # noqa: F401
from .model import DataReport
from .pipeline import load
from .textnorm import normalize

def clean(convs: list, *, max_chars: int | None = DEFAULT_MAX_CHARS,
          near_dup_threshold: float | None = dedup.DEFAULT_THRESHOLD, normalize_mode: str | None = None,
          report: DataReport | None = None) -> tuple[list, dict]:
    """Drop exact duplicates, overlong rows and near duplicates (the same defaults as ``danlu data clean`` and the
    wizard's Data screen; ``near_dup_threshold=None`` keeps near duplicates); return counts per rule."""
    if normalize_mode:
        convs = [normalize(m, normalize_mode) for m in convs]
    a = analyse(convs, report, max_chars=max_chars, near_dup_threshold=near_dup_threshold, action="removed")
    removed = {"exact_duplicate": 0, "overlong": 0}
    if near_dup_threshold is not None:
        removed["near_duplicate"] = 0
    for rule in a.removed.values():
        removed[rule] = removed.get(rule, 0) + 1
    return [m for i, m in enumerate(convs) if i not in a.removed], removed


def split_counts(n: int, eval_ratio: float) -> tuple[int, int]:
    """How many of n records a split puts in train and in eval: at least one eval record when asked for any and
    there are two, never all of them."""
    if not 0 <= eval_ratio < 1:
        raise DanluError(f"eval ratio must be in [0, 1), got {eval_ratio}", fix="e.g. --eval-ratio 0.1")
    n_eval = int(round(n * eval_ratio))
    if eval_ratio > 0 and n >= 2:
        n_eval = max(1, n_eval)
    n_eval = min(n_eval, max(0, n - 1))
    return n - n_eval, n_eval


def split_indices(n: int, eval_ratio: float, seed: int, by_values: list | None = None) -> list[int]:
    """0 = train, 1 = eval for each of n records: random with a seed, or by a column (the latest values to eval)."""
    side = [0] * n
    n_eval = split_counts(n, eval_ratio)[1]
    if by_values is None:
        order = list(range(n))
        random.Random(seed).shuffle(order)
        for i in order[:n_eval]:
            side[i] = 1
        return side
    groups: dict = {}
    for i, v in enumerate(by_values):
        groups.setdefault(_sort_key(v), []).append(i)
    taken = 0
    for key in sorted(groups, reverse=True):  # the latest / highest values go to eval, whole groups at a time
        if taken >= n_eval or len(groups) == 1:
            break
        if taken + len(groups[key]) >= n and taken:
            break
        for i in groups[key]:
            side[i] = 1
        taken += len(groups[key])
    return side


def _sort_key(v):
    if isinstance(v, bool) or v is None:
        return (2, str(v))
    if isinstance(v, (int, float)):
        return (0, float(v), "")
    s = str(v)
    try:
        return (0, float(s), "")
    except ValueError:
        return (1, s)


def split(convs: list, eval_ratio: float = 0.1, seed: int = 42, *, by: str | None = None) -> tuple[list, list]:
    """Train/eval split: random with a seed, or by a record field (time or id) so that eval is later than train."""
    values = None
    if by is not None:
        values = [(getattr(m, "meta", {}) or {}).get(by) for m in convs]
        missing = [m for m, v in zip(convs, values) if v is None]
        if missing:
            m = missing[0]
            raise DanluError(f"{len(missing)} record(s) have no field {by!r}", where=f"{m.file}:{m.line}",
                             fix="split by a field every record has (e.g. id or date), or drop --by")
    side = split_indices(len(convs), eval_ratio, seed, values)
    return [m for m, s in zip(convs, side) if s == 0], [m for m, s in zip(convs, side) if s == 1]


def leakage(convs_train: list, convs_eval: list, threshold: float = dedup.DEFAULT_THRESHOLD) -> dict:
    """Near duplicates across train and eval (exact copies included)."""
    both = list(convs_train) + list(convs_eval)
    sigs = dedup.signatures([dedup.dedup_text(m) for m in both])
    side = [0] * len(convs_train) + [1] * len(convs_eval)
    return leak_summary(dedup.cross_pairs(sigs, side, threshold),
                         [(getattr(m, "file", ""), getattr(m, "line", i + 1)) for i, m in enumerate(both)],
                         [preview(m) for m in both])


def leak_summary(pairs, lines, previews) -> dict:
    evals = {j for _, j, _ in pairs}
    return {"pairs": len(pairs), "eval_records_leaked": len(evals),
            "examples": [{"train_line": lines[i][1], "eval_line": lines[j][1], "similarity": round(s, 3),
                          "train": previews[i], "eval": previews[j]} for i, j, s in pairs[:5]]}


def mix_in(path, k_ratio: float, n_main: int, seed: int) -> tuple[list, dict]:
    """Sample ``round(k_ratio × n_main)`` conversations from a general instruction set (against forgetting)."""
    if not 0 < k_ratio <= 10:
        raise DanluError(f"mix ratio must be in (0, 10], got {k_ratio}", fix="e.g. --mix-ratio 0.1 (10 %)")
    convs, rep = load(path)
    want = int(round(k_ratio * n_main))
    picked = random.Random(seed).sample(convs, min(want, len(convs)))
    info = {"file": str(path), "ratio": k_ratio, "wanted": want, "added": len(picked), "available": len(convs),
            "format": rep.format, "skipped": sum(1 for p in rep.problems if p.action == "skipped")}
    if want > len(convs):
        info["note"] = f"asked for {want} but the mix file has only {len(convs)} usable conversations"
    return picked, info
