"""The records of a run's ``events.jsonl``: one dataclass per event type, written by the trainer and read by
every viewer (``danlu attach``, the foreground progress bar, the dashboard, the model card, resume).

A row on disk is ``{"ts": …, "type": …, <the fields>}``.  :func:`parse` turns a row back into its record and
never raises: a field of the wrong type (a hand-edited or damaged line, a row from another version) reads as the
field's default, a field this version does not know is kept in ``extra`` (so a row round-trips), and a row of an
unknown type is ``None``.  Viewers can therefore format ``Step.loss`` without checking what it is.

Log lines carry a ``code`` and ``args`` beside their English ``message`` so that a viewer can say them in its own
language (the wizard does); the message is what the CLI prints and what a viewer falls back to.
"""

from __future__ import annotations

import dataclasses
import time
import typing
from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(kw_only=True)
class Event:
    TYPE: ClassVar[str] = ""
    ts: float | None = None
    extra: dict = field(default_factory=dict, repr=False)  # fields this version does not know, kept as read

    @property
    def type(self) -> str:
        return self.TYPE

    def to_row(self) -> dict:
        row = {"ts": self.ts if self.ts is not None else round(time.time(), 3), "type": self.TYPE}
        for f in dataclasses.fields(self):
            if f.name not in ("ts", "extra"):
                row[f.name] = getattr(self, f.name)
        return {**row, **{k: v for k, v in self.extra.items() if k not in row}}


@dataclass(kw_only=True)
class Step(Event):
    """One optimizer step's log (every ``logging_steps``)."""

    TYPE: ClassVar[str] = "step"
    step: int = 0
    total: int | None = None
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    epoch: float | None = None
    tokens: int | None = None  # input tokens seen so far
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    # preference stages (TRL's rewards/* and logps/*): the share of pairs whose chosen answer the model prefers,
    # the mean reward margin, the chosen and rejected answers' mean log-probabilities
    accuracy: float | None = None
    margin: float | None = None
    logp_chosen: float | None = None
    logp_rejected: float | None = None


@dataclass(kw_only=True)
class Eval(Event):
    TYPE: ClassVar[str] = "eval"
    step: int = 0
    loss: float | None = None
    accuracy: float | None = None  # preference stages: held-out pairs whose chosen answer wins, and the mean margin
    margin: float | None = None


@dataclass(kw_only=True)
class System(Event):
    """A sample of the machine (every second): CPU and RAM, and each visible GPU from NVML."""

    TYPE: ClassVar[str] = "system"
    cpu_pct: float | None = None
    ram_used_gb: float | None = None
    ram_total_gb: float | None = None
    rss_gb: float | None = None
    gpus: list = field(default_factory=list)  # {index, util_pct, mem_used_gb, mem_total_gb, temp_c, power_w}
    ranks: list = field(default_factory=list)  # several ranks: this machine's, {rank, pid, rss_gb, cpu_pct}


@dataclass(kw_only=True)
class Checkpoint(Event):
    TYPE: ClassVar[str] = "checkpoint"
    step: int = 0
    path: str = ""
    final: bool = False  # the final adapter or model (final/), not a resumable checkpoint


@dataclass(kw_only=True)
class Backoff(Event):
    """An out-of-memory error moved the run to a smaller micro-batch (same effective batch)."""

    TYPE: ClassVar[str] = "backoff"
    step: int = 0
    reason: str = ""
    old: str = ""
    new: str = ""
    micro_batch: int | None = None
    grad_accum: int | None = None
    pack_len: int | None = None


@dataclass(kw_only=True)
class Log(Event):
    TYPE: ClassVar[str] = "log"
    message: str = ""
    code: str | None = None  # what kind of line this is, for viewers that translate it (see LOG_MESSAGES)
    args: dict = field(default_factory=dict)  # the values in the message, by name


@dataclass(kw_only=True)
class Phase(Event):
    """What the trainer is doing when it is not taking steps (loading, evaluating, saving…), with a counter where
    the work has one; the next step, evaluation or end event closes it.  Viewers say it so that no wait is silent."""

    TYPE: ClassVar[str] = "phase"
    phase: str = ""  # one of PHASES
    n: int | None = None  # done so far …
    of: int | None = None  # … of this many (batches, answers)
    step: int | None = None  # the step an evaluation is at


# what each phase is, in the CLI's words (a viewer in another language has its own)
PHASES = {
    "loading": "loading the model",
    "replay": "the base model answers general prompts (forgetting guard)",
    "eval": "evaluating on the held-out split",
    "train": "training: the first step",
    "final_eval": "final evaluation",
    "saving": "saving the final model",
}


def phase_text(ev: "Phase") -> str:
    what = PHASES.get(ev.phase, ev.phase)
    if ev.phase == "eval" and ev.step == 0:
        what = "evaluating before training"
    elif ev.phase == "eval" and ev.step:
        what += f" at step {ev.step}"
    return what + (f" {ev.n}/{ev.of}" if ev.n is not None and ev.of else "")


@dataclass(kw_only=True)
class Status(Event):
    TYPE: ClassVar[str] = "status"
    state: str = ""  # running | resumed
    step: int = 0
    total: int | None = None
    checkpoint: str | None = None  # the checkpoint a resume continues from


@dataclass(kw_only=True)
class Done(Event):
    TYPE: ClassVar[str] = "done"
    state: str = "done"  # done | stopped
    step: int = 0
    eval_loss: float | None = None
    seconds: float | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    best_step: int | None = None  # the step whose weights are the final model (early stopping kept the best one)


@dataclass(kw_only=True)
class Error(Event):
    TYPE: ClassVar[str] = "error"
    message: str = ""
    hint: str = ""
    kind: str = ""  # the exception's class name


TYPES: dict[str, type[Event]] = {c.TYPE: c for c in (Step, Eval, System, Checkpoint, Backoff, Log, Phase, Status, Done,
                                                      Error)}

# the log lines the trainer writes: code -> the English message, formatted from the line's args (a viewer in
# another language formats its own text from the same args)
LOG_MESSAGES = {
    "plan": "plan: {summary}",
    "plan_unknown": "plan: not computed ({reason})",
    "loading": "loading {model} for {method} training",
    "parameters": "{trainable:,} trainable of {total:,} parameters; {train} train / {eval} eval samples; {geometry}",
    "early_stopping": "early stopping: eval loss has not improved on {best:.4f} for {evals} evaluations",
    "damaged_checkpoint": "checkpoint {name} is damaged; falling back to the one before",
    "diagnosis": "diagnosis: {summary}; next: {next} (`danlu plan --from RUN`)",
    "replay": "mixed in {n} general conversations ({pct:g} %): the base model's own answers to built-in prompts in "
              "{languages}",
    "best_restored": "the final model is step {step}'s, the best held-out loss ({loss:.4f}; the last step's was "
                     "{last:.4f})",
}


def log(code: str, **args) -> Log:
    """A log line of a known kind: its English message and the values it was made from."""
    return Log(message=LOG_MESSAGES[code].format(**args), code=code, args=args)


_KINDS: dict[type, dict[str, tuple]] = {}


def _kinds(cls: type[Event]) -> dict[str, tuple]:
    """Each field's accepted Python types (bool apart from int), from the annotations."""
    if cls not in _KINDS:
        hints = typing.get_type_hints(cls)
        out = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            hint = hints[f.name]
            args = typing.get_args(hint) or (hint,)
            out[f.name] = tuple(typing.get_origin(a) or a for a in args if a is not type(None))
        _KINDS[cls] = out
    return _KINDS[cls]


def _coerce(value, kinds: tuple):
    """``value`` as one of ``kinds``, or ``_MISSING`` when it is not one (booleans are not numbers here)."""
    if isinstance(value, bool):
        return value if bool in kinds else _MISSING
    if float in kinds and isinstance(value, (int, float)):
        return float(value)
    if int in kinds and isinstance(value, int):
        return value
    if int in kinds and isinstance(value, float) and value.is_integer():
        return int(value)
    if any(k in (str, list, dict) and isinstance(value, k) for k in kinds):
        return value
    return _MISSING


_MISSING = object()


def parse(row) -> Event | None:
    """The record a row holds, or None for a row that is not an event this version knows."""
    if not isinstance(row, dict):
        return None
    cls = TYPES.get(row.get("type"))
    if cls is None:
        return None
    kinds = _kinds(cls)
    values, extra = {}, {}
    for key, value in row.items():
        if key == "type":
            continue
        if key not in kinds:
            extra[key] = value
            continue
        if value is None:
            continue
        value = _coerce(value, kinds[key])
        if value is not _MISSING:
            values[key] = value
    return cls(**values, extra=extra)
