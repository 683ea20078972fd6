"""The run directory: the interface between a training process and its viewers.

Layout (DESIGN.md §2)::

    runs/<id>/config.yaml    the resolved plan; ``danlu train`` on it reproduces the run
             events.jsonl    append-only, one JSON object a line, each with ``ts`` and ``type``
             status.json     replaced atomically: state, pid, step, total, eta, ...
             train.log       the process's output when detached
             data/           the prepared train/eval split the run used
             checkpoints/    trainer checkpoints
             final/          the final adapter (LoRA/QLoRA) or model (full)
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import atomic, paths
from .errors import DanluError

EVENT_TYPES = ("step", "eval", "system", "checkpoint", "backoff", "log", "status", "done", "error")
STATES = ("pending", "running", "done", "failed", "stopped")


def read_jsonl_tolerant(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Read complete JSON lines from ``offset``; return them and the offset after the last one.

    A torn last line (a writer killed mid-write, or still writing) is left for the next read.
    """
    rows: list[dict] = []
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return rows, offset
    end = data.rfind(b"\n")
    if end < 0:
        return rows, offset
    for line in data[: end + 1].splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            rows.append(obj)
    return rows, offset + end + 1


@dataclass
class RunDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def status_path(self) -> Path:
        return self.path / "status.json"

    @property
    def log_path(self) -> Path:
        return self.path / "train.log"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def final_dir(self) -> Path:
        return self.path / "final"

    # -- writing (the training process, rank 0 only) -------------------------------------
    def event(self, type: str, **fields) -> dict:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        row = {"ts": round(time.time(), 3), "type": type, **fields}
        line = json.dumps(row, ensure_ascii=False, default=_json_default) + "\n"
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
        return row

    def set_status(self, **fields) -> dict:
        status = self.status()
        status.update(fields)
        status["updated"] = round(time.time(), 3)
        atomic.write_json(self.status_path, status)
        return status

    # -- reading (any viewer) -------------------------------------------------------------
    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def events(self) -> list[dict]:
        return read_jsonl_tolerant(self.events_path)[0]

    def truncate_events_after(self, step: int) -> int:
        """On resume from a checkpoint at ``step``: drop the events written after it (they will be written
        again), so the history has each step once.  Replaces the file atomically; returns lines dropped."""
        lines = self.events_path.read_text(encoding="utf-8").splitlines(keepends=True) if self.events_path.exists() else []
        keep = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                break  # a torn last line
            later = row.get("type") in ("step", "eval", "checkpoint", "backoff") and (row.get("step") or 0) > step
            if later or row.get("type") in ("done", "error"):
                break
            keep.append(line if line.endswith("\n") else line + "\n")
        atomic.write_text(self.events_path, "".join(keep))
        return len(lines) - len(keep)

    def follow(self, poll: float = 0.5, stop_when_finished: bool = True) -> Iterator[dict]:
        """Yield every event from the start, then new ones as they are written.

        If the file is replaced by a shorter one (a resume keeps a prefix of it and drops the steps
        after its checkpoint), reading goes on after that prefix: nothing is yielded twice."""
        offset, seen = 0, 0
        while True:
            try:
                if self.events_path.stat().st_size < offset:
                    rows, offset = read_jsonl_tolerant(self.events_path, 0)
                    seen = min(seen, len(rows))
                    yield from rows[seen:]
                    seen = len(rows)
            except FileNotFoundError:
                pass
            rows, offset = read_jsonl_tolerant(self.events_path, offset)
            seen += len(rows)
            yield from rows
            if stop_when_finished and self.effective_state() not in ("pending", "running"):
                rows, offset = read_jsonl_tolerant(self.events_path, offset)
                yield from rows
                return
            time.sleep(poll)

    def effective_state(self) -> str:
        """The recorded state, or ``crashed`` when it says running but its process is gone."""
        st = self.status()
        state = st.get("state", "pending")
        if state == "running" and st.get("pid") and not _pid_alive(int(st["pid"])):
            return "crashed"
        return state

    def summary(self) -> dict:
        st = self.status()
        return {
            "id": self.id,
            "path": str(self.path),
            "state": self.effective_state(),
            "method": st.get("method"),
            "model": st.get("model"),
            "step": st.get("step", 0),
            "total": st.get("total"),
            "loss": st.get("loss"),
            "eta_s": st.get("eta_s"),
            "created": st.get("created"),
        }


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); look at its state where /proc exists
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower()[:40] or "run"


def create(name: str, root: Path | None = None) -> RunDir:
    """Make a new, uniquely named run directory ``<root>/<date>-<time>-<name>``."""
    root = Path(root) if root else paths.runs_root()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(name)}"
    for n in range(1000):
        path = root / (base if n == 0 else f"{base}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        run = RunDir(path)
        run.set_status(state="pending", created=round(time.time(), 3), step=0)
        return run
    raise DanluError(f"could not create a run directory under {root}", fix="check that the folder is writable, or set DANLU_RUNS")


def list_runs(root: Path | None = None) -> list[RunDir]:
    root = Path(root) if root else paths.runs_root()
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and (p / "status.json").exists()]
    return sorted(runs, key=lambda r: r.status().get("created", 0), reverse=True)


def resolve(ref: str, root: Path | None = None) -> RunDir:
    """A run from a path, a run id (or unique prefix/suffix of one), or ``latest``."""
    p = Path(ref).expanduser()
    if (p / "status.json").exists():
        return RunDir(p.resolve())
    runs = list_runs(root)
    if ref == "latest" and runs:
        return runs[0]
    matches = [r for r in runs if r.id == ref] or [r for r in runs if ref in r.id]
    if len(matches) == 1:
        return matches[0]
    where = str(Path(root) if root else paths.runs_root())
    if not matches:
        raise DanluError(
            f"no run called {ref!r}",
            where=where,
            fix="run `danlu runs` to list runs, or pass a run directory's path",
        )
    raise DanluError(
        f"{ref!r} matches {len(matches)} runs ({', '.join(r.id for r in matches[:4])}…)",
        fix="give more of the run id",
    )
