"""After a run: did the recipe work?  A verdict from the run's own events, its evidence, and one next plan.

:func:`diagnose` reads a run's events (steps with their loss and gradient norm, held-out evaluations, the end) and
says one of:

* ``diverged`` — a loss or gradient norm that is not a number, a loss spike the run does not come back from
  (``SPIKE`` × the median of the ten steps before it, and the ten after it still ``STAY`` × above it), or a training
  loss that ends higher than it began.  One step's outlying loss that the next steps come back from is a hard
  sample, not instability (at one conversation a step, a loss 3× its neighbours' is common).  Next: a third of the learning rate, a longer
  warm-up.
* ``over_fit`` — held-out loss rose by more than ``RISE`` after its best evaluation while training loss kept
  falling.  Next: the passes that reached the best step (early stopping already made it the final model when it
  was on).
* ``under_fit`` — held-out loss still falling at the end (the last evaluation ``FALL`` below the one before), or,
  without evaluations during training, training loss still falling over the last quarter of the run.  Next: twice
  the passes (up to three), else twice the learning rate.
* ``clean`` — none of these: the run stopped near its best held-out loss.  Next: the same plan.

Each verdict comes with its evidence (the numbers it was read from) and the overrides of its next plan, which
``danlu plan --from RUN`` applies to the run's config.  The trainer writes the result to ``diagnosis.json``;
``danlu runs``, ``danlu eval``, the dashboard's end state and the wizard's "next plan" show it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

from ..core import events
from ..core.texts import Msg, msg, said, with_said

SPIKE = 3.0  # a step loss this many times the median of the ten before it is a spike …
STAY = 2.0  # … when the median of the ten steps after it stays this many times above the median before
MIN_AFTER = 3  # steps a spike needs after it to be judged (a spike in the last steps shows in the final evaluation)
RISE = 0.02  # held-out loss this much (2 %) above its best is over-fitting
FALL = 0.01  # the last evaluation this much (1 %) below the one before: still learning
TRAIN_FALL = 0.03  # without mid-run evaluations: the last eighth of the steps this much below the eighth before
VERDICTS = ("clean", "under_fit", "over_fit", "diverged", "unknown")


@dataclass
class Diagnosis:
    verdict: str  # one of VERDICTS
    summary: Msg  # the verdict in one sentence
    evidence: list = field(default_factory=list)  # Msg each: the numbers the verdict was read from
    next_overrides: dict = field(default_factory=dict)  # TrainConfig fields of the next plan
    next_reason: Msg | None = None
    best_step: int | None = None
    best_eval: float | None = None
    last_eval: float | None = None
    data_issues: list = field(default_factory=list)  # {"line", "loss"}: samples whose loss stood out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["summary"], d["evidence"], d["next_reason"] = self.summary, list(self.evidence), self.next_reason  # Msgs
        d["said"] = said({"summary": self.summary, "evidence": list(self.evidence), "next_reason": self.next_reason})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Diagnosis":
        d = with_said(d)  # the texts as Msgs again where the file kept them (a viewer says them in its language)
        return cls(verdict=str(d.get("verdict", "unknown")), summary=_text(d.get("summary", "")),
                   evidence=[_text(e) for e in d.get("evidence") or []],
                   next_overrides=dict(d.get("next_overrides") or {}),
                   next_reason=_text(d["next_reason"]) if d.get("next_reason") else None,
                   best_step=d.get("best_step"), best_eval=d.get("best_eval"), last_eval=d.get("last_eval"),
                   data_issues=list(d.get("data_issues") or []))


def _text(value) -> Msg:
    return value if isinstance(value, Msg) else Msg(str(value))


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def diagnose(evs: list, *, epochs: float | None = None, lr: float | None = None,
             total_steps: int | None = None) -> Diagnosis:
    """The verdict on a run from its events (the run's config gives ``epochs`` and ``lr`` for the next plan)."""
    steps = [e for e in evs if isinstance(e, events.Step) and e.loss is not None]
    evals = sorted({e.step: e.loss for e in evs if isinstance(e, events.Eval) and e.loss is not None}.items())
    done = next((e for e in reversed(evs) if isinstance(e, events.Done)), None)
    if not steps:
        return Diagnosis("unknown", msg("dx_unknown", "no training steps were logged: nothing to diagnose"))
    last_step = steps[-1].step
    total = total_steps or last_step
    found = _divergence(steps, evals)
    if found:
        evidence = [found]
        nxt = {"lr": float(f"{lr / 3:.2g}")} if lr else {}
        nxt["warmup_ratio"] = 0.1
        return Diagnosis("diverged", msg("dx_diverged", "diverged: training became unstable"), evidence, nxt,
                         msg("dx_next_diverged", "a third of the learning rate and a 10 % warm-up"),
                         last_eval=evals[-1][1] if evals else None)
    mid = [(s, v) for s, v in evals if s > 0]
    first_eval = evals[0][1] if evals and evals[0][0] == 0 else None
    if mid:
        best_step, best = min(mid, key=lambda sv: (sv[1], sv[0]))
        last_eval = mid[-1][1]
        # the final eval of a run whose best step was restored is the best one's: the last *measured* one is earlier
        measured_last = mid[-1]
        if done is not None and done.best_step is not None and done.best_step < measured_last[0]:
            best_step = done.best_step
        train_before = [s.loss for s in steps if s.step <= best_step]
        train_after = [s.loss for s in steps if s.step > best_step]
        rise = measured_last[1] / best - 1 if best > 0 else 0.0
        if (best_step < measured_last[0] and rise > RISE and train_after and train_before
                and statistics.mean(train_after) < statistics.mean(train_before[-len(train_after):])):
            share = best_step / max(1, total)
            nxt = {"epochs": round(max(0.25, (epochs or 1.0) * share), 2)} if epochs else {"max_steps": best_step}
            evidence = [msg("dx_ev_overfit", "held-out loss was lowest at step {step} ({best:.4f}) and rose to {last:.4f}"
                                             " by step {at} (+{pct:.1f} %) while training loss kept falling",
                            step=best_step, best=best, last=measured_last[1], at=measured_last[0], pct=100 * rise)]
            if done is not None and done.best_step == best_step:
                evidence.append(msg("dx_ev_restored", "early stopping kept step {step}'s weights as the final model",
                                    step=best_step))
            return Diagnosis("over_fit", msg("dx_over_fit", "over-fit after step {step}: the best model was step "
                                                            "{step}'s", step=best_step), evidence, nxt,
                             msg("dx_next_over_fit", "train only as far as the best step: {share:.0%} of the steps this run "
                                                     "planned",
                                 share=share), best_step=best_step, best_eval=best, last_eval=last_eval)
        if len(mid) >= 2 or first_eval is not None:
            prev = _previous(evals, measured_last[0])
            if measured_last[1] < prev * (1 - FALL):
                return _under_fit(msg("dx_ev_underfit", "held-out loss was still falling at the end: {prev:.4f} → "
                                                        "{last:.4f} (−{pct:.1f} %) over the last evaluation interval",
                                      prev=prev, last=measured_last[1], pct=100 * (1 - measured_last[1] / prev)),
                                  epochs, lr, best_step, best, last_eval)
        evidence = [msg("dx_ev_clean", "held-out loss {first} → best {best:.4f} at step {step}, last {last:.4f}",
                        first=f"{first_eval:.4f}" if first_eval is not None else "?", best=best, step=best_step,
                        last=measured_last[1])]
        return Diagnosis("clean", msg("dx_clean", "clean: held-out loss settled near its best"), evidence, {},
                         msg("dx_next_same", "the same plan"), best_step=best_step, best_eval=best,
                         last_eval=last_eval)
    # no evaluation during training: the training loss's trend over the end of the run
    n = len(steps)
    k = max(1, n // 8)
    if n >= 16:
        before = statistics.mean(s.loss for s in steps[-2 * k:-k])
        end = statistics.mean(s.loss for s in steps[-k:])
        if end < before * (1 - TRAIN_FALL):
            return _under_fit(msg("dx_ev_underfit_train", "training loss was still falling at the end: {prev:.4f} → "
                                                          "{last:.4f} (−{pct:.1f} %) over the last eighth of the steps",
                                  prev=before, last=end, pct=100 * (1 - end / before)),
                              epochs, lr, None, None, evals[-1][1] if evals else None)
    evidence = [msg("dx_ev_no_eval", "no held-out evaluation during training, so over-fitting cannot be seen (hold "
                                     "out a share of the data)")]
    return Diagnosis("clean", msg("dx_clean_train", "clean as far as training loss shows"), evidence, {},
                     msg("dx_next_same", "the same plan"), last_eval=evals[-1][1] if evals else None)


def _previous(evals: list, last: int) -> float:
    """The held-out loss a whole evaluation interval before step ``last``: the final evaluation may come a few
    steps after the last scheduled one, and those few steps say nothing about the trend."""
    steps = [s for s, _ in evals]
    gaps = sorted(b - a for a, b in zip(steps, steps[1:]) if b > a)
    spacing = gaps[len(gaps) // 2] if gaps else 0
    earlier = [(s, v) for s, v in evals if s <= last - spacing / 2 and s < last]
    return (earlier or evals)[-1][1]


def _under_fit(evidence: Msg, epochs, lr, best_step, best, last_eval) -> Diagnosis:
    if epochs and epochs < 3:
        nxt = {"epochs": min(3.0, round(epochs * 2, 2))}
        why = msg("dx_next_more_epochs", "{e:g} epoch(s) instead of {was:g}", e=nxt["epochs"], was=epochs)
    elif lr:
        nxt = {"lr": float(f"{lr * 2:.2g}")}
        why = msg("dx_next_more_lr", "twice the learning rate: {lr:g}", lr=nxt["lr"])
    else:
        nxt, why = {}, msg("dx_next_same", "the same plan")
    return Diagnosis("under_fit", msg("dx_under_fit", "under-fit: the model was still learning when the run ended"),
                     [evidence], nxt, why, best_step=best_step, best_eval=best, last_eval=last_eval)


def _divergence(steps: list, evals: list) -> Msg | None:
    for s in steps:
        if not _finite(s.loss) or (s.grad_norm is not None and not _finite(s.grad_norm)):
            return msg("dx_ev_nan", "step {step}: loss {loss}, gradient norm {gn}", step=s.step, loss=s.loss,
                       gn=s.grad_norm)
    losses = [s.loss for s in steps]
    for i in range(10, len(steps) - MIN_AFTER):
        med = statistics.median(losses[i - 10:i])
        after = statistics.median(losses[i + 1:i + 11])
        # one step far above its neighbours that the run comes back from is one hard sample (a small batch makes
        # that common; the data-issue check names such samples), not instability: the loss must stay up
        if med > 0 and losses[i] > SPIKE * med and after > STAY * med:
            return msg("dx_ev_spike", "step {step}: loss {loss:.3f}, {x:.1f}× the median {med:.3f} of the ten steps "
                                      "before, and {after:.3f} over the ten after", step=steps[i].step, loss=losses[i],
                       x=losses[i] / med, med=med, after=after)
    n = len(losses)
    if n >= 8:
        k = max(2, n // 8)
        start, end = statistics.mean(losses[:k]), statistics.mean(losses[-k:])
        if end > start * 1.1:
            return msg("dx_ev_rose", "training loss rose from {a:.3f} (first {k} steps) to {b:.3f} (last {k})",
                       a=start, b=end, k=k)
    return None


def of_run(run, done=None) -> Diagnosis:
    """The diagnosis of a run directory (engine.runs.store.RunDir), from its events and config (``done``: the end
    event the trainer is about to write)."""
    from ..core.config import TrainConfig

    try:
        cfg = TrainConfig.load(run.config_path)
        epochs, lr = (cfg.epochs if cfg.max_steps <= 0 else None), cfg.lr
    except Exception:  # noqa: BLE001 - a run without a readable config is still diagnosed, without a next plan
        epochs = lr = None
    evs = run.events() + ([done] if done is not None else [])
    total = next((e.total for e in reversed(evs) if isinstance(e, events.Step) and e.total), None)
    d = diagnose(evs, epochs=epochs, lr=lr, total_steps=total)
    try:
        import json

        losses = {int(k): float(v) for k, v in json.loads((run.path / "sample_losses.json").read_text()).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        losses = {}
    found = outliers(losses)
    if found:
        d.data_issues = found
        med = statistics.median(losses.values())
        d.evidence.append(msg("dx_ev_data", "data: line(s) {lines} of the training file had a loss far above the "
                                            "others when first trained on ({worst:.2f} against a median of {med:.2f}):"
                                            " read them for a wrong answer, another language or a broken format",
                              lines=", ".join(str(x["line"]) for x in found), worst=found[0]["loss"], med=med))
    return d


OUTLIER_MADS = 5.0  # a sample this many scaled MADs above the median loss stands out
OUTLIER_MIN = 1.5  # … and at least this many times the median
OUTLIERS_SHOWN = 5


def outliers(losses: dict) -> list:
    """The samples (line → first-seen mean loss) whose loss stands out, worst first: above the median by
    OUTLIER_MADS scaled median absolute deviations and OUTLIER_MIN times the median (a robust rule: the outliers
    themselves do not move it)."""
    if len(losses) < 8:
        return []
    values = list(losses.values())
    med = statistics.median(values)
    mad = 1.4826 * statistics.median(abs(v - med) for v in values) or 1e-9
    out = [{"line": k, "loss": round(v, 4)} for k, v in losses.items()
           if v > med + OUTLIER_MADS * mad and v > OUTLIER_MIN * med]
    return sorted(out, key=lambda x: -x["loss"])[:OUTLIERS_SHOWN]


DIAGNOSIS_FILE = "diagnosis.json"


def write(run, done=None) -> Diagnosis:
    from ..core import atomic

    d = of_run(run, done)
    atomic.write_json(run.path / DIAGNOSIS_FILE, d.to_dict())
    return d


def read(run) -> Diagnosis | None:
    """The run's diagnosis.json, else one made now from its events (None when it has no steps)."""
    import json

    try:
        return Diagnosis.from_dict(json.loads((run.path / DIAGNOSIS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    d = of_run(run)
    return None if d.verdict == "unknown" else d
