"""The data doctor: read → detect → convert → validate, then analyse (duplicates, lengths), clean, split, mix, write.

Inputs are streamed twice when a step needs to know the whole file before writing (clean, split): the first pass
(:func:`analyse`) keeps only a few numbers per record (line, hash, MinHash signature, length); the second pass
writes the records that survive.  Nothing is dropped without a :class:`Problem` in the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Iterable, Iterator

from ..errors import DanluError
from . import dedup, formats, jsonio
from .formats import Issue, RecordError, Spec
from .model import SEVERITY, Conversation, DataReport, Problem
from .read import open_source

ON_ERROR = ("fix", "skip", "stop")
DEFAULT_MAX_CHARS = 16000
SAMPLE = 1000


def _stop(p: Problem) -> DanluError:
    where = f"{p.file}:{p.line}" + (f" ({p.field})" if p.field and p.field != "-" else "")
    return DanluError(p.what, where=where, fix=p.fix)


class _Reporter:
    """Collects problems. Under ``--on-error stop``, a line the reader could not read is held back until the
    records before it have been checked, so that the error names the *first* problem in the file."""

    def __init__(self, report: DataReport, on_error: str):
        self.report, self.on_error = report, on_error
        self.pending: list[Problem] = []

    def __call__(self, p: Problem, *, now: bool = False):
        p.severity = SEVERITY.get(p.kind, p.severity)
        if self.on_error == "stop" and p.severity == "error" and p.action != "fixed":
            if not now:
                self.pending.append(p)
                return
            p.action = "stopped"
            self.report.problems.append(p)
            raise _stop(p)
        self.report.problems.append(p)

    def before(self, file: str | None, line: int):
        """Raise a held-back read problem that comes before (file, line); at the end, pass file=None."""
        if self.pending:
            p = self.pending[0]
            if file is None or p.file != file or p.line < line:
                self(self.pending.pop(0), now=True)


def _resolve_spec(src, sample: list, mapping, confirm_mapping: bool, report: DataReport) -> Spec:
    if isinstance(mapping, str) and mapping.strip().lower() == "auto":  # accept the proposal, whatever it is
        mapping, confirm_mapping = None, False
    if isinstance(mapping, str):
        mapping = formats.parse_mapping(mapping)
    if isinstance(mapping, dict):
        report.mapping, report.mapping_source = dict(mapping), "given"
        report.evidence = "columns mapped as given: " + ", ".join(f"{k}={v}" for k, v in mapping.items())
        _check_columns(mapping, sample, src.path)
        spec = formats.spec_from_mapping(mapping, "given")
        report.format = spec.format if spec.format != "alpaca" else "alpaca (mapped columns)"
        return spec
    if src.spec is not None:
        spec = formats.spec_from_dataset_info(src.spec)
        report.format = spec.format
        report.mapping, report.mapping_source = dict(spec.columns), "dataset_info"
        report.evidence = f"LLaMA-Factory dataset_info.json entry {src.spec.get('_name')!r}"
        return spec
    spec, confidence, evidence = formats.detect([r.data for r in sample])
    if spec is not None:
        report.format, report.confidence, report.evidence = spec.format, confidence, evidence
        return spec
    proposal, confidence, evidence = formats.propose_mapping([r.data for r in sample])
    flag = ",".join(f"{k}={v}" for k, v in proposal.items())
    if not proposal or confidence == 0:
        keys = []
        for r in sample[:50]:
            if isinstance(r.data, dict):
                keys += [k for k in r.data if k not in keys]
        raise DanluError(
            f"could not recognise the dataset format (columns: {', '.join(map(str, keys)) or 'none — no JSON objects'})",
            where=src.path,
            fix="use Alpaca (instruction/input/output), ShareGPT (conversations), messages, prompt/completion, "
                "or name the columns with --mapping instruction=COLUMN,output=COLUMN")
    report.mapping, report.mapping_source, report.confidence = proposal, "proposed", confidence
    report.evidence = f"{evidence}; proposed mapping {flag} — confirm or edit it with --mapping '{flag}'"
    if "messages" in proposal:
        report.format = "sharegpt (mapped column)"
    else:
        report.format = "alpaca (mapped columns)"
    if confirm_mapping:
        raise DanluError(f"the columns have no standard names; proposed mapping: {flag} ({evidence})",
                         where=src.path, fix=f"confirm it with --mapping '{flag}' (or --mapping auto), or edit it")
    return formats.spec_from_mapping(proposal, "proposed")


def _check_columns(mapping: dict, sample: list, path: str):
    cols = set()
    for r in sample:
        if isinstance(r.data, dict):
            cols.update(r.data)
    if not cols:
        return
    for key, col in mapping.items():
        if not key.endswith("_tag") and col not in cols:
            raise DanluError(f"--mapping names column {col!r}, which the file does not have", where=path,
                             fix=f"use one of the columns: {', '.join(sorted(map(str, cols))[:20])}")


def iter_conversations(source, *, mapping=None, on_error: str = "skip", report: DataReport | None = None,
                       confirm_mapping: bool = False) -> Iterator[Conversation]:
    """Stream the usable conversations of ``source``; every problem goes into ``report`` (one is made if None)."""
    if on_error not in ON_ERROR:
        raise DanluError(f"unknown --on-error {on_error!r}", fix="use fix, skip or stop")
    report = report if report is not None else DataReport(file=str(source), format="?", evidence="")
    sink = _Reporter(report, on_error)
    src, records = open_source(source, sink, repair=on_error == "fix")
    report.file = src.path
    if src.layout.startswith("folder") and len(src.files) > 1:  # each file is detected on its own
        yield from _iter_folder(src, mapping, on_error, report, confirm_mapping)
        return
    yield from _convert_records(src, records, sink, report, mapping, on_error, confirm_mapping)


def _iter_folder(src, mapping, on_error, report: DataReport, confirm_mapping) -> Iterator[Conversation]:
    seen: dict[str, list[str]] = {}
    for f in src.files:
        sub = DataReport(file=f, format="?", evidence="")
        try:
            yield from iter_conversations(f, mapping=mapping, on_error=on_error, report=sub,
                                          confirm_mapping=confirm_mapping)
        except DanluError as exc:
            if on_error == "stop":
                raise
            sub.problems.append(Problem(f, 0, "-", exc.what, exc.fix or "", kind="unreadable_file", severity="error"))
        seen.setdefault(sub.format, []).append(Path(f).name)
        for k in ("records", "kept", "fixed"):
            setattr(report, k, getattr(report, k) + getattr(sub, k))
        report.problems.extend(sub.problems)
        if sub.mapping and report.mapping is None:
            report.mapping, report.mapping_source = sub.mapping, sub.mapping_source
    report.format = next(iter(seen)) if len(seen) == 1 else "mixed"
    report.evidence = "; ".join(f"{fmt}: {', '.join(names[:5])}" + (f" (+{len(names) - 5})" if len(names) > 5 else "")
                                for fmt, names in seen.items())
    report.notes.append(f"read as a folder of {len(src.files)} files, each detected on its own")


def _convert_records(src, records, sink, report, mapping, on_error, confirm_mapping) -> Iterator[Conversation]:
    spec, sample = prepare(src, records, sink, report, mapping, confirm_mapping)
    yield from stream(chain(sample, records), spec, sink, report, on_error)


def prepare(src, records, sink, report, mapping, confirm_mapping) -> tuple[Spec, list]:
    """Read the first records, and from them decide how records map onto conversations."""
    sample = list(islice(records, SAMPLE))
    report.encoding = src.encoding
    if not sample:
        sink.before(None, 0)
    if src.layout:
        report.notes.append(f"read as {src.layout}")
    report.notes.extend(src.notes)
    if not sample:
        bad = [p for p in report.problems if p.severity == "error"]
        raise DanluError("no readable records in the input" + (f" ({len(bad)} broken line(s); first: {bad[0].what})"
                                                                 if bad else ""),
                         where=f"{bad[0].file}:{bad[0].line}" if bad else src.path,
                         fix="one JSON object per line (JSONL), a JSON array, or a CSV with a header row")
    spec = _resolve_spec(src, sample, mapping, confirm_mapping, report)
    if spec.format == "text":
        raise DanluError("the records are plain text (a 'text' field): there are no user/assistant turns to train "
                         "a chat model on", where=src.path,
                         fix="give question and answer columns, and name them with --mapping instruction=COL,output=COL")
    return spec, sample


def stream(records, spec: Spec, sink, report: DataReport, on_error: str) -> Iterator[Conversation]:
    """Convert and check records one by one; the good ones come out, the rest become problems."""
    container = spec.columns.get("messages", "messages")
    for r in records:
        if sink.pending:
            sink.before(r.file, r.line)
        report.records += 1
        issues: list[Issue] = []
        if r.repaired:
            issues.append(Issue("malformed_json" if "comma" in r.repaired or "Python" in r.repaired else "csv_shape",
                                "-", f"broken line, repaired: {r.repaired}", "fix the line in the file", True))
        try:
            msgs, meta = formats.to_conversation(r.data, spec, issues)
            if issues or not formats.fast_ok(msgs):
                msgs = formats.check(msgs, issues, container)
        except RecordError as exc:
            issues.append(Issue(exc.kind, exc.field, exc.what, exc.fix, False))
            msgs, meta = None, {}
        if issues:
            keep = on_error == "fix" and msgs is not None and all(i.fixable for i in issues)
            for i in issues:
                fix = i.fix if keep or not i.fixable or on_error == "fix" else f"{i.fix}, or use --on-error fix"
                sink(Problem(r.file, r.line, i.field, i.what, fix, kind=i.kind,
                             action="fixed" if keep else "skipped", record=r.record), now=True)
            if not keep:
                continue
            report.fixed += 1
        report.kept += 1
        yield Conversation(msgs, file=r.file, line=r.line, meta=meta)
    sink.before(None, 0)


def load(source, *, mapping=None, on_error: str = "skip", confirm_mapping: bool = False,
         allow_empty: bool = False) -> tuple[list[Conversation], DataReport]:
    """Read, detect, convert and validate: the good conversations and a report of the rest."""
    report = DataReport(file=str(source), format="?", evidence="")
    convs = list(iter_conversations(source, mapping=mapping, on_error=on_error, report=report,
                                    confirm_mapping=confirm_mapping))
    report.problems.sort(key=lambda p: (p.file, p.line))
    if not convs and not allow_empty:
        raise no_usable(report)
    return convs, report


def no_usable(report: DataReport) -> DanluError:
    first = next((p for p in report.problems if p.severity == "error"), None)
    return DanluError(
        f"no usable conversations in {report.records} record(s) ({len(report.problems)} problem(s); first: "
        f"{first.what if first else 'none'})",
        where=f"{first.file}:{first.line}" if first else report.file,
        fix="run `danlu data inspect` on the file to see every problem" + (
            f", or name the columns with --mapping" if report.mapping_source == "proposed" else ""))


# -- normalisation -----------------------------------------------------------------------------------------------
_FULL_ALNUM = {c: c - 0xFEE0 for c in range(0xFF10, 0xFF5B) if chr(c - 0xFEE0).isalnum()}
_HALF_TO_FULL = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", "(": "（", ")": "）"}
_FULL_TO_HALF = {v: k for k, v in _HALF_TO_FULL.items()}


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\u3040" <= ch <= "\u30ff")


def normalize_text(text: str, *, whitespace: bool = True, width: bool = True) -> str:
    """Whitespace: CRLF → LF, no trailing spaces, at most one blank line, trimmed ends.
    Width: full-width letters/digits → ASCII; ``,!?:;()`` full-width after CJK text, ASCII after Latin text."""
    if width:
        text = text.translate(_FULL_ALNUM)
        out = []
        for i, ch in enumerate(text):
            prev = text[i - 1] if i else ""
            if ch in _HALF_TO_FULL and _is_cjk(prev) and ch not in "()":
                ch = _HALF_TO_FULL[ch]
            elif ch in _FULL_TO_HALF and prev.isascii() and prev.isalnum():
                ch = _FULL_TO_HALF[ch]
            out.append(ch)
        text = "".join(out)
    if whitespace:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
        text = re.sub(r"[ \t]+\n", "\n", text)
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text


def normalize(msgs: list[dict], mode: str = "all") -> list[dict]:
    ws, width = mode in ("all", "whitespace"), mode in ("all", "width")
    out = [dict(m, content=normalize_text(m["content"], whitespace=ws, width=width))
           if isinstance(m.get("content"), str) else m for m in msgs]
    return msgs.copy_with(out) if isinstance(msgs, Conversation) else out


# -- analysis ----------------------------------------------------------------------------------------------------
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


def _preview(msgs) -> str:
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
        a.previews.append(_preview(msgs))
        if by is not None:
            a.by.append((getattr(msgs, "meta", {}) or {}).get(by))
        key = dedup.conversation_key(msgs)
        if key in seen:
            j = seen[key]
            a.removed[i] = "exact_duplicate"
            add(Problem(file, line, "-", f"exact duplicate of line {a.lines[j][1]}", "danlu data clean removes it",
                        kind="exact_duplicate", action=action, duplicate_of=a.lines[j][1]))
        else:
            seen[key] = i
            if max_chars and size > max_chars:
                a.removed[i] = "overlong"
                add(Problem(file, line, "-", f"overlong: {size:,} characters (limit {max_chars:,})",
                            "shorten or drop it (danlu data clean drops rows over --max-chars)", kind="overlong",
                            action=action))
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
            add(Problem(file, line, "-", f"near duplicate of line {a.lines[earlier][1]} (similarity {sim:.2f})",
                        "danlu data clean removes it (raise --near-dup-threshold to keep closer variants)",
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
    """Token counts with the model's chat template; conversations the template rejects are counted as errors."""
    texts, errors = [], 0
    for msgs in convs:
        try:
            texts.append(tokenizer.apply_chat_template(list(msgs), tokenize=False))
        except Exception:  # noqa: BLE001 - a template may reject roles it does not know (e.g. tool)
            errors += 1
    if not texts:
        return [], errors
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(x) for x in ids], errors


def token_report(a: Analysis, model: str, max_seq_len: int | None) -> dict:
    stats = length_stats(a.tokens)
    stats["model"] = model
    stats["template_errors"] = a.token_errors
    if max_seq_len:
        stats["max_seq_len"] = max_seq_len
        stats["truncated"] = sum(1 for t in a.tokens if t > max_seq_len)
    return stats


# -- in-memory steps (used by quickstart and the wizard) --------------------------------------------------------------
def clean(convs: list, *, max_chars: int | None = None, near_dup_threshold: float | None = None,
          normalize_mode: str | None = None, report: DataReport | None = None) -> tuple[list, dict]:
    """Drop exact duplicates, overlong rows and (with a threshold) near duplicates; return counts per rule."""
    if normalize_mode:
        convs = [normalize(m, normalize_mode) for m in convs]
    a = analyse(convs, report, max_chars=max_chars, near_dup_threshold=near_dup_threshold, action="removed")
    removed = {"exact_duplicate": 0, "overlong": 0}
    if near_dup_threshold is not None:
        removed["near_duplicate"] = 0
    for rule in a.removed.values():
        removed[rule] = removed.get(rule, 0) + 1
    return [m for i, m in enumerate(convs) if i not in a.removed], removed


def split_indices(n: int, eval_ratio: float, seed: int, by_values: list | None = None) -> list[int]:
    """0 = train, 1 = eval for each of n records: random with a seed, or by a column (the latest values to eval)."""
    if not 0 <= eval_ratio < 1:
        raise DanluError(f"eval ratio must be in [0, 1), got {eval_ratio}", fix="e.g. --eval-ratio 0.1")
    side = [0] * n
    n_eval = int(round(n * eval_ratio))
    if eval_ratio > 0 and n >= 2:
        n_eval = max(1, n_eval)
    n_eval = min(n_eval, max(0, n - 1))
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
    return _leak_summary(dedup.cross_pairs(sigs, side, threshold),
                         [(getattr(m, "file", ""), getattr(m, "line", i + 1)) for i, m in enumerate(both)],
                         [_preview(m) for m in both])


def _leak_summary(pairs, lines, previews) -> dict:
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


# -- writing -----------------------------------------------------------------------------------------------------
class AtomicWriter:
    """Write records to a temporary file beside ``path``; rename on :meth:`commit`, delete on :meth:`abort`.

    ``.json`` paths get a JSON array, anything else JSONL (one record per line)."""

    def __init__(self, path, target: str):
        self.path, self.target = Path(path), target
        if self.path.exists() and self.path.is_dir():
            raise DanluError("the output path is a folder", where=str(self.path), fix="give a file name such as out.jsonl")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self.fh = os.fdopen(fd, "wb", buffering=1 << 20)
        self.array = self.path.suffix.lower() == ".json"
        self.count = 0
        self.has_tools = False
        self.done = False
        if self.array:
            self.fh.write(b"[")

    def write(self, msgs) -> None:
        row = formats.from_messages(msgs, self.target)
        self.has_tools = self.has_tools or "tools" in row
        data = jsonio.dumps_bytes(row)
        if self.array:
            self.fh.write((b",\n  " if self.count else b"\n  ") + data)
        else:
            self.fh.write(data + b"\n")
        self.count += 1

    def finish(self) -> None:
        """Everything written and on disk (the step that can fail on a full disk); :meth:`commit` then renames."""
        if self.array:
            self.fh.write(b"\n]\n" if self.count else b"]\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()

    def commit(self) -> Path:
        from ..atomic import normal_mode

        normal_mode(self.tmp)  # the user's umask, not the temporary file's 0600
        os.replace(self.tmp, self.path)
        self.done = True
        return self.path

    def abort(self) -> None:
        if not self.done:
            with contextlib.suppress(OSError):
                self.fh.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)
            self.done = True


def input_files(source) -> set[Path]:
    """The files a data source reads (a file, a folder's files, or the file of ``file#entry``), resolved."""
    ref = str(source)
    path = Path(ref)
    if not path.exists() and "#" in ref:
        path = Path(ref.rpartition("#")[0])
    try:
        if path.is_file():
            return {path.resolve()}
        if path.is_dir():
            return {p.resolve() for p in path.rglob("*") if p.is_file()}
    except OSError:
        pass
    return set()


def output_file(output, source, target: str) -> Path:
    """Where ``-o`` writes: a path ending in '/' or naming a folder gets a file named after the input inside it."""
    text = str(output)
    path = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or path.is_dir():
        src = str(source)
        src = src.rpartition("#")[0] if "#" in src and not Path(src).exists() else src
        stem = Path(src.rstrip("/")).stem
        path = path / f"{stem or 'data'}.{target}{'.json' if target == 'alpaca' else '.jsonl'}"
    return path


def refuse_overwriting_input(source, outputs) -> None:
    """An output that is one of the input's files would destroy the data being read: refuse before reading."""
    inputs = input_files(source)
    for out in outputs:
        out = Path(out)
        try:
            same = out.resolve() in inputs or any(out.exists() and os.path.samefile(out, i) for i in inputs)
        except OSError:
            same = False
        if same:
            raise DanluError("the output would overwrite the input file", where=str(out),
                             fix="write to another file (e.g. add .clean before the extension); the input is untouched")


@contextlib.contextmanager
def writers(*specs):
    """Open AtomicWriters for (path, target) pairs; commit them all on success, remove every temp file (and any
    folder made for them) on error.  A full disk becomes one clear DanluError naming the path."""
    from .. import atomic

    made = []
    for path, _ in specs:  # folders this call creates, removed again if nothing is written
        missing = [q for q in [Path(path).parent, *Path(path).parent.parents] if not q.exists()]
        made.extend(reversed(missing))
    ws = []
    try:
        for path, target in specs:
            ws.append(AtomicWriter(path, target))
        yield ws
        for w in ws:
            w.finish()
    except BaseException as exc:
        for w in ws:
            w.abort()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        if isinstance(exc, OSError) and atomic.is_disk_full(exc):
            where = ws[-1].path if ws else Path(specs[0][0])
            raise atomic.disk_full_error(exc, where) from None
        raise
    for w in ws:
        w.commit()


def write_record(w: AtomicWriter, msgs, report: DataReport, on_error: str) -> bool:
    """Write one conversation; one that the target cannot hold is reported (and stops under --on-error stop)."""
    try:
        w.write(msgs)
        return True
    except RecordError as exc:
        p = Problem(getattr(msgs, "file", ""), getattr(msgs, "line", 0), exc.field, exc.what, exc.fix,
                    kind=exc.kind, severity="error", action="skipped")
        if on_error == "stop":
            p.action = "stopped"
            report.problems.append(p)
            raise _stop(p) from None
        report.problems.append(p)
        return False


def write_dataset_info(out_dir: Path, entries: dict, report: DataReport | None = None) -> Path | None:
    """Add or replace entries in ``out_dir/dataset_info.json`` (LLaMA-Factory), atomically; a broken file is left alone."""
    from .. import atomic

    path = Path(out_dir) / "dataset_info.json"
    info = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8-sig"))
            if not isinstance(info, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError):
            if report is not None:
                report.notes.append(f"{path} exists but is not a JSON object; left it alone")
            return None
    info.update(entries)
    return atomic.write_json(path, info)


def write_conversations(path, convs: Iterable, target: str = "messages") -> Path:
    """Write conversations atomically: JSONL, or a JSON array for ``.json`` paths."""
    if target not in formats.TARGETS:
        raise DanluError(f"unknown target format {target!r}", fix=f"use one of {', '.join(formats.TARGETS)}")
    with writers((path, target)) as (w,):
        for msgs in convs:
            w.write(msgs)
    return Path(path)


def entry_name(path: Path) -> str:
    name = Path(path).name
    for suffix in (".jsonl", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return unicodedata.normalize("NFKC", name) or "data"
