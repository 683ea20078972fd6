"""The recipe: the training settings a fine-tune's result depends on, chosen from the data, the model and the method.

The memory planner (:mod:`.memory`) decides what fits; this module decides what learns: the effective batch, the
learning rate, the epochs, warm-up and schedule, the evaluation cadence and early stopping.  :func:`engine.plan.make`
calls :func:`batch` before the memory plan (the target batch it must reach by accumulation) and :func:`rest` after
it (the steps an epoch takes are known then).  Each choice comes back with its reason, written from its numbers.

The rules, and what they follow:

* **Method** — an adapter (LoRA; QLoRA when LoRA does not fit) unless the training set holds more tokens than the
  adapter has parameters: on instruction data of that size, LoRA on all linear layers learns as well as a full
  fine-tune (Schulman et al. 2025, "LoRA Without Regret") and forgets less of what the model knew (Biderman et al.
  2024, "LoRA Learns Less and Forgets Less"); it also trains faster and in less memory.  bench/recipe.py measured it
  on the support set: LoRA 1.04 held-out loss against the full fine-tune's 1.12.
* **Effective batch** — about ``STEPS_PER_EPOCH`` optimizer steps a pass: a power of two near ``samples /
  STEPS_PER_EPOCH``, from 1 to ``MAX_BATCH`` conversations.  A small set needs many small steps (LIMA, Zhou et
  al. 2023, tuned 1,000 examples at batch 32 over 15 epochs, about 470 steps; the QLoRA guanaco runs used batch 16
  on ~10 k); a large one is learned at batch 16–32 with accumulation (Hu et al. 2021; Raschka 2023).
* **Epochs** — at least ``MIN_SHARE`` × ``TARGET_STEPS`` optimizer steps in all, from 1 to ``MAX_EPOCHS`` passes:
  "1–3 epochs" in every guide (Unsloth, Axolotl and LLaMA-Factory examples; Raschka 2023: a second pass over 50 k
  samples hurt).  A large set gets one pass; a small one up to three, with early stopping to take back the passes
  that over-fit.
* **Learning rate** — Full fine-tuning: 2e-5 for a 7 B-class model (hidden 4096; Zephyr and Tülu 2 used 2e-5, LIMA
  1e-5).  LoRA/QLoRA: the task preset's rate, which the guides give for 7 B-class models (1e-4–2e-4, about ten
  times full fine-tuning's: Schulman et al. 2025 found LoRA's best rate 10× full fine-tuning's).  Both scaled up
  by 4096 / hidden for narrower models (μP, Yang et al. 2022: Adam's best rate for hidden weights falls as 1 /
  width), at most ×10.
* **Adapter dropout** — none when there is a held-out split: early stopping guards against over-fitting there, and
  dropout costs time in every step (about a quarter of a LoRA step on a CPU; Unsloth's defaults leave it at 0).
* **Warm-up and schedule** — cosine decay after a linear warm-up of 3–10 % of the steps (the guides' range), aiming
  at ``MIN_WARMUP_STEPS`` steps (fewer than a handful of warm-up steps is no warm-up at all).
* **Evaluation cadence and early stopping** — about ``EVALS`` evaluations a run, fewer (at least ``MIN_EVALS``)
  when held-out evaluation would cost more than ``EVAL_SHARE`` of the training compute; stop after about 30 % of the
  run without a better held-out loss, and keep the best step's weights (Prechelt 1998, "Early stopping — but when?").
* **Time budget** (the offline demo only) — a demo model may state a training time it must fit in
  (presets/demo.yaml); the epochs are cut to fit, and with one pass or less the batch is one conversation (each is
  seen about once, so a step per conversation makes the most updates); the plan says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core.texts import Msg, msg

STEPS_PER_EPOCH = 50  # optimizer steps a pass aims at (the effective batch follows from the set's size)
TARGET_STEPS = 150  # optimizer steps a small set is learned in (the epochs follow); bench/recipe.py measured it
MIN_SHARE = 0.8  # passes are added until the run takes at least this share of TARGET_STEPS
MAX_BATCH = 32  # conversations per optimizer step, at most
MAX_EPOCHS = 3
FULL_LR_7B = 2.0e-5  # full fine-tuning of a hidden-4096 (7 B-class) model: Zephyr's and Tülu 2's rate
LR_WIDTH = 4096  # the width the guides' rates are for (7 B-class models)
LR_MAX_SCALE = 10.0
TOKENS_PER_ADAPTER_PARAM = 1.0  # a full fine-tune only when the set holds more tokens than the adapter parameters
MIN_WARMUP_STEPS = 5
WARMUP_RANGE = (0.03, 0.10)
EVALS = 10  # held-out evaluations a run aims at
EVAL_SHARE = 0.10  # held-out evaluation may cost at most this share of the training compute
MIN_EVALS = 3  # below this, evaluate only before and after (no early stopping)
PATIENCE_SHARE = 0.3  # stop after this share of the run's evaluations without a better held-out loss
EVAL_COST = {"full": 2 / 6, "lora": 2 / 4, "qlora": 2 / 5}  # a forward pass against a training step, per token


@dataclass
class Choice:
    """What the recipe chose, with a reason per decision (``reasons``: decision → Msg)."""

    target_batch: int | None = None
    lr: float | None = None
    epochs: float | None = None
    warmup_ratio: float | None = None
    lr_scheduler: str | None = None
    eval_steps: int | None = None
    early_stopping_patience: int | None = None
    reasons: dict = field(default_factory=dict)

    def values(self) -> dict:
        """The TrainConfig fields it sets (target_batch is the planner's, not a config field)."""
        keys = ("lr", "epochs", "warmup_ratio", "lr_scheduler", "eval_steps", "early_stopping_patience")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def unit(stage: str = "sft", plural: bool = False) -> Msg:
    """What one training sample is called for a stage: a conversation (SFT), a pair (DPO, ORPO, SimPO) or an
    answer (KTO); ``plural`` for "over {n} …", else the one-or-many form ("8 pair(s) a step")."""
    if stage == "sft":
        return msg("u_convs", "conversations") if plural else msg("u_conv_s", "conversation(s)")
    if stage == "kto":
        return msg("u_answers", "answers") if plural else msg("pairs_kto", "answer(s)")
    return msg("u_pairs", "pairs") if plural else msg("pairs", "pair(s)")


def _pow2(x: float) -> int:
    """The power of two nearest to ``x`` (on a log scale), at least 1."""
    return 1 if x <= 1 else 2 ** round(math.log2(x))


def batch(samples: int | None, budget_epochs: float | None = None, stage: str = "sft") -> tuple[int | None, Msg | None]:
    """The effective batch in conversations for a training set of ``samples`` (None: no data yet).  When a time
    budget allows fewer passes than the recipe would take (``budget_epochs``), the batch shrinks so that the run
    still takes about TARGET_STEPS steps (one pass or less: one conversation a step)."""
    if not samples:
        return None, None
    b = max(1, min(MAX_BATCH, _pow2(samples / STEPS_PER_EPOCH)))
    one, many = unit(stage), unit(stage, plural=True)
    why = msg("rc_batch", "{b} {one} a step: {n} {many} ÷ about {k} steps a pass, as a power of two (1 to {most})",
              b=b, n=samples, k=STEPS_PER_EPOCH, most=MAX_BATCH, one=one, many=many)
    passes = TARGET_STEPS / max(1, samples / b)
    if budget_epochs is not None and budget_epochs < min(MAX_EPOCHS, passes):
        e = max(0.25, budget_epochs)
        # one pass or less: each conversation is seen once, so a step per conversation buys the most updates
        small = 1 if e <= 1.1 else max(1, min(b, _pow2(samples * e / TARGET_STEPS)))
        if small < b and small == 1:
            why = msg("rc_batch_one", "1 {one} a step: the time budget allows about {e:g} pass(es) over {n} {many}, "
                                      "and when each is seen about once a step for each makes the most updates",
                      e=round(e, 2), n=samples, one=one, many=many)
            b = small
        elif small < b:
            why = msg("rc_batch_budget", "{b} {one} a step: the time budget allows about {e:g} pass(es) over {n} "
                                         "{many}, so a smaller batch keeps about {target} steps",
                      b=small, e=round(e, 2), n=samples, target=TARGET_STEPS, one=one, many=many)
            b = small
    return b, why


def method(train_tokens: int | None, adapter_params: int | None) -> tuple[str | None, Msg | None]:
    """The method the recipe starts from: "lora" (the planner falls to QLoRA when it does not fit) unless the set
    holds more tokens than the adapter has parameters; None lets the planner take the best that fits."""
    if not train_tokens or not adapter_params:
        return None, None
    if train_tokens > TOKENS_PER_ADAPTER_PARAM * adapter_params:
        return None, msg("rc_method_full", "a full fine-tune if it fits: {tokens:,} training tokens, more than the "
                                           "adapter's {params:,} parameters hold", tokens=train_tokens,
                         params=adapter_params)
    return "lora", msg("rc_method_lora", "an adapter, not a full fine-tune: {tokens:,} training tokens fit in its "
                                         "{params:,} parameters, where LoRA learns as well and forgets less",
                       tokens=train_tokens, params=adapter_params)


def dropout(held_out: int, stage: str = "sft") -> Msg:
    """Why the adapter trains without dropout: early stopping on the held-out split guards over-fitting instead."""
    return msg("rc_dropout", "adapter dropout 0: early stopping on the {n} held-out {many} guards against "
                             "over-fitting instead, and dropout slows every step", n=held_out,
               many=unit(stage, plural=True))


def learning_rate(method: str, task_lr: float, hidden: int | None, task_name) -> tuple[float, Msg]:
    """The peak learning rate for ``method`` on a model of this width."""
    scale = max(1.0, min(LR_MAX_SCALE, LR_WIDTH / hidden)) if hidden else 1.0
    if method != "full":
        lr = float(f"{task_lr * scale:.2g}")
        if scale == 1.0:
            return lr, msg("rc_lr_lora", "lr {lr:g}: the {task} preset's rate for adapters (the guides' 1e-4 to "
                                         "2e-4)", lr=task_lr, task=task_name)
        return lr, msg("rc_lr_lora_width", "lr {lr:g}: the {task} preset's {base:g} for adapters at hidden size {ref}, "
                                           "× {ref}/{h} for this narrower model (Adam's best rate falls as 1/width)",
                       lr=lr, task=task_name, base=task_lr, ref=LR_WIDTH, h=hidden)
    lr = float(f"{FULL_LR_7B * scale:.2g}")
    return lr, msg("rc_lr_full", "lr {lr:g}: full fine-tuning's {base:g} at hidden size {ref}, × {ref}/{h} for this "
                                 "narrower model (Adam's best rate falls as 1/width)", lr=lr, base=FULL_LR_7B,
                   ref=LR_WIDTH, h=hidden or LR_WIDTH)


def epochs(steps_per_epoch: int, seconds_per_epoch: float | None = None,
           budget_s: float | None = None) -> tuple[float, Msg]:
    """Passes over the data: about TARGET_STEPS steps, 1 to MAX_EPOCHS, cut to a time budget when one is given."""
    e = max(1, min(MAX_EPOCHS, math.ceil(MIN_SHARE * TARGET_STEPS / max(1, steps_per_epoch))))
    why = msg("rc_epochs", "{e} epoch(s): {spe} steps a pass, at least {least} of about {target} steps in all (1 to "
                           "{most} passes)", e=e, spe=steps_per_epoch, least=round(MIN_SHARE * TARGET_STEPS),
              target=TARGET_STEPS, most=MAX_EPOCHS)
    if budget_s and seconds_per_epoch and e * seconds_per_epoch > budget_s:
        cut = max(0.25, round(4 * budget_s / seconds_per_epoch) / 4)
        if cut < e:
            why = msg("rc_epochs_budget", "{e:g} epoch(s): {full} would take about {t}, more than this demo's "
                                          "{budget} s", e=cut, full=e, t=f"{e * seconds_per_epoch:.0f} s",
                      budget=round(budget_s))
            e = cut
    return float(e), why


def warmup(steps: int) -> tuple[float, Msg]:
    low, high = WARMUP_RANGE
    ratio = round(max(low, min(high, MIN_WARMUP_STEPS / max(1, steps))), 3)
    return ratio, msg("rc_warmup", "cosine decay after {pct:g} % warm-up ({n} of {steps} steps: the guides' 3 to "
                                   "10 %, aiming at {least} steps)", pct=100 * ratio,
                      n=max(1, round(ratio * steps)), steps=steps, least=MIN_WARMUP_STEPS)


def evaluation(steps: int, held_out: int | None, train_tokens: int | None, eval_tokens: int | None,
               method: str, epochs_: float, stage: str = "sft") -> tuple[int, int, Msg]:
    """(eval_steps, patience, reason): about EVALS evaluations, no more than EVAL_SHARE of the compute."""
    if not held_out:
        return 0, 0, msg("rc_eval_none", "no held-out {many}: no evaluation during training, no early stopping",
                         many=unit(stage, plural=True))
    n = EVALS
    if train_tokens and eval_tokens:
        affordable = EVAL_SHARE * train_tokens * epochs_ / (eval_tokens * EVAL_COST.get(method, 0.5))
        n = max(MIN_EVALS, int(min(n, affordable)))
    n = min(n, steps)
    if n < MIN_EVALS:
        return 0, 0, msg("rc_eval_ends", "evaluate before and after only: {steps} steps are too few to stop early",
                         steps=steps)
    every = max(1, steps // n)
    evals = steps // every
    patience = max(2, round(PATIENCE_SHARE * evals))
    return every, patience, msg("rc_eval", "evaluate every {k} steps ({n} times, on {held} held-out {many}); stop "
                                           "after {p} evaluations without a better held-out loss and keep the best "
                                           "step", k=every, n=evals, held=held_out, p=patience,
                                many=unit(stage, plural=True))

