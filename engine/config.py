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

METHODS = ("full", "lora", "qlora")
ADAPTERS = ("lora", "dora", "rslora", "prompt", "prefix")
VIRTUAL_TOKEN_ADAPTERS = ("prompt", "prefix")  # learned virtual tokens: cannot be merged, no packing
PRECISIONS = ("fp32", "bf16", "fp16")


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
    trust_remote_code: bool = _f(False, "Run model code from the model's repository (only if you trust it).")
    dataset_hash: str = _f("", "sha256 of the training file when the run was planned (filled in by danlu).")
    plan_reason: str = _f("", "Why the planner chose these settings (informational).")

    def validate(self) -> "TrainConfig":
        if self.method not in METHODS:
            raise DanluError(f"unknown method {self.method!r}", where="method", fix=f"use one of {', '.join(METHODS)}")
        if self.adapter not in ADAPTERS:
            raise DanluError(f"unknown adapter {self.adapter!r}", where="adapter", fix=f"use one of {', '.join(ADAPTERS)}")
        if self.adapter in VIRTUAL_TOKEN_ADAPTERS and self.method == "full":
            raise DanluError(f"adapter {self.adapter} needs method lora or qlora, not full", where="adapter",
                             fix="set method: lora (the base model stays frozen; only the virtual tokens train)")
        if self.precision not in PRECISIONS:
            raise DanluError(
                f"unknown precision {self.precision!r}", where="precision", fix=f"use one of {', '.join(PRECISIONS)}"
            )
        for name in ("max_seq_len", "micro_batch", "grad_accum", "lora_r", "logging_steps", "pack_len", "num_virtual_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise DanluError(f"{name} must be a whole number ≥ 1, got {value!r}", where=name, fix=f"set {name}: 1 or more")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise DanluError(f"lr must be between 0 and 1, got {self.lr!r}", where="lr", fix="e.g. lr: 2.0e-4")
        if not self.train_file:
            raise DanluError("no training data", where="train_file", fix="set train_file to a prepared JSONL file")
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
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise DanluError(
                f"unknown setting(s): {', '.join(unknown)}",
                where=source,
                fix=f"known settings are: {', '.join(known)}",
            )
        kwargs = {}
        for name, value in data.items():
            default = known[name].default
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, str):
                try:
                    value = type(default)(value)
                except ValueError:
                    raise DanluError(f"{name} must be a number, got {value!r}", where=source,
                                     fix=f"write {name} as a plain number") from None
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise DanluError(
                f"config file not found: {path}",
                fix="pass a config.yaml from `danlu plan --save` or a run directory",
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise DanluError(f"not valid YAML ({getattr(exc, 'problem', exc)})", where=where,
                             fix="fix the YAML there, or start from a run's config.yaml") from None
        cfg = cls.from_dict(data or {}, source=str(path))
        base = path.parent
        for name in ("train_file", "eval_file"):
            value = getattr(cfg, name)
            if value and not Path(value).is_absolute() and (base / value).exists():
                setattr(cfg, name, str((base / value).resolve()))
        return cfg.validate()
