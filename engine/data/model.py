"""The data step's value types: a conversation with its origin, a problem, a report.

A *conversation* is the OpenAI/TRL ``messages`` shape: a list of ``{"role", "content"}``
dicts (roles ``system``, ``user``, ``assistant``, ``tool``; extra keys such as
``tool_calls`` ride along).  :class:`Conversation` is that list plus where it came from
(file, line) and the record's other fields (``meta``: ids, timestamps, columns no format
consumed), so that every later step can point at the line and write the fields back out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ROLES = ("system", "user", "assistant", "tool")

# what a problem does to its record: an error drops it (unless fixed), a warning is a
# cleaning rule's finding (duplicates, overlong), info changes nothing (a blank line)
SEVERITY = {
    "malformed_json": "error", "invalid_utf8": "error", "not_an_object": "error", "non_string": "error",
    "missing_field": "error", "unknown_role": "error", "role_order": "error", "no_assistant": "error",
    "empty_turn": "error", "empty_answer": "error", "not_ending_with_assistant": "error",
    "csv_shape": "error", "unconvertible": "error", "unreadable_file": "error",
    "exact_duplicate": "warning", "near_duplicate": "warning", "overlong": "warning", "repetition": "warning",
    "missing_column": "warning", "blank_line": "info",
}


class Conversation(list):
    """A list of messages that remembers its file, line (1-based) and extra record fields."""

    __slots__ = ("file", "line", "meta")

    def __init__(self, msgs=(), *, file: str = "", line: int = 0, meta: dict | None = None):
        super().__init__(msgs)
        self.file = file
        self.line = line
        self.meta = meta or {}

    def copy_with(self, msgs) -> "Conversation":
        return Conversation(msgs, file=self.file, line=self.line, meta=dict(self.meta))


@dataclass
class Problem:
    """One finding: where (file, line, record, field), what is wrong, how to fix, what was done."""

    file: str
    line: int
    field: str
    what: str
    fix: str
    kind: str = "invalid"
    severity: str = "error"
    action: str = "skipped"  # skipped | fixed | kept | removed | stopped
    record: int | None = None  # 1-based position of the record in its file (JSON arrays, Parquet, CSV rows)
    duplicate_of: int | None = None  # the line this one duplicates (duplicates only)
    similarity: float | None = None  # estimated Jaccard similarity (near duplicates only)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.what} — {self.fix}"

    def as_error(self):
        """This problem as the error that stops a command (``--on-error stop``)."""
        from ..core.errors import DanluError

        where = f"{self.file}:{self.line}" + (f" ({self.field})" if self.field and self.field != "-" else "")
        return DanluError(self.what, where=where, fix=self.fix)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


SURE_MAPPING = 0.9  # a proposed column mapping this confident was read from the column names


@dataclass
class DataReport:
    """What the data doctor found in one input (a file, folder or dataset)."""

    file: str
    format: str
    evidence: str
    confidence: float = 1.0
    records: int = 0
    kept: int = 0
    problems: list[Problem] = field(default_factory=list)
    removed: dict = field(default_factory=dict)
    encoding: str = "utf-8"
    mapping: dict | None = None  # column mapping used (or proposed) when the columns had no standard names
    mapping_source: str | None = None  # "given", "proposed", "dataset_info" or None
    fixed: int = 0
    notes: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def mapping_guessed(self) -> bool:
        """The columns were mapped by a guess from their contents, not recognised by their names: a person must
        confirm the mapping before the data counts as a dataset (a CSV of 问题/回答 is recognised; a list of log
        records is only guessed at)."""
        return self.mapping_source == "proposed" and (self.confidence or 0) < SURE_MAPPING

    def counts(self) -> dict:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "problems"}
        d["problems"] = [p.to_dict() for p in self.problems]
        d["problem_counts"] = self.counts()
        return d


@dataclass(frozen=True)
class CopyResult:
    """A dataset copy written in another format (``data.write_copy``): where, how many records, how many the format
    could not hold, and the dataset_info.json beside it."""

    path: str
    records: int
    dropped: int
    dataset_info: str | None
