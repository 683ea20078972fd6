"""The four data commands as engine functions (``danlu data inspect|convert|clean|split`` and the wizard call these).

Each streams its input, writes its outputs atomically (a temporary file renamed when complete; on any error no
output file appears), writes a LLaMA-Factory ``dataset_info.json`` entry next to what it wrote, and returns a
plain dict for ``--json``.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import DanluError
from . import dedup, formats
from .analysis import DEFAULT_MAX_CHARS, analyse, token_report
from .pipeline import iter_conversations, no_usable
from .textnorm import normalize
from .transform import leak_summary, mix_in, split_indices
from .write import entry_name, output_file, refuse_overwriting_input, write_dataset_info, write_record, writers
from .model import DataReport


def _new_report(source) -> DataReport:
    return DataReport(file=str(source), format="?", evidence="")


def _tokenizer(model: str | None):
    if not model:
        return None
    from ..models.load import load_tokenizer

    return load_tokenizer(model)


def inspect(source, *, mapping=None, on_error: str = "skip", max_chars: int | None = DEFAULT_MAX_CHARS,
            near_dup_threshold: float | None = dedup.DEFAULT_THRESHOLD, model: str | None = None,
            max_seq_len: int | None = None) -> DataReport:
    """Read everything, report every problem (with its line), duplicates, lengths and (with a model) tokens."""
    report = _new_report(source)
    tok = _tokenizer(model)
    a = analyse(iter_conversations(source, mapping=mapping, on_error=on_error, report=report), report,
                max_chars=max_chars or None, near_dup_threshold=near_dup_threshold, tokenizer=tok)
    if tok is not None:
        report.stats["tokens"] = token_report(a, model, max_seq_len)
    report.removed = _rule_counts(a, report)
    return report


def _rule_counts(a, report: DataReport) -> dict:
    counts = {"invalid": len({(p.file, p.line, p.record) for p in report.problems if p.action == "skipped"})}
    for rule in ("exact_duplicate", "near_duplicate", "overlong"):
        counts[rule] = sum(1 for r in a.removed.values() if r == rule)
    return counts


def roundtrip_notes(report: DataReport, target: str) -> list[str]:
    """What this conversion keeps and what it cannot carry over, in words."""
    src = report.format.split(" ")[0]
    notes = []
    if src == "alpaca" and target != "alpaca":
        notes.append("Alpaca input is joined to the instruction with a newline (as LLaMA-Factory does) and also kept "
                     "as the record field 'input', so converting back to Alpaca restores it")
    if target == "alpaca":
        notes.append("multi-turn conversations keep their earlier turns in 'history'; conversations with tool turns "
                     "cannot be written as Alpaca and are reported")
    if src == "prompt_completion":
        notes.append("prompt/completion become user/assistant turns; the split into prompt and completion is not kept")
    if report.mapping_source in ("given", "proposed"):
        notes.append("columns not named in the mapping are kept as record fields")
    if src == "sharegpt" and target != "sharegpt":
        notes.append("a record-level 'system' becomes the first turn; native function_call values are re-serialised")
    notes.append("record fields that no format uses (ids, tools, …) are written back as they were")
    return notes


def convert(source, to: str, output, *, mapping=None, on_error: str = "skip", confirm_mapping: bool = True) -> dict:
    """Convert ``source`` to ``to``, streaming: read, check and write one record at a time."""
    if to not in formats.TARGETS:
        raise DanluError(f"unknown target format {to!r}", fix=f"use one of {', '.join(formats.TARGETS)}")
    output = output_file(output, source, to)
    refuse_overwriting_input([source], [output, output.parent / "dataset_info.json"])
    report = _new_report(source)
    with writers((output, to)) as (w,):
        for conv in iter_conversations(source, mapping=mapping, on_error=on_error, report=report,
                                       confirm_mapping=confirm_mapping):
            write_record(w, conv, report, on_error)
        if not w.count:
            raise no_usable(report)
    report.problems.sort(key=lambda p: (p.file, p.line))
    info = write_dataset_info(output.parent, {entry_name(output): formats.dataset_info_entry(
        output.name, to, has_tools=w.has_tools)}, report)
    return {"output": str(output), "format": to, "records": w.count, "dataset_info": str(info) if info else None,
            "roundtrip": roundtrip_notes(report, to), "report": report.to_dict()}


def clean(source, output, *, to: str = "messages", mapping=None, on_error: str = "skip",
          max_chars: int | None = DEFAULT_MAX_CHARS, near_dup_threshold: float | None = dedup.DEFAULT_THRESHOLD,
          normalize_mode: str | None = None, mix: str | None = None, mix_ratio: float = 0.1, seed: int = 42,
          confirm_mapping: bool = True) -> dict:
    if to not in formats.TARGETS:
        raise DanluError(f"unknown target format {to!r}", fix=f"use one of {', '.join(formats.TARGETS)}")
    output = output_file(output, source, to)
    refuse_overwriting_input([source, mix], [output, output.parent / "dataset_info.json"])
    report = _new_report(source)
    a = analyse(iter_conversations(source, mapping=mapping, on_error=on_error, report=report,
                                   confirm_mapping=confirm_mapping),
                report, max_chars=max_chars or None, near_dup_threshold=near_dup_threshold,
                normalize_mode=normalize_mode, action="removed")
    if report.kept == 0:
        raise no_usable(report)
    removed = _rule_counts(a, report)
    report.removed = removed
    kept_n = a.n - len(a.removed)
    mixed, mix_info = ([], None)
    if mix:
        mixed, mix_info = mix_in(mix, mix_ratio, kept_n, seed)
    normalized = 0
    with writers((output, to)) as (w,):
        again = iter_conversations(source, mapping=mapping, on_error="skip" if on_error == "stop" else on_error,
                                   report=_new_report(source))
        for i, conv in enumerate(again):
            if i in a.removed:
                continue
            if normalize_mode:
                new = normalize(conv, normalize_mode)
                normalized += new != conv
                conv = new
            write_record(w, conv, report, on_error)
        for conv in mixed:
            write_record(w, conv, report, on_error)
        if not w.count:
            raise DanluError("every conversation was removed by the cleaning rules", where=str(source),
                             fix="see the report (danlu data inspect); raise --near-dup-threshold or --max-chars")
    report.problems.sort(key=lambda p: (p.file, p.line))
    info = write_dataset_info(output.parent, {entry_name(output): formats.dataset_info_entry(
        output.name, to, has_tools=w.has_tools)}, report)
    return {"output": str(output), "format": to, "kept": w.count - len(mixed), "removed": removed,
            "normalized": normalized, "mix": mix_info, "records_written": w.count,
            "dataset_info": str(info) if info else None, "report": report.to_dict()}


def split(source, out_dir, *, to: str = "messages", eval_ratio: float = 0.1, seed: int = 42, by: str | None = None,
          mapping=None, on_error: str = "skip", near_dup_threshold: float = dedup.DEFAULT_THRESHOLD,
          mix: str | None = None, mix_ratio: float = 0.1, confirm_mapping: bool = True) -> dict:
    if to not in formats.TARGETS:
        raise DanluError(f"unknown target format {to!r}", fix=f"use one of {', '.join(formats.TARGETS)}")
    if not 0 <= eval_ratio < 1:
        raise DanluError(f"eval ratio must be in [0, 1), got {eval_ratio}", fix="e.g. --eval-ratio 0.1")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DanluError("--out-dir is a file", where=str(out), fix="give a folder for train and eval files")
    ext = ".json" if to == "alpaca" else ".jsonl"
    train_path, eval_path = out / f"train{ext}", out / f"eval{ext}"
    refuse_overwriting_input([source, mix], [train_path, eval_path, out / "dataset_info.json"])
    report = _new_report(source)
    a = analyse(iter_conversations(source, mapping=mapping, on_error=on_error, report=report,
                                   confirm_mapping=confirm_mapping),
                report, max_chars=None, near_dup_threshold=near_dup_threshold, by=by)
    if report.kept == 0:
        raise no_usable(report)
    if by is not None:
        missing = [i for i, v in enumerate(a.by) if v is None]
        if missing:
            file, line = a.lines[missing[0]]
            raise DanluError(f"{len(missing)} of {a.n} record(s) have no field {by!r}", where=f"{file}:{line}",
                             fix="split by a field every record has (an id or a date column), or drop --by")
    side = split_indices(a.n, eval_ratio, seed, a.by if by is not None else None)
    leak = leak_summary(dedup.cross_pairs(a.sigs, side, near_dup_threshold), a.lines, a.previews)
    mixed, mix_info = ([], None)
    n_train = side.count(0)
    if mix:
        mixed, mix_info = mix_in(mix, mix_ratio, n_train, seed)
    with writers((train_path, to), (eval_path, to)) as (wt, we):
        again = iter_conversations(source, mapping=mapping, on_error="skip" if on_error == "stop" else on_error,
                                   report=_new_report(source))
        for i, conv in enumerate(again):
            write_record(we if side[i] else wt, conv, report, on_error)
        for conv in mixed:
            write_record(wt, conv, report, on_error)
    report.problems.sort(key=lambda p: (p.file, p.line))
    info = write_dataset_info(out, {"train": formats.dataset_info_entry(train_path.name, to, has_tools=wt.has_tools),
                                    "eval": formats.dataset_info_entry(eval_path.name, to, has_tools=we.has_tools)},
                              report)
    return {"train": str(train_path), "eval": str(eval_path), "train_records": wt.count, "eval_records": we.count,
            "by": by, "seed": seed, "eval_ratio": eval_ratio, "leakage": leak, "mix": mix_info,
            "dataset_info": str(info) if info else None, "report": report.to_dict()}
