"""The typed training configuration: one dataclass, serialised to YAML.

A run's ``config.yaml`` is the single source of truth: ``danlu train
runs/<id>/config.yaml`` reproduces the run (DESIGN.md §1).  Every field carries
its documentation in ``metadata["help"]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DanluError
from .texts import msg

METHODS = ("full", "lora", "qlora")
STAGES = ("sft", "dpo", "orpo", "simpo", "kto")  # sft: from examples; the others: which answer is better
STRATEGIES = ("single", "ddp", "fsdp", "fsdp_offload")  # how several devices share a run (engine.plan.distributed)
PREFERENCE_STAGES = STAGES[1:]
ADAPTERS = ("lora", "dora", "rslora", "prompt", "prefix")
VIRTUAL_TOKEN_ADAPTERS = ("prompt", "prefix")  # learned virtual tokens: cannot be merged, no packing
PRECISIONS = ("fp32", "bf16", "fp16")
# transformers' schedule and optimizer names that need no extra settings or packages (tests check each is known)
SCHEDULERS = ("cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial",
              "inverse_sqrt")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop", "adamw_bnb_8bit",
              "adamw_8bit", "paged_adamw_8bit", "paged_adamw_32bit", "lion_8bit", "lion_32bit", "paged_lion_8bit",
              "paged_lion_32bit", "ademamix", "ademamix_8bit", "paged_ademamix_8bit", "paged_ademamix_32bit",
              "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit")
MAX_TOKENS = 1 << 20  # beyond any model's context; the model's own limit is checked where the model is known
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _f(default, help: str, **kw):
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class TrainConfig:
    model: str = _f("demo:smollm2", "Base model: a Hugging Face id, a local folder, demo:smollm2 (the real "
                                    "SmolLM2-135M-Instruct, offline) or the random-init demo:tiny / demo:small.")
    train_file: str = _f("", "Training data: a JSONL file of {'messages': [...]} conversations.")
    eval_file: str | None = _f(None, "Evaluation data in the same format (optional).")
    method: str = _f("lora", "full | lora | qlora (4-bit NF4 base with LoRA adapters).")
    stage: str = _f("sft", "sft (learn from example answers) | dpo, orpo, simpo (learn which of two answers is "
                           "better, from chosen/rejected pairs) | kto (from answers labelled good or bad).")
    pref_beta: float = _f(0.1, "Preference stages: how far the tuned model may move from the reference (DPO/KTO "
                               "beta; SimPO and ORPO use it as their own scale).")
    precompute_ref: bool = _f(False, "Full DPO/KTO: compute the reference model's log-probabilities once before "
                                     "training instead of holding a second copy of the weights (the plan sets it when "
                                     "the copy does not fit).")
    start_from: str = _f("", "The run this stage starts from (set by `danlu plan --stage S --from RUN`; its merged "
                             "model is `model`, and the reference model).")
    gpus: int = _f(1, "Devices per node the run spans (`danlu plan --gpus N`); more than 1 trains on torchrun ranks.")
    nodes: int = _f(1, "Machines the run spans (`danlu plan --nodes M`), each with `gpus` devices.")
    strategy: str = _f("single", "How the devices share the work: single | ddp (a replica on each) | fsdp (FSDP2 "
                                 "full-shard) | fsdp_offload (FSDP2 with CPU offload); chosen by `danlu plan`.")
    max_seq_len: int = _f(512, "Longest tokenized sample; longer ones are truncated.")
    micro_batch: int = _f(4, "Samples per forward/backward pass.")
    grad_accum: int = _f(4, "Micro-batches accumulated per optimizer step.")
    epochs: float = _f(1.0, "Passes over the training data.")
    max_steps: int = _f(-1, "Stop after this many optimizer steps (-1: use epochs).")
    lr: float = _f(2e-4, "Peak learning rate.")
    lr_scheduler: str = _f("cosine", "Learning-rate schedule after warm-up (transformers name).")
    warmup_ratio: float = _f(0.05, "Fraction of steps spent warming up the learning rate.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm.")
    adapter: str = _f("lora", "Adapter for lora/qlora: lora, dora (weight-decomposed), rslora (rank-stabilised), or the "
                                "advanced prompt / prefix tuning (learned virtual tokens; adapter export only, no packing).")
    num_virtual_tokens: int = _f(20, "Virtual tokens learned by prompt or prefix tuning.")
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA scaling alpha (scale = alpha / r).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch.")
    lora_targets: str = _f("all-linear", "Modules that get adapters: all-linear, or a comma list such as q_proj,v_proj.")
    packing: bool = _f(True, "Pack variable-length samples into rows (padding-free; samples never attend to each other).")
    pack_len: int = _f(1024, "Tokens per packed row (about 1 k keeps attention cost low).")
    group_by_length: bool = _f(True, "Without packing: batch samples of similar length together (less padding).")
    grad_checkpointing: bool = _f(False, "Recompute activations in backward to save memory.")
    optimizer: str = _f("adamw_torch", "Optimizer (transformers `optim` name, e.g. adamw_torch, paged_adamw_8bit).")
    precision: str = _f("fp32", "fp32 | bf16 | fp16 compute precision.")
    seed: int = _f(42, "Seed for initialisation of adapters and data order.")
    logging_steps: int = _f(1, "Write a step event every N optimizer steps.")
    save_steps: int = _f(0, "Save a checkpoint every N optimizer steps (0: automatic, about 10 per run and at most "
                            "every 10 steps; 4 per run for full fine-tuning).")
    save_total_limit: int = _f(2, "Checkpoints kept (two, so that a damaged last one falls back to the one before).")
    eval_steps: int = _f(0, "Evaluate every N optimizer steps (0: only before and after training).")
    early_stopping_patience: int = _f(0, "Stop after N evaluations without a better eval loss (0: off; needs eval_steps).")
    replay: float = _f(0.0, "Share of general conversations mixed into the training data against forgetting: the base "
                            "model's own answers to built-in prompts in the data's languages, made when training "
                            "starts (0: none; 0.1-0.2 is the guides' range).")
    trust_remote_code: bool = _f(False, "Run model code from the model's repository (only if you trust it).")
    dataset_hash: str = _f("", "sha256 of the training file when the run was planned (filled in by danlu).")
    plan_reason: str = _f("", "Why the planner chose these settings (informational).")

    def validate(self) -> "TrainConfig":
        """Every field's type and range, with the key, what was found and what to write instead."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(f.name, getattr(self, f.name), f))
        _choice("method", self.method, METHODS)
        _choice("stage", self.stage, STAGES)
        _choice("strategy", self.strategy, STRATEGIES)
        _choice("adapter", self.adapter, ADAPTERS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("lr_scheduler", self.lr_scheduler, SCHEDULERS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.adapter in VIRTUAL_TOKEN_ADAPTERS and self.method == "full":
            raise DanluError(msg("err_adapter_full", "adapter {adapter} needs method lora or qlora, not full",
                                 adapter=self.adapter), where="adapter",
                             fix=msg("fix_adapter_full", "set method: lora (the base model stays frozen; only the "
                                     "virtual tokens train)"))
        for name in ("max_seq_len", "micro_batch", "grad_accum", "lora_r", "lora_alpha", "logging_steps", "pack_len",
                     "num_virtual_tokens", "save_total_limit", "gpus", "nodes"):
            _range(name, getattr(self, name), 1, None, msg("want_min", "{low} or more", low=1))
        for name in ("max_seq_len", "pack_len"):
            _range(name, getattr(self, name), 1, MAX_TOKENS, msg("want_max", "at most {high:,}", high=MAX_TOKENS))
        for name in ("save_steps", "eval_steps", "early_stopping_patience"):
            _range(name, getattr(self, name), 0, None, msg("want_min", "{low} or more", low=0))
        _range("seed", self.seed, 0, 2**32 - 1, msg("want_seed", "a whole number from 0 to {high} (the seeds numpy "
                                                    "and torch take)", high=2**32 - 1))
        if self.max_steps != -1 and self.max_steps < 1:
            raise DanluError(msg("err_max_steps", "max_steps must be -1 (use epochs) or a whole number ≥ 1, got {got}",
                                 got=_short(self.max_steps)), where="max_steps",
                             fix=msg("fix_max_steps", "set max_steps: -1, or the number of optimizer steps"))
        if self.max_steps == -1 and not self.epochs > 0:
            raise DanluError(msg("err_epochs", "epochs must be more than 0, got {got}", got=_short(self.epochs)),
                             where="epochs", fix=msg("fix_epochs", "set epochs: 1 (or a fraction such as 0.5), or a "
                                                     "max_steps"))
        if not 0 < self.lr < 1:
            raise DanluError(msg("err_lr", "lr must be between 0 and 1, got {got}", got=_short(self.lr)), where="lr",
                             fix=msg("fix_example", "e.g. {name}: {example}", name="lr", example="2.0e-4"))
        fraction = msg("want_fraction", "a fraction from 0 to below 1 (e.g. {example})", example=0.05)
        _range("warmup_ratio", self.warmup_ratio, 0, 1, fraction, high_open=True)
        _range("lora_dropout", self.lora_dropout, 0, 1, fraction, high_open=True)
        _range("replay", self.replay, 0, 0.5, msg("want_replay", "a share from 0 to 0.5 (e.g. {example})",
                                                  example=0.15))
        _range("pref_beta", self.pref_beta, 0, None, msg("want_beta", "more than 0 (e.g. {example})", example=0.1),
               low_open=True)
        _range("weight_decay", self.weight_decay, 0, None, msg("want_min_eg", "{low} or more (e.g. {example})", low=0,
                                                                example=0.01))
        _range("max_grad_norm", self.max_grad_norm, 0, None, msg("want_clip", "0 (no clipping) or more (e.g. 1.0)"))
        if self.early_stopping_patience and not self.eval_steps:
            raise DanluError(msg("err_patience", "early_stopping_patience needs evaluations during training"),
                             where="early_stopping_patience",
                             fix=msg("fix_patience", "set eval_steps (e.g. 50), or early_stopping_patience: 0"))
        if not self.train_file:
            raise DanluError(msg("err_no_train_file", "no training data"), where="train_file",
                             fix=msg("fix_train_file", "set train_file to a prepared JSONL file"))
        return self

    # -- YAML --------------------------------------------------------------------------------
    def to_yaml(self) -> str:
        import yaml

        header = "# danlu training config — reproduce this run with: danlu train <this file>\n"
        return header + yaml.safe_dump(dataclasses.asdict(self), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> "TrainConfig":
        if not isinstance(data, dict):
            raise DanluError("the config is not a mapping of settings", where=source, fix="see `danlu train --help`")
        known = {f.name: f for f in dataclasses.fields(cls)}
        keys = [k for k in data if not isinstance(k, str)]
        if keys:
            raise DanluError(f"a setting's name must be a word, not {_short(keys[0])}", where=source,
                             fix=f"write settings as name: value; known settings are: {', '.join(known)}")
        unknown = sorted(set(data) - set(known))
        if unknown:
            import difflib

            close = {u: difflib.get_close_matches(str(u), known, n=1) for u in unknown}
            hints = [f"{m[0]} (for {u})" for u, m in close.items() if m]
            raise DanluError(
                f"unknown setting(s): {', '.join(map(str, unknown))}",
                where=source,
                fix=(f"did you mean {'; '.join(hints)}? " if hints else "") + f"known settings are: {', '.join(known)}",
            )
        kwargs = {name: _coerce(name, value, known[name], source) for name, value in data.items()}
        return cls(**kwargs)

    @staticmethod
    def parse_overrides(items) -> dict:
        """``key=value`` pairs (torchtune style; the value read as YAML, so lr=1e-4 is a number)."""
        import yaml

        out = {}
        for item in items or []:
            key, sep, value = str(item).partition("=")
            if not sep or not key.strip():
                raise DanluError(f"not a key=value override: {_short(item)}", fix="write e.g. lr=1e-4 max_steps=100")
            try:
                out[key.strip()] = load_yaml(value, where=f"override {key.strip()}") if value.strip() else ""
            except (yaml.YAMLError, DanluError):
                out[key.strip()] = value
        return out

    @classmethod
    def load(cls, path: str | Path, overrides: dict | None = None) -> "TrainConfig":
        import yaml

        path = Path(path)
        if path.is_dir() and (path / "config.yaml").is_file():  # a run directory stands for its config
            path = path / "config.yaml"
        if path.is_dir():
            raise DanluError("this is a folder without a config.yaml", where=str(path),
                             fix="pass a config file, or a run directory (runs/<id>)")
        from . import guard

        guard.regular_file(path, "config file", missing_fix="write one with `danlu plan --model M --data FILE "
                                                               "--save config.yaml`, or pass a run's config.yaml")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DanluError("the config file is not text (not UTF-8)", where=str(path),
                             fix="pass a config.yaml written by `danlu plan --save` or a run's config.yaml") from None
        if not text.strip():
            raise DanluError("the config file is empty", where=str(path),
                             fix="write one with `danlu plan --model M --data FILE --save config.yaml`, or pass a "
                                 "run's config.yaml")
        try:
            data = load_yaml(text, where=str(path))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise DanluError(f"not valid YAML ({getattr(exc, 'problem', exc)})", where=where,
                             fix="fix the YAML there, or start from a run's config.yaml") from None
        if isinstance(data, dict) and overrides:
            data = {**data, **overrides}
        cfg = cls.from_dict(data, source=str(path))
        base = path.parent
        for name in ("train_file", "eval_file"):
            value = getattr(cfg, name)
            if value and not Path(value).is_absolute() and (base / value).exists():
                setattr(cfg, name, str((base / value).resolve()))
        try:
            return cfg.validate()
        except DanluError as exc:
            if exc.where and not exc.where.startswith(str(path)):
                exc.where = f"{path}: {exc.where}"
            raise DanluError(exc.what, where=exc.where, fix=exc.fix) from None


MAX_YAML_BYTES = 1 << 20  # a config is a few hundred bytes; a megabyte is not a config
MAX_YAML_ALIASES = 100  # anchors and aliases are fine in a config, an alias bomb is not


def _short(value, limit: int = 80) -> str:
    """A value for an error message: never the whole of a huge one (nor its full repr: an alias bomb's value is
    gigabytes when spelt out)."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxtuple, r.maxset, r.maxstring, r.maxother = 2, 4, 4, 4, 4, limit, limit
    text = r.repr(value)
    return text if len(text) <= limit else f"{text[:limit]}…"


def load_yaml(text: str, where: str = "config"):
    """YAML as plain data, safely: no tags (SafeLoader), at most MAX_YAML_ALIASES aliases (a few hundred bytes of
    nested aliases expand into gigabytes), no duplicate keys (the second would silently win), bounded size."""
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise DanluError(f"the YAML is {len(text):,} characters long; a config is a few hundred", where=where,
                         fix="pass a config.yaml written by `danlu plan --save` or a run's config.yaml")

    class Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                Loader.aliases += 1
                if Loader.aliases > MAX_YAML_ALIASES:
                    mark = self.peek_event().start_mark
                    raise DanluError(f"the YAML uses more than {MAX_YAML_ALIASES} aliases (*name)",
                                     where=f"{where}:{mark.line + 1}",
                                     fix="write the values out; a config needs no aliases")
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # SafeLoader reports an unhashable key itself
                if key in seen:
                    raise DanluError(f"the setting {_short(key)} is given twice (lines {seen[key]} and "
                                     f"{key_node.start_mark.line + 1})", where=f"{where}:{key_node.start_mark.line + 1}",
                                     fix="keep one of them")
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader


def _kind(f) -> type:
    """The value type a field holds (its default's type; str for the optional paths)."""
    if isinstance(f.default, bool):
        return bool
    if isinstance(f.default, (int, float)):
        return type(f.default)
    return str


def _coerce(name: str, value, f, source: str | None = None):
    """``value`` as the field's type: quoted numbers and booleans are read as what they say; anything else
    that is not of the type is refused with the key and an example."""
    kind = _kind(f)
    where = f"{source}: {name}" if source else name
    if value is None and f.default is None:
        return None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise DanluError(msg("err_not_bool", "{name} must be true or false, got {got}", name=name, got=_short(value)),
                         where=where, fix=msg("fix_bool", "write {name}: true or false", name=name))
    if kind in (int, float):
        number = value
        if isinstance(value, str):
            try:
                number = float(value.strip().replace("_", ""))
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number != number or \
                number in (float("inf"), float("-inf")):
            raise DanluError(msg("err_not_number", "{name} must be a number, got {got}", name=name, got=_short(value)),
                             where=where, fix=msg("fix_number", "write {name} as a plain number, e.g. {name}: "
                                                  "{example}", name=name, example=f.default))
        if kind is int:
            if float(number) != int(number):
                raise DanluError(msg("err_not_whole", "{name} must be a whole number, got {got}", name=name,
                                     got=_short(value)), where=where,
                                 fix=msg("fix_example", "e.g. {name}: {example}", name=name, example=f.default))
            return int(number)
        return float(number)
    if not isinstance(value, str):
        raise DanluError(msg("err_not_text", "{name} must be text, got {got}", name=name, got=_short(value)),
                         where=where, fix=msg("fix_text", "write {name}: \"...\" (quoted)", name=name))
    return value


def _choice(name: str, value: str, allowed) -> None:
    if value not in allowed:
        raise DanluError(msg("err_unknown_choice", "unknown {name} {got}", name=name, got=_short(value)), where=name,
                         fix=msg("fix_one_of", "use one of {allowed}", allowed=", ".join(allowed)))


def _range(name: str, value, low, high, want: str, *, high_open: bool = False, low_open: bool = False) -> None:
    bad = (value <= low if low_open else value < low) or (high is not None and (value >= high if high_open else
                                                                                 value > high))
    if bad:
        raise DanluError(msg("err_range", "{name} must be {want}, got {got}", name=name, want=want, got=_short(value)),
                         where=name, fix=msg("fix_set", "set {name}: {want}", name=name, want=want))
