"""Reading a run directory for the dashboard: no Textual here, so it is unit-testable.

:class:`Metrics` folds ``events.jsonl`` rows into what the dashboard shows; the rows come from
the engine's one event reader (:class:`engine.runs.EventReader`, also behind ``danlu attach``), which
the dashboard runs in a thread, posting :meth:`Metrics.snapshot` at most ten times a second.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .strings import t as tr

STATES = ("pending", "running", "done", "failed", "stopped", "crashed", "damaged")

MAX_POINTS = 240  # points per plotted series (plotext slows down with long series)


def downsample(points: list[tuple[float, float]], n: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``n`` points: bucket means of x and y, keeping the last point exact."""
    if len(points) <= n:
        return list(points)
    size = len(points) / n
    out = []
    for i in range(n):
        chunk = points[int(i * size): max(int((i + 1) * size), int(i * size) + 1)]
        out.append((sum(p[0] for p in chunk) / len(chunk), sum(p[1] for p in chunk) / len(chunk)))
    out[-1] = points[-1]
    return out


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "?"


def _geometry(row: dict) -> str:
    """The batch geometry a back-off moved to, in words (from its fields, so that it is translated)."""
    if row.get("pack_len"):
        return tr("ev_geo_packed", pack=row.get("pack_len"), mb=row.get("micro_batch"), ga=row.get("grad_accum"))
    if row.get("micro_batch") is not None:
        return tr("ev_geo", mb=row.get("micro_batch"), ga=row.get("grad_accum"))
    return str(row.get("new") or row.get("message") or "?")


def describe(row: dict) -> str:
    """One event in plain words for the event log (in the wizard's language)."""
    t = row.get("type")
    if t == "step":
        return tr("ev_step", step=row.get("step"), total=row.get("total"), loss=_num(row.get("loss"), ".4f"))
    if t == "eval":
        return tr("ev_eval", loss=_num(row.get("loss"), ".4f"), step=row.get("step"))
    if t == "checkpoint":
        name = Path(str(row.get("path", ""))).name or str(row.get("path", ""))
        if row.get("final"):
            return tr("ev_final", path=row.get("path", ""))
        return tr("ev_checkpoint", step=row.get("step"), name=name)
    if t == "backoff":
        reason = " ".join(str(row.get("reason") or "").split())
        return tr("ev_backoff", step=row.get("step", "?"), new=_geometry(row), old=row.get("old") or "?",
                  reason=reason[:80] + ("…" if len(reason) > 80 else ""))
    if t == "error":
        hint = row.get("hint") or ""
        return tr("ev_error", message=row.get("message", ""), hint=hint) if hint else \
            tr("ev_error_nohint", message=row.get("message", ""))
    if t == "done":
        state = row.get("state")
        return tr("ev_done", state=tr(f"state_{state}") if state in STATES else state, step=row.get("step"),
                  seconds=_num(row.get("seconds"), ".0f"))
    if t == "status":
        if row.get("state") == "resumed":
            name = Path(str(row.get("checkpoint", ""))).name
            return tr("ev_resumed", step=row.get("step"), name=name)
        state = row.get("state")
        return tr("ev_status", state=tr(f"state_{state}") if state in STATES else state)
    if t == "log":
        return str(row.get("message", ""))
    return str(t)


@dataclass
class Metrics:
    losses: list = field(default_factory=list)  # (step, loss)
    evals: list = field(default_factory=list)  # (step, loss)
    last_step: dict = field(default_factory=dict)
    system: dict = field(default_factory=dict)
    log: deque = field(default_factory=lambda: deque(maxlen=50))
    done: dict | None = None
    error: dict | None = None
    first_ts: float | None = None
    events: int = 0

    def add(self, row: dict) -> None:
        self.events += 1
        t = row.get("type")
        if self.first_ts is None and isinstance(row.get("ts"), (int, float)):
            self.first_ts = row["ts"]
        if t == "step":
            if isinstance(row.get("loss"), (int, float)):
                self.losses.append((row.get("step", len(self.losses) + 1), row["loss"]))
            self.last_step = row
        elif t == "eval" and isinstance(row.get("loss"), (int, float)):
            self.evals.append((row.get("step", 0), row["loss"]))
        elif t == "system":
            self.system = row
        elif t == "done":
            self.done = row
        elif t == "error":
            self.error = row
        if t not in ("system", "step"):
            self.log.append((row.get("ts"), t, describe(row)))

    def snapshot(self) -> dict:
        s = self.last_step
        step, total = s.get("step", 0), s.get("total") or 0
        elapsed = s.get("elapsed_s")
        eta = elapsed / step * (total - step) if step and total and elapsed is not None else None
        return {
            "losses": downsample(self.losses), "evals": downsample(self.evals), "n_losses": len(self.losses),
            "step": step, "total": total, "epoch": s.get("epoch"), "lr": s.get("lr"),
            "grad_norm": s.get("grad_norm"), "tokens_per_s": s.get("tokens_per_s"), "tokens": s.get("tokens"),
            "loss": s.get("loss"), "elapsed_s": elapsed, "eta_s": 0 if self.done else eta,
            "system": dict(self.system), "log": list(self.log)[-12:], "done": self.done, "error": self.error,
            "events": self.events,
        }


def fmt_duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def now() -> float:  # patched by snapshot tests
    return time.time()
