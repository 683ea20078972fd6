"""The resume rules: when a run may continue, from which checkpoint, with which settings.

``danlu resume`` calls :func:`prepare`; the wizard can offer "continue this run" by calling the same function
(it raises DanluError with the reason and the command that would work instead).
"""

from __future__ import annotations

import time
from pathlib import Path

from ..core import atomic
from .. import data
from ..runs import store as runs
from . import runner as train
from ..core.config import TrainConfig
from ..core.errors import DanluError


def prepare(ref: str, *, epochs: float | None = None, max_steps: int | None = None,
            allow_data_change: bool = False) -> tuple[runs.RunDir, TrainConfig]:
    """Check that run ``ref`` can be resumed (``epochs``/``max_steps``: the new totals), write its config with the
    new totals, and return the run and that config (validated once, as it is loaded with the new totals)."""
    run = runs.resolve(ref)
    if train.rank() != 0:  # another rank of a launch: rank 0 checks the run and writes its config
        return run, TrainConfig.load(run.config_path, _totals(epochs, max_steps))
    if run.is_training():  # the run's lock decides, whatever status.json says
        holder = run.lock_holder() or run.status()
        raise DanluError(f"run {run.id} is already being trained by another process (pid {holder.get('pid', '?')})",
                         fix=f"follow it with `danlu attach {run.id}`, or stop it with `danlu stop {run.id}`")
    state = run.effective_state()
    if state == "damaged":
        rows = run.events()
        age = time.time() - (rows[-1].ts or 0) if rows else None
        if age is not None and age < 30 and not run.state_from_events():
            raise DanluError(f"run {run.id} may still be running ({run.damage()}; it wrote an event "
                             f"{age:.0f} s ago)",
                             fix=f"wait, or stop it first with `danlu stop {run.id}`")
        state = run.state_from_events() or "stopped"  # what its event log says, not a restart from scratch
    if state == "running":
        raise DanluError(f"run {run.id} is still running", fix=f"follow it with `danlu attach {run.id}`")
    if max_steps is not None and max_steps < 1:
        raise DanluError(f"--max-steps is the run's total number of optimizer steps, got {max_steps}",
                         fix="pass a whole number above the steps already done (see `danlu runs`)")
    if epochs is not None and not epochs > 0:
        raise DanluError(f"--epochs is the run's total number of epochs, got {epochs:g}",
                         fix="pass a number above 0, e.g. --epochs 2")
    cfg = TrainConfig.load(run.config_path)
    if state == "done" and epochs is None and max_steps is None:
        longer = (f"--max-steps N` (now {cfg.max_steps})" if cfg.max_steps > 0 else
                  f"--epochs N` (now {cfg.epochs:g})")
        raise DanluError(f"run {run.id} is finished", fix=f"train it longer with `danlu resume {run.id} {longer}")
    ckpt = train.latest_checkpoint(run)
    if ckpt is None:
        raise DanluError(f"run {run.id} has no readable checkpoint",
                         fix=f"start it again with `danlu train {run.config_path}`")
    done_steps = train.checkpoint_step(ckpt)
    if max_steps is not None and max_steps <= done_steps:
        raise DanluError(f"run {run.id} has already trained {done_steps} steps (its newest checkpoint); --max-steps "
                         f"is the total, so {max_steps} adds nothing",
                         fix=f"pass more than {done_steps}, e.g. `danlu resume {run.id} --max-steps {done_steps * 2}`")
    if epochs is not None and state == "done" and cfg.max_steps < 0 and epochs <= cfg.epochs:
        raise DanluError(f"run {run.id} already trained {cfg.epochs:g} epoch(s); --epochs is the total",
                         fix=f"pass more than {cfg.epochs:g}, e.g. --epochs {cfg.epochs * 2:g}")
    saved = ckpt / "danlu_config.yaml"
    saved_cfg = TrainConfig.load(saved) if saved.exists() else None
    if saved_cfg is not None:
        changed = train.config_diff(saved_cfg, cfg)
        if changed:
            raise DanluError(f"the config changed since the checkpoint in a way that breaks resuming: "
                             f"{'; '.join(changed)}",
                             where=str(run.config_path),
                             fix="undo those changes, or start a new run with `danlu train` on the edited config")
    totals = _totals(epochs, max_steps)
    new_hash = _same_data_or_allowed(run, cfg, saved_cfg, allow_data_change)
    if new_hash is not None:
        totals["dataset_hash"] = new_hash
    if totals:
        cfg = TrainConfig.load(run.config_path, totals)  # the new totals are validated as the config is read
    from ..plan import prepare

    prepare.check_config(cfg, str(run.config_path))
    atomic.write_text(run.config_path, cfg.to_yaml())
    return run, cfg


def _totals(epochs: float | None, max_steps: int | None) -> dict:
    """The config's new totals for ``--epochs`` / ``--max-steps`` (--epochs alone: epochs decide the length)."""
    totals: dict = {}
    if epochs is not None:
        totals.update(epochs=epochs, max_steps=-1)
    if max_steps is not None:
        totals["max_steps"] = max_steps
    return totals


def _same_data_or_allowed(run, cfg, saved_cfg, allowed: bool) -> str | None:
    """A resume trains on the data the run started with: the training file's content hash is compared with the
    one recorded when the run started (a changed path or edited contents are refused unless allowed).  Returns
    the new hash to record when the change is allowed, else None."""
    recorded = (saved_cfg.dataset_hash if saved_cfg is not None else "") or cfg.dataset_hash
    path = Path(cfg.train_file)
    now = data.file_hash(path) if path.is_file() else None
    if not recorded or now == recorded:
        return None
    if not allowed:
        raise DanluError("the training data changed since the run started (its content hash differs"
                         + (f"; train_file is now {path}" if saved_cfg is not None and saved_cfg.train_file !=
                            cfg.train_file else "") + ")",
                         where=str(run.config_path),
                         fix=f"restore the data, start a new run with `danlu train`, or pass --allow-data-change "
                             f"to continue {run.id} on the new data")
    return now or ""
