"""Read → detect → convert → validate: records in, usable conversations out, every other record a problem.

:func:`iter_conversations` streams (the ``danlu data`` commands read their input twice rather than hold it);
:func:`load` keeps the conversations in memory (quickstart, the wizard, training).  Nothing is dropped without a
:class:`~.model.Problem` in the report.
"""

from __future__ import annotations

from itertools import chain, islice
from pathlib import Path
from typing import Iterator

from ..core.errors import DanluError
from ..core.texts import msg
from . import formats
from .formats import Issue, RecordError, Spec
from .model import SEVERITY, Conversation, DataReport, Problem
from .read import open_source

ON_ERROR = ("fix", "skip", "stop")
SAMPLE = 1000  # records read before deciding the format and the column mapping


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
            raise p.as_error()
        self.report.problems.append(p)

    def before(self, file: str | None, line: int):
        """Raise a held-back read problem that comes before (file, line); at the end, pass file=None."""
        if self.pending:
            p = self.pending[0]
            if file is None or p.file != file or p.line < line:
                self(self.pending.pop(0), now=True)


def refuse_preference(src, sample: list) -> None:
    """Preference records (chosen/rejected, or KTO's labelled answers) read as conversations would lose the rejected
    answer or fail record by record: say what they are and which stage trains them, before anything is read."""
    from . import preference

    entry = src.spec if preference.is_lf_preference(src.spec) else None
    rows = [preference.from_dataset_info(getattr(r, "data", r), entry) if entry else getattr(r, "data", r)
            for r in sample]
    form, votes = preference.detect(rows)
    if form and votes * 2 > len(rows):
        stage = "kto" if form == "kto" else "dpo"
        raise DanluError(msg("err_preference_data", "this is preference data ({form}), which trains a preference stage "
                                                    "({stages}), not supervised fine-tuning", form=form,
                             stages=", ".join(preference.stages(form))), where=src.path,
                         fix=msg("fix_preference_data", "add --stage {stage} (the wizard's Plan step offers it), or "
                                                        "train on the better answers as conversations: danlu data "
                                                        "convert FILE --to messages", stage=stage))


def _resolve_spec(src, sample: list, mapping, confirm_mapping: bool, report: DataReport) -> Spec:
    if isinstance(mapping, str) and mapping.strip().lower() == "auto":  # accept the proposal, whatever it is
        mapping, confirm_mapping = None, False
    if isinstance(mapping, str):
        mapping = formats.parse_mapping(mapping)
    if isinstance(mapping, dict):
        report.mapping, report.mapping_source = dict(mapping), "given"
        report.evidence = msg("ev_given", "columns mapped as given: {mapping}",
                              mapping=", ".join(f"{k}={v}" for k, v in mapping.items()))
        _check_columns(mapping, sample, src.path)
        spec = formats.spec_from_mapping(mapping, "given")
        report.format = spec.format if spec.format != "alpaca" else "alpaca (mapped columns)"
        return spec
    refuse_preference(src, sample)
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
            msg("err_data_format", "could not recognise the dataset format (columns: {columns})",
                columns=", ".join(map(str, keys)) or msg("no_columns", "none — no JSON objects")),
            where=src.path,
            fix=msg("fix_data_format", "use Alpaca (instruction/input/output), ShareGPT (conversations), messages, "
                    "prompt/completion, or name the columns with --mapping instruction=COLUMN,output=COLUMN"))
    report.mapping, report.mapping_source, report.confidence = proposal, "proposed", confidence
    report.evidence = msg("ev_proposed", "{evidence}; proposed mapping {flag} — confirm or edit it with --mapping '{flag}'",
                          evidence=evidence, flag=flag)
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
        what = (msg("err_no_records_bad", "no readable records in the input ({n} broken line(s); first: {first})",
                    n=len(bad), first=bad[0].what) if bad else
                msg("err_no_records", "no readable records in the input"))
        raise DanluError(what, where=f"{bad[0].file}:{bad[0].line}" if bad else src.path,
                         fix=msg("fix_no_records", "one JSON object per line (JSONL), a JSON array, or a CSV with a "
                                 "header row"))
    spec = _resolve_spec(src, sample, mapping, confirm_mapping, report)
    if spec.format == "text":
        raise DanluError(msg("err_plain_text", "the records are plain text (a 'text' field): there are no "
                             "user/assistant turns to train a chat model on"), where=src.path,
                         fix=msg("fix_plain_text_cols", "give question and answer columns, and name them with --mapping "
                                 "instruction=COL,output=COL"))
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
                                "-", msg("repaired", "broken line, repaired: {how}", how=r.repaired),
                                msg("fix_repaired", "fix the line in the file"), True))
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
                fix = i.fix if keep or not i.fixable or on_error == "fix" else \
                    msg("fix_or_on_error", "{fix}, or use --on-error fix", fix=i.fix)
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
        msg("err_no_usable", "no usable conversations in {records} record(s) ({problems} problem(s); first: {first})",
            records=report.records, problems=len(report.problems), first=first.what if first else "none"),
        where=f"{first.file}:{first.line}" if first else report.file,
        fix=msg("fix_no_usable", "run `danlu data inspect` on the file to see every problem"
                + (", or name the columns with --mapping" if report.mapping_source == "proposed" else ""),
                mapping=report.mapping_source == "proposed"))
