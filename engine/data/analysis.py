"""One pass over conversations: what each cleaning rule would remove (exact and near duplicates, overlong rows),
character and token lengths and their statistics.

The pass keeps a few numbers per record (line, hash, MinHash signature, length), so that the streaming commands can
decide on a whole file before writing it in a second pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..core.errors import DanluError
from ..core.texts import msg
from . import dedup
from .model import SEVERITY, DataReport, Problem
from .textnorm import normalize

DEFAULT_MAX_CHARS = 16000  # the overlong rule's default limit (characters of all turns together)
CLEAN_RULES = ("exact_duplicate", "near_duplicate", "overlong")  # the cleaning rules, in the order they apply

def _pct(sorted_vals: list[int], q: float) -> int:
    if not sorted_vals:
        return 0
    return sorted_vals[min(len(sorted_vals) - 1, int(round(q * (len(sorted_vals) - 1))))]


def length_stats(values: list[int], bins: int = 10) -> dict:
    """min/median/p95/p99/max/mean and a histogram of equal-width bins."""
    if not values:
        return {"count": 0}
    s = sorted(values)
    lo, hi = s[0], s[-1]
    width = max(1, -(-(hi - lo + 1) // bins))
    hist = [0] * bins
    for v in s:
        hist[min(bins - 1, (v - lo) // width)] += 1
    return {"count": len(s), "min": lo, "median": _pct(s, 0.5), "p95": _pct(s, 0.95), "p99": _pct(s, 0.99),
            "max": hi, "mean": round(sum(s) / len(s), 1),
            "histogram": [{"from": lo + i * width, "to": lo + (i + 1) * width - 1, "count": c} for i, c in enumerate(hist)]}


@dataclass
class Analysis:
    """What one pass over the conversations found: per record, its place, and which rule removes it."""

    lines: list = field(default_factory=list)  # (file, line)
    chars: list = field(default_factory=list)
    previews: list = field(default_factory=list)
    by: list = field(default_factory=list)  # value of the --by column, per record
    removed: dict = field(default_factory=dict)  # index -> rule
    sigs: object = None
    pairs: list = field(default_factory=list)  # near-duplicate (later, earlier, similarity)
    tokens: list = field(default_factory=list)
    token_errors: int = 0

    @property
    def n(self) -> int:
        return len(self.lines)


def preview(msgs) -> str:
    first = next((m["content"] for m in msgs if m["role"] == "user" and isinstance(m.get("content"), str)), "")
    first = " ".join(first.split())
    return first[:100] + ("…" if len(first) > 100 else "")


def analyse(convs: Iterable, report: DataReport | None = None, *, max_chars: int | None = None,
            near_dup_threshold: float | None = dedup.DEFAULT_THRESHOLD, normalize_mode: str | None = None,
            by: str | None = None, tokenizer=None, action: str = "kept") -> Analysis:
    """One pass: exact duplicates, overlong rows, MinHash signatures, lengths; then near duplicates."""
    import numpy as np

    if near_dup_threshold is not None and not 0 < near_dup_threshold <= 1:
        raise DanluError(f"near-duplicate threshold must be in (0, 1], got {near_dup_threshold}",
                         fix="e.g. --near-dup-threshold 0.9 (higher = only closer copies)")
    a = Analysis()
    seen: dict[str, int] = {}
    texts: list[str] = []
    sig_parts = []
    tok_batch: list = []

    def add(p: Problem):
        p.severity = SEVERITY.get(p.kind, "warning")
        if report is not None:
            report.problems.append(p)

    def flush_tokens():
        if tok_batch:
            lens, errs = token_lengths(tokenizer, tok_batch)
            a.tokens.extend(lens)
            a.token_errors += errs
            tok_batch.clear()

    for i, msgs in enumerate(convs):
        if normalize_mode:
            msgs = normalize(msgs, normalize_mode)
        file, line = getattr(msgs, "file", ""), getattr(msgs, "line", i + 1)
        a.lines.append((file, line))
        size = sum(len(m["content"]) for m in msgs if isinstance(m.get("content"), str))
        a.chars.append(size)
        a.previews.append(preview(msgs))
        if by is not None:
            a.by.append((getattr(msgs, "meta", {}) or {}).get(by))
        key = dedup.conversation_key(msgs)
        if key in seen:
            j = seen[key]
            a.removed[i] = "exact_duplicate"
            add(Problem(file, line, "-", msg("exact_duplicate", "exact duplicate of line {line}", line=a.lines[j][1]),
                        msg("fix_exact_duplicate", "danlu data clean removes it"),
                        kind="exact_duplicate", action=action, duplicate_of=a.lines[j][1]))
        else:
            seen[key] = i
            if max_chars and size > max_chars:
                a.removed[i] = "overlong"
                add(Problem(file, line, "-", msg("overlong", "overlong: {size:,} characters (limit {limit:,})",
                                                 size=size, limit=max_chars),
                            msg("fix_overlong", "shorten or drop it (danlu data clean drops rows over --max-chars)"),
                            kind="overlong", action=action))
        if near_dup_threshold is not None:
            texts.append(dedup.dedup_text(msgs))
            if len(texts) >= 4096:
                sig_parts.append(dedup.signatures(texts))
                texts = []
        if tokenizer is not None:
            tok_batch.append(msgs)
            if len(tok_batch) >= 256:
                flush_tokens()
    flush_tokens()
    if near_dup_threshold is not None:
        if texts:
            sig_parts.append(dedup.signatures(texts))
        a.sigs = np.vstack(sig_parts) if sig_parts else np.empty((0, dedup.NUM_PERM), dtype=np.uint32)
        skip = np.zeros(a.n, dtype=bool)
        for i in a.removed:
            skip[i] = True
        a.pairs = dedup.near_duplicates(a.sigs, near_dup_threshold, skip=skip)
        for later, earlier, sim in a.pairs:
            a.removed[later] = "near_duplicate"
            file, line = a.lines[later]
            add(Problem(file, line, "-", msg("near_duplicate", "near duplicate of line {line} (similarity {sim:.2f})",
                                             line=a.lines[earlier][1], sim=sim),
                        msg("fix_near_duplicate",
                            "danlu data clean removes it (raise --near-dup-threshold to keep closer variants)"),
                        kind="near_duplicate", action=action, duplicate_of=a.lines[earlier][1],
                        similarity=round(sim, 3)))
    if report is not None:
        report.problems.sort(key=lambda p: (p.file, p.line))
        report.stats["chars"] = length_stats(a.chars)
        if near_dup_threshold is not None:
            report.stats["near_duplicate_examples"] = [
                {"line": a.lines[x][1], "duplicate_of": a.lines[y][1], "similarity": round(s, 3),
                 "text": a.previews[x], "other": a.previews[y]} for x, y, s in a.pairs[:5]]
            report.stats["near_dup_threshold"] = near_dup_threshold
    return a


def token_lengths(tokenizer, convs: list) -> tuple[list[int], int]:
    """Token counts with the model's chat template (engine.models.encode.token_lengths); conversations the template
    rejects are counted as errors."""
    from ..models.encode import token_lengths as count

    counted = count(tokenizer, convs)
    return [n for n in counted if n is not None], sum(1 for n in counted if n is None)


def token_report(a: Analysis, model: str, max_seq_len: int | None) -> dict:
    stats = length_stats(a.tokens)
    stats["model"] = model
    stats["template_errors"] = a.token_errors
    if max_seq_len:
        stats["max_seq_len"] = max_seq_len
        stats["truncated"] = sum(1 for t in a.tokens if t > max_seq_len)
    return stats
