"""Writing data for the user: atomic files (a temporary file renamed when complete), output naming, refusing to
overwrite the input, LLaMA-Factory's dataset_info.json."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Iterable

from ..core.errors import DanluError
from . import formats, jsonio
from .formats import RecordError
from .model import CopyResult, DataReport, Problem

class AtomicWriter:
    """Write records to a temporary file beside ``path``; rename on :meth:`commit`, delete on :meth:`abort`.

    ``.json`` paths get a JSON array, anything else JSONL (one record per line)."""

    def __init__(self, path, target: str):
        self.path, self.target = Path(path), target
        if self.path.exists() and self.path.is_dir():
            raise DanluError("the output path is a folder", where=str(self.path), fix="give a file name such as out.jsonl")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from ..core.atomic import temp_prefix

        fd, self.tmp = tempfile.mkstemp(prefix=temp_prefix(self.path), suffix=".tmp", dir=self.path.parent)
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
        from ..core.atomic import finished_mode

        finished_mode(self.tmp, self.path)  # the replaced file's permissions, or the umask's; not the temp's 0600
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


def refuse_overwriting_input(sources, outputs) -> None:
    """Every output checked against every file the command reads (the data, a --mix file) and danlu's own
    folders, before anything is read (engine.core.guard: one rule for every writer)."""
    from ..core import guard

    inputs = [guard.Input(f, f"the input file {f.name}") for src in sources if src for f in sorted(input_files(src))]
    for out in outputs:
        guard.check_destination(out, inputs, what="the output")


@contextlib.contextmanager
def writers(*specs):
    """Open AtomicWriters for (path, target) pairs; commit them all on success, remove every temp file (and any
    folder made for them) on error.  A full disk becomes one clear DanluError naming the path."""
    from ..core import atomic

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
            raise p.as_error() from None
        report.problems.append(p)
        return False


def write_dataset_info(out_dir: Path, entries: dict, report: DataReport | None = None) -> Path | None:
    """Add or replace entries in ``out_dir/dataset_info.json`` (LLaMA-Factory), atomically; a broken file is left alone."""
    from ..core import atomic

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


def convertible(convs: list, target: str) -> tuple[list, int]:
    """The conversations that ``target`` can hold, and how many it cannot (Alpaca has no tool turns)."""
    if target != "alpaca":
        return list(convs), 0
    ok = [c for c in convs if formats.alpaca_problem(c) is None]
    return ok, len(convs) - len(ok)


def write_copy(convs: list, target: str, path) -> CopyResult:
    """Write the conversations ``target`` can hold as ``target`` (atomically), with a LLaMA-Factory
    dataset_info.json entry beside it: the written path, records, those left out, the dataset_info file."""
    ok, dropped = convertible(convs, target)
    out = write_conversations(Path(path).expanduser(), ok, target)
    info = write_dataset_info(out.parent, {entry_name(out): formats.dataset_info_entry(out.name, target)})
    return CopyResult(path=str(out), records=len(ok), dropped=dropped, dataset_info=str(info) if info else None)

