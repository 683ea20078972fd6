"""Write files and folders so that a reader never sees half of one (DESIGN.md §4)."""

from __future__ import annotations

import contextlib
import json
import os
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


def write_text(path: str | os.PathLike, text: str, *, private: bool = False) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``.

    The file gets the umask's permissions, or 0600 with ``private`` (e.g. for a token)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if not private:
            os.chmod(tmp, 0o666 & ~_umask())
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
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        normal_mode(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise FileExistsError(final)
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
