"""Preparing a run: the one place where a training config and its conversations become a run directory.

The CLI (``danlu train`` on a config), the quickstart and the wizard's Plan screen all call
:func:`prepare_run`, so a run is always laid out the same way: ``data/train.jsonl`` (and
``eval.jsonl``), ``config.yaml`` pointing at them with the training file's hash, and a pending
``status.json``.  Everything is checked before the directory exists.
"""

from __future__ import annotations

from pathlib import Path

from . import atomic, data, models, runs
from .config import TrainConfig
from .errors import DanluError


def check_config(cfg: TrainConfig, where: str = "config") -> None:
    """Everything about ``cfg`` that can be checked before a run directory exists: each field's type and
    range, the model (found, and its context long enough), the data files (there, readable, with at least
    one usable conversation)."""
    cfg.validate()
    models.check_model_ref(cfg.model)
    limit = models.context_length(cfg.model)
    if limit:
        for name in ("max_seq_len", "pack_len"):
            value = getattr(cfg, name)
            if value > limit and (name == "max_seq_len" or cfg.packing):
                raise DanluError(f"{name} {value} is longer than the model's context ({limit} tokens, its "
                                 "max_position_embeddings)", where=f"{where}: {name}",
                                 fix=f"set {name}: {limit} or less")
    for name in ("train_file", "eval_file"):
        value = getattr(cfg, name)
        if not value:
            continue
        path = Path(value)
        if not path.is_file():
            raise DanluError(f"{name} not found: {value}", where=where,
                             fix="fix the path in the config (relative paths are read from the config's folder)")
        if path.stat().st_size == 0:
            raise DanluError(f"{name} is empty", where=str(path), fix="point it at a JSONL file of conversations")
        convs, _ = data.load_conversations(str(path))
        if not convs:
            raise DanluError(f"{name} has no usable conversation", where=str(path),
                             fix=f"check it with `danlu data inspect {path}`")


def run_name(cfg: TrainConfig, prefix: str = "") -> str:
    model = Path(cfg.model).name if not cfg.model.startswith("demo:") else cfg.model.replace(":", "-")
    return f"{prefix}{cfg.method}-{model or 'model'}"


def prepare_run(cfg: TrainConfig, train_convs: list, eval_convs: list | None = None, *, name: str | None = None,
                target: str = "messages", root: Path | None = None) -> runs.RunDir:
    """Write ``train_convs``/``eval_convs`` and ``cfg`` into a new run directory; return it (state pending)."""
    if not cfg.train_file:
        cfg.train_file = "(prepared)"  # validated now, replaced below
    cfg.validate()
    if not train_convs:
        raise DanluError("no training conversations left to train on", fix="check the data with `danlu data inspect`")
    run = runs.create(name or run_name(cfg), root)
    cfg.train_file = str(data.write_conversations(run.data_dir / "train.jsonl", train_convs, target))
    cfg.eval_file = (str(data.write_conversations(run.data_dir / "eval.jsonl", eval_convs, target))
                     if eval_convs else None)
    cfg.dataset_hash = data.file_hash(cfg.train_file)
    cfg.validate()
    atomic.write_text(run.config_path, cfg.to_yaml())
    return run
