"""Preference stages on danlu's runner: DPO and KTO (TRL's trainers), ORPO and SimPO (TRL's experimental ORPO and
CPO trainers, CPO with ``loss_type="simpo"``).

:class:`PreferenceRecipe` is :class:`engine.train.runner.Recipe` with the data and the trainer of a preference
stage; everything else is the runner's own: the run directory and its events, detaching, stop and checkpoint-now,
resume after kill -9 (the trainer's checkpoints), the out-of-memory back-off (half the micro-batch, twice the
accumulation), evaluation on a cadence with early stopping and the best step restored, the diagnosis.

* The data is a preference file (engine.data.preference: any form it reads), one pair a sample; KTO takes each
  pair as a good and a bad answer.  TRL renders the turns with the model's chat template, as SFT does.
* The reference model: with an adapter, the same weights with the adapter switched off (TRL does this when it is
  given no reference); for a full fine-tune of DPO or KTO a frozen second copy of the starting weights, which the
  plan counts (engine.plan.value.stage_reason).  ORPO and SimPO have none.
* The held-out loss is the stage's own loss on the held-out pairs (TRL's ``evaluate``), with the preference
  accuracy and margin in each ``eval`` event; training steps carry TRL's rewards (events.Step).
"""

from __future__ import annotations

import dataclasses
import importlib

from ..core import events
from ..core.errors import DanluError
from ..data import preference as pref
from ..models import load as models
from ..plan.prepare import Geometry
from . import runner
from .runner import Recipe, _back_off, _callback, backed_off_geometry, common_args, plan_event, preference_metrics

TRAINERS = {  # stage → (module, trainer, config)
    "dpo": ("trl", "DPOTrainer", "DPOConfig"),
    "kto": ("trl", "KTOTrainer", "KTOConfig"),
    "orpo": ("trl.experimental.orpo", "ORPOTrainer", "ORPOConfig"),
    "simpo": ("trl.experimental.cpo", "CPOTrainer", "CPOConfig"),
}


def score_answers_only() -> bool:
    """TRL's fused LM head scores every position of a sequence — the prompt's too — on devices without Triton (the
    CPU), so that the tile shapes stay fixed for compilers that need them; only the answer's positions count.  On
    the CPU nothing is compiled: scoring the answer positions alone gives the same log-probabilities for a
    fraction of the work (the prompts are most of a pair's tokens).  Returns whether TRL has the switch."""
    try:
        from trl.trainer import utils as trl_utils
    except ImportError:  # pragma: no cover - TRL without it
        return False
    original = getattr(trl_utils, "_use_triton", None)
    if original is None or getattr(original, "danlu", False):
        return original is not None

    def compact(device) -> bool:  # True: score the labelled positions only (the kernel itself stays TRL's choice)
        return device.type == "cpu" or original(device)

    compact.danlu = True
    trl_utils._use_triton = compact
    return True


def trainer_classes(stage: str):
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    score_answers_only()
    module, trainer, config = TRAINERS[stage]
    mod = importlib.import_module(module)
    return getattr(mod, trainer), getattr(mod, config)


def stage_args(cfg, run, geo: Geometry):
    """The stage's TRL config: the runner's common arguments, the stage's beta and loss, the sequence length."""
    _, config_cls = trainer_classes(cfg.stage)
    values = dict(common_args(cfg, run, geo), beta=cfg.pref_beta, max_length=cfg.max_seq_len,
                  remove_unused_columns=False)
    if cfg.stage in ("dpo", "kto") and cfg.precompute_ref:  # the reference's log-probabilities, once, up front
        values.update(precompute_ref_log_probs=True)
    if cfg.stage == "dpo":
        values.update(loss_type=["sigmoid"])
    elif cfg.stage == "simpo":
        values.update(loss_type="simpo", cpo_alpha=0.0)
    known = {f.name for f in dataclasses.fields(config_cls)}
    return config_cls(**{k: v for k, v in values.items() if k in known})


def rows(items: list, stage: str) -> list[dict]:
    """The samples in TRL's conversational form for ``stage`` (KTO: each pair as a good and a bad answer)."""
    data = pref.PreferenceData("", "trl_conversational", len(items),
                               pairs=[i for i in items if isinstance(i, pref.Pair)],
                               unpaired=[i for i in items if isinstance(i, pref.Unpaired)])
    if stage == "kto":
        return pref.records(data, "kto")
    if data.unpaired:
        raise DanluError(f"{stage} needs pairs (a chosen and a rejected answer); this data has unpaired answers",
                         where="train_file", fix="train it with stage: kto, or give chosen/rejected pairs")
    return pref.records(data, "trl_conversational")


def items_of(path: str | None) -> list:
    if not path:
        return []
    d = pref.load(path)
    return d.pairs or d.unpaired


def pair_lengths(tokenizer, items: list) -> list[int]:
    """Each sample's tokens with its longer answer (what a sequence of the pair holds)."""
    from ..models import encode

    return encode.token_lengths(tokenizer, [pref.longer_conversation(item) for item in items])


def _reference_kept(trainer_cls, reference: dict | None):
    """While a trainer is made: its precomputed reference log-probabilities are the ones computed first (TRL would
    compute them again from the model as it is now)."""
    import contextlib

    if reference is None:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def kept():
        own = trainer_cls._precompute_ref_logps
        trainer_cls._precompute_ref_logps = lambda self, dataset, name, batch_size: reference[name]
        try:
            yield
        finally:
            trainer_cls._precompute_ref_logps = own

    return kept()


def _eval_counter(recipe):
    """A trainer callback that says each held-out batch of an evaluation as a phase counter (``evaluation n/N at
    step S``); made when a trainer is (transformers is imported then, not with this module)."""
    from transformers import TrainerCallback

    class EvalCounter(TrainerCallback):
        def on_prediction_step(self, args, state, control, **kw):
            counting = getattr(recipe, "_counting", None)
            if counting:
                phase, step, total, done = counting
                recipe._counting = (phase, step, total, done + 1)
                recipe.phase(phase, done + 1, total, step)

    return EvalCounter()


class PreferenceRecipe(Recipe):
    """A preference stage's run (see the module's docstring)."""

    def setup(self, resume: bool) -> None:
        import torch

        cfg, run = self.cfg, self.run
        runner.sharding.check_alike(cfg)  # several ranks: the same libraries, data and config everywhere
        if resume:
            self._resume_point()
        torch.manual_seed(cfg.seed)
        self.tokenizer = models.load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        self.train_items = items_of(cfg.train_file)
        self.eval_items = items_of(cfg.eval_file)
        if not self.train_items:
            raise DanluError("no usable preference pair in the training data", where=cfg.train_file,
                             fix="check it with `danlu data inspect`")
        self.train_rows = rows(self.train_items, cfg.stage)
        self.eval_rows = rows(self.eval_items, cfg.stage) if self.eval_items else []
        self.emit(plan_event(cfg, pair_lengths(self.tokenizer, self.train_items)))
        self.lines, self.sample_losses = {}, {}
        self.emit(events.log("loading", model=cfg.model, method=cfg.method))
        self.phase("loading")
        self.model = models.load_for_training(cfg)
        self.ref_model = None
        if cfg.method == "full" and cfg.stage in ("dpo", "kto") and not cfg.precompute_ref:  # a frozen copy
            self.ref_model = models.load_base(cfg.model, precision=cfg.precision,
                                              trust_remote_code=cfg.trust_remote_code).eval()
        trainable, total = models.count_params(self.model)
        self.geo = Geometry(cfg.micro_batch, cfg.grad_accum, None)
        if resume:
            self.geo = backed_off_geometry(run) or self.geo
        self.emit(events.log("parameters", trainable=trainable, total=total, train=len(self.train_rows),
                             eval=len(self.eval_rows), geometry=self.geo.describe(), micro_batch=self.geo.micro_batch,
                             grad_accum=self.geo.grad_accum, pack_len=None))
        best = runner.read_best(run) if resume else None
        if best:
            self.state["best_eval"], self.state["bad_evals"] = best["eval_loss"], 0

    def eval_fn(self, model, step: int | None = None, phase: str = "eval") -> float:
        """The stage's loss on the held-out pairs (TRL's evaluate), its accuracy and margin kept for the event."""
        self.phase(phase, step=step)
        training = self.trainer.model.training
        batches = -(-len(self.eval_rows) // max(1, self.trainer.args.per_device_eval_batch_size))
        self._counting = (phase, step, batches, 0)  # the evaluation's batches, said as they go (_EvalCounter)
        metrics = self.trainer.evaluate()
        self._counting = None
        self.trainer.model.train(training)  # TRL files a log under "eval" while the model is in eval mode
        self.state["eval_extra"] = {k: v for k, v in preference_metrics(metrics, "eval_").items()
                                    if k in ("accuracy", "margin")}
        return float(metrics["eval_loss"])

    def train(self) -> None:
        import shutil

        from datasets import Dataset
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        cfg, run = self.cfg, self.run
        trainer_cls, _ = trainer_classes(cfg.stage)
        trainer_cls = runner.sharding.trainer_class(trainer_cls, cfg)
        train_ds = Dataset.from_list(self.train_rows)
        eval_ds = Dataset.from_list(self.eval_rows) if self.eval_rows else None
        self.sampler.start() if self.main else None
        callback = _callback(run, cfg, self.ctl, self.emit, self.eval_fn if self.eval_rows else None, self.state)
        first = True
        while True:
            kwargs = dict(model=self.model, args=stage_args(cfg, run, self.geo), train_dataset=train_ds,
                          eval_dataset=eval_ds, processing_class=self.tokenizer, callbacks=[callback])
            if cfg.stage in ("dpo", "kto"):
                kwargs["ref_model"] = self.ref_model
            with _reference_kept(trainer_cls, getattr(self, "_reference", None)):
                trainer = self.trainer = trainer_cls(**kwargs)
            if cfg.precompute_ref and getattr(self, "_reference", None) is None:
                # the starting weights' log-probabilities: a trainer made again after an out-of-memory back-off
                # reuses them (its model has trained since, and is no longer the reference)
                self._reference = {"train": trainer.train_dataset, "eval": trainer.eval_dataset}
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(_eval_counter(self))
            if first and self.eval_rows and self.resume_from is None:
                if self.main:  # a best step of an earlier attempt in this folder is not this run's
                    shutil.rmtree(run.path / runner.BEST_DIR, ignore_errors=True)
                self.eval_before = self.eval_fn(trainer.model, 0)
                self.emit(events.Eval(step=0, loss=self.eval_before, **self.state.pop("eval_extra", {})))
            first = False
            try:
                trainer.train(resume_from_checkpoint=str(self.resume_from) if self.resume_from else None)
                break
            except Exception as exc:  # noqa: BLE001 - out of memory is handled, the rest re-raised
                if not runner._is_oom(exc):
                    raise
                self.geo, self.resume_from = _back_off(cfg, self.geo, trainer, run, self.emit, exc)
        self.sampler.stop()
        self.model = trainer.model


runner.RECIPES.update(dict.fromkeys(pref.STAGES, PreferenceRecipe))
