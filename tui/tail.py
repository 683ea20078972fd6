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

from danlu.engine.core import events
from danlu.engine.runs import SHOWN_STATES as STATES  # the engine's list of what a run can be in

from .strings import has, say, t as tr

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


def _geometry(mb, ga, pack, fallback: str) -> str:
    """A batch geometry in words, from its numbers (so that it is translated)."""
    if pack:
        return tr("ev_geo_packed", pack=pack, mb=mb, ga=ga)
    if mb is not None:
        return tr("ev_geo", mb=mb, ga=ga)
    return fallback or "?"


def _state(state: str) -> str:
    return tr(f"state_{state}") if state in STATES else state


def _log(ev: events.Log, run: str | None = None) -> str:
    """A trainer's log line in the wizard's language when its code is known, else its (English) message."""
    a = ev.args
    if not has(f"log_{ev.code}"):  # English, or a code this version does not know: the trainer's own words
        return ev.message
    try:
        if ev.code == "parameters":
            geo = _geometry(a.get("micro_batch"), a.get("grad_accum"), a.get("pack_len"), a.get("geometry", ""))
            return tr("log_parameters", trainable=f"{a['trainable']:,}", total=f"{a['total']:,}", train=a["train"],
                      eval=a["eval"], geometry=geo)
        if ev.code == "early_stopping":
            return tr("log_early_stopping", best=_num(a.get("best"), ".4f"), evals=a["evals"])
        if ev.code == "best_restored":
            return tr("log_best_restored", step=a["step"], loss=_num(a.get("loss"), ".4f"),
                      last=_num(a.get("last"), ".4f"))
        if ev.code == "plan" and isinstance(a.get("said"), dict):  # the plan's summary, said in our words
            from danlu.engine.core import from_json

            return tr("log_plan", summary=say(from_json(a["said"])))
        if ev.code == "diagnosis":
            return tr("log_diagnosis", verdict=tr(f"verdict_{a['verdict']}"), next=a.get("next", ""),
                      run=run or "RUN")
        if ev.code in ("loading", "damaged_checkpoint", "replay"):
            return tr(f"log_{ev.code}", **a)
    except (KeyError, TypeError, ValueError, IndexError):  # a line from another version: its own words
        pass
    return ev.message


def describe(ev: events.Event, run: str | None = None) -> str:
    """One event in plain words for the event log (in the wizard's language)."""
    if isinstance(ev, events.Step):
        return tr("ev_step", step=ev.step, total=ev.total, loss=_num(ev.loss, ".4f"))
    if isinstance(ev, events.Eval):
        return tr("ev_eval", loss=_num(ev.loss, ".4f"), step=ev.step)
    if isinstance(ev, events.Checkpoint):
        if ev.final:  # inside the run the title names: its folder's name, not a path that wraps mid-word
            return tr("ev_final", path=f"{Path(ev.path).name}/")
        return tr("ev_checkpoint", step=ev.step, name=Path(ev.path).name or ev.path)
    if isinstance(ev, events.Backoff):
        reason = " ".join(ev.reason.split())
        return tr("ev_backoff", step=ev.step, new=_geometry(ev.micro_batch, ev.grad_accum, ev.pack_len, ev.new),
                  old=ev.old or "?", reason=reason[:80] + ("…" if len(reason) > 80 else ""))
    if isinstance(ev, events.Error):
        return tr("ev_error", message=ev.message, hint=ev.hint) if ev.hint else tr("ev_error_nohint", message=ev.message)
    if isinstance(ev, events.Done):
        return tr("ev_done", state=_state(ev.state), step=ev.step, seconds=_num(ev.seconds, ".0f"))
    if isinstance(ev, events.Status):
        if ev.state == "resumed":
            return tr("ev_resumed", step=ev.step, name=Path(ev.checkpoint or "").name)
        return tr("ev_status", state=_state(ev.state))
    if isinstance(ev, events.Log):
        return _log(ev, run)
    return ev.type


@dataclass
class Metrics:
    losses: list = field(default_factory=list)  # (step, loss)
    evals: list = field(default_factory=list)  # (step, loss)
    last_step: events.Step = field(default_factory=events.Step)
    system: events.System | None = None
    log: deque = field(default_factory=lambda: deque(maxlen=50))
    done: events.Done | None = None
    error: events.Error | None = None
    run: str | None = None  # the run's id (a line that names a command names it)
    first_ts: float | None = None
    step_ts: float | None = None  # when the last step landed
    phase: events.Phase | None = None  # what the trainer does between steps, until a step, an eval or the end
    eval_accuracy: float | None = None  # a preference stage: the last held-out preference accuracy
    events: int = 0

    def add(self, ev: events.Event) -> None:
        self.events += 1
        if self.first_ts is None and ev.ts is not None:
            self.first_ts = ev.ts
        if isinstance(ev, events.Phase):
            self.phase = ev
        elif isinstance(ev, (events.Step, events.Eval, events.Done, events.Error, events.Backoff)):
            self.phase = None
        if isinstance(ev, events.Step):
            if ev.loss is not None:
                self.losses.append((ev.step, ev.loss))
            self.last_step, self.step_ts = ev, ev.ts
        elif isinstance(ev, events.Eval):
            if ev.loss is not None:
                self.evals.append((ev.step, ev.loss))
            if ev.accuracy is not None:  # a preference stage: held-out pairs whose chosen answer wins
                self.eval_accuracy = ev.accuracy
        elif isinstance(ev, events.System):
            self.system = ev
        elif isinstance(ev, events.Done):
            self.done = ev
        elif isinstance(ev, events.Error):
            self.error = ev
        if not isinstance(ev, (events.System, events.Step, events.Phase)):
            self.log.append((ev.ts, ev.type, describe(ev, self.run)))

    def snapshot(self) -> dict:
        """What the dashboard draws, as plain values (posted to the UI thread)."""
        s = self.last_step
        step, total, elapsed = s.step, s.total or 0, s.elapsed_s
        eta = elapsed / step * (total - step) if step and total and elapsed is not None else None
        return {
            "losses": downsample(self.losses), "evals": downsample(self.evals), "n_losses": len(self.losses),
            "step": step, "total": total, "epoch": s.epoch, "lr": s.lr,
            "grad_norm": s.grad_norm, "tokens_per_s": s.tokens_per_s, "tokens": s.tokens,
            "loss": s.loss, "elapsed_s": elapsed, "eta_s": 0 if self.done else eta,
            "system": self.system.to_row() if self.system else {}, "log": list(self.log)[-12:],
            "done": self.done.to_row() if self.done else None, "error": self.error.to_row() if self.error else None,
            "events": self.events, "started": self.first_ts, "step_ts": self.step_ts,
            "phase": phase_text(self.phase) if self.phase else None,
            # a preference stage's rewards (events.Step), the last held-out accuracy
            "accuracy": s.accuracy, "margin": s.margin, "logp_chosen": s.logp_chosen, "logp_rejected": s.logp_rejected,
            "eval_accuracy": self.eval_accuracy,
        }


def clock(s: dict, now: float) -> dict:
    """The progress line's clock at ``now``: elapsed from the run's first event (one source: the same the run's
    log gives at the end) and the ETA from the step rate, counted down between steps; it ticks between events."""
    done = s.get("done") or {}
    error = s.get("error") or {}
    started = s.get("started")
    if started is None:
        elapsed = None
    elif done:
        elapsed = done.get("seconds") if done.get("seconds") is not None else (done.get("ts") or now) - started
    elif error:  # a failed run's clock stops at its error
        elapsed = max(0.0, (error.get("ts") or now) - started)
    else:
        elapsed = max(0.0, now - started)
    eta = s.get("eta_s")
    if eta and not done and s.get("step_ts"):
        eta = max(0.0, eta - (now - s["step_ts"]))
    return {"elapsed_s": elapsed, "eta_s": 0 if done else None if error else eta}


def phase_text(ev: events.Phase) -> str:
    """A trainer's phase in the wizard's language, with its counter."""
    key = "phase_eval0" if ev.phase == "eval" and ev.step == 0 else f"phase_{ev.phase}"
    what = tr(key, step=ev.step) if has(key) else events.phase_text(ev)
    return what + (f" {ev.n}/{ev.of}" if ev.n is not None and ev.of else "")


def fmt_duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def now() -> float:  # patched by snapshot tests
    return time.time()
