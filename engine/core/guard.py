"""One rule for every command that writes: where it writes is checked, before any work starts, against what the
command reads and against danlu's own folders.

Every writer (``data convert | clean | split`` and their ``--mix`` files, ``plan --save``, ``model import``,
``export``, ``demo-model build``, chat's ``/save``, run creation) calls :func:`check_destination` with its inputs.
A destination is refused when it

* **is** an input (the same path, or the same file through a link),
* **contains** an input, when the destination is a folder the command replaces (``--overwrite`` of an export
  or an import would delete the input with it),
* **lies inside** an input folder (a model folder, a run, except the parts the command may write: a run's
  ``export`` folder),
* is or contains one of danlu's own folders (``DANLU_HOME``, the runs folder, the models cache), or replaces or
  lies inside a run that is not the command's own.

Names a user gives (``export --name``, ``--run-name``) become one file or folder name, never a path:
:func:`safe_name`.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import paths
from .errors import DanluError


@dataclass(frozen=True)
class Input:
    """Something the command reads and must leave as it was."""

    path: Path
    what: str  # for the message: "the training data", "the run 2026…", "the GGUF file"
    inside_ok: tuple[Path, ...] = ()  # parts of an input folder the command may write into (a run's export/)


def _resolved(path) -> Path:
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def _within(child: Path, parent: Path) -> bool:
    """``child`` is ``parent`` or lies below it (both resolved)."""
    return child == parent or parent in child.parents


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def inputs_of(*items) -> list[Input]:
    """Inputs from (path, what) pairs, skipping the absent ones (an option the user did not give)."""
    return [Input(Path(p), what) for p, what in items if p not in (None, "")]


def check_destination(dest, inputs: Iterable[Input] = (), *, replaces_folder: bool = False,
                      own_run: Path | None = None, what: str = "the output") -> Path:
    """Refuse (exit 2, nothing written) a destination that would destroy an input or danlu's own data.

    ``replaces_folder``: the destination is a folder the command replaces whole (so everything inside it is at
    stake).  ``own_run``: the run this command writes for (its export folder, its data), which may lie inside
    the runs folder.  Returns the resolved destination."""
    d = _resolved(dest)
    for inp in inputs:
        p = _resolved(inp.path)
        if d == p or _same_file(d, p):
            raise DanluError(f"{what} would overwrite {inp.what}", where=str(dest),
                             fix="write somewhere else; the input is untouched")
        if replaces_folder and d in p.parents:
            raise DanluError(f"{what} is a folder that holds {inp.what} ({p}), and would be replaced with it",
                             where=str(dest), fix="choose a folder that does not contain the input")
        if p.is_dir() and p in d.parents and not any(_within(d, _resolved(ok)) for ok in inp.inside_ok):
            raise DanluError(f"{what} lies inside {inp.what}", where=str(dest),
                             fix=f"write outside {p}" + (f" (or into {inp.inside_ok[0]})" if inp.inside_ok else ""))
    home, runs, cache = (_resolved(x) for x in (paths.home(), paths.runs_root(), paths.models_cache()))
    for root, name in ((home, "danlu's home folder (DANLU_HOME)"), (runs, "danlu's runs folder"),
                       (cache, "danlu's models cache")):
        if d == root or (replaces_folder and d in root.parents):
            raise DanluError(f"{what} would replace {name}", where=str(dest),
                             fix=f"choose a new folder outside {root}")
    if runs in d.parents:  # inside the runs folder: only inside the command's own run
        if d.parent == runs:
            raise DanluError(f"{what} would be put directly in danlu's runs folder", where=str(dest),
                             fix=f"write outside {runs} (each folder there is a run)")
        run = runs / d.relative_to(runs).parts[0]
        if own_run is None or run != _resolved(own_run):
            raise DanluError(f"{what} lies inside the run {run.name}", where=str(dest),
                             fix=f"write outside {runs} (runs are danlu's; export a run with `danlu export`)")
    writable(d, what)
    from . import atomic

    for folder in (d, d.parent):  # what a killed earlier run of a writer left beside (or in) its destination
        atomic.sweep(folder)
    return d


def writable(dest: Path, what: str = "the output") -> None:
    """The nearest existing folder on the way to ``dest`` takes a new file (a real try, then removed): /proc, a
    read-only mount or a folder without write permission is one clear error before any work, not an internal
    error (or a "0.0 GB free" disk check) later."""
    import tempfile

    folder = next((p for p in [dest, *dest.parents] if p.exists()), Path("/"))
    if not folder.is_dir():
        folder = folder.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=".danlu-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DanluError(f"cannot write {what} there: {exc.strerror or exc}", where=str(dest),
                         fix=f"choose a folder you can write to ({folder} does not take new files)") from None


def regular_file(path, what: str = "the file", *, missing_fix: str = "check the path") -> Path:
    """``path`` if it is a regular file (through links).  A FIFO, a device (/dev/zero, /dev/urandom), a socket or a
    process substitution (<(cat f)) is refused by name: reading one could block forever or never end."""
    import stat

    path = Path(path).expanduser()
    try:
        st = path.stat()
    except FileNotFoundError:
        broken = path.is_symlink()
        raise DanluError(f"{what} not found: {path}" + (f" (it is a link to {os.readlink(path)}, which does not exist)"
                                                if broken else ""), where=str(path), fix=missing_fix) from None
    except OSError as exc:
        raise DanluError(f"cannot read {what}: {exc.strerror or exc}", where=str(path), fix=missing_fix) from None
    if stat.S_ISREG(st.st_mode):
        return path
    kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe or process substitution)"
            if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    raise DanluError(f"{what} is {kind}, not a regular file", where=str(path),
                     fix="save the data to a file first and pass that file")


def safe_name(name: str, what: str = "the name") -> str:
    """A name that becomes one file or folder name: no separators, no '..', no control characters."""
    text = str(name)
    bad = [c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
    if (not text.strip() or text in (".", "..") or "/" in text or "\\" in text or bad
            or Path(text).name != text or text.startswith("-")):
        shown = text.encode("unicode_escape").decode("ascii")
        raise DanluError(f"{what} {shown!r} cannot be a file name", where=what,
                         fix="use letters, digits, '.', '_' and '-' (no '/', '..', line breaks or control characters)")
    return text
