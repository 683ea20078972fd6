"""The training runner: TRL's SFTTrainer (+ PEFT) driven by a TrainConfig, writing a run directory.

``run(cfg, run_dir)`` is what ``danlu train`` executes in its own process.  It

* writes ``events.jsonl`` and ``status.json`` as it goes (DESIGN.md §2; rank 0 only);
* packs variable-length samples into rows of ``pack_len`` tokens without padding (TRL's
  best-fit-decreasing packing; position ids restart per sample, so samples never attend
  to each other), loss on assistant tokens only (labels from danlu.engine.models.encode);
* stops cleanly on SIGINT/SIGTERM (finish the step, checkpoint, exit with state
  ``stopped``), checkpoints on SIGUSR1 or a ``control.json`` request, ignores SIGHUP
  when detached;
* survives out-of-memory: halves the micro-batch (or the packed row) and doubles the
  accumulation, so the effective batch stays the same, records a ``backoff`` event and
  continues from the same step; gives up at the floor with the planner's remedies;
* resumes from the newest readable checkpoint (model, optimizer, scheduler, RNG, data
  position), falling back to the one before when the newest is damaged.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import atomic, events, texts
from .. import data
from . import sharding
from ..models import encode, load as models
from ..infer import evaluate, loss as loss_mod
from ..plan import hardware, prepare
from ..plan.prepare import Geometry
from ..core.config import TrainConfig
from ..core.errors import DanluError, debug_hint
from ..runs.store import RunDir

# settings that may differ between a checkpoint and the config it resumes with
RESUMABLE_CHANGES = {"epochs", "max_steps", "save_steps", "save_total_limit", "eval_steps",
                     "early_stopping_patience", "logging_steps", "micro_batch", "grad_accum", "pack_len",
                     "plan_reason", "eval_file", "train_file"}
INJECT_OOM_ENV = "DANLU_INJECT_OOM_AT_STEP"  # test hook: raise an out-of-memory error once at this step


@dataclass
class TrainResult:
    run_dir: str
    state: str
    steps: int
    losses: list = field(default_factory=list)
    eval_loss_before: float | None = None
    eval_loss_after: float | None = None
    tokens_per_s: float | None = None
    seconds: float = 0.0
    model: object = None  # the tuned model, in memory (not serialised)
    tokenizer: object = None
    eval_rows: list = field(default_factory=list)


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def prepare_rows(cfg: TrainConfig, tokenizer, convs: list | None = None):
    train_convs = convs if convs is not None else data.load_conversations(cfg.train_file)[0]
    eval_convs = data.load_conversations(cfg.eval_file)[0] if cfg.eval_file else []
    train_rows = encode.encode_all(tokenizer, train_convs, cfg.max_seq_len)
    eval_rows = encode.encode_all(tokenizer, eval_convs, cfg.max_seq_len)
    if not train_rows:
        raise DanluError(
            "no training sample has an assistant token within max_seq_len",
            where="train_file",
            fix="raise max_seq_len or check the data with `danlu data inspect`",
        )
    return train_rows, eval_rows


def geometry(cfg: TrainConfig, train_rows: list[dict]) -> Geometry:
    """The batches for ``cfg`` on the encoded rows (engine.plan.prepare.geometry, which the plan states too)."""
    return prepare.geometry(cfg, [len(r["input_ids"]) for r in train_rows])


class Control:
    """Requests reaching the trainer: SIGINT/SIGTERM (stop), SIGUSR1 (checkpoint now), control.json."""

    def __init__(self, run: RunDir):
        self.run = run
        self.stop = False
        self.checkpoint = False
        self.requests = 0  # stop requests (signals) so far
        self.previous = {}
        self.path = run.path / "control.json"

    def install(self, detached: bool = False):
        self._drop_stale()
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._stop)
        self.previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, self._checkpoint)
        # a closed terminal: a detached run goes on; a foreground one stops as on SIGTERM (checkpoint, `stopped`)
        self.previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, signal.SIG_IGN if detached else self._stop)

    def _drop_stale(self) -> None:
        """A control.json older than this process was meant for an earlier one (it never acted on it): drop it,
        or a stale "stop" would end this run after one step."""
        try:
            import psutil

            started = psutil.Process().create_time()
            ts = json.loads(self.path.read_text()).get("ts")
        except (OSError, ValueError, AttributeError, ImportError):
            return
        if not isinstance(ts, (int, float)) or ts < started - 1:
            self.path.unlink(missing_ok=True)

    def _stop(self, signum, frame):
        self.requests += 1
        if self.requests == 2:  # already stopping: a second request is not a reason to lose the checkpoint
            print("danlu: already stopping — finishing the step and saving a checkpoint; send it once more to stop "
                  "at once without one", file=sys.stderr, flush=True)
            return
        if self.requests > 2:  # a third: the user insists
            raise KeyboardInterrupt
        self.stop = True

    def _checkpoint(self, signum, frame):
        self.checkpoint = True

    def poll(self):
        """Read and consume a control.json request ({"action": "stop" | "checkpoint"})."""
        try:
            action = json.loads(self.path.read_text()).get("action")
        except (FileNotFoundError, ValueError, AttributeError):
            return
        self.path.unlink(missing_ok=True)
        if action == "stop":
            self.stop = True
        elif action == "checkpoint":
            self.checkpoint = True

    def restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def request(run: RunDir, action: str) -> bool:
    """Ask a running trainer to ``stop`` or ``checkpoint``: control file + signal. True if it was running."""
    if action not in ("stop", "checkpoint"):
        raise ValueError(action)
    if run.effective_state() != "running":
        return False
    atomic.write_json(run.path / "control.json", {"action": action, "ts": time.time()})
    pid = run.trainer_pid()  # only the process that holds the run's lock, never a pid status.json merely names
    if pid is None:  # started but not holding the lock yet: it reads control.json when it starts
        return True
    try:
        os.kill(pid, signal.SIGTERM if action == "stop" else signal.SIGUSR1)
    except ProcessLookupError:
        return False
    return True


class OutOfMemory(Exception):
    pass


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, (torch.OutOfMemoryError, OutOfMemory)) or "out of memory" in str(exc).lower()


PREFERENCE_LOGS = {"accuracy": "rewards/accuracies", "margin": "rewards/margins", "logp_chosen": "logps/chosen",
                   "logp_rejected": "logps/rejected"}  # events.Step's field: the TRL preference trainers' log key


def preference_metrics(logs: dict, prefix: str = "") -> dict:
    """A preference trainer's rewards and log-probabilities from its log (empty for SFT)."""
    out = {}
    for name, key in PREFERENCE_LOGS.items():
        value = logs.get(prefix + key)
        if isinstance(value, (int, float)) and value == value:
            out[name] = round(float(value), 4)
    return out


def _callback(run: RunDir, cfg: TrainConfig, ctl: Control, emit, eval_fn, state: dict):
    from transformers import TrainerCallback

    class Events(TrainerCallback):
        def on_train_begin(self, args, st, control, **kw):
            if not cfg.save_steps:
                st.save_steps = auto_save_steps(cfg, st.max_steps)
            state["t0"] = state["last_t"] = time.time()
            state["last_tokens"] = int(getattr(st, "num_input_tokens_seen", 0) or 0)
            state.setdefault("tokens_at_begin", state["last_tokens"])
            state["first_step"] = st.global_step
            if rank() == 0:
                run.set_status(state="running", total=st.max_steps, step=st.global_step)
                emit(events.Status(state="running", step=st.global_step, total=st.max_steps))
                emit(events.Phase(phase="train", step=st.global_step))  # until the first step lands

        def on_step_begin(self, args, st, control, **kw):
            # STEP, or STEP@RANK for one rank of several; once a run (a restart after the back-off goes on)
            inject, _, who = (os.environ.get(INJECT_OOM_ENV) or "").partition("@")
            if inject and int(inject) == st.global_step and not state.get("injected") and \
                    (not who or int(who) == rank()) and not (run.path / BACKOFF_FILE).exists():
                state["injected"] = True
                raise OutOfMemory(f"CUDA out of memory (injected at step {st.global_step} by {INJECT_OOM_ENV})")

        def on_log(self, args, st, control, logs=None, **kw):
            logs = logs or {}
            if "loss" not in logs or rank() != 0:
                return
            now = time.time()
            tokens = int(getattr(st, "num_input_tokens_seen", 0) or 0)
            tps = (tokens - state["last_tokens"]) / max(now - state["last_t"], 1e-9)
            state["last_tokens"], state["last_t"] = tokens, now
            done = st.global_step - state["first_step"]
            elapsed = now - state["t0"]
            eta = elapsed / done * (st.max_steps - st.global_step) if done else None
            loss = float(logs["loss"])
            state["losses"].append(loss)
            emit(events.Step(step=st.global_step, total=st.max_steps, loss=loss,
                             lr=float(logs.get("learning_rate", 0.0)),
                             grad_norm=float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
                             epoch=round(float(st.epoch or 0.0), 4), tokens=tokens, tokens_per_s=round(tps, 1),
                             elapsed_s=round(elapsed, 2), **preference_metrics(logs)))
            run.set_status(step=st.global_step, total=st.max_steps, loss=loss, eta_s=round(eta, 1) if eta else None)

        def on_step_end(self, args, st, control, **kw):
            ctl.poll()
            # a request reaches one rank (its signal, control.json on rank 0's disk): every rank acts on it now
            ctl.stop, ctl.checkpoint = sharding.agree(ctl.stop, ctl.checkpoint)
            if ctl.checkpoint:
                ctl.checkpoint = False
                control.should_save = True
            if ctl.stop:
                control.should_save = True
                control.should_training_stop = True
            if cfg.eval_steps and eval_fn and st.global_step % cfg.eval_steps == 0 and st.global_step < st.max_steps:
                should_log = control.should_log  # an evaluation that logs (TRL's) must not swallow this step's log
                loss = eval_fn(kw["model"], st.global_step)
                control.should_log = should_log
                state["last_eval"] = (st.global_step, loss)
                if rank() == 0:
                    emit(events.Eval(step=st.global_step, loss=loss, **state.pop("eval_extra", {})))
                best = state.get("best_eval")
                if best is None or loss < best - 1e-6:
                    state["best_eval"], state["bad_evals"] = loss, 0
                    if cfg.early_stopping_patience:  # every rank: a sharded model's weights are gathered
                        save_best(run, kw["model"], st.global_step, loss)
                else:
                    state["bad_evals"] = state.get("bad_evals", 0) + 1
                    if cfg.early_stopping_patience and state["bad_evals"] >= cfg.early_stopping_patience:
                        if rank() == 0:
                            emit(events.log("early_stopping", best=round(best, 4), evals=state["bad_evals"]))
                        state["early_stopped"] = True
                        control.should_training_stop = True
                        control.should_save = True

        def on_save(self, args, st, control, **kw):
            if rank() != 0:
                return
            ckpt = Path(args.output_dir) / f"checkpoint-{st.global_step}"
            if ckpt.is_dir():
                (ckpt / "danlu_config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
            emit(events.Checkpoint(step=st.global_step, path=str(ckpt)))

    return Events()


PHASE_EVERY_S = 1.0  # a phase's counter is written at most this often
BEST_DIR = "best"  # the trainable weights at the best held-out loss so far, and best.json (step, loss)


def save_best(run: RunDir, model, step: int, loss: float) -> None:
    """Keep the trainable weights of the best evaluation so far (early stopping makes them the final model).  On
    disk, not in memory: a resumed run still knows its best step, and a full fine-tune's copy costs no RAM.
    Every rank calls it (a sharded model's weights are gathered); rank 0 writes."""
    from safetensors.torch import save_file

    if rank() != 0 and not sharding.is_sharded_model(model):
        return
    weights = {n: sharding.gathered(p).to("cpu").contiguous() for n, p in model.named_parameters()
               if p.requires_grad}
    if rank() != 0:
        return
    with atomic.staged_dir(run.path / BEST_DIR, overwrite=True) as tmp:
        save_file(weights, str(Path(tmp) / "weights.safetensors"))
        (Path(tmp) / "best.json").write_text(json.dumps({"step": step, "eval_loss": loss}), encoding="utf-8")


def read_best(run: RunDir) -> dict | None:
    try:
        best = json.loads((run.path / BEST_DIR / "best.json").read_text(encoding="utf-8"))
        return {"step": int(best["step"]), "eval_loss": float(best["eval_loss"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def restore_best(run: RunDir, model) -> None:
    """Load the kept best weights into ``model`` (the same trainable parameters, by name).  Every rank calls it;
    rank 0 reads the file (the others may be on machines without it) and a sharded model takes its shards."""
    import torch
    from safetensors.torch import load_file

    params = dict(model.named_parameters())
    if rank() == 0:
        weights = load_file(str(run.path / BEST_DIR / "weights.safetensors"))
    else:  # the same names in the same order as rank 0's file: the trainable parameters
        weights = {n: torch.zeros(p.shape, dtype=p.dtype) for n, p in params.items() if p.requires_grad}
    for name in sorted(weights):
        sharding.load_whole(params[name], weights[name])


def plan_event(cfg: TrainConfig, lengths: list) -> events.Log:
    """The trainer's first log line: the plan this config runs (engine.plan.of_config, the function every other
    surface renders), with the figures as values."""
    from ..plan import value as plan

    try:
        p = plan.of_config(cfg, lengths, probe=hardware.probe())
    except DanluError as exc:  # a model the planner does not model: train anyway, say why there is no plan line
        return events.log("plan_unknown", reason=exc.one_line())
    # the summary also as a text with its code and values: a viewer says it in its own language
    return events.log("plan", summary=str(p.summary()), said=texts.to_json(p.summary()), **p.comparable())


def auto_save_steps(cfg: TrainConfig, total: int) -> int:
    """Checkpoint interval when the config leaves it to danlu: about 10 checkpoints a run (4 for a full
    fine-tune, whose checkpoints hold the whole model), never more often than every 10 steps (a checkpoint costs
    a fraction of a second to seconds; losing fewer than 10 steps to a crash costs less)."""
    per_run = 4 if cfg.method == "full" else 10
    return max(1, min(total, max(10, -(-total // per_run))))


def common_args(cfg: TrainConfig, run: RunDir, geo: Geometry) -> dict:
    """The transformers TrainingArguments every stage's trainer runs with (SFT's and the preference stages')."""
    try:
        import tensorboard  # noqa: F401

        report_to = ["tensorboard"]
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run.path / "tensorboard")
    except ImportError:
        report_to = "none"
    save_steps = cfg.save_steps or 10  # automatic: set from the run's length when training begins
    return dict(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=geo.micro_batch,
        per_device_eval_batch_size=geo.micro_batch,
        gradient_accumulation_steps=geo.grad_accum,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optimizer,
        gradient_checkpointing=cfg.grad_checkpointing,
        bf16=cfg.precision == "bf16",
        fp16=cfg.precision == "fp16",
        use_cpu=models.device() == "cpu",
        seed=cfg.seed,
        data_seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=cfg.save_total_limit,
        eval_strategy="no",
        report_to=report_to,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        **sharding.trainer_args(cfg),  # several ranks: the collective time-out, and FSDP2's arguments
    )


def _sft_args(cfg: TrainConfig, run: RunDir, geo: Geometry):
    from trl import SFTConfig

    return SFTConfig(
        **common_args(cfg, run, geo),
        max_length=geo.pack_len or cfg.max_seq_len,
        packing=geo.pack_len is not None,
        packing_strategy="bfd",
        train_sampling_strategy="group_by_length" if (cfg.group_by_length and not geo.pack_len) else "random",
    )


def valid_checkpoint(path: Path) -> bool:
    """A checkpoint is usable when its state, optimizer and weights can be read."""
    try:
        json.loads((path / "trainer_state.json").read_text())
        if sharding.is_sharded_checkpoint(path):  # FSDP: each rank's shards, with their metadata written last
            return (path / sharding.SHARDED_OPTIMIZER_DIR / ".metadata").is_file()
        if (path / "optimizer.pt").stat().st_size == 0:
            return False
        weights = list(path.glob("*.safetensors"))
        if not weights:
            return False
        from safetensors import safe_open

        for w in weights:
            with safe_open(str(w), framework="pt") as fh:
                for key in fh.keys():
                    fh.get_slice(key)
        return True
    except Exception:  # noqa: BLE001 - any damage makes it unusable
        return False


def checkpoint_step(path: Path) -> int:
    """The optimizer step a checkpoint was saved at (its trainer_state.json, else its name)."""
    try:
        return int(json.loads((Path(path) / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return int(Path(path).name.rsplit("-", 1)[-1])


def latest_checkpoint(run: RunDir, emit=None) -> Path | None:
    """The newest readable checkpoint; a damaged newer one is reported and skipped (and a temporary
    ``.checkpoint-N.partial`` folder, a save that never finished, is never one)."""
    ckpts = sorted((p for p in run.checkpoints_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for ckpt in ckpts:
        if valid_checkpoint(ckpt):
            return ckpt
        if emit:
            emit(events.log("damaged_checkpoint", name=ckpt.name))
    return None


def config_diff(old: TrainConfig, new: TrainConfig) -> list[str]:
    """Settings that changed in a way that breaks resuming (e.g. model, method, lr, data)."""
    import dataclasses

    a, b = dataclasses.asdict(old), dataclasses.asdict(new)
    return [f"{k}: {a[k]!r} → {b[k]!r}" for k in a if a[k] != b[k] and k not in RESUMABLE_CHANGES]


def run(cfg: TrainConfig, run: RunDir, *, listener=None, resume: bool = False, detached: bool = False) -> TrainResult:
    """Train ``cfg`` in ``run`` (or resume it); return the result with the tuned model still in memory."""
    # SFT's recipe, or a preference stage's (engine.train.preference registers DPO, ORPO, SimPO and KTO)
    recipe = RECIPES[cfg.stage](cfg, run, listener=listener, detached=detached)
    try:
        # a demo model built or a GGUF imported before any process group exists: transformers' save_pretrained
        # writes nothing on a rank other than 0 of one, and the rank that made the cache left it without weights
        if sharding.world() > 1:
            models.resolve_model(cfg.model)
        recipe.setup(resume)
        recipe.train()
        return recipe.save()
    except BaseException as exc:
        recipe.fail(exc)
        if isinstance(exc, (DanluError, KeyboardInterrupt)):
            raise
        message, hint = _explain(exc)
        raise DanluError(message, fix=hint.replace("RUN", run.id)) from exc
    finally:
        recipe.cleanup()


class Recipe:
    """One training run, step by step (torchtune's recipe shape): :meth:`setup` (resume point, tokenizer, data,
    model, batch geometry, eval before), :meth:`train` (the trainer, with the out-of-memory back-off),
    :meth:`save` (eval after, final model, done event) and :meth:`cleanup`; :meth:`fail` records an error."""

    def __init__(self, cfg: TrainConfig, run: RunDir, *, listener=None, detached: bool = False):
        self.cfg, self.run, self.listener = cfg, run, listener
        self.t_start = time.time()
        self.main = rank() == 0
        self.lock = run.take_lock() if self.main else None  # RunBusy when another process trains this run
        try:
            if self.main:  # checkpoint saves a killed earlier trainer of this run left half-written: only ours now
                import shutil

                for stale in run.checkpoints_dir.glob(".checkpoint-*.partial"):
                    shutil.rmtree(stale, ignore_errors=True)
            self.ctl = Control(run)
            self.ctl.install(detached=detached)
            if self.main:
                run.set_status(state="running", pid=os.getpid(), pid_start=atomic.proc_start(os.getpid()),
                               method=cfg.method, model=cfg.model)
        except BaseException:
            if self.lock is not None:
                os.close(self.lock)
            raise
        self.sampler = hardware.SystemSampler(lambda sample: run.event(events.System(**sample)), interval=1.0)
        self.state: dict = {"losses": []}
        self.resume_from: Path | None = None
        self.eval_before: float | None = None
        self.trainer = None
        self._phase: tuple = (None, 0.0)  # the phase last said, and when (monotonic)

    def phase(self, name: str, n: int | None = None, of: int | None = None, step: int | None = None) -> None:
        """Say what the trainer is doing between steps (events.Phase): when it starts, then its counter at most
        every PHASE_EVERY_S."""
        now = time.monotonic()
        said, at = self._phase
        if said == (name, step) and n is not None and now - at < PHASE_EVERY_S:
            return
        self._phase = ((name, step), now)
        self.emit(events.Phase(phase=name, n=n, of=of, step=step))

    def emit(self, ev: events.Event) -> events.Event | None:
        """Write an event (rank 0 only) and hand it to the listener (the CLI's progress view)."""
        if not self.main:
            return None
        self.run.event(ev)
        if self.listener:
            self.listener(ev)
        return ev

    # -- setup ------------------------------------------------------------------------------
    def setup(self, resume: bool) -> None:
        import torch

        cfg, run = self.cfg, self.run
        sharding.check_alike(cfg)  # several ranks: the same libraries, data and config everywhere, or none trains
        if resume:
            self._resume_point()
        torch.manual_seed(cfg.seed)
        self.tokenizer = models.load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        train_convs, _ = data.load_conversations(cfg.train_file)
        # the plan for these conversations' token lengths: what `danlu plan --data` and the wizard said
        self.emit(plan_event(cfg, encode.token_lengths(self.tokenizer, train_convs)))
        self.train_rows, self.eval_rows = prepare_rows(cfg, self.tokenizer, train_convs)
        # each training sample's line in the training file, by its tokens (the diagnosis names outlying samples)
        self.lines = {loss_mod.sample_key(r["input_ids"]): i + 1 for i, r in
                      enumerate(encode.encode(self.tokenizer, c, cfg.max_seq_len) for c in train_convs)}
        self.sample_losses: dict = {}
        self.emit(events.log("loading", model=cfg.model, method=cfg.method))
        self.phase("loading")
        self.model = models.load_for_training(cfg)
        trainable, total = models.count_params(self.model)
        if cfg.replay:  # the forgetting guard: the base model's own answers to general prompts train too
            from . import replay

            mixed = sharding.from_main(lambda: replay.load_or_make(  # sampled: made once, the same on every rank
                run.data_dir / "replay.jsonl", self.model, self.tokenizer, cfg.replay, train_convs, cfg.seed,
                lambda done, total: self.phase("replay", done, total)))
            self.train_rows = self.train_rows + encode.encode_all(self.tokenizer, mixed, cfg.max_seq_len)
            self.emit(events.log("replay", n=len(mixed), pct=round(100 * cfg.replay, 1),
                                 languages=", ".join(replay.languages(train_convs))))
        self.geo = geometry(cfg, self.train_rows)
        if resume:
            self.geo = backed_off_geometry(run) or self.geo  # an out-of-memory back-off keeps its smaller batches
        self.emit(events.log("parameters", trainable=trainable, total=total, train=len(self.train_rows),
                             eval=len(self.eval_rows), geometry=self.geo.describe(), micro_batch=self.geo.micro_batch,
                             grad_accum=self.geo.grad_accum, pack_len=self.geo.pack_len))
        if self.eval_rows and not resume:
            if self.main:  # a best step of an earlier attempt in this folder is not this run's
                import shutil

                shutil.rmtree(run.path / BEST_DIR, ignore_errors=True)
            self.eval_before = self.eval_fn(self.model, 0)
            self.emit(events.Eval(step=0, loss=self.eval_before, **self.state.pop("eval_extra", {})))
        best = read_best(run) if resume else None
        if best:  # a resumed run compares its evaluations with the best one before the interruption
            self.state["best_eval"], self.state["bad_evals"] = best["eval_loss"], 0

    def _resume_point(self) -> None:
        run = self.run
        self.resume_from = latest_checkpoint(run, self.emit)
        if self.resume_from is None and (run.path / BACKOFF_FILE).exists():
            # ranks started again after one ran out of memory before the first checkpoint: from step 0, at the
            # smaller geometry the run recorded
            if self.main:
                run.truncate_events_after(0)
                before = [e for e in run.events() if isinstance(e, events.Eval) and e.step == 0]
                self.eval_before = before[0].loss if before else None
            self.emit(events.Status(state="resumed", step=0, checkpoint=""))
            return
        if self.resume_from is None:
            raise DanluError(f"run {run.id} has no readable checkpoint to resume from",
                             fix=f"start it again with `danlu train {run.config_path}`")
        step = checkpoint_step(self.resume_from)
        if self.main:
            run.truncate_events_after(step)
            before = [e for e in run.events() if isinstance(e, events.Eval) and e.step == 0]
            self.eval_before = before[0].loss if before else None
        self.emit(events.Status(state="resumed", step=step, checkpoint=str(self.resume_from)))

    def eval_fn(self, model, step: int | None = None, phase: str = "eval") -> float:
        return evaluate.eval_loss(model, self.eval_rows, pad_id=self.tokenizer.pad_token_id,
                                  batch_size=self.cfg.micro_batch,
                                  progress=lambda done, total: self.phase(phase, done, total, step))

    # -- train ------------------------------------------------------------------------------
    def train(self) -> None:
        from datasets import Dataset
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        from ..infer.loss import trainer_class

        cfg, run = self.cfg, self.run
        SFTTrainer = sharding.trainer_class(trainer_class(), cfg)  # FSDP2 on CPU ranks too
        train_ds = Dataset.from_list([dict(r, length=len(r["input_ids"])) for r in self.train_rows])
        self.sampler.start() if self.main else None
        callback = _callback(run, cfg, self.ctl, self.emit, self.eval_fn if self.eval_rows else None, self.state)
        while True:
            trainer = self.trainer = SFTTrainer(model=self.model, args=_sft_args(cfg, run, self.geo),
                                                train_dataset=train_ds, processing_class=self.tokenizer,
                                                callbacks=[callback])
            trainer.sample_losses = self.sample_losses  # each sample's loss when first trained on (loss.py)
            trainer.remove_callback(PrinterCallback)  # danlu reports through events; stdout stays clean
            trainer.remove_callback(ProgressCallback)
            try:
                trainer.train(resume_from_checkpoint=str(self.resume_from) if self.resume_from else None)
                break
            except Exception as exc:  # noqa: BLE001 - out of memory is handled, the rest re-raised
                if not _is_oom(exc):
                    raise
                self.geo, self.resume_from = _back_off(cfg, self.geo, trainer, run, self.emit, exc)
        self.sampler.stop()
        self.model = trainer.model
        if cfg.method == "qlora":
            # TRL trains QLoRA adapters in bf16 (QLoRA paper, §3); for inference, evaluation and export give
            # them the compute precision again (lossless upcast) so the model in memory is the one that a fresh
            # load of the saved adapter gives.
            dtype = models.torch_dtype(cfg.precision)
            for param in self.model.parameters():
                if param.requires_grad and param.dtype != dtype:
                    param.data = param.data.to(dtype)

    # -- save -------------------------------------------------------------------------------
    def save(self) -> TrainResult:
        run, trainer, model = self.run, self.trainer, self.model
        steps = trainer.state.global_step
        last = self.state.get("last_eval")
        if last and last[0] == steps:  # stopped early right after an evaluation: that one is the last step's
            eval_after = last[1]
        else:
            eval_after = self.eval_fn(model, steps, "final_eval") if self.eval_rows else None
            if self.main and eval_after is not None:
                self.emit(events.Eval(step=steps, loss=eval_after, **self.state.pop("eval_extra", {})))
        best_step = steps if self.eval_rows else None
        best = read_best(run) if self.cfg.early_stopping_patience and self.main else None
        better = bool(best and best["step"] < steps and best["eval_loss"] < eval_after - 1e-6)
        if sharding.agree(better)[0]:  # rank 0 holds the best step's file; every rank restores it
            restore_best(run, model)  # early stopping's promise: the run's model is its best step's
            if best:  # rank 0 reports it
                self.emit(events.log("best_restored", step=best["step"], loss=round(best["eval_loss"], 4),
                                     last=round(eval_after, 4)))
                eval_after, best_step = best["eval_loss"], best["step"]
        state_name = "stopped" if self.ctl.stop else "done"
        seconds = time.time() - self.t_start
        tokens = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0)
        runtime = next((h.get("train_runtime") for h in reversed(trainer.state.log_history) if "train_runtime" in h),
                       None)
        tps = (tokens - self.state.get("tokens_at_begin", 0)) / runtime if runtime else None
        # a sharded model is gathered whole (every rank takes part): final/ is a plain model for chat, eval, export
        whole = sharding.full_state_dict(model) if sharding.is_sharded_model(model) else None
        if self.main:
            self.phase("saving")
            with atomic.staged_dir(run.final_dir, overwrite=True) as tmp:
                model.save_pretrained(tmp, **({"state_dict": whole} if whole is not None else {}))
                self.tokenizer.save_pretrained(tmp)
            self.emit(events.Checkpoint(step=steps, path=str(run.final_dir), final=True))
            if state_name == "done":  # final/ is now the best step's model: its second copy would only fill the disk
                shutil.rmtree(run.path / BEST_DIR, ignore_errors=True)
            done = events.Done(state=state_name, step=steps, eval_loss=eval_after, seconds=round(seconds, 2),
                               tokens=tokens, tokens_per_s=round(tps, 1) if tps else None, best_step=best_step)
            by_line = {self.lines[k]: round(v, 4) for k, v in self.sample_losses.items() if k in self.lines}
            if by_line:  # the user's samples only (not the replay ones), by line of data/train.jsonl
                atomic.write_json(run.path / "sample_losses.json", {str(k): v for k, v in sorted(by_line.items())})
            try:  # the verdict on the recipe (engine.runs.diagnosis), before `done`, the run's last event
                from ..runs import diagnosis

                d = diagnosis.write(run, done)
                self.emit(events.log("diagnosis", verdict=d.verdict, summary=str(d.summary),
                                     next=str(d.next_reason or "")))
            except Exception:  # noqa: BLE001 - a run never fails for want of a diagnosis
                pass
            self.emit(done)
            run.set_status(state=state_name, step=steps, eta_s=0, finished=round(time.time(), 3))
        return TrainResult(
            run_dir=str(run.path), state=state_name, steps=steps, losses=self.state["losses"],
            eval_loss_before=self.eval_before, eval_loss_after=eval_after, tokens_per_s=tps,
            seconds=seconds, model=model, tokenizer=self.tokenizer, eval_rows=self.eval_rows,
        )

    # -- failure and cleanup ----------------------------------------------------------------
    def fail(self, exc: BaseException) -> None:
        self.sampler.stop()
        message, hint = _explain(exc)
        if self.main:
            try:  # on a full disk these small writes may fail too: the error still reaches the user
                self.run.event(events.Error(message=message, hint=hint.replace("RUN", self.run.id),
                                            kind=type(exc).__name__))
                self.run.set_status(state="failed", error=message)
            except OSError:
                pass

    def cleanup(self) -> None:
        self.sampler.stop()
        self.ctl.restore()
        if self.lock is not None:
            os.close(self.lock)  # the run is free for the next resume
            self.lock = None


RECIPES: dict = {"sft": Recipe}  # stage → recipe class; the package's __init__ imports the preference stages


def _back_off(cfg: TrainConfig, geo: Geometry, trainer, run: RunDir, emit, exc) -> tuple[Geometry, Path | None]:
    """After an out-of-memory error: same effective batch, half the memory per micro-batch.

    One rank of several cannot go on alone (the others wait for it in a collective): it records the smaller
    geometry in the run and ends; its launcher starts every rank again from the last checkpoint, and each reads
    the same geometry there (``cli.train``'s supervisor, :func:`backed_off_geometry`)."""
    import torch

    new = _smaller(cfg, geo, exc)
    if sharding.world() > 1:
        step = trainer.state.global_step
        _record_backoff(run, step, new, exc)  # by the rank that ran out of memory, whichever it is
        raise DanluError(f"rank {rank()} ran out of memory at step {step + 1} ({geo.describe()}); every rank "
                         f"continues at {new.describe()} from the last checkpoint",
                         fix="danlu's launcher starts them again by itself; otherwise `danlu resume RUN`") from exc
    trainer.model.zero_grad(set_to_none=True)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    step = trainer.state.global_step
    resume_from = None
    if step > 0:
        trainer._save_checkpoint(trainer.model, trial=None)  # the state after the last completed step
        resume_from = Path(trainer.args.output_dir) / f"checkpoint-{step}"
    emit(events.Backoff(step=step, reason=str(exc).splitlines()[0][:200], old=geo.describe(), new=new.describe(),
                        micro_batch=new.micro_batch, grad_accum=new.grad_accum, pack_len=new.pack_len))
    _record_backoff(run, step, new, exc)
    return new, resume_from


def _record_backoff(run: RunDir, step: int, new: Geometry, exc) -> None:
    """The run's resume state records the geometry in force (config.yaml stays what the user asked for)."""
    atomic.write_json(run.path / BACKOFF_FILE, {"step": step, "micro_batch": new.micro_batch,
                                                "grad_accum": new.grad_accum, "pack_len": new.pack_len,
                                                "reason": str(exc).splitlines()[0][:200], "rank": rank()})


def _smaller(cfg: TrainConfig, geo: Geometry, exc) -> Geometry:
    """The geometry after an out-of-memory error: the same samples a step, half of them a micro-batch."""
    if geo.pack_len and geo.pack_len // 2 >= cfg.max_seq_len:
        new = Geometry(geo.micro_batch, geo.grad_accum * 2, geo.pack_len // 2)
    elif not geo.pack_len and geo.micro_batch > 1:
        new = Geometry(geo.micro_batch // 2, geo.grad_accum * 2, None)
    else:
        raise DanluError(
            f"out of memory even at the smallest batch ({geo.describe()})",
            fix="shorten max_seq_len, use qlora, an 8-bit optimizer (paged_adamw_8bit) or gradient checkpointing "
                "(see `danlu plan`)",
        ) from exc
    return new


BACKOFF_FILE = "backoff.json"  # the batch geometry after an out-of-memory back-off, read by a resume


def backed_off_geometry(run: RunDir) -> Geometry | None:
    try:
        saved = json.loads((run.path / BACKOFF_FILE).read_text())
        return Geometry(int(saved["micro_batch"]), int(saved["grad_accum"]),
                        int(saved["pack_len"]) if saved.get("pack_len") else None)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _explain(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, DanluError):  # the fix is the hint: not also in the message ("… — X — what to do: X")
        return (f"{exc.where}: {exc.what}" if exc.where else str(exc.what)), exc.fix or ""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "resume it with `danlu resume RUN`"
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if atomic.is_disk_full(exc):
        err = atomic.disk_full_error(exc, getattr(exc, "filename", None) or ".")
        return (f"training stopped: {err.what} ({err.where}); the checkpoints before it are intact",
                "free some space, then continue with `danlu resume RUN`")
    if "out of memory" in text.lower():
        return f"out of memory: {text}", "lower micro_batch, shorten max_seq_len, or use qlora (see `danlu plan`)"
    lost = sharding.lost_peer(exc, text)
    if lost:
        return lost, ("read the other ranks' output (each machine's terminal or train.log) for why one stopped, "
                      "then continue with `danlu resume RUN` (on every machine of a multi-machine run)")
    return f"training failed: {type(exc).__name__}: {text}", debug_hint()


def detach(config_path: Path, run: RunDir, *, resume: bool = False) -> int:
    """Start ``danlu train`` for ``run`` in a new session that outlives this terminal; return its pid.  A config
    planned for several devices of this machine starts their ranks (torchrun; every rank trains ``run``)."""
    import subprocess

    cfg = TrainConfig.load(config_path)
    if cfg.nodes > 1 and sharding.planned_ranks(cfg) > 1:
        raise DanluError(f"this run is planned for {cfg.nodes} machines; each starts its own ranks",
                         where=str(config_path), fix=f"run `danlu train {config_path}` in a terminal: it prints "
                                                     "the command for each machine")
    # the child trains, or for several devices of this machine starts their ranks and watches them (cli.train)
    cmd = [sys.executable, "-m", "danlu.engine.cli", "train", str(config_path), "--in-run", str(run.path)]
    cmd += ["--resume"] if resume else []
    log = open(run.log_path, "ab")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True, env=env, cwd=os.getcwd(),
    )
    log.close()
    run.set_status(state="running", pid=proc.pid, pid_start=atomic.proc_start(proc.pid))
    return proc.pid
