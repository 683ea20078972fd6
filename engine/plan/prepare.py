"""Preparing a run: the one place where a training config and its conversations become a run directory.

The CLI (``danlu train`` on a config), the quickstart and the wizard's Plan screen all call
:func:`prepare_run`, so a run is always laid out the same way: ``data/train.jsonl`` (and
``eval.jsonl``), ``config.yaml`` pointing at them with the training file's hash, and a pending
``status.json``.  Everything is checked before the directory exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core import atomic
from .. import data
from ..models import load as models
from ..runs import store as runs
from ..core.config import VIRTUAL_TOKEN_ADAPTERS, TrainConfig
from ..core.errors import DanluError

@dataclass
class Geometry:
    """How samples become batches: rows per micro-batch, accumulation, packed row length (None: no packing)."""

    micro_batch: int
    grad_accum: int
    pack_len: int | None

    def describe(self) -> str:
        if self.pack_len:
            return (f"packed rows of {self.pack_len} tokens, {self.micro_batch} row(s) per micro-batch "
                    f"× accumulation {self.grad_accum}")
        return f"micro-batch {self.micro_batch} × accumulation {self.grad_accum}"


def geometry(cfg: TrainConfig, lengths: list[int]) -> Geometry | None:
    """The batches that will run for ``cfg`` on samples of these token lengths.  With packing, one micro-batch
    holds about the tokens the plan budgeted (micro_batch × max_seq_len, capped at ``pack_len`` so attention
    stays cheap) and accumulation is set so an optimizer step sees about as many samples as micro_batch ×
    grad_accum planned.  The Plan screen, ``danlu plan --save`` and the trainer's log all state this.
    None when the rows will be packed but the lengths are not known yet (sized when training starts)."""
    if not cfg.packing or cfg.adapter in VIRTUAL_TOKEN_ADAPTERS:
        return Geometry(cfg.micro_batch, cfg.grad_accum, None)
    if not lengths:
        return None
    pack = max(cfg.max_seq_len, min(cfg.pack_len, cfg.micro_batch * cfg.max_seq_len))
    mean = sum(min(n, cfg.max_seq_len) for n in lengths) / len(lengths)
    step_tokens = cfg.micro_batch * cfg.grad_accum * mean
    if step_tokens < pack:  # a step's samples fill less than one row: a shorter row, or a step would take more
        pack = max(cfg.max_seq_len, -(-round(step_tokens) // 64) * 64)
    rows_per_step = step_tokens / pack
    return Geometry(1, max(1, round(rows_per_step)), pack)


def check_config(cfg: TrainConfig, where: str = "config") -> dict:
    """Everything about ``cfg`` that can be checked before a run directory exists: each field's type and
    range, the model (found, and its context long enough), the data files (there, readable, with at least
    one usable conversation).  Returns the conversations read, by field name, so they are read once.  ``cfg`` was
    validated where it entered (TrainConfig.load or engine.plan.make)."""
    models.check_model_ref(cfg.model)
    if cfg.method != "full" and cfg.adapter not in ("prompt", "prefix"):
        models.check_lora_targets(cfg.model, cfg.lora_targets, cfg.trust_remote_code)
    limit = models.context_length(cfg.model)
    if limit:
        for name in ("max_seq_len", "pack_len"):
            value = getattr(cfg, name)
            if value > limit and (name == "max_seq_len" or cfg.packing):
                raise DanluError(f"{name} {value} is longer than the model's context ({limit} tokens, its "
                                 "max_position_embeddings)", where=f"{where}: {name}",
                                 fix=f"set {name}: {limit} or less")
    read = {}
    for name in ("train_file", "eval_file"):
        value = getattr(cfg, name)
        if not value:
            continue
        from ..core import guard

        path = guard.regular_file(value, name, missing_fix="fix the path in the config (relative paths are read "
                                                           "from the config's folder)")
        if path.stat().st_size == 0:
            raise DanluError(f"{name} is empty", where=str(path), fix="point it at a JSONL file of conversations")
        if cfg.stage != "sft":  # a preference stage reads pairs (or KTO's labelled answers)
            from ..data import preference

            d = preference.load(str(path))
            convs = d.pairs or d.unpaired
            if d.unpaired and cfg.stage != "kto":
                raise DanluError(f"{name} holds answers labelled good or bad, not pairs: only stage kto can use "
                                 "them", where=str(path), fix="set stage: kto, or give chosen/rejected pairs")
        else:
            convs, _ = data.load_conversations(str(path))
        if not convs:
            raise DanluError(f"{name} has no usable {'pair' if cfg.stage != 'sft' else 'conversation'}",
                             where=str(path), fix=f"check it with `danlu data inspect {path}`")
        read[name] = convs
    return read


def run_name(cfg: TrainConfig, prefix: str = "") -> str:
    model = Path(cfg.model).name if not cfg.model.startswith("demo:") else cfg.model.replace(":", "-")
    stage = f"{cfg.stage}-" if cfg.stage != "sft" else ""
    return f"{prefix}{stage}{cfg.method}-{model or 'model'}"


def prepare_run(cfg: TrainConfig, train_convs: list, eval_convs: list | None = None, *, name: str | None = None,
                target: str = "messages", root: Path | None = None) -> runs.RunDir:
    """Write ``train_convs``/``eval_convs`` and ``cfg`` into a new run directory; return it (state pending).  Only
    the data paths and the training file's hash are filled in here (``cfg`` was validated where it entered)."""
    if not train_convs:
        raise DanluError("no training conversations left to train on", fix="check the data with `danlu data inspect`")
    run = runs.create(name or run_name(cfg), root)
    if cfg.stage != "sft":  # pairs (or labelled answers), in TRL's conversational form
        from ..data import preference

        def write(path, items):
            d = preference.PreferenceData("", "", len(items), pairs=[i for i in items if isinstance(i, preference.Pair)],
                                          unpaired=[i for i in items if not isinstance(i, preference.Pair)])
            return str(preference.write(preference.records(d, "kto" if d.unpaired else "trl_conversational"), path))
    else:
        def write(path, convs):
            return str(data.write_conversations(path, convs, target))
    cfg.train_file = write(run.data_dir / "train.jsonl", train_convs)
    cfg.eval_file = write(run.data_dir / "eval.jsonl", eval_convs) if eval_convs else None
    cfg.dataset_hash = data.file_hash(cfg.train_file)
    atomic.write_text(run.config_path, cfg.to_yaml())
    return run

