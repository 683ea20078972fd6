"""``danlu``: the command line.  Every wizard action is also a subcommand here.

Only argparse and the light engine modules are imported at start-up; each command
imports what it needs (torch, transformers, ...) when it runs, so ``danlu --help`` is
instant.  A :class:`DanluError` becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from . import __version__
from .errors import DanluError

EPILOG = "Run `danlu` with no arguments to open the wizard. Docs: README.md."


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, and where to look
        # argparse lists an optional KEY=VALUE list among the "required" ones when the argument before it is
        # missing: name only what is really missing
        message = re.sub(r"(the following arguments are required: .*?)(, KEY=VALUE)+$", r"\1", message)
        raise DanluError(f"{message}", where=self.prog, fix=f"see `{self.prog} --help`")


# --json: a command's result and its error are printed by main() at the very end, as ONE document (a result that
# ends in an error, e.g. a data report with no usable record, is that result with an "error" key)
_RESULT: list = []
_ERROR: list = []


def _out(args, obj, text: str | None = None):
    if getattr(args, "json", False):
        _RESULT[:] = [obj]
    elif text is not None:
        print(text)


def _json_error(what, where, fix, exit_code: int) -> None:
    _ERROR[:] = [{"what": what, "where": where, "fix": fix, "exit_code": exit_code}]


def _emit(status: int) -> int:
    """Print the --json document (if any) and flush stdout.  A reader that went away (``| head -1``) is not an
    error of danlu's: the command's own status stands, and nothing more is written to the closed pipe."""
    doc = _RESULT[0] if _RESULT else None
    if _ERROR:
        doc = {**doc, "error": _ERROR[0]} if isinstance(doc, dict) else {"error": _ERROR[0]}
    try:
        if doc is not None:
            print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    return status


def _silence_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _tolerant_streams() -> None:
    """Print whatever the terminal or pipe accepts: a character its encoding lacks (danlu's own "—", a Chinese
    sample under PYTHONIOENCODING=latin-1) becomes a replacement character, never a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass


def _stderr():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)  # soft wrap: paths stay whole in logs and pipes


# -- probe ------------------------------------------------------------------------------------
def cmd_probe(args):
    from . import hardware

    info = hardware.probe(gpu=args.gpu)
    if args.gpu is not None and info["gpus"] and info["selected_gpu"] is None:
        raise DanluError(f"no GPU with index {args.gpu}", fix=f"choose one of {[g['index'] for g in info['gpus']]}")
    lines = [f"accelerator: {info['accelerator']}  (NVML: {info['nvml']})"]
    if info["driver"]:
        lines.append(f"driver {info['driver']}, CUDA {info['cuda_driver']}")
    for g in info["gpus"]:
        mark = "*" if g["index"] == info["selected_gpu"] else " "
        procs = g.get("processes") or []
        lines.append(
            f"{mark} GPU {g['index']}: {g['name']}  {g['memory_free_gb']:.1f} / {g['memory_total_gb']:.1f} GB free"
            f"  cc {g.get('compute_capability')}  bf16 {'yes' if g['bf16'] else 'no'}"
            + (f"  ({len(procs)} other process(es) hold memory)" if procs else "")
        )
    for w in info["warnings"]:
        lines.append(f"! {w}")
    h = info["host"]
    lines.append(f"host: {h['cpu']} · {h['cores']} cores · RAM {h['ram_available_gb']:.1f} / {h['ram_total_gb']:.1f} GB "
                 f"free · disk {h['disk_free_gb']:.0f} GB free at {h['disk_path']}")
    _out(args, info, "\n".join(lines))


# -- plan -------------------------------------------------------------------------------------
def cmd_plan(args):
    from . import presets

    if args.list_models:
        _out(args, presets.model_ids(), "\n".join(presets.model_ids()))
        return
    if not args.model:
        raise DanluError("no model given", where="danlu plan", fix="pass --model, e.g. --model Qwen/Qwen2.5-7B-Instruct")
    p, convs = _plan_from_args(args)
    if args.save:
        _save_plan(args, p, convs)
        return
    _out(args, p.to_dict(), _plan_text(p))


def _plan_from_args(args):
    """The plan for `danlu plan`'s flags: the engine's one decider (engine.plan.make), flags as overrides."""
    from . import config as config_mod, data, hardware, plan

    probe = None if args.gpu_mem is not None else hardware.probe(gpu=args.gpu)
    if probe and args.gpu is not None and probe["selected_gpu"] is None:
        raise DanluError(f"no GPU with index {args.gpu}",
                         fix=f"choose one of {[g['index'] for g in probe['gpus']] or 'none: this machine has no GPU'}")
    overrides = config_mod.TrainConfig.parse_overrides(args.overrides)
    flags = {"max_seq_len": args.seq_len, "micro_batch": args.micro_batch, "lora_r": args.lora_r,
             "lora_targets": args.lora_targets, "optimizer": args.optimizer,
             "grad_checkpointing": {"on": True, "off": False, None: None}[args.grad_checkpointing]}
    overrides.update({k: v for k, v in flags.items() if v is not None})
    convs, lengths = None, None
    if args.data:
        convs, _ = data.load_conversations(args.data)
        lengths = plan.token_lengths(args.model, convs, trust_remote_code=args.trust_remote_code) if convs else []
    held_out = len(data.load_conversations(args.eval_data)[0]) if args.eval_data else 0
    p = plan.make(args.model, task=args.task, method=args.method, overrides=overrides, lengths=lengths, probe=probe,
                  gpu_mem_gb=args.gpu_mem, target_batch=args.target_batch, trust_remote_code=args.trust_remote_code,
                  held_out=held_out)
    return p, convs


def _plan_text(p) -> str:
    verdict = "fits" if p.fits else "DOES NOT FIT"
    lines = [f"{p.model} on {p.device}", f"plan: {p.summary()}",
             f"predicted peak {p.predicted_peak_gb:.2f} GB of {p.budget_gb:.2f} GB: {verdict}", "why:"]
    lines += [f"  • {text}" for _, text in p.reasons]
    if p.remedies:
        lines.append("to make it fit: " + "; ".join(p.remedies))
    lines.append("candidates:")
    for c in p.candidates:
        terms = ", ".join(f"{k} {v:.2f}" for k, v in c["terms"].items())
        lines.append(f"  {c['method']:<5} mb {c['micro_batch']:<2} {c['peak_gb']:>7.2f} GB  {c['reason']}  [{terms}]")
    return "\n".join(lines)


def _save_plan(args, p, convs) -> None:
    """``danlu plan --save CONFIG``: the plan's config (the wizard's Plan screen writes the same for the same
    choices: both are engine.plan.Plan.config)."""
    from pathlib import Path

    from . import atomic, data, guard

    if not p.fits:
        raise DanluError(f"the plan does not fit ({p.predicted_peak_gb:.2f} GB of {p.budget_gb:.2f} GB)",
                         fix="; ".join(p.remedies) or "pick a smaller model or a shorter --seq-len")
    out = Path(args.save)
    if str(args.save).endswith("/") or out.is_dir():
        out = out / "config.yaml"
    guard.check_destination(out, guard.inputs_of((args.data, "the dataset (--data)"),
                                                 (args.eval_data, "the eval data (--eval-data)")), what="--save")
    cfg = p.config(train_file=str(Path(args.data).resolve()) if args.data else "",
                   eval_file=str(Path(args.eval_data).resolve()) if args.eval_data else None,
                   dataset_hash=data.file_hash(args.data) if args.data else "")
    atomic.write_text(out, cfg.to_yaml())
    import dataclasses

    d = p.to_dict()
    d.update(saved=str(out), config=dataclasses.asdict(cfg))
    next_step = f"danlu train {out}" if args.data else f"set train_file in {out}, then: danlu train {out}"
    _out(args, d, f"plan: {p.summary()}\nsaved {out}\nnext: {next_step}")


# -- data -------------------------------------------------------------------------------------
def _report_text(report, removed=None) -> str:
    r = report if isinstance(report, dict) else report.to_dict()
    lines = [f"{r['file']}: {r['format']} (confidence {r['confidence']:.0%}) — {r['evidence']}",
             f"{r['records']} records, {r['kept']} usable" + (f" ({r['fixed']} fixed)" if r.get("fixed") else "")
             + f", {len(r['problems'])} problem(s); encoding {r['encoding']}"]
    if r.get("mapping_source") == "proposed":
        flag = ",".join(f"{k}={v}" for k, v in r["mapping"].items())
        lines.append(f"proposed column mapping: {flag} — confirm or edit it with --mapping '{flag}'")
    for p in r["problems"][:50]:
        extra = f" [{p['action']}]" if p.get("action") not in (None, "kept") else ""
        rec = f" (record {p['record']})" if p.get("record") not in (None, p["line"]) else ""
        lines.append(f"  line {p['line']}{rec}: {p['field']}: {p['what']}{extra} — {p['fix']}")
    if len(r["problems"]) > 50:
        lines.append(f"  … {len(r['problems']) - 50} more (use --json for all)")
    if r.get("problem_counts"):
        lines.append("by kind: " + ", ".join(f"{k} {v}" for k, v in r["problem_counts"].items()))
    removed = removed if removed is not None else r.get("removed")
    if removed:
        lines.append("rules: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    stats = r.get("stats") or {}
    if stats.get("chars", {}).get("count"):
        c = stats["chars"]
        lines.append(f"characters per conversation: min {c['min']}, median {c['median']}, p95 {c['p95']}, "
                     f"p99 {c['p99']}, max {c['max']}")
    for ex in stats.get("near_duplicate_examples") or []:
        lines.append(f"  near-duplicate pair (similarity {ex['similarity']:.2f}): line {ex['line']} {ex['text']!r}"
                     f"  ~  line {ex['duplicate_of']} {ex['other']!r}")
    t = stats.get("tokens")
    if t and t.get("count"):
        lines.append(f"tokens ({t['model']} chat template): min {t['min']}, median {t['median']}, p95 {t['p95']}, "
                     f"p99 {t['p99']}, max {t['max']}"
                     + (f"; {t['truncated']} of {t['count']} longer than --max-seq-len {t['max_seq_len']}"
                        if "truncated" in t else ""))
        peak = max(b["count"] for b in t["histogram"]) or 1
        for b in t["histogram"]:
            lines.append(f"  {b['from']:>7}–{b['to']:<7} {'#' * max(1 if b['count'] else 0, 40 * b['count'] // peak)}"
                         f" {b['count']}")
    return "\n".join(lines)


def cmd_data(args):
    from . import data

    common = dict(mapping=args.mapping, on_error=args.on_error)
    if args.data_cmd == "inspect":
        report = data.steps.inspect(args.file, max_chars=args.max_chars, near_dup_threshold=args.near_dup_threshold,
                                    model=args.model, max_seq_len=args.max_seq_len, **common)
        _out(args, report.to_dict(), _report_text(report))
        if not report.kept:
            raise data.no_usable(report)
    elif args.data_cmd == "convert":
        res = data.steps.convert(args.file, args.to, args.output, **common)
        _out(args, res, _report_text(res["report"]) + f"\nwrote {res['records']} {args.to} records to {res['output']}"
             + (f" (LLaMA-Factory entry in {res['dataset_info']})" if res["dataset_info"] else "")
             + "".join(f"\nnote: {n}" for n in res["roundtrip"]))
    elif args.data_cmd == "clean":
        res = data.steps.clean(args.file, args.output, to=args.to, max_chars=args.max_chars,
                               near_dup_threshold=args.near_dup_threshold, normalize_mode=args.normalize,
                               mix=args.mix, mix_ratio=args.mix_ratio, seed=args.seed, **common)
        mix = f"; mixed in {res['mix']['added']} from {res['mix']['file']}" if res["mix"] else ""
        _out(args, res, _report_text(res["report"], res["removed"])
             + f"\nwrote {res['kept']} records to {res['output']}{mix}"
             + (f"; {res['normalized']} normalised" if args.normalize else ""))
    elif args.data_cmd == "split":
        res = data.steps.split(args.file, args.out_dir, to=args.to, eval_ratio=args.eval_ratio, seed=args.seed,
                               by=args.by, near_dup_threshold=args.near_dup_threshold, mix=args.mix,
                               mix_ratio=args.mix_ratio, **common)
        leak = res["leakage"]
        text = (f"wrote {res['train_records']} train records to {res['train']} and {res['eval_records']} eval "
                f"records to {res['eval']}" + (f" (split by {args.by})" if args.by else "")
                + f"\nleakage: {leak['pairs']} near-duplicate pair(s) across train and eval"
                + (f" ({leak['eval_records_leaked']} eval records) — run `danlu data clean` first" if leak["pairs"] else ""))
        for ex in leak["examples"]:
            text += f"\n  train line {ex['train_line']} ~ eval line {ex['eval_line']} ({ex['similarity']:.2f}): {ex['eval']!r}"
        if res["mix"]:
            text += f"\nmixed {res['mix']['added']} conversations from {res['mix']['file']} into train"
        _out(args, res, text)


# -- train / runs / attach / stop -------------------------------------------------------------
def _num(value, fmt: str, missing: str = "-") -> str:
    return format(value, fmt) if value is not None else missing


def _print_event(console, ev):
    """One event as a line of the CLI's output (typed records: a field that was damaged on disk reads as None)."""
    from rich.markup import escape

    from . import events

    if isinstance(ev, events.Step):
        console.print(f"step {ev.step}/{_num(ev.total, 'd', '?')}  loss {_num(ev.loss, '.4f')}  lr {_num(ev.lr, '.2e')}  "
                      f"{ev.tokens_per_s or 0:.0f} tok/s  {ev.elapsed_s or 0:.0f} s")
    elif isinstance(ev, events.Eval):
        console.print(f"eval  step {ev.step}  loss {_num(ev.loss, '.4f')}")
    elif isinstance(ev, events.Log):
        console.print(f"[dim]log: {escape(ev.message)}[/dim]")
    elif isinstance(ev, events.Checkpoint):
        console.print(f"[dim]checkpoint: {escape(ev.path)}[/dim]")
    elif isinstance(ev, events.Backoff):
        console.print(f"[dim]backoff: out of memory at step {ev.step}; now {escape(ev.new)} (was {escape(ev.old)})[/dim]")
    elif isinstance(ev, events.Status):
        console.print(f"[dim]status: {ev.state}[/dim]")
    elif isinstance(ev, events.Error):
        console.print(f"[red]error: {escape(ev.message)}[/red]  {escape(ev.hint)}")
    elif isinstance(ev, events.Done):
        console.print(f"[green]done[/green]: {ev.state} after {ev.step} steps, {_num(ev.seconds, '.1f', '?')} s")


class _ProgressView:
    """Foreground training on a terminal: a live progress bar (step, loss, tokens/s, ETA) with events above it."""

    def __init__(self, console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console
        self.progress = Progress(
            TextColumn("[bold]training[/bold]"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[tps]} tok/s"),
            TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        )
        self.task = self.progress.add_task("train", total=None, loss="-", tps="-")
        self.live = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.live:
            self.progress.stop()
            self.live = False

    def __call__(self, ev):
        from . import events

        if isinstance(ev, events.System):
            return
        if not self.live and isinstance(ev, (events.Step, events.Status)):
            self.progress.start()  # the bar appears when training starts, not while the model loads
            self.live = True
        if isinstance(ev, events.Done) and self.live:
            self.progress.stop()
            self.live = False
        if isinstance(ev, events.Step):
            self.progress.update(self.task, completed=ev.step, total=ev.total,
                                 loss=_num(ev.loss, ".4f"), tps=f"{ev.tokens_per_s or 0:,.0f}")
        elif isinstance(ev, events.Status) and ev.total:
            self.progress.update(self.task, completed=ev.step, total=ev.total)
        else:
            _print_event(self.progress.console, ev)


def _check_config(cfg, where: str) -> dict:
    """Everything about a config that can be checked before a run directory exists (the conversations read)."""
    from . import prepare

    return prepare.check_config(cfg, where)


def _train_in(cfg, run, args, *, resume: bool = False):
    from . import train

    import contextlib

    console = _stderr()
    view = contextlib.nullcontext(lambda row: _print_event(console, row))
    if args.json:
        view = contextlib.nullcontext(None)
    elif console.is_terminal and not args.in_run:
        view = _ProgressView(console)
    with view as listener:
        result = train.run(cfg, run, resume=resume, detached=bool(args.in_run), listener=listener)
    if train.rank() != 0:  # under torchrun every rank trains; one of them reports
        return
    _out(args, {"run_dir": result.run_dir, "state": result.state, "steps": result.steps,
                "train_loss_first": result.losses[0] if result.losses else None,
                "train_loss_last": result.losses[-1] if result.losses else None,
                "eval_loss_before": result.eval_loss_before, "eval_loss_after": result.eval_loss_after,
                "seconds": round(result.seconds, 1)},
         f"run {run.id}: {result.state}; final model in {run.final_dir}")


def _started(args, run, pid):
    _out(args, {"run_id": run.id, "run_dir": str(run.path), "pid": pid},
         f"started run {run.id} (pid {pid}) in the background; it survives closing this terminal.\n"
         f"follow it:  danlu attach {run.id}\nstop it:    danlu stop {run.id}")


def _launcher_run_name(cfg) -> str:
    """One name for all ranks of a torchrun/accelerate launch: they share the launcher as parent process."""
    from pathlib import Path

    launcher = os.getppid()
    try:  # the launcher's start time (clock ticks since boot) makes the name unique across launches
        started = Path(f"/proc/{launcher}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        started = os.environ.get("MASTER_PORT", "0")
    return f"{cfg.method}-ddp-{launcher}-{started}"


def cmd_train(args):
    import time
    from pathlib import Path

    from . import atomic, data, paths, runs, train
    from .config import TrainConfig

    cfg = TrainConfig.load(args.config, TrainConfig.parse_overrides(args.overrides))
    read = _check_config(cfg, str(args.config))
    if args.in_run:  # the detached child, or a resume
        _train_in(cfg, runs.RunDir(Path(args.in_run)), args, resume=args.resume)
        return
    if Path(cfg.train_file).is_file() and not cfg.dataset_hash:
        cfg.dataset_hash = data.file_hash(cfg.train_file)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        # torchrun / accelerate: every rank runs this command; they share one run directory, rank 0 writes it
        name = runs.clean_name(args.run_name) if args.run_name else _launcher_run_name(cfg)
        run = runs.RunDir(paths.runs_root() / name)
        if train.rank() == 0:
            if run.events_path.exists():
                raise DanluError(f"run {name} already exists", where=str(run.path),
                                 fix="pick a new --run-name, or continue it with `danlu resume`")
            run.path.mkdir(parents=True, exist_ok=True)
            run.set_status(state="pending", created=round(time.time(), 3), step=0)
            atomic.write_text(run.config_path, cfg.to_yaml())
        _train_in(cfg, run, args)
        return
    from . import prepare

    run = prepare.prepare_run(cfg, read["train_file"], read.get("eval_file"), name=args.run_name)  # its own data
    if args.detach:
        _started(args, run, train.detach(run.config_path, run))
        return
    _train_in(cfg, run, args)


def cmd_resume(args):
    from . import resume

    run, cfg = resume.prepare(args.run, epochs=args.epochs, max_steps=args.max_steps,
                              allow_data_change=args.allow_data_change)
    if args.detach:
        from . import train

        _started(args, run, train.detach(run.config_path, run, resume=True))
        return
    args.in_run = None
    _train_in(cfg, run, args, resume=True)


def cmd_runs(args):
    from . import runs

    rows = [r.summary() for r in runs.list_runs()]
    lines = [f"{'RUN':<48} {'STATE':<9} {'METHOD':<6} {'STEP':>9}  LOSS"]
    for r in rows:
        step = f"{r['step'] or 0}/{r['total'] or '?'}"
        loss = f"{r['loss']:.4f}" if isinstance(r["loss"], (int, float)) else "-"
        lines.append(f"{r['id']:<48} {r['state']:<9} {r['method'] or '-':<6} {step:>9}  {loss}"
                     + (f"  ({r['damage']})" if r.get("damage") else ""))
    if not rows:
        from . import paths

        lines = [f"no runs yet in {paths.runs_root()} — start one with `danlu quickstart` or `danlu train CONFIG`"]
    _out(args, rows, "\n".join(lines))


def cmd_attach(args):
    from . import runs

    from rich.console import Console

    run = runs.resolve(args.run)
    console = Console(stderr=args.json, highlight=False)
    state = run.effective_state()
    live = state in ("pending", "running") and not args.no_follow
    console.print(f"run {run.id} ({state})" + (" — Ctrl-C detaches, training continues" if live else
                                              " — finished; its history follows" if not args.no_follow else ""))
    try:
        for ev in run.follow(stop_when_finished=True) if not args.no_follow else run.events():
            if args.json:
                print(json.dumps(ev.to_row(), ensure_ascii=False), flush=True)
            else:
                _print_event(console, ev)
    except KeyboardInterrupt:
        console.print("detached; the run goes on")


def cmd_stop(args):
    from . import runs, train

    run = runs.resolve(args.run)
    action = "checkpoint" if args.checkpoint else "stop"
    if not train.request(run, action):
        (run.path / "control.json").unlink(missing_ok=True)
        raise DanluError(f"run {run.id} is not running (state: {run.effective_state()})",
                         fix="`danlu runs` lists runs and their states")
    text = ("asked run {id} to save a checkpoint now; it keeps training" if args.checkpoint else
            "asked run {id} to stop: it finishes the current step, saves a checkpoint and exits")
    _out(args, {"run_id": run.id, "action": action}, text.format(id=run.id))


# -- chat / eval / export ---------------------------------------------------------------------
def _sampling_args(args, model):
    from .chat import Sampling

    return Sampling.from_model(model, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                               repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens,
                               seed=args.seed)


def cmd_chat(args):
    from . import chat

    target = chat.locate(args.model, args.checkpoint)  # a bad reference fails here, before anything loads
    console = _stderr()
    console.print(f"[dim]loading {target.describe()}{' — the base model alone' if args.base else ''}…[/dim]")
    model, tokenizer = chat.load(args.model, base=args.base, trust_remote_code=args.trust_remote_code, target=target)
    session = chat.ChatSession(model, tokenizer, target=None if args.base else target, system=args.system)
    session.sampling = _sampling_args(args, model)
    if args.prompt is not None:
        answers = {}
        sides = ["tuned", "base"] if args.compare else ["tuned"]
        for side in sides:
            text = ""
            if not args.json and args.compare:
                print(f"{'base' if side == 'base' else 'tuned'}> ", end="", flush=True)
            for piece in session.stream(args.prompt, side=side, commit=False):
                text += piece
                if not args.json:
                    print(piece, end="", flush=True)
            r = session.last
            if not args.json:
                print(chat.shown(text, r.tokens) if not text.strip() else "")
            answers[side] = {"answer": text, "tokens": r.tokens, "tokens_per_s": round(r.tokens_per_s, 2),
                             "finished_on": r.finished_on}
        if args.json:
            res = {"prompt": args.prompt, "system": args.system, "sampling": session.sampling.to_dict(),
                   **answers["tuned"]}
            if "base" in answers:
                res["base"] = answers["base"]
            _out(args, res)
        return
    from .repl import Repl

    Repl(session, label_tuned="base" if args.base else "tuned").loop()


def _eval_progress(args):
    console = _stderr()

    def progress(stage, text):
        if not args.json or console.is_terminal:
            console.print(f"[bold cyan]\\[{stage}][/bold cyan] {text}")

    return progress


def cmd_eval(args):
    from . import evaluate

    if args.loss_only:
        from . import chat, data, encode

        target = chat.locate(args.model, args.checkpoint)
        if not args.data:
            raise DanluError("--loss-only needs --data FILE", fix="pass the held-out conversations to score")
        convs, _ = data.load_conversations(args.data)
        model, tokenizer = chat.load(args.model, base=args.base, target=target)
        rows = encode.encode_all(tokenizer, convs, args.max_seq_len)
        loss = evaluate.eval_loss(model, rows, pad_id=tokenizer.pad_token_id)
        import math

        res = {"model": args.model, "data": args.data, "samples": len(rows), "eval_loss": loss,
               "perplexity": math.exp(loss) if loss < 50 else None}
        _out(args, res, f"{args.model} on {args.data}: eval loss {loss:.4f} over {len(rows)} samples "
             f"(perplexity {res['perplexity'] or float('inf'):.2f})")
        return
    res = evaluate.report(args.model, args.data, samples=args.samples, stability_runs=args.stability,
                          temperature=args.temperature, max_new_tokens=args.max_new_tokens, probe=not args.no_probe,
                          progress=_eval_progress(args), checkpoint=args.checkpoint)
    if args.json:
        _out(args, res)
        return
    print(evaluate.markdown(res))
    if res.get("files"):
        print(f"written: {', '.join(res['files'])}")


def cmd_export(args):
    from . import export

    console = _stderr()

    def progress(stage, text):
        if not args.json or console.is_terminal:
            console.print(f"[bold cyan]\\[{stage}][/bold cyan] {text}")

    res = export.export(args.run, args.out, targets=args.to or args.target or export.DEFAULT_TARGETS,
                        gguf_types=args.gguf, dtype=args.dtype, overwrite=args.overwrite,
                        llama_quantize=args.llama_quantize, llama_cpp=args.llama_cpp, hub_repo=args.hub_repo,
                        hub_private=not args.public, name=args.name, system=args.system,
                        checkpoint=args.from_checkpoint, progress=progress)
    if args.json:
        _out(args, res)
        return
    print(export.summary(res))


# -- demo model / quickstart ------------------------------------------------------------------
def cmd_demo_model(args):
    import json as _json
    import time

    from . import models

    t = time.time()
    path = models.build_demo_model(args.size, args.out, force=args.force)
    info = _json.loads((path / "danlu_demo.json").read_text())
    info.update(path=str(path), seconds=round(time.time() - t, 2))
    _out(args, info, f"demo model {args.size} ({info['params']:,} parameters) at {path}")


def cmd_model(args):
    from . import gguf_import

    if args.model_cmd == "inspect":
        info = gguf_import.inspect(args.file)
        _out(args, info.to_dict(), info.describe() + f"\n{'quantised' if info.quantised else 'not quantised'}; "
             f"tokenizer {info.tokenizer_model}; chat template {'yes' if info.has_chat_template else 'no'}; "
             f"context {info.context_length}\nimport it with: danlu model import {args.file}")
        return
    console = _stderr()

    def progress(stage, text):
        if not args.json:
            console.print(f"[bold cyan]\\[{stage}][/bold cyan] {text}")

    res = gguf_import.import_gguf(args.file, args.out, dtype=args.dtype, overwrite=args.overwrite,
                                  verify=not args.no_verify, progress=progress,
                                  bars=console.is_terminal and not args.json)
    lines = [f"imported {res['name'] or args.file} ({res['architecture']}, {res['params'] / 1e6:,.1f} M parameters, "
             f"{res['dtype']}) to {res['out']}" + (" (already there)" if res.get("reused") else "")]
    if res.get("logits_max_abs_diff") is not None:
        lines.append(f"check: logits vs the GGUF max |diff| {res['logits_max_abs_diff']:.2e} over "
                     f"{res['probe_tokens']} tokens; chat template renders "
                     + ("identically" if res.get("chat_template_identical") else
                        "DIFFERENTLY" if res.get("chat_template_identical") is False else "(no template)"))
    lines.append(f"stops at: {', '.join(res['eos_tokens']) or '-'}")
    if res.get("quantised"):
        lines.append("note: the weights were dequantised from a quantised file; they are not the original 16-bit "
                     "release (see the folder's README.md)")
    if res.get("warning"):
        lines.append(f"warning: {res['warning']}")
    lines.append(f"next: danlu plan --model {res['out']}")
    _out(args, res, "\n".join(lines))


def cmd_quickstart(args):
    from . import quickstart

    console = _stderr()
    stages = ["probe", "model", "data", "plan", "train", "chat", "export"]

    def progress(stage, text):
        n = stages.index(stage) + 1 if stage in stages else "?"
        console.print(f"[bold cyan][{n}/{len(stages)} {stage}][/bold cyan] {text}")

    import contextlib

    view = _ProgressView(console) if console.is_terminal and not args.json else contextlib.nullcontext(
        lambda ev: _print_event(console, ev))
    with view as listener:
        res = quickstart.quickstart(method=args.method, model=args.model, size=args.size, data_file=args.data,
                                    epochs=args.epochs, max_steps=args.max_steps, progress=progress, listener=listener)
    if args.json:
        _out(args, res)
        return
    _print_answers(res["answers"])
    print(f"\nrun:        {res['run_dir']}\n"
          f"train loss  {res['train_loss_first']:.3f} → {res['train_loss_last']:.3f} over {res['steps']} steps\n"
          f"eval loss   {res['eval_loss_before']:.3f} → {res['eval_loss_after']:.3f} on {res['eval_conversations']} "
          f"held-out conversations (base → tuned)\n"
          f"export:     {res['export_dir']} (merged logits max |diff| {res['merged_logits_max_abs_diff']:.2e})\n"
          f"took {res['seconds']:.0f} s — next: danlu chat {res['run_dir']}")
    from . import models

    if models.is_random_init(res["model"]):
        print("(the random-init demo model starts from random weights, so its answers are not meant to make sense: "
              "this run shows the pipeline; the default demo:smollm2 is a real pretrained model)")


def _print_answers(answers: list[dict]) -> None:
    """Held-out questions with the reference, the base and the tuned answer side by side."""
    if not answers:
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=False)
    for i, a in enumerate(answers, 1):
        table = Table(title=f"held-out question {i}: {a['prompt']}", title_justify="left", show_lines=False,
                      expand=True)
        table.add_column("base model", ratio=1)
        table.add_column("tuned model", ratio=1)
        table.add_row(_shown(a.get("base")), _shown(a.get("tuned")))
        console.print(table)
        if a.get("reference"):
            console.print(f"[dim]reference answer: {_clip(a['reference'], 300)}[/dim]")


def _shown(text) -> str:
    from rich.markup import escape

    if text is None:
        return "(not compared)"
    if not text.strip():
        return f"(the model answered only whitespace/newlines — {len(text)} characters)"
    return escape(_clip(text.strip(), 600))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _number(kind, low=None, high=None, *, low_open=False, what=""):
    """An argparse type: a number of ``kind`` in [low, high] (``low_open``: above low), with the range in the error."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}")
        if value != value or (low is not None and (value <= low if low_open else value < low)) or \
                (high is not None and value > high):
            want = what or (f"more than {low}" if low_open else f"at least {low}" if high is None else
                            f"from {low} to {high}")
            raise argparse.ArgumentTypeError(f"{text} is out of range: {want}")
        return value
    return parse


POS_INT, NONNEG_INT = _number(int, 1), _number(int, 0)
POS_FLOAT, NONNEG_FLOAT = _number(float, 0, low_open=True), _number(float, 0)


# -- parser -----------------------------------------------------------------------------------
def data_targets() -> tuple:
    from .data.formats import TARGETS

    return TARGETS


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="danlu", description="danlu (丹炉): fine-tune a chat model on one GPU, from probe to export.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"danlu {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.add_argument("--demo", action="store_true", help="open the wizard with the offline demo model and sample data")
    p.add_argument("--lang", choices=["en", "zh"], default=None, help="wizard language (default: from the locale)")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    def add(name, func, help, description=None):
        sp = sub.add_parser(name, help=help, description=description or help)
        sp.set_defaults(func=func)
        return sp

    def json_flag(sp):
        sp.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    sp = add("probe", cmd_probe, "show GPUs (via NVML), RAM and disk that training can use")
    sp.add_argument("--gpu", type=NONNEG_INT, default=None, help="GPU index to select on a multi-GPU machine")
    json_flag(sp)

    sp = add("plan", cmd_plan, "predict memory and choose full/LoRA/QLoRA, batch and accumulation that fit",
             "Predict peak memory from the model's config alone (no download) and choose the method, "
             "micro-batch, gradient accumulation, checkpointing, optimizer and precision that fit.")
    sp.add_argument("--model", help="Hugging Face id, local model folder or config.json, or demo:smollm2")
    sp.add_argument("--gpu-mem", type=POS_FLOAT, default=None, metavar="GB", help="plan for a GPU with this much memory")
    sp.add_argument("--seq-len", type=POS_INT, default=None,
                    help="training sequence length (default: the --data token-length p99 rounded up to 64, at most 1024 "
                         "or the demo model's own limit)")
    sp.add_argument("--data", help="dataset file: the sequence length becomes its token-length p99; with --save it is "
                                   "the config's train_file")
    sp.add_argument("--eval-data", help="with --save: held-out conversations (the config's eval_file)")
    sp.add_argument("--save", metavar="CONFIG", help="write the config.yaml `danlu train` runs (the wizard's Plan "
                                                      "screen writes the same for the same choices)")
    sp.add_argument("--task", default="general", help="task preset: learning rate, epochs, LoRA shape "
                                                      "(presets/tasks.yaml; default general)")
    sp.add_argument("--trust-remote-code", action="store_true", help="with --save: allow the model's own code")
    sp.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings to set, e.g. lr=1e-4 epochs=2 (any config.yaml key)")
    sp.add_argument("--gpu", type=NONNEG_INT, default=None, help="GPU index to plan for on a multi-GPU machine")
    sp.add_argument("--method", choices=["auto", "full", "lora", "qlora"], default=None,
                    help="force a method (default auto: the best one that fits)")
    sp.add_argument("--micro-batch", type=POS_INT, help="force the micro-batch size")
    sp.add_argument("--target-batch", type=POS_INT, default=None,
                    help="effective batch to reach (default 16, or the demo model's own)")
    sp.add_argument("--lora-r", type=POS_INT, default=None, help="LoRA rank (default: the task preset's, 16)")
    sp.add_argument("--lora-targets", default=None, help="all-linear (default) or a list such as q_proj,v_proj")
    sp.add_argument("--grad-checkpointing", choices=["on", "off"], help="force gradient checkpointing")
    sp.add_argument("--optimizer", help="transformers optim name: adamw_torch, adamw_bnb_8bit, paged_adamw_8bit, …")
    sp.add_argument("--list-models", action="store_true", help="list the model presets known offline")
    json_flag(sp)

    sp = add("data", cmd_data, "inspect, convert, clean and split datasets (Alpaca, ShareGPT, messages, CSV, Parquet)")
    dsub = sp.add_subparsers(dest="data_cmd", metavar="ACTION", required=True, parser_class=_Parser)
    for name, help in (("inspect", "detect the format and report every problem with its line"),
                       ("convert", "convert to alpaca, sharegpt or messages"),
                       ("clean", "drop broken records, exact and near duplicates and overlong rows"),
                       ("split", "split into train and eval files and check for leakage")):
        d = dsub.add_parser(name, help=help, description=help)
        d.set_defaults(func=cmd_data)
        d.add_argument("file", help="a .json/.jsonl/.csv/.tsv/.parquet file, a folder of them, a `datasets` "
                                    "save_to_disk folder, dataset_info.json#NAME, or a Hugging Face id (online)")
        d.add_argument("--mapping", help="column mapping, e.g. 'instruction=问题,output=回答' (or 'auto' to accept "
                                         "the proposed one)")
        d.add_argument("--on-error", choices=["fix", "skip", "stop"], default="skip",
                       help="bad records: fix what can be fixed, skip them (default), or stop at the first")
        if name in ("convert", "clean", "split"):
            d.add_argument("--to", choices=list(data_targets()), default="messages" if name != "convert" else None,
                           required=name == "convert", help="output format")
        if name in ("convert", "clean"):
            d.add_argument("-o", "--output", required=True, help="output file (.jsonl, or .json for a JSON array)")
        if name in ("inspect", "clean"):
            d.add_argument("--max-chars", type=NONNEG_INT, default=16000,
                           help="flag/drop conversations longer than this many characters (default 16000; 0 = off)")
        if name != "convert":
            d.add_argument("--near-dup-threshold", type=float, default=0.9,
                           help="MinHash similarity (0-1] from which two records count as near duplicates "
                                "(default 0.9)")
        if name == "inspect":
            d.add_argument("--model", help="token statistics with this model's tokenizer and chat template "
                                           "(e.g. demo:tiny or a model folder)")
            d.add_argument("--max-seq-len", type=POS_INT, default=None, help="count the rows this length would truncate")
        if name == "clean":
            d.add_argument("--normalize", nargs="?", const="all", choices=["all", "whitespace", "width"],
                           help="normalise whitespace and/or full-width/half-width characters (default: all)")
        if name == "split":
            d.add_argument("--out-dir", required=True, help="folder for train and eval files")
            d.add_argument("--eval-ratio", type=float, default=0.1, help="share held out for evaluation (default 0.1)")
            d.add_argument("--by", metavar="COLUMN", help="split by this field (time or id): the latest values go to "
                                                          "eval, equal values stay together")
        if name in ("clean", "split"):
            d.add_argument("--seed", type=int, default=42, help="shuffle/sampling seed (default 42)")
            d.add_argument("--mix", metavar="FILE", help="mix in a general instruction set against forgetting")
            d.add_argument("--mix-ratio", type=POS_FLOAT, default=0.1,
                           help="add this many mix records per record of the data (default 0.1 = 10 %%)")
        json_flag(d)

    sp = add("train", cmd_train, "train from a config.yaml (foreground, or --detach to survive a closed terminal)")
    sp.add_argument("config", help="a config.yaml (from `danlu plan --save`, or runs/<id>/config.yaml to reproduce a "
                                   "run)")
    sp.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                    help="settings that replace the file's, e.g. lr=1e-4 max_steps=50 (see the keys in config.yaml)")
    sp.add_argument("--detach", action="store_true", help="run in the background in a new session; prints the run id")
    sp.add_argument("--run-name", help="name of the run directory (default: date, time, method and model); "
                    "under torchrun every rank must get the same one")
    sp.add_argument("--in-run", help=argparse.SUPPRESS)
    sp.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    json_flag(sp)

    sp = add("resume", cmd_resume, "resume a stopped, crashed or killed run from its newest good checkpoint",
             "Resume a run from its newest readable checkpoint (model, optimizer, scheduler, RNG and data "
             "position). A finished run can be trained longer with --epochs. Refuses, with the differences, when "
             "config.yaml changed in a way that breaks resuming.")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--epochs", type=float, help="train to this many epochs in total (extends a finished run)")
    sp.add_argument("--max-steps", type=int, help="train to this many optimizer steps in total")
    sp.add_argument("--detach", action="store_true", help="resume in the background")
    sp.add_argument("--allow-data-change", action="store_true",
                    help="resume even though the training data changed since the run started (its content hash)")
    json_flag(sp)

    sp = add("runs", cmd_runs, "list runs with their state, step and loss")
    json_flag(sp)

    sp = add("attach", cmd_attach, "follow a run's events (the whole history, then live); Ctrl-C detaches")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--no-follow", action="store_true", help="print the history and exit")
    json_flag(sp)

    sp = add("stop", cmd_stop, "stop a running run cleanly (finish the step, save, exit)")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--checkpoint", action="store_true", help="only save a checkpoint now; training goes on")
    json_flag(sp)

    sp = add("chat", cmd_chat, "chat with a model or a run's tuned model (streaming REPL; --prompt for one answer)",
             "Chat with a run's tuned model (its base model with the adapter, in 4-bit again for a QLoRA run), one of "
             "its checkpoints (RUN@checkpoint-N or --checkpoint N), a merged/full model folder, a Hugging Face id or "
             "demo:smollm2. Replies stream and stop at the chat template's end-of-turn token; sampling defaults come "
             "from the model's generation_config. In the REPL: /system, /reset, /retry, /compare (the same prompt to "
             "the base model: the adapter switched off, no second copy in memory), /set temperature 0.7, /save "
             "FILE (the transcript as a training-format JSONL line), /help; Ctrl-C stops the answer, not the REPL.")
    sp.add_argument("model", help="run id/path (RUN@checkpoint-N for a checkpoint), model folder, Hugging Face id, or "
                                  "demo:smollm2")
    sp.add_argument("--checkpoint", help="a checkpoint of the run: N or checkpoint-N")
    sp.add_argument("--prompt", help="ask one question and exit (otherwise interactive)")
    sp.add_argument("--compare", action="store_true", help="with --prompt: answer with the tuned and the base model")
    sp.add_argument("--system", help="system prompt")
    sp.add_argument("--base", action="store_true", help="use the run's base model without the adapter")
    sp.add_argument("--max-new-tokens", type=POS_INT, default=None, help="longest reply in tokens (default 256)")
    sp.add_argument("--temperature", type=NONNEG_FLOAT, default=None,
                    help="0 = greedy; default from the model's generation_config (greedy if it has none)")
    sp.add_argument("--top-p", type=_number(float, 0, 1, low_open=True, what="above 0, at most 1"), default=None, help="nucleus sampling (default from the model, else 1)")
    sp.add_argument("--top-k", type=NONNEG_INT, default=None, help="top-k sampling, 0 = off (default from the model)")
    sp.add_argument("--repetition-penalty", type=POS_FLOAT, default=None, help="above 1 discourages repeats (default 1)")
    sp.add_argument("--seed", type=int, default=None, help="seed for sampling")
    sp.add_argument("--trust-remote-code", action="store_true", help="run model code from its repository")
    json_flag(sp)

    sp = add("eval", cmd_eval, "evaluation report of a run: base vs tuned loss, ROUGE-L/BLEU, stability, forgetting",
             "Evaluate a run on its held-out split (or --data FILE): eval loss and perplexity of the base and the "
             "tuned model (one model in memory, the adapter switched off and on), ROUGE-L and BLEU of greedy answers "
             "against the reference answers (CJK-aware), stability of sampled answers, a forgetting probe on general "
             "prompts (KL divergence from the base), side-by-side examples and a template check. Writes eval.json and "
             "eval.md into the run. --json prints eval.json: run, model, method, checkpoint, data, "
             "eval_conversations, base_side, eval_loss, perplexity (the tuned model's), tuned and base "
             "{eval_loss, perplexity, rouge_l, bleu}, generation {prompts, max_new_tokens, bleu_tokenize}, examples "
             "[{prompt, reference, base, tuned}], stability {temperature, runs, agreement, verdict, prompts}, "
             "forgetting {kl, ppl_base, ppl_tuned, verdict, advice, prompts} (or {skipped}), template "
             "{prompt_identical, tokens_identical, end_of_turn, trained_end, stops_on_trained_end, ok, "
             "generation_stopped_at_end_of_turn, generation_hit_max_new_tokens}, memory {model_gb, "
             "rss_after_load_gb, rss_with_base_gb, peak_rss_gb}, verdict, seconds, files.")
    sp.add_argument("model", help="run id/path (RUN@checkpoint-N), or a model folder / Hugging Face id / demo model "
                                  "with --data")
    sp.add_argument("--data", help="held-out conversations (default: the run's data/eval.jsonl)")
    sp.add_argument("--checkpoint", help="evaluate this checkpoint of the run: N or checkpoint-N")
    sp.add_argument("--samples", type=NONNEG_INT, default=8, help="held-out prompts answered greedily (default 8)")
    sp.add_argument("--stability", type=NONNEG_INT, default=5, help="sampled answers per stability prompt (default 5)")
    sp.add_argument("--temperature", type=NONNEG_FLOAT, default=0.7, help="temperature of the stability answers (0.7)")
    sp.add_argument("--max-new-tokens", type=POS_INT, default=128, help="longest greedy answer (default 128)")
    sp.add_argument("--no-probe", action="store_true", help="skip the forgetting probe")
    sp.add_argument("--loss-only", action="store_true", help="only eval loss and perplexity on --data (fast)")
    sp.add_argument("--base", action="store_true", help="with --loss-only: the run's base model instead")
    sp.add_argument("--max-seq-len", type=POS_INT, default=1024, help="with --loss-only: longest sample (default 1024)")
    json_flag(sp)

    sp = add("export", cmd_export, "export a run: adapter, merged model, GGUF, Ollama, Hub — each verified",
             "Export a run's tuned model. Targets (--to, comma list): adapter (PEFT folder), merged (the adapter "
             "merged into the base model's own weights read from disk, shard by shard, never into 4-bit weights), "
             "gguf (danlu's writer: f16, bf16, q8_0, q4_0, q4_1; K-quants such as q4_k_m through llama.cpp's "
             "quantiser), ollama (a Modelfile with a Go TEMPLATE derived from the chat template and checked with "
             "Go's text/template, and a stop for every end-of-turn token), hub (push the merged model, or the "
             "adapter, with its model card; the token comes from HF_TOKEN or `hf auth login`). Every part is "
             "reloaded and compared: the merged model's logits with the tuned model's; each GGUF by the gguf reader, "
             "transformers' GGUF loader and llama.cpp (llama-cpp-python, when installed): logits, next tokens, the "
             "tokenizer and the greedy answer to a held-out prompt. Written to a temporary folder and renamed when "
             "complete. --json keys: export_dir, run, base_model, method, targets, sizes, adapter_dir, merged_dir, "
             "merged_check {max_abs_diff, top1_agreement, bound, ok}, merged_logits_max_abs_diff, gguf [{type, "
             "path, bytes, writer, verify {reader, transformers, llama_cpp, bound, ok, problem}}], ollama "
             "{modelfile, gguf, stops, template, template_check, system, create}, hub, verified, notes, commands, "
             "seconds.")
    sp.add_argument("run", help="run id, unique part of one, path, or 'latest'")
    sp.add_argument("--to", help="targets: adapter, merged, gguf, ollama, hub (default adapter,merged)")
    sp.add_argument("--target", help=argparse.SUPPRESS)  # the older name of --to
    sp.add_argument("--out", help="export folder (default: <run>/export)")
    sp.add_argument("--gguf", default="f16", help="GGUF types, comma list: f16 (default), bf16, q8_0, q4_0, q4_1, "
                                                  "or K-quants q4_k_m, q5_k_m, q6_k, … (llama.cpp)")
    sp.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], help="dtype of the merged weights (default: the "
                                                                       "base model's own)")
    sp.add_argument("--name", help="file name stem of the GGUF files (default: the run id)")
    sp.add_argument("--llama-quantize", help="path of llama.cpp's llama-quantize for K-quants (or set "
                                              "DANLU_LLAMA_QUANTIZE; llama-cpp-python's quantiser otherwise)")
    sp.add_argument("--llama-cpp", help="a llama.cpp checkout: convert with its convert_hf_to_gguf.py instead")
    sp.add_argument("--hub-repo", help="Hub repository for the hub target, e.g. you/my-model")
    sp.add_argument("--public", action="store_true", help="create the Hub repository public (default private)")
    sp.add_argument("--from-checkpoint", metavar="N", help="export checkpoint N of the run instead of its final model "
                                                         "(a run that is still training exports only this way)")
    sp.add_argument("--system", help="the Ollama Modelfile's SYSTEM prompt (default: the one most of the run's training "
                                     "conversations share; \"\" for none)")
    sp.add_argument("--overwrite", action="store_true", help="replace an existing export folder (kept until the new "
                                                             "one is complete)")
    json_flag(sp)

    sp = add("model", None, "import a GGUF file as a Hugging Face model folder, or inspect one",
             "Models from GGUF files (llama.cpp / Ollama / LM Studio): inspect the header, or import the file as an "
             "ordinary Hugging Face model folder (safetensors, tokenizer, chat template, generation config) that "
             "danlu can fine-tune.")
    ms = sp.add_subparsers(dest="model_cmd", metavar="ACTION", required=True, parser_class=_Parser)
    mi = ms.add_parser("import", help="import FILE.gguf as a model folder (dequantised, verified)",
                       description="Import a GGUF file whose architecture and quantisation transformers' GGUF loader "
                                   "supports (llama, mistral, qwen2, qwen3, gemma2/3, phi3, ...). The weights are "
                                   "dequantised, written as safetensors with the tokenizer, chat template and a "
                                   "generation_config.json that stops at the end-of-turn token, then loaded back and "
                                   "compared with the GGUF (logits and chat template). The folder is written under a "
                                   "temporary name and renamed when complete.")
    mi.set_defaults(func=cmd_model)
    mi.add_argument("file", help="the .gguf file")
    mi.add_argument("--out", help="folder to write (default: $DANLU_HOME/models/gguf-<name>-<dtype>)")
    mi.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16",
                    help="dtype of the saved weights (default bf16, half the size; fp32 keeps the dequantised values "
                         "exactly)")
    mi.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    mi.add_argument("--no-verify", action="store_true", help="skip loading the folder back to compare it")
    json_flag(mi)
    mn = ms.add_parser("inspect", help="show a GGUF file's architecture, size and tensor types, and whether it imports",
                       description="Read a GGUF file's header: architecture, parameters, tensor types, tokenizer, chat "
                                   "template; exits 2 with the reason when danlu cannot import it.")
    mn.set_defaults(func=cmd_model)
    mn.add_argument("file", help="the .gguf file")
    json_flag(mn)

    sp = add("demo-model", None, "build the offline demo model (Llama architecture, random init)")
    dm = sp.add_subparsers(dest="demo_cmd", metavar="ACTION", required=True, parser_class=_Parser)
    b = dm.add_parser("build", help="build (once; cached) the demo model", description="build the demo model")
    b.set_defaults(func=cmd_demo_model)
    b.add_argument("--size", choices=["tiny", "small"], default="small", help="tiny (<1 M params) or small (~11 M)")
    b.add_argument("--out", help="folder to write (default: the cache in $DANLU_HOME/models)")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    json_flag(b)

    sp = add("quickstart", cmd_quickstart, "the whole job offline: probe, plan, data, train, eval, chat, export",
             "Run the whole job on the offline demo defaults: probe, import the real SmolLM2-135M-Instruct (once), "
             "prepare the sample data (its English half for this English-centric model), LoRA-train it in a run "
             "directory, compare eval loss before/after on held-out conversations, answer held-out questions with the "
             "base and the tuned model side by side, export the adapter and a merged model, and check the merged "
             "model's logits. About 6 minutes on a 2-core CPU; --model demo:tiny takes seconds.")
    sp.add_argument("--method", default=None, choices=["auto", "full", "lora", "qlora"],
                    help="lora (default: the demo's choice), full, qlora, or auto (the planner picks)")
    sp.add_argument("--size", choices=["tiny", "small"], default=None,
                    help="use the random-init demo model of this size (same as --model demo:tiny|demo:small)")
    sp.add_argument("--model", help="model to fine-tune (default demo:smollm2, the real SmolLM2-135M-Instruct; "
                                    "demo:tiny / demo:small are quick random-init models; or a folder / Hugging Face id)")
    sp.add_argument("--data", help="another dataset instead of the sample data")
    sp.add_argument("--epochs", type=float, default=None, help="epochs (default from presets/demo.yaml)")
    sp.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps")
    json_flag(sp)
    return p


def main(argv=None, open_wizard=None) -> int:
    """Run the CLI.  With no subcommand, ``open_wizard(demo=…, lang=…)`` opens the wizard; the
    ``danlu`` command (tui/entry.py) passes it, so the engine itself never imports the TUI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _RESULT.clear()
    _ERROR.clear()
    _tolerant_streams()
    return _emit(_main(argv, open_wizard))


def _main(argv: list, open_wizard) -> int:
    debug = "--debug" in argv
    as_json = "--json" in argv
    if debug:
        os.environ["DANLU_DEBUG"] = "1"  # hints then point at the traceback printed, not at --debug
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # KEY=VALUE settings may sit between flags (`--seq-len 256 lr=1e-4 --method lora epochs=2`): argparse takes
        # only the first run of them for the positional list, the others are the command's overrides too
        if extra and isinstance(getattr(args, "overrides", None), list) and all(
                "=" in x and not x.startswith("-") for x in extra):
            args.overrides += extra
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if not getattr(args, "func", None):
            if args.cmd is None and open_wizard is not None:
                args.func = lambda a: open_wizard(demo=a.demo, lang=a.lang)
            elif args.cmd is None:
                parser.print_help()
                return 0
            else:
                parser.parse_args([args.cmd, "--help"])
        args.func(args)
        return 0
    except DanluError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"danlu: error: {exc.one_line()}", file=sys.stderr)
        if as_json:  # a script reading stdout gets an answer too
            _json_error(exc.what, exc.where, exc.fix, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        print("danlu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away mid-output: the command did not finish (as if killed by SIGPIPE)
        _silence_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless --debug
        if debug:
            raise
        from . import atomic

        if atomic.is_disk_full(exc):  # a full disk is the user's to fix, not an internal error
            err = atomic.disk_full_error(exc, getattr(exc, "filename", None) or ".")
            print(f"danlu: error: {err.one_line()}", file=sys.stderr)
            if as_json:
                _json_error(err.what, err.where, err.fix, 2)
            return 2
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"danlu: internal error: {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
              file=sys.stderr)
        if as_json:
            _json_error(f"internal error: {type(exc).__name__}: {first}", None, "rerun with --debug for the traceback", 1)
        return 1


if __name__ == "__main__":
    sys.exit(main())
