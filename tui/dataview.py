"""What the Data screen computes, without Textual (so it is unit-testable and runs in worker threads).

:func:`read` loads a dataset through the engine's data pipeline once, repairing what can be repaired and
labelling every conversation with the cleaning rule that would drop it; :func:`keep` then applies the user's
cleaning choices without reading the file again.  The tokenizer of the chosen model gives the token counts
(:func:`token_counts`) for the histogram against ``max_seq_len`` (:func:`histogram`) and the preview of a
conversation as the model will see it (:func:`render`).  Heavy imports stay inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

# the engine's cleaning rules and limit, and the formats a cleaned copy can be written in
from danlu.engine.data import CLEAN_RULES as RULES, DEFAULT_MAX_CHARS as MAX_CHARS, TARGETS, DataReport, Problem

CHOICES = ("fix", *RULES, "too_long")  # every toggle on the Data screen
DEFAULT_CHOICES = {"fix": False, "exact_duplicate": True, "near_duplicate": True, "overlong": True, "too_long": False}
MAX_TOKEN_ROWS = 20_000  # conversations counted for the histogram (a sample of bigger sets)
BINARY = (".parquet", ".arrow")


@dataclass
class Loaded:
    """A dataset as read once: every usable conversation, its cleaning label and whether it needed a repair."""

    path: str
    report: DataReport
    convs: list
    rules: list = field(default_factory=list)  # per conversation: None or the rule (RULES) that drops it
    fixed: list = field(default_factory=list)  # per conversation: True when its line needed a repair
    columns: list = field(default_factory=list)  # column names of the first records (for the mapping editor)
    mapping: dict | None = None  # the column mapping the user gave (None: detected)
    pairs: list = field(default_factory=list)  # preference data: the pair (or labelled answer) of each conversation
    preference: object = None  # engine.data.preference.PreferenceData of a preference file

    def counts(self, tokens: list | None = None, max_seq_len: int | None = None, choices: dict | None = None) -> dict:
        """How many conversations each choice concerns, and the rows the validator could not use at all.

        ``too_long`` counts the rows over ``max_seq_len`` among those the other choices keep (what the histogram
        shows)."""
        out = {"fix": sum(self.fixed), **{r: sum(1 for x in self.rules if x == r) for r in RULES}}
        tokens = tokens or []
        rows = keep(self, {**DEFAULT_CHOICES, **(choices or {}), "too_long": False})
        out["too_long"] = sum(1 for i in rows if i < len(tokens) and tokens[i] is not None and max_seq_len
                              and tokens[i] > max_seq_len)
        unusable = {(p.file, p.line) for p in self.report.problems if p.severity == "error" and p.action == "skipped"}
        empty = {(p.file, p.line) for p in self.report.problems if p.kind == "empty_answer" and p.action == "skipped"}
        out["empty_answer"] = len(empty)
        out["unusable"] = len(unusable - empty)
        return out


def sample_columns(path, n: int = 50) -> list[str]:
    """The column names of the first ``n`` records (empty when the input is not a table of objects)."""
    from danlu.engine import data

    try:
        _src, records = data.open_source(path, lambda *a, **k: None)
        cols: list[str] = []
        for rec in islice(records, n):
            if isinstance(rec.data, dict):
                cols += [str(k) for k in rec.data if str(k) not in cols]
        return cols
    except Exception:  # noqa: BLE001 - the columns only help; the reader's own error is reported elsewhere
        return []


def read(path, mapping: dict | None = None, cancelled=lambda: False) -> Loaded:
    """Read, detect, convert, validate (repairing what can be repaired), then label duplicates and overlong rows."""
    from danlu.engine import data
    from danlu.engine.data import preference

    if mapping is None and preference.looks_like(path):
        return read_pairs(path)

    convs, report = data.load_conversations(path, mapping=mapping, on_error="fix", confirm_mapping=False)
    if cancelled():
        raise InterruptedError
    fixed_lines = {(p.file, p.line) for p in report.problems if p.action == "fixed"}
    a = data.analyse(convs, report, max_chars=MAX_CHARS, near_dup_threshold=data.NEAR_DUP_THRESHOLD,
                     action="removed")
    rules = [a.removed.get(i) for i in range(len(convs))]
    fixed = [(c.file, c.line) in fixed_lines for c in convs]
    columns = sample_columns(path) if report.mapping_source in ("proposed", "given") or report.confidence < 0.9 else []
    return Loaded(str(path), report, convs, rules, fixed, columns, mapping)


def read_pairs(path) -> Loaded:
    """A preference file as the Data screen shows it: each pair as its prompt with the longer answer (what one
    sequence of the pair holds: the token counts, preview and histogram), the pair doctor's findings as problems."""
    from danlu.engine.data import Conversation
    from danlu.engine.data import preference as pf  # noqa: F401 - the data stage's public module

    d = pf.load(path)
    items = d.pairs or d.unpaired
    convs = [Conversation(pf.longer_conversation(item), file=str(path), line=item.line) for item in items]
    report = pf.data_report(d)
    return Loaded(str(path), report, convs, [None] * len(convs), [False] * len(convs), pairs=list(items),
                  preference=d)


def keep(loaded: Loaded, choices: dict, tokens: list | None = None, max_seq_len: int | None = None) -> list[int]:
    """Indices of the conversations that survive the chosen cleaning."""
    out = []
    tokens = tokens or []
    for i, rule in enumerate(loaded.rules):
        if loaded.fixed[i] and not choices.get("fix"):
            continue  # without repairs a broken line is skipped, as ``--on-error skip`` does
        if rule is not None and choices.get(rule, True):
            continue
        if choices.get("too_long") and max_seq_len and i < len(tokens) and tokens[i] and tokens[i] > max_seq_len:
            continue
        out.append(i)
    return out


def shown_action(problem: Problem, choices: dict) -> str:
    """What happens to a problem's row under the current choices: removed, kept, fixed, skipped or stopped."""
    if problem.kind in RULES:
        return "removed" if choices.get(problem.kind, True) else "kept"
    if problem.action == "fixed":
        return "fixed" if choices.get("fix") else "skipped"
    return problem.action or "skipped"


# -- the model's view: tokenizer, token counts, the rendered chat template -------------------------------------------
def preview_tokenizer(model: str, trust_remote_code: bool = False):
    """The chosen model's tokenizer without waiting for a model build or import (see the engine's)."""
    from danlu.engine import models

    return models.preview_tokenizer(model, trust_remote_code=trust_remote_code)


def token_counts(tokenizer, convs: list, cancelled=lambda: False, batch: int = 256) -> list:
    """Tokens per conversation with the chat template applied (None where the template rejects it)."""
    from danlu.engine import data

    out: list = []
    for start in range(0, min(len(convs), MAX_TOKEN_ROWS), batch):
        if cancelled():
            raise InterruptedError
        out += data.token_lengths(tokenizer, [list(c) for c in convs[start:start + batch]])
    return out


def render(tokenizer, msgs) -> tuple[str, list[tuple[int, int]]]:
    """The conversation as the model sees it (chat template applied) and the spans the loss is computed on."""
    from danlu.engine import data

    return data.assistant_spans(tokenizer, list(msgs))


def histogram(lengths: list, max_seq_len: int, bins: int = 8) -> list[tuple[int, int | None, int]]:
    """(from, to, count) rows: ``bins`` equal bins up to ``max_seq_len`` and one row (to=None) for longer ones."""
    width = max(1, -(-max_seq_len // bins))
    rows = [[i * width + 1, min((i + 1) * width, max_seq_len), 0] for i in range(bins) if i * width < max_seq_len]
    over = 0
    for n in lengths:
        if n is None:
            continue
        if n > max_seq_len:
            over += 1
        else:
            rows[min(len(rows) - 1, max(0, (n - 1) // width))][2] += 1
    return [tuple(r) for r in rows] + [(max_seq_len + 1, None, over)]


def percentile(values: list, q: float) -> int:
    s = sorted(v for v in values if v is not None)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else 0


# -- the file behind a problem --------------------------------------------------------------------------------------
def source_excerpt(file: str, line: int, max_lines: int = 4, max_chars: int = 400) -> str | None:
    """The text at ``line`` of a text file (one line for JSONL, a few for JSON/CSV), shortened; None if unreadable."""
    path = Path(file)
    if not line or line < 1 or path.suffix.lower() in BINARY or not path.is_file():
        return None
    n = 1 if path.suffix.lower() == ".jsonl" else max_lines
    try:
        with open(path, "rb") as fh:
            lines = list(islice(_bounded_lines(fh, max_chars * 4), line - 1, line - 1 + n))
    except OSError:
        return None
    text = b"".join(lines).decode("utf-8", errors="replace").removeprefix("\ufeff").rstrip("\n")
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _bounded_lines(fh, keep: int):
    """Each line's first ``keep`` bytes (the rest read past in chunks): a 100 MB line never sits in memory."""
    while True:
        head = fh.readline(keep)
        if not head:
            return
        rest = head
        while rest and not rest.endswith(b"\n"):
            rest = fh.readline(1 << 20)
        yield head


# -- conversion -------------------------------------------------------------------------------------------------------
def convertible(convs: list, target: str) -> tuple[list, int]:
    """The conversations that ``target`` can hold, and how many it cannot (engine.data.convertible)."""
    from danlu.engine import data

    return data.convertible(convs, target)


def copy_path(source: str, target: str) -> str:
    """Where a cleaned, converted copy of ``source`` goes by default: beside it."""
    p = Path(source)
    stem = p.name.split(".")[0] if p.name else "data"
    return str(p.with_name(f"{stem}.cleaned.{target}" + (".json" if target == "alpaca" else ".jsonl")))


def save_copy(convs: list, target: str, path: str) -> dict:
    """Write the cleaned conversations as ``target`` (atomically) with a LLaMA-Factory dataset_info.json entry."""
    from danlu.engine import data

    return data.write_copy(convs, target, path)
