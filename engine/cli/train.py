"""``danlu train | resume | runs | attach | stop``: run directories and the live event view."""

from __future__ import annotations

import json
import os

from ..core.errors import DanluError
from .common import num, out, stderr_console


def print_event(console, ev):
    """One event as a line of the CLI's output (typed records: a field that was damaged on disk reads as None)."""
    from rich.markup import escape

    from ..core import events

    if isinstance(ev, events.Step):
        console.print(f"step {ev.step}/{num(ev.total, 'd', '?')}  loss {num(ev.loss, '.4f')}  lr {num(ev.lr, '.2e')}  "
                      f"{ev.tokens_per_s or 0:.0f} tok/s  {ev.elapsed_s or 0:.0f} s")
    elif isinstance(ev, events.Eval):
        console.print(f"eval  step {ev.step}  loss {num(ev.loss, '.4f')}")
    elif isinstance(ev, events.Log):
        console.print(f"[dim]log: {escape(ev.message)}[/dim]")
    elif isinstance(ev, events.Checkpoint):
        console.print(f"[dim]checkpoint: {escape(ev.path)}[/dim]")
    elif isinstance(ev, events.Backoff):
        console.print(f"[dim]backoff: out of memory at step {ev.step}; now {escape(ev.new)} (was {escape(ev.old)})[/dim]")
    elif isinstance(ev, events.Phase):
        if not ev.n:  # its start (its counter goes to the dashboard; a line a second would flood a terminal)
            console.print(f"[dim]{escape(events.phase_text(ev))}…[/dim]")
    elif isinstance(ev, events.Status):
        console.print(f"[dim]status: {ev.state}[/dim]")
    elif isinstance(ev, events.Error):
        console.print(f"[red]error: {escape(ev.message)}[/red]  {escape(ev.hint)}")
    elif isinstance(ev, events.Done):
        console.print(f"[green]{ev.state}[/green] after {ev.step} steps, {num(ev.seconds, '.1f', '?')} s")


class ProgressView:
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
        from ..core import events

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
                                 loss=num(ev.loss, ".4f"), tps=f"{ev.tokens_per_s or 0:,.0f}")
        elif isinstance(ev, events.Status) and ev.total:
            self.progress.update(self.task, completed=ev.step, total=ev.total)
        else:
            print_event(self.progress.console, ev)


def _check_config(cfg, where: str) -> dict:
    """Everything about a config that can be checked before a run directory exists (the conversations read)."""
    from ..plan import prepare

    return prepare.check_config(cfg, where)


def _train_in(cfg, run, args, *, resume: bool = False):
    from ..train import runner as train

    import contextlib

    console = stderr_console()
    view = contextlib.nullcontext(lambda row: print_event(console, row))
    if args.json:
        view = contextlib.nullcontext(None)
    elif console.is_terminal and not args.in_run:
        view = ProgressView(console)
    with view as listener:
        result = train.run(cfg, run, resume=resume, detached=bool(args.in_run), listener=listener)
    if train.rank() != 0:  # under torchrun every rank trains; one of them reports
        return
    out(args, {"run_dir": result.run_dir, "state": result.state, "steps": result.steps,
                "train_loss_first": result.losses[0] if result.losses else None,
                "train_loss_last": result.losses[-1] if result.losses else None,
                "eval_loss_before": result.eval_loss_before, "eval_loss_after": result.eval_loss_after,
                "seconds": round(result.seconds, 1)},
         f"run {run.id}: {result.state}; final model in {run.final_dir}")


def _started(args, run, pid):
    out(args, {"run_id": run.id, "run_dir": str(run.path), "pid": pid},
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


MASTER_PORT = 29500  # torchrun's rendezvous port on the first machine of a multi-node run


def launch_command(cfg, tail: list[str]) -> str:
    """The torchrun command that runs ``danlu TAIL`` on the config's planned devices; for several machines each
    runs it with its NODE_RANK and the first machine's address as HOST (static rendezvous: node 0 hosts it)."""
    import shlex

    nodes = (f" --nnodes {cfg.nodes} --node-rank NODE_RANK --master-addr HOST --master-port {MASTER_PORT}"
             if cfg.nodes > 1 else "")
    return f"torchrun --nproc-per-node {cfg.gpus}{nodes} -m danlu.engine.cli {shlex.join(tail)}"


def _launch(cfg, args, tail: list[str], run) -> None:
    """Start the config's ranks on this machine with torchrun (one process per device), each running
    ``danlu TAIL``: in the foreground, or detached in a new session like any run (its output in the run's
    train.log).  Every rank gets the same run; rank 0 writes the run directory."""
    import subprocess

    from ..train import sharding

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.detach:  # this same launcher, in a new session that outlives the terminal (it watches the ranks)
        import sys

        run.path.mkdir(parents=True, exist_ok=True)
        with open(run.log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "danlu.engine.cli", *tail], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                    env=env, cwd=os.getcwd())
        _started(args, run, proc.pid)
        return
    _supervise(cfg, args, tail, run, env)


RANK_RESTARTS = 3  # out-of-memory back-offs of a multi-rank run that its launcher starts the ranks again for


def _supervise(cfg, args, tail: list[str], run, env: dict) -> None:
    """Run the ranks (torchrun) in the foreground.  When one ran out of memory it recorded a smaller geometry in
    the run and they all ended: start them all again from the last checkpoint, where each reads that geometry
    (engine.train.runner._back_off), up to RANK_RESTARTS times."""
    import subprocess
    import time

    from ..train import runner as train, sharding

    for attempt in range(RANK_RESTARTS + 1):
        cmd = sharding.launcher(cfg, tail, run.path / "torchrun")
        stderr_console().print(f"starting {cfg.gpus} ranks ({cfg.strategy}): {' '.join(cmd[1:])}")
        started = time.time()
        rc = subprocess.run(cmd + (["--json"] if args.json else []), env=env, cwd=os.getcwd()).returncode
        if rc == 0:
            return
        backoff = run.path / train.BACKOFF_FILE
        if attempt == RANK_RESTARTS or not backoff.exists() or backoff.stat().st_mtime < started:
            raise SystemExit(rc)
        geo = train.backed_off_geometry(run)
        stderr_console().print(f"a rank ran out of memory: every rank continues at {geo.describe()} from the last "
                               "checkpoint")
        tail = ["train", str(run.config_path), "--in-run", str(run.path), "--resume"]


def _check_devices(cfg, world: int, config: str, tail: list[str]) -> None:
    """A config planned for several devices runs on exactly that many ranks, with a strategy this version runs;
    ``tail``: the danlu command each rank runs (in the per-machine command of a multi-node plan)."""
    from ..train import sharding

    planned = sharding.planned_ranks(cfg)
    if cfg.strategy in ("fsdp", "fsdp_offload") and cfg.method == "qlora":
        raise DanluError(f"strategy {cfg.strategy} shards the weights, and QLoRA's 4-bit weights train on one device "
                         "here", where=f"{config}: strategy",
                         fix="set strategy=single for QLoRA, or method=lora to shard it (danlu plan --gpus N "
                             "says which fits)")
    if planned > 1 and world == 1 and cfg.nodes > 1:  # the other machines: the command to run on each
        raise DanluError(f"this config is planned for {cfg.nodes} machines of {cfg.gpus} devices ({cfg.strategy}); "
                         "each machine starts its own ranks", where=f"{config}: gpus/nodes",
                         fix=f"on each machine, with its NODE_RANK (0 to {cfg.nodes - 1}) and the first machine's "
                             f"address as HOST (the run's folder on a filesystem all of them share): "
                             f"{launch_command(cfg, tail)}")
    if planned > 1 and world > 1 and world != planned:
        raise DanluError(f"this config is planned for {planned} devices, and the launcher started {world} ranks",
                         where=f"{config}: gpus/nodes", fix=f"run: {launch_command(cfg, tail)}")


def cmd_train(args):
    import time
    from pathlib import Path

    from ..core import atomic, paths
    from .. import data
    from ..runs import store as runs
    from ..train import runner as train
    from ..core.config import TrainConfig

    cfg = TrainConfig.load(args.config, TrainConfig.parse_overrides(args.overrides))
    read = _check_config(cfg, str(args.config))
    if args.in_run:  # the detached child, or a resume
        from ..train import sharding

        run = runs.RunDir(Path(args.in_run))
        if int(os.environ.get("WORLD_SIZE", "1")) == 1 and sharding.planned_ranks(cfg) > 1 and cfg.nodes == 1:
            tail = ["train", str(args.config), "--in-run", str(run.path)] + (["--resume"] if args.resume else [])
            _supervise(cfg, args, tail, run, dict(os.environ, PYTHONUNBUFFERED="1"))  # its ranks, watched
            return
        _train_in(cfg, run, args, resume=args.resume)
        return
    if Path(cfg.train_file).is_file() and not cfg.dataset_hash:
        cfg.dataset_hash = data.file_hash(cfg.train_file)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    from ..train import sharding

    if world == 1 and sharding.planned_ranks(cfg) > 1:  # the ranks' command: every rank (and machine) the same name
        from ..plan import prepare

        name = runs.clean_name(args.run_name) if args.run_name else runs.clean_name(
            f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.strategy}-{prepare.run_name(cfg)}")
        tail = ["train", str(args.config), *args.overrides, "--run-name", name]
    else:
        name, tail = None, ["train", str(args.config), *args.overrides]
    _check_devices(cfg, world, str(args.config), tail)
    if name is not None:  # one machine: danlu starts the planned ranks itself
        run = runs.RunDir(paths.runs_root() / name)
        if run.events_path.exists():
            raise DanluError(f"run {name} already exists", where=str(run.path),
                             fix="pick a new --run-name, or continue it with `danlu resume`")
        _launch(cfg, args, tail, run)
        return
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
    from ..plan import prepare

    run = prepare.prepare_run(cfg, read["train_file"], read.get("eval_file"), name=args.run_name)  # its own data
    if args.detach:
        _started(args, run, train.detach(run.config_path, run))
        return
    _train_in(cfg, run, args)


def cmd_resume(args):
    from ..train import resume

    run, cfg = resume.prepare(args.run, epochs=args.epochs, max_steps=args.max_steps,
                              allow_data_change=args.allow_data_change)
    from ..train import sharding

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if sharding.planned_ranks(cfg) > 1 and world == 1:  # a run of several ranks continues on as many
        tail = ["resume", str(run.path)]
        for flag, value in (("--max-steps", args.max_steps), ("--epochs", args.epochs)):
            if value is not None:
                tail += [flag, str(value)]
        if args.allow_data_change:
            tail.append("--allow-data-change")
        _check_devices(cfg, world, str(run.config_path), tail)
        _launch(cfg, args, tail, run)
        return
    if world > 1:
        _check_devices(cfg, world, str(run.config_path), ["resume", str(run.path)])
    if args.detach:
        from ..train import runner as train

        _started(args, run, train.detach(run.config_path, run, resume=True))
        return
    args.in_run = None
    _train_in(cfg, run, args, resume=True)


def cmd_runs(args):
    from ..runs import store as runs

    import shutil

    rows = [r.summary() for r in runs.list_runs()]
    cells = [(r.state, r.method or "-", r.step_text, r.loss_text, (r.verdict or "-").replace("_", "-")
              + (f"  ({r.damage})" if r.damage else "")) for r in rows]
    head = ("STATE", "METHOD", "STEP", "LOSS", "VERDICT")
    widths = [max(len(c[i]) for c in [head, *cells]) for i in range(4)]

    def line(c) -> str:
        return " ".join(f"{v:>{w}}" if i in (2, 3) else f"{v:<{w}}" for i, (v, w) in
                        enumerate(zip(c[:4], widths))) + f"  {c[4]}"

    w = max([3] + [len(r.id) for r in rows])
    if w + 1 + len(line(head)) <= shutil.get_terminal_size((100, 24)).columns:
        lines = [f"{'RUN':<{w}} {line(head)}"] + [f"{r.id:<{w}} {line(c)}" for r, c in zip(rows, cells)]
    else:  # a narrow terminal: each run's id on its own line (whole: it is what the other commands take)
        lines = [f"RUN\n  {line(head)}"] + [f"{r.id}\n  {line(c)}" for r, c in zip(rows, cells)]
    if not rows:
        from ..core import paths

        lines = [f"no runs yet in {paths.runs_root()} — start one with `danlu quickstart` or `danlu train CONFIG`"]
    out(args, [r.to_dict() for r in rows], "\n".join(lines))


def cmd_attach(args):
    from ..runs import store as runs

    from rich.console import Console

    run = runs.resolve(args.run) if args.run else runs.training_now() or runs.resolve("latest")
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
                print_event(console, ev)
    except KeyboardInterrupt:
        console.print("detached; the run goes on")


def cmd_stop(args):
    from ..runs import store as runs
    from ..train import runner as train

    run = runs.resolve(args.run)
    action = "checkpoint" if args.checkpoint else "stop"
    if not train.request(run, action):
        (run.path / "control.json").unlink(missing_ok=True)
        raise DanluError(f"run {run.id} is not running (state: {run.effective_state()})",
                         fix="`danlu runs` lists runs and their states")
    text = ("asked run {id} to save a checkpoint now; it keeps training" if args.checkpoint else
            "asked run {id} to stop: it finishes the current step, saves a checkpoint and exits")
    out(args, {"run_id": run.id, "action": action}, text.format(id=run.id))
