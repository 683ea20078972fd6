"""Datasets: read a file, detect its format, convert to conversations, clean, split.

Internally every sample is a *conversation*: a list of ``{"role", "content"}``
messages (roles ``system``, ``user``, ``assistant``, ``tool``), the OpenAI/TRL
``messages`` shape.  Readers keep the file and line of every record so that
problems point at the line.  No heavy imports here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from . import atomic
from .errors import DanluError

FORMATS = ("alpaca", "sharegpt", "messages", "prompt_completion")
TARGETS = ("alpaca", "sharegpt", "messages")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "function_call": "assistant", "observation": "tool", "tool": "tool"}
TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}


@dataclass
class Record:
    data: object
    line: int  # 1-based line (JSONL), row (CSV, header = row 1) or index + 1 (JSON array)


@dataclass
class Problem:
    file: str
    line: int
    field: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.what} — {self.fix}"


@dataclass
class DataReport:
    file: str
    format: str
    evidence: str
    records: int = 0
    kept: int = 0
    problems: list[Problem] = field(default_factory=list)
    removed: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["problems"] = [asdict(p) for p in self.problems]
        return d


# -- reading -----------------------------------------------------------------------------------
def _open_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DanluError("the file is neither UTF-8 nor GB18030 text", where=str(path), fix="re-save it as UTF-8")


def read_records(path: str | Path, problems: list[Problem] | None = None) -> list[Record]:
    """Read JSON (array, or object holding one list), JSONL or CSV/TSV into records."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DanluError(f"dataset file not found: {path}", fix="check the path (see sample_data/ for examples)")
    if path.is_dir():
        raise DanluError("expected a file, got a folder", where=str(path), fix="pass one .json/.jsonl/.csv file")
    problems = problems if problems is not None else []
    text = _open_text(path)
    if not text.strip():
        raise DanluError("the file is empty", where=str(path), fix="pass a file with at least one record")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _read_csv(path, text)
    stripped = text.lstrip()
    if suffix == ".json" or (stripped[:1] == "[" and suffix != ".jsonl"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            if suffix == ".json":
                line = getattr(exc, "lineno", 0)
                raise DanluError(
                    f"not valid JSON ({getattr(exc, 'msg', exc)})",
                    where=f"{path}:{line}",
                    fix="fix the JSON there, or save one record per line as .jsonl",
                ) from None
        else:
            if isinstance(obj, dict):
                lists = [v for v in obj.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise DanluError(
                        "a JSON object must hold exactly one list of records",
                        where=str(path),
                        fix="make the file a JSON array of records",
                    )
                obj = lists[0]
            if not isinstance(obj, list):
                raise DanluError("the JSON is not a list of records", where=str(path), fix="make it a JSON array")
            return [Record(r, i + 1) for i, r in enumerate(obj)]
    records = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(Record(json.loads(line), n))
        except ValueError as exc:
            problems.append(Problem(str(path), n, "-", f"broken JSON line ({getattr(exc, 'msg', exc)})",
                                    "fix or delete this line"))
    if not records:
        raise DanluError("no readable JSON records in the file", where=str(path), fix="one JSON object per line")
    return records


def _read_csv(path: Path, text: str) -> list[Record]:
    sample = text[:20000]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    if not reader.fieldnames:
        raise DanluError("the CSV has no header row", where=str(path), fix="add a header such as instruction,output")
    rows = []
    for row in reader:
        rows.append(Record({k: v for k, v in row.items() if k is not None}, reader.line_num))
    return rows


# -- detection ---------------------------------------------------------------------------------
def detect_format(records: list[Record]) -> tuple[str, str]:
    """The format of most records, and the evidence for it."""
    votes: dict[str, int] = {}
    for r in records[:200]:
        fmt = _row_format(r.data)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
    if not votes:
        keys = sorted({k for r in records[:20] if isinstance(r.data, dict) for k in r.data})
        raise DanluError(
            f"could not recognise the dataset format (columns: {', '.join(keys) or 'none'})",
            fix="use Alpaca (instruction/input/output), ShareGPT (conversations), messages, or prompt/completion",
        )
    fmt = max(votes, key=votes.get)
    seen = min(len(records), 200)
    keys = {"alpaca": "instruction/output", "sharegpt": "conversations", "messages": "messages",
            "prompt_completion": "prompt/completion"}[fmt]
    return fmt, f"{votes[fmt]} of the first {seen} records have {keys} fields"


def _row_format(row) -> str | None:
    if not isinstance(row, dict):
        return None
    if isinstance(row.get("messages"), list):
        return "messages"
    if isinstance(row.get("conversations"), list):
        return "sharegpt"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    return None


# -- conversion --------------------------------------------------------------------------------
def to_messages(row, fmt: str) -> list[dict]:
    """One record as a conversation. Raises ValueError with a field name for bad records."""
    if not isinstance(row, dict):
        raise ValueError("-|the record is not a JSON object")
    if fmt == "messages":
        msgs = row.get("messages")
        if not isinstance(msgs, list):
            raise ValueError("messages|missing or not a list")
        return [_msg(m, "messages", i, "role", "content", None) for i, m in enumerate(msgs)]
    if fmt == "sharegpt":
        conv = row.get("conversations")
        if not isinstance(conv, list):
            raise ValueError("conversations|missing or not a list")
        out = []
        if isinstance(row.get("system"), str) and row["system"]:
            out.append({"role": "system", "content": row["system"]})
        for i, m in enumerate(conv):
            if isinstance(m, dict) and "from" in m:
                out.append(_msg(m, "conversations", i, "from", "value", SHAREGPT_ROLES))
            else:
                out.append(_msg(m, "conversations", i, "role", "content", SHAREGPT_ROLES))
        return out
    if fmt == "alpaca":
        out = []
        for key in ("instruction", "output"):
            if not isinstance(row.get(key), str):
                raise ValueError(f"{key}|missing or not text")
        if row.get("system"):
            out.append({"role": "system", "content": _text(row["system"], "system")})
        for i, pair in enumerate(row.get("history") or []):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ValueError(f"history[{i}]|must be a [question, answer] pair")
            out.append({"role": "user", "content": _text(pair[0], f"history[{i}][0]")})
            out.append({"role": "assistant", "content": _text(pair[1], f"history[{i}][1]")})
        query = row["instruction"]
        extra = row.get("input") or ""
        if not isinstance(extra, str):
            raise ValueError("input|not text")
        out.append({"role": "user", "content": f"{query}\n{extra}" if extra else query})
        out.append({"role": "assistant", "content": row["output"]})
        return out
    if fmt == "prompt_completion":
        p, c = row.get("prompt"), row.get("completion")
        if isinstance(p, list) and isinstance(c, list):
            return [_msg(m, "prompt", i, "role", "content", None) for i, m in enumerate(p)] + [
                _msg(m, "completion", i, "role", "content", None) for i, m in enumerate(c)
            ]
        return [{"role": "user", "content": _text(p, "prompt")}, {"role": "assistant", "content": _text(c, "completion")}]
    raise ValueError(f"-|unknown format {fmt}")


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}|expected text, got {type(value).__name__}")
    return value


def _msg(m, container: str, i: int, role_key: str, content_key: str, role_map) -> dict:
    if not isinstance(m, dict):
        raise ValueError(f"{container}[{i}]|a turn must be an object with {role_key} and {content_key}")
    role = m.get(role_key)
    if role_map is not None:
        if role not in role_map:
            raise ValueError(f"{container}[{i}].{role_key}|unknown role {role!r}")
        role = role_map[role]
    elif role not in ("system", "user", "assistant", "tool"):
        raise ValueError(f"{container}[{i}].{role_key}|unknown role {role!r}")
    return {"role": role, "content": _text(m.get(content_key), f"{container}[{i}].{content_key}")}


def check_conversation(msgs: list[dict]) -> str | None:
    """Why a conversation cannot be trained on, or None."""
    body = [m for m in msgs if m["role"] != "system"]
    if any(m["role"] == "system" for m in msgs[1:]):
        return "messages|a system message may only come first"
    if not body:
        return "messages|no user or assistant turns"
    if body[0]["role"] != "user":
        return "messages|the conversation must start with the user"
    if not any(m["role"] == "assistant" for m in body):
        return "messages|no assistant answer"
    for a, b in zip(body, body[1:]):
        if a["role"] == b["role"] and a["role"] in ("user", "assistant"):
            return f"messages|two {a['role']} turns in a row"
    if body[-1]["role"] != "assistant":
        return "messages|the conversation does not end with the assistant"
    for m in body:
        if m["role"] == "assistant" and not m["content"].strip():
            return "messages|empty assistant answer"
        if m["role"] == "user" and not m["content"].strip():
            return "messages|empty user turn"
    return None


def from_messages(msgs: list[dict], target: str) -> dict:
    """A conversation in a target format (Alpaca puts earlier turns in ``history``)."""
    if target == "messages":
        return {"messages": [dict(m) for m in msgs]}
    if target == "sharegpt":
        return {"conversations": [{"from": TO_SHAREGPT[m["role"]], "value": m["content"]} for m in msgs]}
    if target == "alpaca":
        system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
        body = [m for m in msgs if m["role"] != "system"]
        pairs = [(body[i]["content"], body[i + 1]["content"]) for i in range(0, len(body) - 1, 2)]
        last_q, last_a = pairs[-1]
        row = {"instruction": last_q, "input": "", "output": last_a}
        if system is not None:
            row["system"] = system
        if len(pairs) > 1:
            row["history"] = [list(p) for p in pairs[:-1]]
        return row
    raise DanluError(f"unknown target format {target!r}", fix=f"use one of {', '.join(TARGETS)}")


# -- the whole step ------------------------------------------------------------------------------
def load_conversations(path: str | Path) -> tuple[list[list[dict]], DataReport]:
    """Read, detect, convert and validate: the good conversations and a report of the rest."""
    path = Path(path).expanduser()
    problems: list[Problem] = []
    records = read_records(path, problems)
    fmt, evidence = detect_format(records)
    report = DataReport(file=str(path), format=fmt, evidence=evidence, records=len(records) + len(problems))
    convs = []
    for r in records:
        try:
            msgs = to_messages(r.data, fmt)
            why = check_conversation(msgs)
            if why:
                raise ValueError(why)
        except ValueError as exc:
            fld, _, what = str(exc).partition("|")
            problems.append(Problem(str(path), r.line, fld, what or fld, "fix the record or let danlu skip it"))
            continue
        convs.append(msgs)
    report.problems = sorted(problems, key=lambda p: p.line)
    report.kept = len(convs)
    if not convs:
        first = report.problems[0] if report.problems else None
        raise DanluError(
            f"no usable conversations ({len(report.problems)} problems; first: {first.what if first else 'none'})",
            where=f"{path}:{first.line}" if first else str(path),
            fix="run `danlu data inspect` on the file to see every problem",
        )
    return convs, report


def conversation_key(msgs: list[dict]) -> str:
    return hashlib.sha1(json.dumps(msgs, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def clean(convs: list[list[dict]], *, max_chars: int | None = None) -> tuple[list[list[dict]], dict]:
    """Drop exact duplicates and (optionally) overlong conversations; return counts per rule."""
    seen: set[str] = set()
    kept, removed = [], {"exact_duplicate": 0, "overlong": 0}
    for msgs in convs:
        key = conversation_key(msgs)
        if key in seen:
            removed["exact_duplicate"] += 1
            continue
        seen.add(key)
        if max_chars and sum(len(m["content"]) for m in msgs) > max_chars:
            removed["overlong"] += 1
            continue
        kept.append(msgs)
    return kept, removed


def split(convs: list, eval_ratio: float = 0.1, seed: int = 42) -> tuple[list, list]:
    """Random train/eval split with a seed; at least one eval sample when there are two or more."""
    if not 0 <= eval_ratio < 1:
        raise DanluError(f"eval ratio must be in [0, 1), got {eval_ratio}", fix="e.g. --eval-ratio 0.1")
    order = list(range(len(convs)))
    random.Random(seed).shuffle(order)
    n_eval = int(round(len(convs) * eval_ratio))
    if eval_ratio > 0 and len(convs) >= 2:
        n_eval = max(1, n_eval)
    ev = sorted(order[:n_eval])
    tr = sorted(order[n_eval:])
    return [convs[i] for i in tr], [convs[i] for i in ev]


def write_conversations(path: str | Path, convs: Iterable[list[dict]], target: str = "messages") -> Path:
    """Write conversations atomically: JSONL, or a JSON array for ``.json`` paths."""
    path = Path(path)
    rows = [from_messages(m, target) for m in convs]
    if path.suffix.lower() == ".json":
        return atomic.write_json(path, rows)
    return atomic.write_jsonl(path, rows)


def file_hash(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def iter_messages_file(path: str | Path) -> Iterator[list[dict]]:
    convs, _ = load_conversations(path)
    yield from convs
