"""The plan: every training decision for one model, dataset, task and machine, made once, as a value.

:func:`make` is the only place where a fine-tune's recipe is decided.  It takes what the user brings (model,
training data's token lengths, task preset, method, overrides) and what the machine has (the hardware probe or
a given GPU memory), and returns a frozen :class:`Plan`: method and adapter, batch geometry (micro-batch ×
accumulation, or packed rows, and the effective batch in samples and tokens), sequence length and the data
statistic it came from, learning rate and schedule, epochs and optimizer steps, LoRA shape, precision, gradient
checkpointing, optimizer, evaluation cadence, data mix, predicted peak memory and time — each with its reason,
written from the values (:class:`engine.core.texts.Msg`, so the wizard says them in its own language).

Every surface renders this value and nothing else: ``danlu plan`` (text and ``--json``), ``danlu plan --save``
(:meth:`Plan.config`), ``danlu quickstart`` (its plan line and JSON), the wizard's Model-step fit column and Plan
screen, and the trainer's first log event (:func:`of_config`, the same function over a saved config).  A change
(an override typed on the Plan screen) goes through :func:`make` again and gives a new value; nothing edits one.

Layers, lowest first: TrainConfig's defaults → the task preset (presets/tasks.yaml) → a demo model's own
settings (presets/demo.yaml: demo models are sized for a CPU) → the planner's memory fit (method, micro-batch,
accumulation, checkpointing, optimizer, precision) → the user's overrides (memory-relevant ones are given to the
planner as forced choices, so the memory prediction is for what will run).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType

from ..core.config import PREFERENCE_STAGES, METHODS, STRATEGIES, VIRTUAL_TOKEN_ADAPTERS, TrainConfig
from ..core.errors import DanluError
from ..core.texts import Msg, msg
from ..data import replay as data_replay
from ..models import load as models_mod
from . import recipe
from .distributed import CPU_FLOPS_PER_CORE, FLOPS_PER_PARAM, GPU_MFU, GPU_PEAK_TFLOPS  # noqa: F401 (one compute model)
from .hardware import Probe

DEFAULT_SEQ_LEN = 1024  # with no data (or no tokenizer offline), and the cap on a length read from the data
SEQ_QUANTILE = 0.99  # sequences as long as the data's 99th percentile: the longest 1 % are truncated
SEQ_STEP = 64  # lengths are rounded up to a multiple of 64
SEQ_MIN = 64
DEFAULT_TARGET_BATCH = 16  # samples per optimizer step the planner aims for (reached by accumulation)
# the planner's choices: an override of one of these is given to the planner as a forced choice
PREF_BETA = {"dpo": 0.1, "kto": 0.1, "orpo": 0.1, "simpo": 2.0}  # TRL's defaults; SimPO's paper uses 2.0-2.5
REFERENCE_STAGES = ("dpo", "kto")
PREF_MIN_BATCH = 8  # pairs a preference step sees at least (Zephyr's DPO: 32 to 64 on 8 GPUs; 8 by accumulation)  # ORPO and SimPO need no reference model
PLANNER_KEYS = ("micro_batch", "grad_accum", "grad_checkpointing", "optimizer", "precision")
# TrainConfig fields a task preset sets (the learning rate per method besides)
TASK_KEYS = ("epochs", "lora_r", "lora_alpha", "lora_dropout", "warmup_ratio")
DEMO_KEYS = ("epochs", "lora_r", "lora_alpha", "lora_dropout", "warmup_ratio")


@dataclass(frozen=True)
class Plan:
    """Every decision of a fine-tune, with its reason.  Frozen: an override makes a new one (:func:`make`)."""

    model: str
    task: str
    method: str
    adapter: str | None  # None for a full fine-tune
    stage: str  # sft, or a preference stage (dpo, orpo, simpo, kto)
    pref_beta: float | None  # a preference stage's beta (None for sft)
    # batch geometry: the planner's micro-batch × accumulation (samples) and how it runs (packed rows)
    micro_batch: int
    grad_accum: int
    pack_len: int | None  # tokens per packed row; None: not packed (or not known until the data is)
    run_micro_batch: int | None  # rows per forward pass as the trainer runs them (None: data not known)
    run_grad_accum: int | None
    effective_batch: int  # samples per optimizer step (micro_batch × grad_accum)
    effective_tokens: int | None  # tokens per optimizer step (None without data)
    max_seq_len: int
    lr: float
    lr_scheduler: str
    warmup_ratio: float
    epochs: float
    max_steps: int
    steps: int | None  # optimizer steps the run will take (None without data)
    lora_r: int | None
    lora_alpha: int | None
    lora_dropout: float | None
    lora_targets: str | None
    precision: str
    grad_checkpointing: bool
    optimizer: str
    eval_steps: int
    early_stopping_patience: int  # evaluations without a better held-out loss before the run stops (0: never)
    data_mix: float  # share of general conversations mixed into the training data
    train_samples: int | None
    train_tokens: int | None  # tokens the training set holds after truncation (one epoch)
    predicted_peak_gb: float
    budget_gb: float
    fits: bool
    device: str
    params: int
    trainable_params: int
    predicted_seconds: float | None
    terms: MappingProxyType
    distributed: MappingProxyType  # strategy, world_size, ranks, per-device peak, … (engine.plan.distributed)
    reasons: tuple  # (decision, Msg) pairs, in the order they are shown
    remedies: tuple
    candidates: tuple
    sources: MappingProxyType  # decision → where it came from: planner, data, task, demo, you, default
    settings: MappingProxyType  # the TrainConfig it runs (paths filled in by :meth:`config`)

    # -- what it runs ----------------------------------------------------------------------------------------------
    def config(self, *, train_file: str = "", eval_file: str | None = None, dataset_hash: str = "") -> TrainConfig:
        """The TrainConfig this plan runs, with the data paths filled in (a new object each time)."""
        values = dict(self.settings, train_file=train_file, eval_file=eval_file, dataset_hash=dataset_hash)
        return TrainConfig(**values)

    def why(self, decision: str) -> Msg | None:
        return next((text for key, text in self.reasons if key == decision), None)

    # -- how it is said ----------------------------------------------------------------------------------------------
    def batch_text(self) -> Msg:
        """How an optimizer step is made up, in one phrase."""
        ranks = int(self.distributed.get("ranks") or 1)
        if self.pack_len and ranks > 1:
            return msg("geo_packed_ranks", "packed rows of {pack} tokens × accumulation {ga} × {ranks} devices ≈ "
                                           "{samples} {what} a step", pack=self.pack_len,
                       ga=self.run_grad_accum or self.grad_accum, ranks=ranks, samples=self.effective_batch,
                       what=recipe.unit(self.stage))
        if self.pack_len and self.run_grad_accum:
            return msg("geo_packed", "packed rows of {pack} tokens × accumulation {ga} ≈ {samples} conversation(s) "
                                     "({tokens:,} tokens) a step", pack=self.pack_len, ga=self.run_grad_accum,
                       samples=self.effective_batch, tokens=self.effective_tokens or 0)
        if self.pack_len:
            return msg("geo_packed_unknown", "packed rows of {pack} tokens, about {samples} conversation(s) a step",
                       pack=self.pack_len, samples=self.effective_batch)
        if ranks > 1:
            return msg("geo_ranks", "micro-batch {mb} × accumulation {ga} × {ranks} devices = {samples} {what} a step",
                       mb=self.micro_batch, ga=self.grad_accum, ranks=ranks, samples=self.effective_batch,
                       what=recipe.unit(self.stage))
        if self.stage != "sft":
            return msg("geo_pairs", "micro-batch {mb} × accumulation {ga} = {samples} {what} a step",
                       mb=self.micro_batch, ga=self.grad_accum, samples=self.effective_batch,
                       what=msg("pairs_kto", "answer(s)") if self.stage == "kto" else msg("pairs", "pair(s)"))
        return msg("geo_batch", "micro-batch {mb} × accumulation {ga} = {samples} conversation(s) a step",
                   mb=self.micro_batch, ga=self.grad_accum, samples=self.effective_batch)

    def summary(self) -> Msg:
        """The plan in one line: what every surface prints first."""
        shape = (msg("sum_lora", " rank {r} (alpha {alpha})", r=self.lora_r, alpha=self.lora_alpha)
                 if self.lora_r else "")
        if self.max_steps > 0:
            steps = msg("sum_max_steps", "{steps} steps (max_steps)", steps=self.max_steps)
        elif self.steps is not None:
            steps = msg("sum_steps", "{epochs:g} epoch(s), {steps} steps", epochs=self.epochs, steps=self.steps)
        else:
            steps = msg("sum_steps_unknown", "{epochs:g} epoch(s), steps from the data", epochs=self.epochs)
        method = (msg("sum_stage", "{stage} (beta {beta:g}) with {method}", stage=self.stage, beta=self.pref_beta,
                      method=self.method) if self.stage != "sft" else self.method)
        return msg("summary", "{method}{shape} · {batch} · seq len {seq} · lr {lr:g} · {steps} · "
                              "{precision} · peak {peak:.2f} GB of {budget:.2f} GB",
                   method=method, shape=shape, batch=self.batch_text(), seq=self.max_seq_len, lr=self.lr,
                   steps=steps, precision=self.precision, peak=self.predicted_peak_gb, budget=self.budget_gb)

    def task_text(self) -> Msg:
        """What the task preset contributes to this plan, from the values (a demo model keeps its own settings)."""
        from . import tasks

        preset = tasks.load().get(self.task, {})
        name = _task_name(preset, self.task)
        # the recipe takes the preset's rate for adapters (engine.plan.recipe.learning_rate) and may scale it to the
        # model's width: the preset's own rate is said, and what it became
        taken = [(msg("took_lr_scaled", "lr {v:g} (the recipe scaled it to {lr:g} for this model)", v=preset["lr"],
                      lr=self.settings[key])
                  if key == "lr" and self.sources.get(key) == "recipe" and isinstance(preset.get("lr"), (int, float))
                  and float(preset["lr"]) != self.settings[key] else _took(key, self.settings[key]))
                 for key in TOOK
                 if (self.sources.get(key) == "task" or (key == "lr" and self.sources.get(key) == "recipe"
                                                         and self.method != "full"))
                 and (self.method != "full" or not key.startswith("lora_"))]
        if not taken and "recipe" in self.sources.values():
            return msg("task_none_recipe", "The {task} preset sets nothing in this plan: the recipe chose from the "
                                           "data", task=name)
        if not taken:
            return msg("task_none", "The {task} preset sets nothing in this plan: {model}'s own settings apply "
                                    "(presets/demo.yaml)", task=name, model=self.model)
        return msg("task_took", "The {task} preset sets {n} value(s) here: {values}", task=name, n=len(taken),
                   values=Msg(", ".join(taken), "join", parts=tuple(taken)))

    def to_dict(self) -> dict:
        """The plan as JSON (``danlu plan --json``, the quickstart's ``plan``, the trainer's ``plan`` event)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, MappingProxyType):
                value = dict(value)
            elif f.name == "reasons":
                value = [str(text) for _, text in value]
            elif isinstance(value, tuple):
                value = [dict(v) if isinstance(v, dict) else (str(v) if isinstance(v, Msg) else v) for v in value]
            out[f.name] = value
        out["why"] = {key: str(text) for key, text in self.reasons}
        out["geometry"] = str(self.batch_text())
        out["summary"] = str(self.summary())
        return out

    def comparable(self) -> dict:
        """The decisions every surface must agree on (the property test compares these)."""
        return {k: getattr(self, k) for k in COMPARED}


TOOK = ("lr", "epochs", "warmup_ratio", "lora_r", "lora_alpha", "lora_dropout", "replay")  # what a task preset may set


def _took(key: str, v) -> Msg:
    """One value a task preset set, as the task line says it."""
    return {"lr": lambda: msg("took_lr", "lr {v:g}", v=v), "epochs": lambda: msg("took_epochs", "{v:g} epoch(s)", v=v),
            "warmup_ratio": lambda: msg("took_warmup_ratio", "warm-up {v:.0%}", v=v),
            "lora_r": lambda: msg("took_lora_r", "rank {v}", v=v),
            "lora_alpha": lambda: msg("took_lora_alpha", "alpha {v}", v=v),
            "lora_dropout": lambda: msg("took_lora_dropout", "dropout {v:g}", v=v),
            "replay": lambda: msg("took_replay", "{v:.0%} general data mixed in", v=v)}[key]()


COMPARED = ("stage", "method", "micro_batch", "grad_accum", "effective_batch", "run_micro_batch", "run_grad_accum", "pack_len",
            "max_seq_len", "lr", "epochs", "steps", "warmup_ratio", "eval_steps", "early_stopping_patience",
            "predicted_peak_gb")


# -- sequence length --------------------------------------------------------------------------------------------------
def seq_len_cap(model: str) -> tuple[int, Msg]:
    """The longest sequence a plan picks from the data for ``model``, and why: a demo model's own limit (sized for
    a CPU), else DEFAULT_SEQ_LEN; never beyond the model's context."""
    from . import demo
    from ..models import load as models

    own = demo.settings(model).get("max_seq_len")
    if own and model.startswith("demo:"):
        cap, why = int(own), msg("cap_demo", "{model}'s limit for a quick run (presets/demo.yaml)", model=model)
    else:
        cap, why = DEFAULT_SEQ_LEN, msg("cap_default", "danlu's cap (attention cost grows with length)")
    context = models.context_length(model)
    if context and context < cap:
        cap, why = context, msg("cap_context", "the model's context ({n} tokens)", n=context)
    return cap, why


def choose_seq_len(model: str, lengths, given: int | None = None, stage: str = "sft") -> tuple[int, Msg, str]:
    """max_seq_len: the user's value, else the data's p99 token length rounded up to 64 (at most the cap), else
    the cap.  Returns the value, its reason (with the share of conversations it truncates) and the source."""
    known = sorted(n for n in (lengths or []) if n)
    if given:
        value, source = int(given), "you"
        reason = msg("seq_given", "max_seq_len {n}: your setting", n=value)
    elif known:
        cap, cap_why = seq_len_cap(model)
        p = known[min(len(known) - 1, int(SEQ_QUANTILE * len(known)))]
        value = max(SEQ_MIN, min(cap, -(-p // SEQ_STEP) * SEQ_STEP))
        source = "data"
        many = recipe.unit(stage, plural=True)
        reason = msg("seq_data", "max_seq_len {n}: the {count} training {many}' p99 is {p} tokens, rounded up to a "
                                 "multiple of {step}", n=value, count=len(known), p=p, step=SEQ_STEP, many=many)
        if value < -(-p // SEQ_STEP) * SEQ_STEP:
            reason = msg("seq_data_capped", "max_seq_len {n}: the {count} training {many}' p99 is {p} tokens, capped "
                                            "at {why}", n=value, count=len(known), p=p, why=cap_why, many=many)
    else:
        value, cap_why = seq_len_cap(model)
        source = "default"
        reason = msg("seq_default", "max_seq_len {n}: no token lengths yet, so {why}", n=value, why=cap_why)
    if known:
        cut = sum(1 for n in known if n > value)
        if cut:
            reason = msg("seq_cut", "{reason}; {cut} of {count} ({pct:.0f} %) are longer and will be truncated",
                         reason=reason, cut=cut, count=len(known), pct=100 * cut / len(known))
    return value, reason, source


def token_lengths(model: str, convs: list, *, trust_remote_code: bool = False) -> list | None:
    """Tokens per conversation with the model's chat template (engine.models.encode.token_lengths; None per conversation
    the template rejects), or None when the model's tokenizer is not available (a Hub id offline)."""
    from ..models import encode, load as models

    if not convs:
        return []
    try:
        tok = models.preview_tokenizer(model, trust_remote_code=trust_remote_code)
    except DanluError:
        return None
    return encode.token_lengths(tok, convs)


def train_lengths(lengths: list, eval_ratio: float, seed: int) -> list:
    """The token lengths of the conversations the training split keeps (the split :func:`data.split` makes)."""
    from ..data.transform import split_indices

    if not eval_ratio or eval_ratio <= 0:
        return list(lengths)
    side = split_indices(len(lengths), eval_ratio, seed)
    return [n for n, s in zip(lengths, side) if s == 0]


# -- the plan ---------------------------------------------------------------------------------------------------------
def _coerce_overrides(overrides) -> dict:
    """Overrides as TrainConfig values (strings read as what they say); empty values are not overrides."""
    from ..core.config import _coerce

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    out = {}
    for key, value in (overrides or {}).items():
        if value in ("", None):
            continue
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(str(key), list(fields), n=1)
            raise DanluError(msg("err_unknown_setting", "unknown setting {name!r}", name=key), where="overrides",
                             fix=msg("fix_did_you_mean", "did you mean {close}? see `danlu train --help`",
                                     close=close[0]) if close else msg("fix_train_help", "see `danlu train --help`"))
        out[key] = _coerce(key, value, fields[key])
    return out


def _task_name(entry: dict, key: str):
    name = entry.get("name") or key
    return Msg(name.get("en", key), "task_name", name=name) if isinstance(name, dict) else name


def _lr_for(model: str, task_entry: dict, method: str) -> tuple[float, str, Msg]:
    from . import demo

    if model.startswith("demo:") and "lr" in demo.settings(model):
        value = demo.lr(model, method)
        return value, "demo", msg("lr_demo", "lr {lr:g}: {model}'s learning rate for {method} (presets/demo.yaml)",
                                  lr=value, model=model, method=method)
    value = float(task_entry.get("lr_full" if method == "full" else "lr", TrainConfig.lr))
    return value, "task", msg("lr_task", "lr {lr:g}: the {task} preset's rate for {kind}", lr=value,
                              task=_task_name(task_entry, "task"),
                              kind=msg("kind_full", "full fine-tuning") if method == "full" else
                              msg("kind_adapter", "LoRA adapters"))


def make(model: str, *, task: str = "general", method: str | None = None, overrides: dict | None = None,
         lengths: list | None = None, probe: Probe | None = None, gpu_mem_gb: float | None = None,
         target_batch: int | None = None, demo: str | None = None, trust_remote_code: bool = False,
         shape=None, held_out: int | None = None, after: tuple = (), link: str | None = None) -> Plan:
    """The plan for ``model`` on training conversations of these token ``lengths`` (None: no data yet).

    ``method`` None or "auto" lets the planner pick; ``overrides`` are TrainConfig fields the user set (memory
    ones become the planner's forced choices); ``demo`` is the reason a demo run forces ``method`` (said in the
    plan); ``after`` names the overrides a run's diagnosis changed (engine.plan.next_inputs), so that the reasons say
    where they came from.  Raises DanluError for an unknown task, method or setting."""
    from . import demo as demo_mod, memory as planner, tasks

    ov = _coerce_overrides(overrides)
    if method in ("", "auto"):
        method = None
    if "method" in ov:
        method = ov.pop("method")
    if method is not None and method not in METHODS:
        raise DanluError(msg("err_unknown_choice", "unknown {name} {got}", name="method", got=repr(method)),
                         fix=msg("fix_one_of", "use one of {allowed}", allowed=", ".join(("auto", *METHODS))))
    presets_all = tasks.load()
    if task not in presets_all:
        raise DanluError(msg("err_unknown_choice", "unknown {name} {got}", name=msg("thing_task", "task preset"),
                             got=repr(task)),
                         fix=msg("fix_one_of", "use one of {allowed}", allowed=", ".join(presets_all)))
    entry = presets_all[task]
    own = demo_mod.settings(model) if model.startswith("demo:") else {}
    task_name = _task_name(entry, task)

    values = dataclasses.asdict(TrainConfig())
    sources = {k: "default" for k in values}

    def put(key, value, source):
        values[key] = value
        sources[key] = source

    for key in TASK_KEYS:
        if key in entry:
            put(key, entry[key], "task")
    if entry.get("data_mix"):  # the task asks for general data: the forgetting guard's replay share
        put("replay", float(entry["data_mix"]), "task")
    for key in DEMO_KEYS:
        if key in own:
            put(key, own[key], "demo")
    for key, value in ov.items():
        if key not in PLANNER_KEYS:
            put(key, value, "after" if key in after else "you")
    stage = str(values.get("stage") or "sft")
    pref = stage in PREFERENCE_STAGES
    if pref:  # a pair's two answers run as two sequences: no packing (TRL's preference trainers pad)
        if "packing" not in ov:
            put("packing", False, "stage")
        if "pref_beta" not in ov:
            put("pref_beta", PREF_BETA.get(stage, 0.1), "stage")
    known = [n for n in (lengths or []) if n]
    # the recipe (engine.plan.recipe) chooses what learns from the data; the random-init demo models keep their own
    # settings (they show plumbing, not a result)
    use_recipe = bool(known) and not models_mod.is_random_init(model)
    dropout_why = None
    if use_recipe and held_out and "lora_dropout" not in ov and values.get("lora_dropout"):
        put("lora_dropout", 0.0, "recipe")
        dropout_why = recipe.dropout(held_out, stage)
    seq, seq_why, seq_source = choose_seq_len(model, known, ov.get("max_seq_len"), stage)
    put("max_seq_len", seq, seq_source)
    values.update({k: v for k, v in ov.items() if k in PLANNER_KEYS}, model=model, train_file="(planned)",
                  trust_remote_code=trust_remote_code)
    if method:
        values["method"] = method
    try:  # the one validation: the user's settings with the presets', before anything is decided from them
        values = dataclasses.asdict(TrainConfig(**values).validate())
    except DanluError as exc:
        raise DanluError(exc.what, where=exc.where or "plan", fix=exc.fix) from None
    shape = shape or planner.model_shape(model, trust_remote_code=trust_remote_code)
    rc_batch, rc_batch_why, rc_method, rc_method_why = None, None, None, None
    if use_recipe and not method:  # LoRA unless the set outgrows the adapter (engine.plan.recipe.method)
        rc_method, rc_method_why = recipe.method(sum(min(n, seq) for n in known),
                                                 shape.lora_params(int(values["lora_r"]), str(values["lora_targets"])))
    if use_recipe:
        budget = own.get("time_budget_s")
        sec = (sum(min(n, seq) for n in known) * FLOPS_PER_PARAM.get(method or "lora", 6) * shape.params /
               _flops_per_s(probe, gpu_mem_gb)) if budget else None
        rc_batch, rc_batch_why = recipe.batch(len(known), budget / sec if budget and sec else None, stage)
    batch_target = int(target_batch or own.get("target_batch") or rc_batch or DEFAULT_TARGET_BATCH)
    target_from = (msg("target_you", "--target-batch") if target_batch else
                   msg("src_demo", "{model}'s settings", model=model) if own.get("target_batch") else
                   msg("src_recipe", "the recipe") if rc_batch else msg("src_default", "danlu's default"))
    if pref and not target_batch and batch_target < PREF_MIN_BATCH:  # one pair a step is too noisy to learn from
        batch_target = PREF_MIN_BATCH
        target_from = msg("target_pref", "at least {n} {many} a step for a preference stage", n=PREF_MIN_BATCH,
                          many=recipe.unit(stage, plural=True))
        rc_batch_why = None

    def fit(knobs, prefer):  # the memory planner on this plan's forced choices
        return planner.plan(model, gpu_mem_gb=gpu_mem_gb, probe=probe, seq_len=seq, method=method,
                            micro_batch=ov.get("micro_batch"), grad_accum=ov.get("grad_accum"),
                            grad_checkpointing=ov.get("grad_checkpointing"), optimizer=ov.get("optimizer"),
                            precision=ov.get("precision"), lora_r=int(values["lora_r"]),
                            lora_targets=str(values["lora_targets"]), lora_dropout=float(values["lora_dropout"]),
                            target_batch=batch_target, shape=shape, prefer=prefer, knobs=knobs)

    mem = fit({"sequences": 2, "reference_copy": stage in REFERENCE_STAGES and not ov.get("precompute_ref")}
              if pref else None, rc_method)
    copy_gb = None
    if stage in REFERENCE_STAGES and "precompute_ref" not in ov and method in (None, "full") and rc_method is None:
        # full DPO/KTO: a second copy of the weights as the reference when it fits, else the reference's
        # log-probabilities computed once before training (TRL's precompute_ref_log_probs)
        full = next((c for c in mem.candidates if c["method"] == "full"), None)
        if full is not None and not full["fits"]:
            alt = fit({"sequences": 2, "reference_copy": False}, None)
            if alt.fits and alt.method == "full":
                copy_gb = full["peak_gb"]
                mem = alt
                put("precompute_ref", True, "planner")
    spread = None  # several devices: the strategy and what fits each device (engine.plan.distributed)
    if int(values.get("gpus") or 1) * int(values.get("nodes") or 1) > 1:
        mem, spread = _spread(mem, shape, values, ov, method, rc_method, batch_target, seq, probe, gpu_mem_gb,
                              {"sequences": 2, "reference_copy": stage in REFERENCE_STAGES and not
                               values.get("precompute_ref")} if pref else {}, link)
        put("strategy", spread.strategy if spread.strategy in STRATEGIES else "single",
            "you" if "strategy" in ov else "planner")
    elif "strategy" in ov and ov["strategy"] != "single":
        raise DanluError(msg("err_strategy_one", "strategy {strategy} needs more than one device", strategy=ov["strategy"]),
                         where="strategy", fix=msg("fix_strategy_one", "plan with --gpus N (N ≥ 2), or strategy=single"))
    ranks = spread.ranks if spread else 1
    # the planner's decisions (valid by construction: its own method, micro-batch, optimizer and precision lists)
    for key in ("method", *PLANNER_KEYS):
        put(key, getattr(mem, key), "you" if key in ov or (key == "method" and method) else "planner")
    if demo and method:
        sources["method"] = "demo"
    elif rc_method_why and not method:
        sources["method"] = "recipe"
    if "lr" in ov:
        lr_why = (msg("lr_after", "lr {lr:g}: the last run's diagnosis", lr=float(ov["lr"])) if "lr" in after else
                  msg("lr_given", "lr {lr:g}: your setting", lr=float(ov["lr"])))
    elif use_recipe:
        task_lr = float(entry.get("lr", TrainConfig.lr))
        lr, lr_why = recipe.learning_rate(mem.method, task_lr, getattr(shape, "hidden", None), task_name)
        put("lr", lr, "recipe")
    else:
        lr, lr_source, lr_why = _lr_for(model, entry, mem.method)
        put("lr", lr, lr_source)
    if pref and "lr" not in ov and mem.method == "full":  # a full fine-tune moves every weight: a tenth of SFT's
        sft_lr = float(values["lr"])
        put("lr", float(f"{sft_lr / 10:.3g}"), "stage")
        lr_why = msg("lr_pref", "lr {lr:g}: a tenth of the SFT rate {sft:g} ({why}); a full preference fine-tune "
                                "adjusts every weight of a model that already answers, and the guides (DPO, Zephyr) "
                                "use an order of magnitude less or lower", lr=float(values["lr"]), sft=sft_lr,
                     why=lr_why)
    elif pref and "lr" not in ov:  # an adapter moves the model slowly: the SFT rate (measured: bench/preference.py)
        lr_why = msg("lr_pref_adapter", "lr {lr:g}: the SFT adapter rate ({why}); an adapter's low rank already "
                                        "limits how far preference tuning moves the model (TRL's LoRA DPO example "
                                        "trains at 5e-4, five times its SFT rate; a tenth of this rate barely moved "
                                        "the held-out preference here)", lr=float(values["lr"]), why=lr_why)
        sources["lr"] = "stage"
    values["plan_reason"] = " | ".join(str(r) for r in mem.reasons)
    cfg = TrainConfig(**values)

    from . import prepare

    full = cfg.method == "full"
    geo = prepare.geometry(cfg, known)
    effective = cfg.micro_batch * cfg.grad_accum * ranks
    mean = sum(min(n, cfg.max_seq_len) for n in known) / len(known) if known else None
    train_tokens = sum(min(n, cfg.max_seq_len) for n in known) if known else None
    rc_why = {}
    if use_recipe and geo is not None:  # passes, warm-up and evaluation from the steps a pass takes
        rc_why = _recipe_rest(values, sources, ov, cfg, geo, known, train_tokens, mean, mem, probe, gpu_mem_gb,
                              held_out, own.get("time_budget_s"), spread)
        cfg = TrainConfig(**values)
    pack_len = geo.pack_len if geo else (max(cfg.max_seq_len, min(cfg.pack_len, cfg.micro_batch * cfg.max_seq_len))
                                        if cfg.packing and cfg.adapter not in VIRTUAL_TOKEN_ADAPTERS else None)
    if geo and geo.pack_len:
        eff_tokens = geo.micro_batch * geo.grad_accum * geo.pack_len * ranks
        effective = max(1, round(eff_tokens / mean)) if mean else effective
    elif mean:
        eff_tokens = round(effective * mean)
    else:
        eff_tokens = None
    mix_n = data_replay.count(cfg.replay, len(known), tuple(data_replay.prompts())) if known else 0
    if mix_n:  # the replay conversations train too: counted at the data's median length
        median = sorted(known)[len(known) // 2]
        steps = _steps(cfg, geo, known + [median] * mix_n, None, ranks)
    else:
        steps = _steps(cfg, geo, known, train_tokens, ranks)
    seconds = _seconds(mem, cfg, steps, eff_tokens, probe, gpu_mem_gb, spread)
    if pref and seconds is not None:  # two sequences a sample, and a reference forward (a third of fwd + bwd)
        seconds *= 2 * (4 / 3 if stage in REFERENCE_STAGES else 1)

    reasons: list[tuple[str, Msg]] = [("model", mem.reasons[0]), ("budget", mem.reasons[1])]
    if spread is not None:
        reasons.append(("devices", spread.reasons[0]))
    if mem.fits:
        if sources["method"] == "recipe":  # why not the full fine-tune that may fit, before what fits
            reasons.append(("method_recipe", rc_method_why))
        reasons.append(("method", mem.reasons[2]))
        if sources["method"] == "demo":
            reasons.append(("method_demo", msg("method_demo", "method {method}: {why}", method=cfg.method, why=demo)))
        elif sources["method"] == "you":
            reasons.append(("method_given", msg("method_given", "method {method}: your choice", method=cfg.method)))
    if pref:
        reasons.append(("stage", stage_reason(stage, cfg.method, cfg.pref_beta, cfg.precompute_ref, copy_gb)))
    if known and pref:
        reasons.append(("data", msg("data_pairs", "{n} training {many}, {tokens:,} tokens in their longer answer's "
                                                  "sequence after truncation", n=len(known), tokens=train_tokens or 0,
                                    many=recipe.unit(stage, plural=True)) if stage != "kto" else
                        msg("data_answers", "{n} training answers, {tokens:,} tokens after truncation", n=len(known),
                            tokens=train_tokens or 0)))
    elif known:
        reasons.append(("data", msg("data_train", "{n} training conversations, {tokens:,} tokens after truncation",
                                    n=len(known), tokens=train_tokens or 0)))
    reasons.append(("seq_len", seq_why))
    batch_given = target_batch or own.get("target_batch") or {"micro_batch", "grad_accum"} & set(ov)
    if rc_batch and not batch_given and rc_batch_why:
        reasons.append(("target_batch", rc_batch_why))
    reasons.append(("batch", _batch_reason(cfg, geo, effective, eff_tokens, batch_target, target_from, sources,
                                           ranks)))
    reasons.append(("lr", lr_why))
    reasons.append(("schedule", rc_why.get("warmup") or msg(
        "schedule", "{sched} schedule after {pct:g} % warm-up ({src})", sched=cfg.lr_scheduler,
        pct=100 * cfg.warmup_ratio, src=_source_text(sources["warmup_ratio"], task_name, model))))
    reasons.append(("steps", msg("steps_recipe", "{why}: {steps} optimizer steps", why=rc_why["epochs"], steps=steps)
                    if "epochs" in rc_why else _steps_reason(cfg, steps, len(known), sources, task_name, model)))
    if not full:
        reasons.append(("adapter", msg("adapter", "{adapter} rank {r}, alpha {alpha}, dropout {d:g} on {targets} "
                                                  "({src})", adapter=cfg.adapter, r=cfg.lora_r, alpha=cfg.lora_alpha,
                                       d=cfg.lora_dropout, targets=cfg.lora_targets,
                                       src=_source_text(sources["lora_r"], task_name, model))))
        if dropout_why:
            reasons.append(("dropout", dropout_why))
    reasons.append(("precision", mem.reasons[-1] if mem.fits else msg("precision", "precision {precision}",
                                                                       precision=cfg.precision)))
    reasons.append(("memory", msg("memory", "gradient checkpointing {gc}, optimizer {opt}: predicted peak {peak:.2f} "
                                            "GB of {budget:.2f} GB", gc=msg("on", "on") if cfg.grad_checkpointing else msg("off", "off"),
                                  opt=cfg.optimizer, peak=mem.predicted_peak_gb, budget=mem.budget_gb)))
    many = recipe.unit(cfg.stage, plural=True)
    if "eval" in rc_why:
        reasons.append(("eval", rc_why["eval"]))
    elif held_out == 0:
        reasons.append(("eval", msg("eval_none", "no held-out {many}, so no evaluation (give --eval-data, or hold out "
                                                 "a share in the wizard's Data step)", many=many)))
    elif held_out:
        reasons.append(("eval", msg("eval_every_n", "evaluate on {n} held-out {many} every {k} steps", n=held_out,
                                    k=cfg.eval_steps, many=many) if cfg.eval_steps else
                        msg("eval_ends_n", "evaluate on {n} held-out {many} before and after training",
                            n=held_out, many=many)))
    else:
        reasons.append(("eval", msg("eval_every", "evaluate every {n} steps", n=cfg.eval_steps) if cfg.eval_steps else
                        msg("eval_ends", "evaluate on the held-out split before and after training")))
    if cfg.replay:
        reasons.append(("data_mix", msg("mix_replay", "{pct:g} % general conversations mixed in against forgetting: "
                                                      "about {n} answers of the base model itself to built-in prompts "
                                                      "in the data's languages, made when training starts (no "
                                                      "download; {src})", pct=100 * cfg.replay, n=mix_n,
                                        src=_source_text(sources["replay"], task_name, model))))
    else:
        reasons.append(("data_mix", msg("mix_none_replay", "no general data mixed in (replay=0.15 mixes in the base "
                                                           "model's own answers to general prompts against forgetting)")))
    if seconds is not None:
        reasons.append(("time", msg("time", "about {t} of training ({how})", t=_duration(seconds),
                                    how=_speed_basis(probe, gpu_mem_gb))))
    if spread is not None and spread.pick is not None and spread.pick.strategy != "single":
        reasons.append(("timeout", spread.reasons[-1]))
    distributed = (spread.to_dict() | {"effective_batch": effective} if spread is not None else
                   {"strategy": "single", "world_size": 1, "nodes": 1, "gpus_per_node": 1, "ranks": 1,
                    "per_device_peak_gb": mem.predicted_peak_gb, "effective_batch": effective})
    settings = dataclasses.asdict(cfg)
    for key in ("train_file", "eval_file", "dataset_hash"):
        settings.pop(key)
    if pack_len:
        settings["pack_len"] = pack_len  # the row length that runs (pack_len is an upper bound), so config.yaml says it
    return Plan(
        model=model, task=task, method=cfg.method, adapter=None if full else cfg.adapter, stage=cfg.stage,
        pref_beta=cfg.pref_beta if pref else None, micro_batch=cfg.micro_batch, grad_accum=cfg.grad_accum, pack_len=pack_len,
        run_micro_batch=geo.micro_batch if geo else None, run_grad_accum=geo.grad_accum if geo else None,
        effective_batch=effective, effective_tokens=eff_tokens, max_seq_len=cfg.max_seq_len, lr=cfg.lr,
        lr_scheduler=cfg.lr_scheduler, warmup_ratio=cfg.warmup_ratio, epochs=cfg.epochs, max_steps=cfg.max_steps,
        steps=steps, lora_r=None if full else cfg.lora_r, lora_alpha=None if full else cfg.lora_alpha,
        lora_dropout=None if full else cfg.lora_dropout, lora_targets=None if full else cfg.lora_targets,
        precision=cfg.precision, grad_checkpointing=cfg.grad_checkpointing, optimizer=cfg.optimizer,
        eval_steps=cfg.eval_steps, early_stopping_patience=cfg.early_stopping_patience, data_mix=cfg.replay, train_samples=len(known) if lengths is not None else None,
        train_tokens=train_tokens, predicted_peak_gb=mem.predicted_peak_gb, budget_gb=mem.budget_gb, fits=mem.fits,
        device=mem.device, params=mem.params, trainable_params=mem.trainable_params, predicted_seconds=seconds,
        terms=MappingProxyType(dict(mem.terms)), distributed=MappingProxyType(distributed), reasons=tuple(reasons), remedies=tuple(mem.remedies),
        candidates=tuple(mem.candidates), sources=MappingProxyType(sources), settings=MappingProxyType(settings),
    )


def stage_reason(stage: str, method: str, beta: float, precompute: bool = False, copy_gb: float | None = None) -> Msg:
    """What a preference stage does, what it compares against and what that costs in memory."""
    what = {"dpo": msg("st_dpo", "DPO: raises the chosen answer's likelihood over the rejected one's, relative to a "
                                 "reference model (beta {beta:g}: how far it may move from it)", beta=beta),
            "kto": msg("st_kto", "KTO: raises good answers and lowers bad ones, each on its own, relative to a "
                                 "reference model (beta {beta:g})", beta=beta),
            "orpo": msg("st_orpo", "ORPO: the SFT loss on the chosen answer plus an odds-ratio penalty on the "
                                   "rejected one (weight {beta:g}), without a reference model", beta=beta),
            "simpo": msg("st_simpo", "SimPO: a margin between the chosen and rejected answers' length-normalised "
                                     "likelihoods (beta {beta:g}), without a reference model", beta=beta)}[stage]
    if stage not in REFERENCE_STAGES:
        ref = msg("ref_none", "no reference model to hold")
    elif method == "full" and precompute:
        ref = (msg("ref_precomputed_fit", "the reference's log-probabilities are computed once before training "
                                          "(a second copy of the weights would need {gb:.1f} GB at the peak)",
                   gb=copy_gb) if copy_gb else
               msg("ref_precomputed", "the reference's log-probabilities are computed once before training (no "
                                      "second copy of the weights)"))
    elif method == "full":
        ref = msg("ref_copy", "the reference is a frozen second copy of the starting weights (counted in memory)")
    else:
        ref = msg("ref_adapter", "the reference is the same model with the adapter switched off: no second copy")
    if stage == "kto":  # TRL's KTO scores each answer beside a mismatched one (its KL estimate): two sequences too
        return msg("stage_why_kto", "{what}; {ref}; each answer runs beside a mismatched prompt's answer (KTO's KL "
                                    "estimate), so memory is planned for two sequences a sample", what=what, ref=ref)
    return msg("stage_why", "{what}; {ref}; both answers of a pair run in one forward pass, so memory is planned "
                            "for two sequences a sample", what=what, ref=ref)


def of_config(cfg: TrainConfig, lengths: list | None, *, probe: Probe | None = None,
              held_out: int | None = None) -> Plan:
    """The plan a saved config runs (the trainer's first log event): :func:`make` with every decision of the
    config given, so the figures are computed by the same code as the plan that wrote it."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"model", "method", "train_file", "eval_file",
                                                                  "dataset_hash", "plan_reason", "trust_remote_code"}
    given = {k: getattr(cfg, k) for k in fields}
    return make(cfg.model, method=cfg.method, overrides=given, lengths=lengths, probe=probe,
                trust_remote_code=cfg.trust_remote_code, held_out=held_out)


def _spread(mem, shape, values, ov, method, prefer, target, seq, probe, gpu_mem_gb, knobs, link):
    """The plan on several devices: engine.plan.distributed's choice of strategy, method and per-rank batch for
    ``values``' gpus × nodes, in place of the one-device fit.  Returns the memory plan as that choice runs it, and
    the decision (its ``distributed`` block)."""
    from . import distributed

    on_gpu = bool(probe and probe.gpus) or gpu_mem_gb is not None
    layout = distributed.Layout(
        gpus_per_node=int(values["gpus"]), nodes=int(values["nodes"]),
        link=link or ((getattr(probe, "interconnect", None) or "pcie") if on_gpu else "cpu"),
        # on the CPU every process shares the host's memory: each gets its share
        device_gb=mem.budget_gb if on_gpu else round(mem.budget_gb / int(values["gpus"]), 2),
        host_gb=probe.host.ram_available_gb if probe and probe.host else None)
    methods = [method] if method else [m for m in METHODS if on_gpu or m != "qlora"]
    decision = distributed.decide(
        shape, layout, methods=methods, seq_len=seq, target_batch=target, precision=mem.precision,
        optimizer=ov.get("optimizer") or "adamw_torch", lora_r=int(values["lora_r"]),
        lora_targets=str(values["lora_targets"]), lora_dropout=float(values["lora_dropout"]),
        grad_checkpointing=ov.get("grad_checkpointing"), micro_batch=ov.get("micro_batch"),
        # CPU processes share the host's cores: each has its share of the compute
        flops_per_device=_flops_per_s(probe, gpu_mem_gb) / (1 if on_gpu else int(values["gpus"])),
        flops_per_param=FLOPS_PER_PARAM,
        knobs={"attention": "sdpa", **knobs}, gpu=on_gpu, prefer=prefer,
        strategies=(ov["strategy"],) if ov.get("strategy") else None)
    pick = decision.pick
    mem = dataclasses.replace(mem, budget_gb=layout.device_gb)
    if pick is None:
        return dataclasses.replace(mem, fits=False, reasons=[*mem.reasons[:2], decision.reasons[1]],
                                   remedies=[msg("more_devices", "more or larger devices, or a smaller model"),
                                             *mem.remedies]), decision
    trainable = shape.params if pick.method == "full" else shape.lora_params(int(values["lora_r"]),
                                                                              str(values["lora_targets"]))
    accum = int(ov.get("grad_accum") or pick.grad_accum)
    return dataclasses.replace(
        mem, method=pick.method, micro_batch=pick.micro_batch, grad_accum=accum,
        grad_checkpointing=pick.grad_checkpointing, optimizer=pick.optimizer, predicted_peak_gb=pick.peak_gb,
        fits=True, trainable_params=trainable, terms=dict(pick.terms),
        reasons=[mem.reasons[0], mem.reasons[1], decision.reasons[1], decision.reasons[2], mem.reasons[-1]],
        candidates=[o.to_dict() for o in decision.options]), decision


def _recipe_rest(values, sources, ov, cfg, geo, known, train_tokens, mean, mem, probe, gpu_mem_gb, held_out,
                 budget_s, spread=None) -> dict:
    """The recipe's choices that follow from the steps a pass takes: epochs (unless you set epochs or max_steps),
    warm-up, evaluation cadence and early stopping (unless you set them).  Writes them into ``values``; returns the
    reasons by decision."""
    why = {}
    one = dataclasses.replace(cfg, epochs=1.0, max_steps=-1)
    ranks = spread.ranks if spread else 1
    per_epoch = _steps(one, geo, known, train_tokens, ranks) or 1
    eff_tokens = ranks * (geo.micro_batch * geo.grad_accum * geo.pack_len if geo.pack_len else round(
        cfg.micro_batch * cfg.grad_accum * (mean or 0)))
    if "epochs" not in ov and not (ov.get("max_steps") or -1) > 0:
        sec = _seconds(mem, cfg, per_epoch, eff_tokens, probe, gpu_mem_gb, spread)
        values["epochs"], why["epochs"] = recipe.epochs(per_epoch, sec, budget_s)
        if cfg.stage != "sft" and values["epochs"] < 1:
            values["epochs"], why["epochs"] = 1.0, msg("epochs_pref", "1 epoch: a preference stage sees each of "
                                                                      "its {many} at least once",
                                                       many=recipe.unit(cfg.stage, plural=True))
        sources["epochs"] = "recipe"
    total = _steps(dataclasses.replace(one, epochs=values["epochs"], max_steps=values["max_steps"]), geo, known,
                   train_tokens, ranks) or per_epoch
    if "warmup_ratio" not in ov:
        values["warmup_ratio"], why["warmup"] = recipe.warmup(total)
        sources["warmup_ratio"] = "recipe"
    if "eval_steps" not in ov and held_out is not None:
        every, patience, why["eval"] = recipe.evaluation(total, held_out, train_tokens,
                                                          round(held_out * (mean or 0)), cfg.method,
                                                          float(values["epochs"]), cfg.stage)
        values["eval_steps"], sources["eval_steps"] = every, "recipe"
        if "early_stopping_patience" not in ov:
            values["early_stopping_patience"], sources["early_stopping_patience"] = patience, "recipe"
    return why


# -- steps, time and the texts ----------------------------------------------------------------------------------------
def _steps(cfg: TrainConfig, geo, known: list, train_tokens: int | None, ranks: int = 1) -> int | None:
    """Optimizer steps: max_steps, else epochs × steps per epoch (the trainer's count: each rank's batches per epoch
    over the accumulation, rounded up; packed rows counted as the trainer packs them, :func:`packed_rows`)."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    if not known or geo is None:
        return None
    rows = packed_rows([min(n, cfg.max_seq_len) for n in known], geo.pack_len) if geo.pack_len else len(known)
    batches = math.ceil(rows / (geo.micro_batch * ranks))
    per_epoch = max(1, math.ceil(batches / geo.grad_accum))
    return max(1, math.ceil(cfg.epochs * per_epoch))


PACK_BATCH = 1000  # TRL packs a dataset in map() batches of this many samples (datasets' default batch size)


def packed_rows(lengths: list, pack_len: int, batch: int = PACK_BATCH) -> int:
    """How many rows of ``pack_len`` tokens samples of these lengths fill when packed as the trainer packs them:
    TRL's best-fit-decreasing packing (each sample, longest first, goes into the open row with the least room that
    still fits it), batch by batch."""
    import bisect

    rows = 0
    for start in range(0, len(lengths), batch):
        room: list[int] = []  # free tokens of the open rows, sorted
        for n in sorted((min(x, pack_len) for x in lengths[start:start + batch] if x and x > 0), reverse=True):
            i = bisect.bisect_left(room, n)
            if i < len(room):
                space = room.pop(i)
            else:
                space, rows = pack_len, rows + 1
            if space - n > 0:
                bisect.insort(room, space - n)
    return rows


def _seconds(mem, cfg, steps, eff_tokens, probe, gpu_mem_gb, spread=None) -> float | None:
    """Training seconds: the compute of ``steps`` steps of ``eff_tokens`` tokens, split over the ranks that train
    and slowed by the communication the strategy adds (engine.plan.distributed.step_seconds)."""
    if not steps or not eff_tokens:
        return None
    flops = steps * eff_tokens * FLOPS_PER_PARAM.get(cfg.method, 6) * mem.params
    if spread is not None and spread.pick is not None:  # each rank's share, slowed by the communication
        return flops / (spread.flops_per_device * spread.ranks) * spread.pick.step_s / max(1e-9, spread.pick.compute_s)
    return flops / _flops_per_s(probe, gpu_mem_gb)


def _flops_per_s(probe, gpu_mem_gb) -> float:
    gpu = (probe.selected() or probe.gpus[0]) if probe and probe.gpus else None
    if gpu is not None or gpu_mem_gb is not None:
        cc = (gpu.cc if gpu else None) or (8, 0)
        return GPU_PEAK_TFLOPS.get(cc, 60) * 1e12 * GPU_MFU
    cores = (probe.host.cores if probe else None) or 2
    return cores * CPU_FLOPS_PER_CORE


def _speed_basis(probe, gpu_mem_gb) -> Msg:
    if (probe and probe.gpus) or gpu_mem_gb is not None:
        return msg("speed_gpu", "at {pct:.0f} % of the GPU's peak 16-bit throughput", pct=100 * GPU_MFU)
    cores = (probe.host.cores if probe else None) or 2
    return msg("speed_cpu", "at danlu's measured CPU speed on {cores} cores", cores=cores)


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _source_text(source: str, task_name, model: str) -> Msg:
    if source == "demo":
        return msg("src_demo", "{model}'s settings", model=model)
    if source == "task":
        return msg("src_task", "the {task} preset", task=task_name)
    if source == "you":
        return msg("src_you", "your setting")
    if source == "recipe":
        return msg("src_recipe", "the recipe")
    if source == "after":
        return msg("src_after", "the last run's diagnosis")
    return msg("src_default", "danlu's default")


def _batch_reason(cfg, geo, effective, eff_tokens, target, target_from, sources, ranks: int = 1) -> Msg:
    why = (msg("batch_you", "your setting") if sources["micro_batch"] == "you" or sources["grad_accum"] == "you" else
           msg("batch_target", "the largest micro-batch that fits, up to the target of {target} {one} a step ({src}), "
                               "reached by accumulation", target=target, src=target_from, one=recipe.unit(cfg.stage)))
    if geo and geo.pack_len and ranks > 1:
        return msg("batch_packed_ranks", "micro-batch {mb} × accumulation {ga} ({why}), run as packed rows of {pack} "
                                         "tokens × accumulation {rga} on each of {ranks} devices: about {samples} "
                                         "{one}, {tokens:,} tokens a step", mb=cfg.micro_batch, ga=cfg.grad_accum,
                   why=why, pack=geo.pack_len, rga=geo.grad_accum, ranks=ranks, samples=effective,
                   tokens=eff_tokens or 0, one=recipe.unit(cfg.stage))
    if geo and geo.pack_len:
        return msg("batch_packed", "micro-batch {mb} × accumulation {ga} ({why}), run as packed rows of {pack} tokens "
                                   "× accumulation {rga}: about {samples} conversation(s), {tokens:,} tokens a step",
                   mb=cfg.micro_batch, ga=cfg.grad_accum, why=why, pack=geo.pack_len, rga=geo.grad_accum,
                   samples=effective, tokens=eff_tokens or 0)
    if ranks > 1:
        return msg("batch_ranks", "micro-batch {mb} × accumulation {ga} × {ranks} devices = {samples} {one} a step "
                                  "({why})", mb=cfg.micro_batch, ga=cfg.grad_accum, ranks=ranks, samples=effective,
                   why=why, one=recipe.unit(cfg.stage))
    return msg("batch_plain", "micro-batch {mb} × accumulation {ga} = {samples} {one} a step ({why})",
               mb=cfg.micro_batch, ga=cfg.grad_accum, samples=effective, why=why, one=recipe.unit(cfg.stage))


def _steps_reason(cfg, steps, count, sources, task_name, model) -> Msg:
    if cfg.max_steps > 0:
        return msg("steps_max", "{steps} optimizer steps: max_steps, your setting", steps=steps)
    src = _source_text(sources["epochs"], task_name, model)
    if steps is None:
        return msg("steps_epochs", "{epochs:g} epoch(s) ({src}); steps follow from the data", epochs=cfg.epochs,
                   src=src)
    return msg("steps_data", "{epochs:g} epoch(s) ({src}) over {count} {many}: {steps} optimizer steps",
               epochs=cfg.epochs, src=src, count=count, steps=steps, many=recipe.unit(cfg.stage, plural=True))


def demo_plan(model_ref: str, train_convs: list, *, method: str | None = None, epochs: float | None = None,
              max_steps: int = -1, probe: Probe | None = None, held_out: int | None = None) -> Plan:
    """The quickstart's plan: engine.plan.make on the demo's training conversations, LoRA unless ``method`` says
    otherwise (the plan says that this is the demo's choice)."""
    from . import demo as demo_mod

    overrides = {"epochs": epochs, "max_steps": max_steps if max_steps and max_steps > 0 else None}
    return make(model_ref, method=method or "lora", overrides=overrides, lengths=token_lengths(model_ref, train_convs),
                probe=probe, demo=demo_mod.DEMO_METHOD if method is None else None, held_out=held_out)


DERIVED = ("warmup_ratio", "eval_steps", "early_stopping_patience")  # follow from the steps: decided again


@dataclass(frozen=True)
class NextInputs:
    """What the plan after a run is made from: the run's model, method and settings with the diagnosis's changes
    (as overrides), its own training and held-out conversations (the same split), their token lengths."""

    run: str
    model: str
    method: str
    overrides: dict
    train: list
    held: list
    lengths: list | None
    trust_remote_code: bool
    diagnosis: object  # engine.runs.diagnosis.Diagnosis
    changed: tuple = ()  # the settings the diagnosis changed


def next_inputs(run, *, overrides=None) -> NextInputs:
    """The inputs of the plan after ``run`` (a RunDir): its config with its diagnosis's changes and the user's
    ``overrides`` (KEY=VALUE strings or a dict); warm-up and the evaluation cadence are left to the recipe (they
    follow from the new steps)."""
    from .. import data
    from ..runs import diagnosis

    cfg = TrainConfig.load(run.config_path)
    d = diagnosis.write(run)  # made again from the events (its texts keep their codes), diagnosis.json refreshed
    derived = () if models_mod.is_random_init(cfg.model) else DERIVED  # no recipe there to decide them again
    given = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainConfig)
             if f.name not in ("model", "method", "train_file", "eval_file", "dataset_hash", "plan_reason",
                               "trust_remote_code", *derived)}
    given.update(d.next_overrides)
    if "epochs" in d.next_overrides:
        given["max_steps"] = -1
    user = TrainConfig.parse_overrides(overrides) if isinstance(overrides, (list, tuple)) else dict(overrides or {})
    given.update(user)
    if cfg.stage in PREFERENCE_STAGES:  # pairs: each as the sequence of its longer answer (what the plan counts)
        from ..data import preference

        def sequences(path):
            d = preference.load(path)
            return [preference.longer_conversation(i) for i in (d.pairs or d.unpaired)]

        train = sequences(cfg.train_file)
        held = sequences(cfg.eval_file) if cfg.eval_file else []
    else:
        train = data.load_conversations(cfg.train_file)[0]
        held = data.load_conversations(cfg.eval_file)[0] if cfg.eval_file else []
    return NextInputs(run=str(run.path), model=cfg.model, method=cfg.method, overrides=given, train=train, held=held,
                      lengths=token_lengths(cfg.model, train, trust_remote_code=cfg.trust_remote_code),
                      trust_remote_code=cfg.trust_remote_code, diagnosis=d,
                      changed=tuple(k for k in d.next_overrides if k not in user))


def next_plan(run, *, overrides=None, probe: Probe | None = None):
    """The plan after a finished run (``danlu plan --from RUN``; the wizard's "next plan" makes the same from
    :func:`next_inputs`), through :func:`make` like every plan.  Returns (plan, diagnosis, the config to train: the
    run's data)."""
    from . import hardware

    cfg = TrainConfig.load(run.config_path)
    n = next_inputs(run, overrides=overrides)
    p = make(n.model, method=n.method, overrides=n.overrides, probe=probe or hardware.probe(), lengths=n.lengths,
             held_out=len(n.held), trust_remote_code=n.trust_remote_code, after=n.changed)
    return p, n.diagnosis, p.config(train_file=cfg.train_file, eval_file=cfg.eval_file, dataset_hash=cfg.dataset_hash)
