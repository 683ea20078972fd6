"""Where danlu finds its bundled files and keeps its own.

* ``presets/`` and ``sample_data/`` ship with the package.  In a source checkout
  they sit beside ``engine/``; after ``pip install .`` they are installed as
  ``engine/_presets`` and ``engine/_sample_data`` (see pyproject.toml).
* ``DANLU_HOME`` (default ``~/.danlu``) holds what danlu makes: the cached demo
  models (``models/``) and the run directories (``runs/``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import DanluError

_HERE = Path(__file__).resolve().parent.parent  # the engine folder (danlu.engine)
# a Hugging Face repository id (owner/name): models, datasets and the Hub export all use this
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_id(ref: str) -> bool:
    """Whether ``ref`` is written like a Hub id (owner/name), not like a local path."""
    return bool(HUB_ID.match(ref)) and not ref.startswith((".", "/", "~"))


def _bundled(name: str, marker: str) -> Path:
    for candidate in (_HERE / f"_{name}", _HERE.parent / name):
        if (candidate / marker).exists():
            return candidate
    raise DanluError(
        f"danlu's bundled {name}/ folder is missing",
        fix="reinstall danlu with `pip install .` from a complete checkout",
    )


def presets_dir() -> Path:
    return _bundled("presets", "README.md")


def sample_data_dir() -> Path:
    return _bundled("sample_data", "README.md")


def home() -> Path:
    env = os.environ.get("DANLU_HOME")
    return Path(env).expanduser() if env else Path.home() / ".danlu"


def runs_root() -> Path:
    env = os.environ.get("DANLU_RUNS")
    return Path(env).expanduser() if env else home() / "runs"


def models_cache() -> Path:
    return home() / "models"
