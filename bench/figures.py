"""The one shape every bench reports its figures in, so that ``make bench`` (bench/run_all.py) gathers them into
one table and the test suite can check that each bench still produces its figures.

A bench builds :class:`Figure` values (danlu's number, the baseline measured in the same run and its name, the
goal) and hands them to :func:`report`, which prints one line per figure and, with ``--json PATH``, writes
``{"bench": …, "smoke": …, "figures": [...], "detail": {...}}``.  Every bench takes ``--smoke`` (the smallest
input: demo:tiny, a few records, one repetition; a few seconds) and ``--json PATH`` through :func:`add_args`.
"""

from __future__ import annotations

import argparse
import json
import contextlib
import math
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Figure:
    key: str  # stable name, e.g. "train.tokens_per_s"
    what: str  # the table's row label
    value: float
    unit: str
    baseline: float | None = None  # measured in the same run (or a recorded figure; baseline_name says which)
    baseline_name: str = ""
    goal: str = ""  # in words, e.g. "≥ 2.5× TRL defaults"
    met: bool | None = None  # whether the goal holds for these numbers (None: no goal, or no baseline)

    @property
    def ratio(self) -> float | None:
        if self.baseline in (None, 0) or not _finite(self.value) or not _finite(self.baseline):
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def fmt(x: float) -> str:
    """A figure for people: 14,415 / 168.2 / 3.236 / 0.0123."""
    if not _finite(x):
        return str(x)
    a = abs(x)
    return f"{x:,.0f}" if a >= 1000 else f"{x:.1f}" if a >= 100 else f"{x:.3g}" if a >= 0.001 or a == 0 else f"{x:.2e}"


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def at_least(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


@contextlib.contextmanager
def work_dir(bench: str, keep: bool = False):
    """A fresh folder for one bench's runs, models and homes, removed when the bench ends (however it ends) unless
    ``keep``: run folders of real models take gigabytes each (a full fine-tune's checkpoints, best step and final
    model), and benches that left theirs behind once filled the disk that CI shares."""
    path = Path(tempfile.mkdtemp(prefix=f"danlu-{bench}-bench-"))
    try:
        yield path
    finally:
        if keep:
            print(f"work folder kept: {path}", flush=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def add_args(ap: argparse.ArgumentParser, json_help: str = "also write the figures to this JSON file") -> None:
    ap.add_argument("--smoke", action="store_true",
                    help="the smallest input (demo:tiny, a few records, one repetition): checks that the bench runs "
                         "and prints its figures, in seconds; the numbers mean nothing")
    ap.add_argument("--json", type=Path, help=json_help)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (runs, models) afterwards")


def report(bench: str, figures: list[Figure], json_path: Path | None, *, smoke: bool = False,
           detail: dict | None = None) -> None:
    print(f"figures ({bench}{', smoke run: the numbers mean nothing' if smoke else ''}):")
    for f in figures:
        base = f"  vs {fmt(f.baseline)} {f.baseline_name}" if f.baseline is not None else ""
        ratio = f" = {f.ratio:.2f}×" if f.ratio is not None else ""
        goal = f"  goal {f.goal}: {'met' if f.met else 'NOT met'}" if f.goal and f.met is not None else ""
        unit = f" {f.unit}" if f.unit not in ("", "×") else f.unit
        print(f"  {f.what}: {fmt(f.value)}{unit}{base}{ratio}{goal}")
    if json_path:
        doc = {"bench": bench, "smoke": smoke, "figures": [f.as_dict() for f in figures], "detail": detail or {}}
        Path(json_path).write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    sys.stdout.flush()
