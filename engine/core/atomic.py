"""Write files and folders so that a reader never sees half of one (DESIGN.md §4)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


_SPACE = ("no space left", "os error 28", "code: 28", "file too large", "os error 27", "code: 27",
          "disk quota exceeded", "os error 122", "file write failed", "unexpected pos")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError, or a library's wrapped I/O error) means the disk or a size limit is full."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return True
    return any(marker in str(exc).lower() for marker in _SPACE)


def disk_full_error(exc: BaseException, path, need_bytes: int | None = None):
    """The one-line DanluError for a full disk while writing ``path``."""
    import shutil

    from .errors import DanluError

    path = Path(getattr(exc, "filename", None) or path)
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        free = None
    need = f"; about {need_bytes / 1e9:.1f} GB are needed" if need_bytes else ""
    have = f", {free / 1e9:.2f} GB are free there" if free is not None else ""
    return DanluError(f"no space left while writing{need}{have}", where=str(path),
                      fix="free some space or write somewhere else; nothing half-written was left, and what was "
                          "there before is untouched")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def normal_mode(path: str | os.PathLike) -> None:
    """Give a finished file or folder (recursively) the permissions the user's umask asks for.

    Temporary files and folders are created private (0600 / 0700); what danlu hands to the user
    must be readable like its neighbours (0644 / 0755 under the usual umask 022)."""
    mask = _umask()
    path = Path(path)
    todo = [path]
    if path.is_dir():
        todo += list(path.rglob("*"))
    for p in todo:
        if p.is_symlink():
            continue
        if p.is_dir():
            os.chmod(p, 0o777 & ~mask)
        else:
            executable = os.stat(p).st_mode & 0o111
            os.chmod(p, (0o777 if executable else 0o666) & ~mask)


# -- temporary files: one naming scheme, swept when their owner is gone ------------------------------------
# ".<final name>.danlu-<pid>-<start>.<random>.tmp" (files) or ".partial" (folders): the owner process is in the
# name, so a later command can tell a temporary of a killed process (kill -9, a crash) from one being written now
_TEMP = re.compile(r"^\..+\.danlu-(?P<pid>\d+)-(?P<start>\d+|x)\.[^./]+\.(?:tmp|partial)$")


def temp_prefix(final) -> str:
    pid = os.getpid()
    return f".{Path(final).name}.danlu-{pid}-{proc_start(pid) or 'x'}."


def stale_temporaries(folder) -> list[Path]:
    """danlu's temporaries in ``folder`` whose owner process is gone."""
    found = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return found
    for p in entries:
        m = _TEMP.match(p.name)
        if m and not owner_alive({"pid": int(m["pid"]), "start": None if m["start"] == "x" else m["start"]}):
            found.append(p)
    return found


def sweep(folder) -> int:
    """Remove the temporaries a dead process left in ``folder``; return the bytes freed."""
    freed = 0
    for p in stale_temporaries(folder):
        try:
            freed += sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
        except OSError:
            pass
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
    return freed


def finished_mode(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """The permissions a finished temporary file gets before it is renamed over ``final``: those of the file it
    replaces (a private 0600 file stays private), else the umask's."""
    try:
        st = os.stat(final)
    except OSError:
        st = None
    if st is not None and not os.path.isdir(final):
        os.chmod(tmp, st.st_mode & 0o7777)
    else:
        normal_mode(tmp)


def write_text(path: str | os.PathLike, text: str, *, private: bool = False) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``.

    The file keeps the permissions of the file it replaces, else gets the umask's; 0600 with ``private`` (e.g.
    for a token)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if not private:
            finished_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | os.PathLike, obj: object) -> Path:
    return write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; rename it to ``final`` on success.

    If the block raises, the temporary folder is removed and ``final`` is left
    as it was, so a failed export never leaves a folder that looks complete.  What is
    renamed into place gets the umask's permissions (see :func:`normal_mode`).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(final), suffix=".partial", dir=final.parent))
    try:
        yield tmp
        normal_mode(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.is_dir() and not overwrite and not any(final.iterdir()):
        final.rmdir()  # an empty folder is taken, as the checks before the work promised
    if final.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            from .errors import DanluError

            raise DanluError("something appeared at the destination while writing; it was left as it is",
                             where=str(final), fix="choose another destination, or pass --overwrite to replace it")
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


# -- reservations: one writer per destination ---------------------------------------------------------------
def proc_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), which tells a live owner from a reused pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def signallable_pid(pid) -> int | None:
    """``pid`` if it can name one other process: an int above 1.  0 and negative numbers address process groups
    (-1: every process the user may signal) and 1 is init; a hand-edited or damaged file must never make danlu
    signal those."""
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 1:
        return pid
    return None


def pid_alive(pid) -> bool:
    """Whether ``pid`` names a live process (not a zombie); False for anything :func:`signallable_pid` refuses."""
    if signallable_pid(pid) is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child still answers kill(0); look at its state where /proc exists
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def owner_alive(info: dict) -> bool:
    """Whether the process recorded as ``{"pid", "start"}`` still runs (the same process, not a reused pid)."""
    pid = info.get("pid") if isinstance(info, dict) else None
    if not pid_alive(pid):
        return False
    start = proc_start(pid)
    return start is None or info.get("start") in (None, start)


def me() -> dict:
    return {"pid": os.getpid(), "start": proc_start(os.getpid())}


@contextlib.contextmanager
def reserved(final: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold ``final`` for this process: a lock file beside it, created with O_EXCL, removed at the end.  A second
    writer to the same destination is refused at once; a lock whose owner is gone (kill -9) is taken over."""
    from .errors import DanluError

    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    lock = final.parent / f".{final.name}.{what}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text(encoding="utf-8") or "{}")
            except (OSError, ValueError):
                owner = {}
            if owner_alive(owner):
                raise DanluError(f"another {what} is writing to this destination (pid {owner.get('pid')})",
                                 where=str(final), fix=f"wait for it to finish, or choose another destination")
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # its owner is gone
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me(), fh)
        break
    else:
        raise DanluError(f"could not reserve the destination for the {what}", where=str(final),
                         fix="try again")
    try:
        yield final
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


@contextlib.contextmanager
def one_at_a_time(path: Path):
    """Hold an exclusive lock on ``path`` + ".lock" (created beside it): processes that make the same thing (two
    ranks of one launch building the demo model, two windows importing the same GGUF) wait for each other, and
    the second finds the first one's result instead of replacing it under it."""
    import fcntl

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(str(path.with_name(path.name + ".lock")), os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:  # no lock where nothing can be written: the making itself then says why, in its words
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
