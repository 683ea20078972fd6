"""The training runner: TRL's SFTTrainer (+ PEFT) driven by a TrainConfig, writing a run directory.

``run(cfg, run_dir)`` is what ``danlu train`` executes in its own process.  It writes
``events.jsonl`` and ``status.json`` as it goes (DESIGN.md §2), handles SIGINT/SIGTERM
by finishing the step, saving and stopping, and saves the final adapter (LoRA/QLoRA)
or model (full) in ``final/``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import data, encode, evaluate, hardware, models
from .config import TrainConfig
from .errors import DanluError
from .runs import RunDir


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


def prepare_rows(cfg: TrainConfig, tokenizer):
    train_convs, _ = data.load_conversations(cfg.train_file)
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


class _Stop:
    """Set by SIGINT/SIGTERM: the trainer finishes its step, saves and stops."""

    def __init__(self):
        self.requested = False
        self.previous = {}

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        if self.requested:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def restore(self):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _events_callback(run: RunDir, cfg: TrainConfig, stop: _Stop, listener):
    from transformers import TrainerCallback

    class Events(TrainerCallback):
        def __init__(self):
            self.t0 = None
            self.last_tokens = 0
            self.last_t = None
            self.losses = []

        def emit(self, type_, **fields):
            row = run.event(type_, **fields)
            if listener:
                listener(row)

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = self.last_t = time.time()
            run.set_status(state="running", total=state.max_steps, step=state.global_step)
            self.emit("status", state="running", total=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" not in logs:
                return
            now = time.time()
            tokens = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            dt = max(now - self.last_t, 1e-9)
            tps = (tokens - self.last_tokens) / dt
            self.last_tokens, self.last_t = tokens, now
            step = state.global_step
            elapsed = now - self.t0
            eta = elapsed / step * (state.max_steps - step) if step else None
            loss = float(logs["loss"])
            self.losses.append(loss)
            self.emit(
                "step",
                step=step,
                total=state.max_steps,
                loss=loss,
                lr=float(logs.get("learning_rate", 0.0)),
                grad_norm=float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
                epoch=float(state.epoch or 0.0),
                tokens=tokens,
                tokens_per_s=round(tps, 1),
                elapsed_s=round(elapsed, 2),
            )
            run.set_status(step=step, total=state.max_steps, loss=loss, eta_s=round(eta, 1) if eta else None)

        def on_step_end(self, args, state, control, **kw):
            if stop.requested:
                control.should_save = True
                control.should_training_stop = True

        def on_save(self, args, state, control, **kw):
            self.emit("checkpoint", step=state.global_step, path=str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

    return Events()


def run(cfg: TrainConfig, run: RunDir, *, listener=None) -> TrainResult:
    """Train ``cfg`` in ``run``; return the result with the tuned model still in memory."""
    cfg.validate()
    t_start = time.time()
    stop = _Stop()
    stop.install()
    run.set_status(state="running", pid=os.getpid(), method=cfg.method, model=cfg.model, step=0)
    sampler = hardware.SystemSampler(lambda sample: run.event("system", **sample), interval=1.0)

    def emit(type_, **fields):
        row = run.event(type_, **fields)
        if listener:
            listener(row)

    try:
        emit("log", message=f"loading {cfg.model} for {cfg.method} training")
        import torch
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer

        torch.manual_seed(cfg.seed)
        tokenizer = models.load_tokenizer(cfg.model, trust_remote_code=cfg.trust_remote_code)
        train_rows, eval_rows = prepare_rows(cfg, tokenizer)
        model = models.load_for_training(cfg)
        trainable, total = models.count_params(model)
        emit("log", message=f"{trainable:,} trainable of {total:,} parameters; {len(train_rows)} train / "
             f"{len(eval_rows)} eval samples")
        eval_before = None
        if eval_rows:
            eval_before = evaluate.eval_loss(model, eval_rows, pad_id=tokenizer.pad_token_id, batch_size=cfg.micro_batch)
            emit("eval", step=0, loss=eval_before)

        on_cpu = models.device() == "cpu"
        args = SFTConfig(
            output_dir=str(run.checkpoints_dir),
            per_device_train_batch_size=cfg.micro_batch,
            gradient_accumulation_steps=cfg.grad_accum,
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
            use_cpu=on_cpu,
            seed=cfg.seed,
            data_seed=cfg.seed,
            logging_steps=cfg.logging_steps,
            save_strategy="steps" if cfg.save_steps else "no",
            save_steps=cfg.save_steps or 500,
            eval_strategy="no",
            report_to="none",
            disable_tqdm=True,
            max_length=cfg.max_seq_len,
            include_num_input_tokens_seen="non_padding",
            dataloader_num_workers=0,
            train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        )
        callback = _events_callback(run, cfg, stop, listener)
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list([dict(r, length=len(r["input_ids"])) for r in train_rows]),
            processing_class=tokenizer,
            callbacks=[callback],
        )
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(PrinterCallback)  # danlu reports through events, and stdout stays clean
        trainer.remove_callback(ProgressCallback)
        sampler.start()
        trainer.train()
        sampler.stop()
        model = trainer.model
        if cfg.method == "qlora":
            # TRL trains QLoRA adapters in bf16 (QLoRA paper, §3); for inference, evaluation and export give
            # them the compute precision again (lossless upcast) so the model in memory is the one that a fresh
            # load of the saved adapter gives.
            dtype = models.torch_dtype(cfg.precision)
            for param in model.parameters():
                if param.requires_grad and param.dtype != dtype:
                    param.data = param.data.to(dtype)
        steps = trainer.state.global_step
        eval_after = None
        if eval_rows:
            eval_after = evaluate.eval_loss(model, eval_rows, pad_id=tokenizer.pad_token_id, batch_size=cfg.micro_batch)
            emit("eval", step=steps, loss=eval_after)
        from . import atomic

        with atomic.staged_dir(run.final_dir, overwrite=True) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        state = "stopped" if stop.requested else "done"
        emit("checkpoint", step=steps, path=str(run.final_dir), final=True)
        seconds = time.time() - t_start
        tokens = int(getattr(trainer.state, "num_input_tokens_seen", 0) or 0)
        train_seconds = trainer.state.log_history[-1].get("train_runtime") if trainer.state.log_history else None
        tps = tokens / train_seconds if train_seconds else None
        emit("done", state=state, step=steps, eval_loss=eval_after, seconds=round(seconds, 2),
             tokens=tokens, tokens_per_s=round(tps, 1) if tps else None)
        run.set_status(state=state, step=steps, eta_s=0, finished=round(time.time(), 3))
        return TrainResult(
            run_dir=str(run.path), state=state, steps=steps, losses=callback.losses,
            eval_loss_before=eval_before, eval_loss_after=eval_after, tokens_per_s=tps,
            seconds=seconds, model=model, tokenizer=tokenizer, eval_rows=eval_rows,
        )
    except BaseException as exc:
        sampler.stop()
        message, hint = _explain(exc)
        run.event("error", message=message, hint=hint, kind=type(exc).__name__)
        run.set_status(state="failed", error=message)
        if isinstance(exc, (DanluError, KeyboardInterrupt)):
            raise
        raise DanluError(message, fix=hint) from exc
    finally:
        stop.restore()


def _explain(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, DanluError):
        return exc.one_line(), exc.fix or ""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "run `danlu train` again on the run's config.yaml to start over"
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if "out of memory" in text.lower():
        return f"out of memory: {text}", "lower micro_batch, shorten max_seq_len, or use qlora (see `danlu plan`)"
    return f"training failed: {type(exc).__name__}: {text}", "run with --debug for the traceback"


def detach(config_path: Path, run: RunDir) -> int:
    """Start ``danlu train`` for ``run`` in a new session that outlives this terminal; return its pid."""
    import subprocess

    log = open(run.log_path, "ab")
    cmd = [sys.executable, "-m", "engine.cli", "train", str(config_path), "--in-run", str(run.path)]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True, env=env, cwd=os.getcwd(),
    )
    log.close()
    run.set_status(state="running", pid=proc.pid)
    return proc.pid
