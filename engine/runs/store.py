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

import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core import atomic, events, paths
from ..core.errors import DanluError
from ..core.atomic import signallable_pid
from ..core.events import Event

STATES = ("pending", "running", "done", "failed", "stopped")  # what status.json records
SHOWN_STATES = (*STATES, "crashed", "damaged")  # and what effective_state() may also say
DAMAGED = "damaged"  # status.json unreadable: listed with why, never hides the other runs


class NotRegular(OSError):
    """A run file that is a FIFO, a device or a folder: never read (a FIFO would block forever)."""


def _read_regular(path, offset: int = 0) -> bytes:
    """A run file's bytes from ``offset``; opened without blocking and refused unless it is a regular file."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(f"{Path(path).name} is not a regular file")
        os.lseek(fd, offset, os.SEEK_SET)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_jsonl_tolerant(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Read complete JSON lines from ``offset``; return them and the offset after the last one.

    A torn last line (a writer killed mid-write, or still writing) is left for the next read.
    """
    rows: list[dict] = []
    try:
        data = _read_regular(path, offset)
    except (FileNotFoundError, NotRegular, IsADirectoryError):
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


def read_json(path: Path, what: str | None = None) -> dict:
    """A JSON object from a run's file, or one DanluError saying the file is missing or damaged and what to do."""
    path = Path(path)
    what = what or path.name
    try:
        obj = json.loads(_read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        raise DanluError(f"{what} is missing", where=str(path),
                         fix="the run folder is incomplete; train again with `danlu train` on its config.yaml") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        why = ("not a regular file" if isinstance(exc, NotRegular) else "empty" if path.is_file() and
               path.stat().st_size == 0 else "not valid JSON" if isinstance(exc, ValueError) else str(exc))
        raise DanluError(f"{what} is damaged ({why})", where=str(path),
                         fix="restore it from a checkpoint (checkpoints/checkpoint-N has a copy), or train again") from None
    if not isinstance(obj, dict):
        raise DanluError(f"{what} is damaged (a JSON {type(obj).__name__}, not an object)", where=str(path),
                         fix="restore it from a checkpoint (checkpoints/checkpoint-N has a copy), or train again")
    return obj


class EventReader:
    """New complete events of a run's events.jsonl since the last read (typed records, :mod:`engine.core.events`): the
    one reader of ``danlu attach`` and the dashboard.  A torn last line waits for the next read; a file replaced by
    a resume (it keeps a prefix and drops the steps after its checkpoint, under a new inode) is read again from its
    start, with ``replaced=True`` so that a viewer drops what it had instead of keeping stale steps."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0
        self.inode = None

    def read(self) -> tuple[list[Event], bool]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return [], False
        replaced = self.inode is not None and (st.st_ino != self.inode or st.st_size < self.offset)
        self.inode = st.st_ino
        if replaced:
            self.offset = 0
        rows, self.offset = read_jsonl_tolerant(self.path, self.offset)
        return _parsed(rows), replaced


@dataclass(frozen=True)
class RunSummary:
    """One line of ``danlu runs`` (and the wizard's run list); ``danlu runs --json`` prints :meth:`to_dict` each."""

    id: str
    path: str
    state: str  # one of SHOWN_STATES
    method: str | None
    model: str | None
    step: int | None
    total: int | None
    loss: float | None
    eta_s: float | None
    created: float | None  # time.time() when the run was made
    damage: str | None  # why the run's files cannot be read whole, or None
    verdict: str | None = None  # the diagnosis of a finished run (diagnosis.json): clean, under_fit, over_fit, …

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def loss_text(self) -> str:
        return f"{self.loss:.4f}" if isinstance(self.loss, (int, float)) and not isinstance(self.loss, bool) else "-"

    @property
    def step_text(self) -> str:
        return f"{self.step or 0}/{self.total or '?'}"


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

    @property
    def lock_path(self) -> Path:
        return self.path / "trainer.lock"

    # -- ownership: the trainer holds an flock on trainer.lock for its whole life ------------------
    def take_lock(self) -> int:
        """Become the run's one trainer: an exclusive flock on trainer.lock (released by the kernel when this
        process ends, even by kill -9), with this process's pid, start time and command line written in it.
        Raises :class:`RunBusy` when another process holds it (two resumes cannot both win)."""
        import fcntl
        import sys

        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = self.lock_holder() or {}
            raise RunBusy(f"run {self.id} is already being trained by another process (pid {holder.get('pid', '?')})",
                          where=str(self.path), fix=f"follow it with `danlu attach {self.id}`, or stop it with "
                                                    f"`danlu stop {self.id}`") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({**atomic.me(), "argv": sys.argv[:8]}).encode())
        return fd

    def lock_holder(self) -> dict | None:
        """The process that holds the run's lock now ({pid, start, argv}), or None when none does."""
        import fcntl

        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            import stat

            if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or device put there is no lock (and no hang)
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    info = json.loads(os.read(fd, 4096) or b"{}")
                except ValueError:
                    info = {}
                return info if isinstance(info, dict) else {}
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def trainer_pid(self) -> int | None:
        """The pid of the process training this run, only when it provably is that process: it holds the lock,
        its pid is above 1, and its start time is the one it recorded (a reused pid is not it)."""
        holder = self.lock_holder()
        if not holder:
            return None
        pid = signallable_pid(holder.get("pid"))
        return pid if pid is not None and atomic.owner_alive(holder) else None

    # -- writing (the training process, rank 0 only) -------------------------------------
    def event(self, ev: Event) -> Event:
        """Append one event (stamped with the time now if it has none) and return it."""
        if not isinstance(ev, Event):
            raise TypeError(f"an engine.core.events record is needed, not {type(ev).__name__}")
        if ev.ts is None:
            ev.ts = round(time.time(), 3)
        line = json.dumps(ev.to_row(), ensure_ascii=False, default=_json_default) + "\n"
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
        return ev

    def set_status(self, **fields) -> dict:
        status = self.status()
        status.update(fields)
        status["updated"] = round(time.time(), 3)
        atomic.write_json(self.status_path, status)
        return status

    # -- reading (any viewer) -------------------------------------------------------------
    def status(self) -> dict:
        """status.json as a dict; {} when it is missing or damaged (see :meth:`damage`)."""
        return self._read_status()[0]

    def _read_status(self) -> tuple[dict, str | None]:
        try:
            raw = _read_regular(self.status_path)
        except FileNotFoundError:
            return {}, None
        except NotRegular:
            return {}, "status.json is not a regular file"
        except OSError as exc:
            return {}, f"status.json cannot be read ({exc.strerror or exc})"
        if not raw.strip():
            return {}, "status.json is empty"
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return {}, "status.json is not valid JSON"
        if not isinstance(obj, dict):
            return {}, f"status.json holds a JSON {type(obj).__name__}, not an object"
        return obj, None

    def damage(self) -> str | None:
        """Why this run directory cannot be trusted as it is (a damaged status.json), or None."""
        return self._read_status()[1]

    def state_from_events(self) -> str | None:
        """The state the event log ends in (done/stopped/failed), for a run whose status.json is damaged."""
        for ev in reversed(self.events()):
            if isinstance(ev, events.Done):
                return ev.state or "done"
            if isinstance(ev, events.Error):
                return "failed"
        return None

    def events(self) -> list[Event]:
        """Every complete event in the log, as records (rows of unknown types are left out)."""
        return _parsed(read_jsonl_tolerant(self.events_path)[0])

    def truncate_events_after(self, step: int) -> int:
        """On resume from a checkpoint at ``step``: drop the events written after it (they will be written
        again), so the history has each step once.  Replaces the file atomically; returns lines dropped.
        A torn or damaged line (binary junk, a half-written row) ends the history kept."""
        data = self.events_path.read_bytes() if self.events_path.exists() else b""
        lines = data.splitlines(keepends=True)
        keep = []
        for raw in lines:
            try:
                row = json.loads(raw.decode("utf-8"))
                if not isinstance(row, dict):
                    raise ValueError
            except (ValueError, UnicodeDecodeError):
                break
            line = raw.decode("utf-8")
            at = row.get("step") if isinstance(row.get("step"), (int, float)) else 0
            later = row.get("type") in ("step", "eval", "checkpoint", "backoff") and at > step
            if later or row.get("type") in ("done", "error"):
                break
            keep.append(line if line.endswith("\n") else line + "\n")
        atomic.write_text(self.events_path, "".join(keep))
        return len(lines) - len(keep)

    def follow(self, poll: float = 0.5, stop_when_finished: bool = True) -> Iterator[Event]:
        """Yield every event from the start, then new ones as they are written.

        If the file is replaced by a shorter one (a resume keeps a prefix of it and drops the steps
        after its checkpoint), reading goes on after that prefix: nothing is yielded twice, and nothing the
        resume wrote (its status and log lines, the steps it trains again) is skipped."""
        reader, seen = EventReader(self.events_path), []  # (ts, type) of every event yielded, in order

        def new_rows() -> list[Event]:
            rows, replaced = reader.read()
            if replaced:
                # the new file starts with the kept prefix of what was yielded; everything after the first row
                # that differs is new (the resume's status and log lines, then its steps), however much was
                # written before this read
                common = 0
                while common < min(len(seen), len(rows)) and seen[common] == (rows[common].ts, rows[common].type):
                    common += 1
                del seen[common:]
                rows = rows[common:]
            seen.extend((ev.ts, ev.type) for ev in rows)
            return rows

        while True:
            yield from new_rows()
            if stop_when_finished and self.effective_state() not in ("pending", "running"):
                yield from new_rows()
                return
            time.sleep(poll)

    def effective_state(self) -> str:
        """The recorded state, ``crashed`` when it says running but its process is gone, or ``damaged`` when
        status.json cannot be read (:meth:`damage` says why)."""
        st, damage = self._read_status()
        if damage:
            return "damaged"
        state = st.get("state", "pending")
        if state not in STATES:
            return "damaged"
        if state == "running" and not self.is_training(st):
            return "crashed"
        return state

    def is_training(self, st: dict | None = None) -> bool:
        """A process trains this run now: it holds the run's lock, or it is the process that was just started
        for it and has not taken the lock yet (the pid and start time status.json names, still alive)."""
        if self.lock_holder() is not None:
            return True
        st = self.status() if st is None else st
        if st.get("state") not in ("pending", "running"):  # a finished run's pid may be its (live) caller's
            return False
        return atomic.owner_alive({"pid": st.get("pid"), "start": st.get("pid_start")})

    def summary(self) -> RunSummary:
        st = self.status()
        damage = self.damage()
        if damage is None and st.get("state", "pending") not in STATES:
            damage = f"status.json names an unknown state {st.get('state')!r}"
        return RunSummary(id=self.id, path=str(self.path), state=self.effective_state(), method=st.get("method"),
                          model=st.get("model"), step=st.get("step", 0), total=st.get("total"), loss=st.get("loss"),
                          eta_s=st.get("eta_s"), created=st.get("created"), damage=damage,
                          verdict=self.verdict())

    def verdict(self) -> str | None:
        """The verdict in the run's diagnosis.json (engine.runs.diagnosis writes it when training ends)."""
        try:
            value = json.loads((self.path / "diagnosis.json").read_text(encoding="utf-8")).get("verdict")
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None


def _parsed(rows: list[dict]) -> list[Event]:
    return [ev for ev in map(events.parse, rows) if ev is not None]


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RunBusy(DanluError):
    """Another process holds the run's lock."""


def is_run(path) -> bool:
    """Whether ``path`` is a danlu run directory (its config.yaml beside its status.json or events.jsonl)."""
    path = Path(path)
    return (path / "config.yaml").is_file() and ((path / "status.json").is_file() or (path / "events.jsonl").is_file())


def clean_name(text: str) -> str:
    """A run name as one folder name: letters of any script, digits, '.', '_' and '-' (never a path)."""
    return _slug(text)


def _slug(text: str) -> str:
    """A folder-safe name: letters of any script, digits, '.', '_' and '-' are kept."""
    return re.sub(r"[^\w.-]+", "-", text).strip("-.").lower()[:40] or "run"


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


def training_now(root: Path | None = None) -> RunDir | None:
    """The newest run that is training now (None when none is): what `danlu attach` follows without a run, and what
    the wizard names when it closes while training goes on."""
    return next((r for r in list_runs(root) if r.effective_state() in ("pending", "running")), None)


def list_runs(root: Path | None = None) -> list[RunDir]:
    root = Path(root) if root else paths.runs_root()
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and (p / "status.json").exists()]

    def created(r: RunDir) -> float:
        value = r.status().get("created")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:
            return r.path.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(runs, key=created, reverse=True)


def resolve(ref: str, root: Path | None = None) -> RunDir:
    """A run from a path, a run id (or unique prefix/suffix of one), or ``latest``."""
    p = Path(ref).expanduser()
    if (p / "status.json").exists():
        return RunDir(p.resolve())
    runs = list_runs(root)
    if ref == "latest":
        if runs:
            return runs[0]
        raise DanluError("there are no runs yet", where=str(Path(root) if root else paths.runs_root()),
                         fix="start one with `danlu quickstart`, `danlu train CONFIG` or the wizard (`danlu`)")
    exact = [r for r in runs if r.id == ref]  # an exact name wins over the runs that merely contain it
    matches = exact or [r for r in runs if r.id.endswith(f"-{ref}")] or [r for r in runs if ref in r.id]
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
