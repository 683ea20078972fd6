"""Plan: the planner's pick with its memory bar and reasons, task presets, editable settings; save and start."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static

from engine.errors import DanluError

from .. import tasks
from ..strings import say, t
from .base import StepScreen

KNOBS = ("max_seq_len", "lr", "epochs", "max_steps", "adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
         "warmup_ratio", "lr_scheduler", "eval_steps", "early_stopping_patience", "save_steps", "seed")
TERM_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
               "#bab0ac"]


def memory_bar(terms: dict, budget_gb: float, width: int = 48) -> Text:
    """Peak memory split by term, against the budget, as a coloured bar with a legend."""
    total = sum(terms.values()) or 1e-9
    scale = width / max(total, budget_gb or total)
    bar = Text()
    legend = Text()
    items = sorted(((k, v) for k, v in terms.items() if v > 0), key=lambda kv: -kv[1])
    for i, (name, gb) in enumerate(items):
        color = TERM_COLORS[i % len(TERM_COLORS)]
        bar.append("█" * max(1, round(gb * scale)) if gb * scale >= 0.5 else "", style=color)
        legend.append("■ ", style=color)
        legend.append(f"{name} {gb:.2f}  ")
    used = bar.cell_len
    cap = round((budget_gb or 0) * scale)
    if cap > used:
        bar.append("░" * (cap - used), style="dim")
    bar.append(f"  {total:.2f} / {budget_gb:.1f} GB")
    return Text("\n").join([bar, legend])


class PlanComputed(Message):
    def __init__(self, plan, error: str | None = None):
        super().__init__()
        self.plan, self.error = plan, error


class RunPrepared(Message):
    def __init__(self, run_path: str | None, started: bool, error: str | None = None, pid: int | None = None):
        super().__init__()
        self.run_path, self.started, self.error, self.pid = run_path, started, error, pid


def build_config(w, plan, values: dict):
    """The TrainConfig for the wizard's choices: the engine's plan → config step (paths filled in when the run
    is prepared)."""
    from engine import prepare

    try:
        return prepare.config_from_plan(plan, model=w.model, task=w.task, overrides=values,
                                        trust_remote_code=w.trust_remote_code)
    except DanluError as exc:
        raise ValueError(exc.one_line()) from None


METHODS = ("auto", "full", "lora", "qlora")


def _random_init(model: str) -> bool:
    from engine import models

    return models.is_random_init(model)


class PlanScreen(StepScreen):
    HELP = "plan"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+r", "replan", "key_replan"),
                Binding("ctrl+s", "save", "key_save"), Binding("ctrl+t", "start", "key_start")]
    PALETTE = [("replan", "key_replan"), ("save", "key_save"), ("start", "key_start")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("step_plan"), classes="step-title")
        with VerticalScroll(id="plan-scroll", classes="body"):
            yield Static(t("planning"), id="plan-status", classes="loading")
            yield Static("", id="pick")
            yield Static("", id="bar")
            yield Static("", id="reasons", classes="hint")
            yield Static("", id="alternatives", classes="hint")
            with Horizontal(classes="row"):
                yield Label(t("task_preset"), classes="label")
                yield Select([(tasks.text(v, "name"), k) for k, v in tasks.load().items()], id="task",
                             allow_blank=False, value=self.wizard.task if self.wizard.task in tasks.load() else "general")
            yield Static("", id="task-reason", classes="hint")
            with Horizontal(classes="row"):
                yield Label(t("method_choice"), classes="label")
                yield Select([(t(f"method_{m}"), m) for m in METHODS], id="method", allow_blank=False,
                             value=self.wizard.method if self.wizard.method in METHODS else "auto")
            yield Static("", id="geometry", classes="hint")
            with Grid(id="knobs"):
                from engine.config import TrainConfig

                helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}
                for name in KNOBS:
                    yield Label(name)
                    inp = Input(id=f"k-{name}", compact=True)
                    inp.tooltip = helps.get(name, "")
                    yield inp
            yield Static("", id="knob-hint", classes="hint")
            yield Static("", id="saved", classes="ok")
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_save"), id="save", compact=True)
            yield Button(t("btn_start"), id="start", variant="success", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        w = self.wizard
        from engine import prepare

        seq = prepare.default_seq_len(w.model, w.overrides)
        self.query_one("#k-max_seq_len", Input).value = str(seq)
        self._fill_from_task(w.task if w.task in tasks.load() else "general", method="lora")
        for name, value in w.overrides.items():
            self.query_one(f"#k-{name}", Input).value = str(value)
        self.action_replan()

    def _fill_from_task(self, task: str, method: str) -> None:
        from engine.config import TrainConfig

        base = TrainConfig()
        values = {n: getattr(base, n) for n in KNOBS if n != "max_seq_len"}
        values.update(tasks.settings(task, self.wizard.model, method))  # the engine's preset, shown as it will run
        for name, value in values.items():
            self.query_one(f"#k-{name}", Input).value = f"{value:g}" if isinstance(value, float) else str(value)
        entry = tasks.load().get(task, {})
        self.query_one("#task-reason", Static).update(f"{tasks.text(entry, 'reason')}"
                                                      + (f"  {t('demo_lr_note')}" if _random_init(self.wizard.model) else
                                                         f"  {t('demo_real_note')}" if self.wizard.model.startswith("demo:")
                                                         else ""))

    @on(Select.Changed, "#task")
    def _task(self, event: Select.Changed) -> None:
        if event.select.is_blank() or event.value == self.wizard.task and self.wizard.plan is not None:
            return
        self.wizard.task = str(event.value)
        self._fill_from_task(self.wizard.task, self.wizard.plan.method if self.wizard.plan else "lora")

    @on(Select.Changed, "#method")
    def _method(self, event: Select.Changed) -> None:
        if event.select.is_blank() or str(event.value) == self.wizard.method:
            return
        self.wizard.method = str(event.value)
        self.action_replan()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("k-"):
            self.query_one("#knob-hint", Static).update(f"{event.input.id[2:]}: {event.input.tooltip or ''}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in ("k-max_seq_len", "k-lora_r"):
            self.action_replan()
        elif self.wizard.plan is not None:
            self._show_geometry()

    def knob_values(self) -> dict:
        return {n: self.query_one(f"#k-{n}", Input).value.strip() for n in KNOBS}

    def action_replan(self) -> None:
        v = self.knob_values()
        try:
            seq, rank = int(float(v["max_seq_len"])), int(float(v["lora_r"] or 16))
        except ValueError:
            self.notify(t("bad_number"), severity="error")
            return
        status = self.query_one("#plan-status", Static)
        status.update(t("planning"))
        status.set_classes("loading")
        method = None if self.wizard.method in ("", "auto") else self.wizard.method
        self._plan(self.wizard.model, self.wizard.probe, seq, rank, v["lora_targets"] or "all-linear", method)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def _plan(self, model, probe, seq, rank, targets, method=None) -> None:
        from engine import demo, planner
        from engine.errors import DanluError

        try:
            batch = int(demo.settings(model).get("target_batch") or 16)
            self.post_message(PlanComputed(planner.plan(model, probe=probe, seq_len=seq, lora_r=rank, method=method,
                                                        lora_targets=targets, target_batch=batch)))
        except DanluError as exc:
            self.post_message(PlanComputed(None, exc.one_line()))
        except Exception as exc:  # noqa: BLE001
            self.post_message(PlanComputed(None, f"{type(exc).__name__}: {exc}"))

    @on(PlanComputed)
    def _planned(self, msg: PlanComputed) -> None:
        status = self.query_one("#plan-status", Static)
        if msg.plan is None:
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            return
        p = msg.plan
        first = self.wizard.plan is None
        self.wizard.plan = p
        status.update(t("plan_fits") if p.fits else t("plan_no_fit"))
        status.set_classes("ok" if p.fits else "error")
        self.query_one("#pick", Static).update(t(
            "plan_pick", method=p.method, mb=p.micro_batch, ga=p.grad_accum, seq=p.max_seq_len, prec=p.precision,
            gc=t("on") if p.grad_checkpointing else t("off"), opt=p.optimizer, peak=p.predicted_peak_gb,
            trainable=f"{p.trainable_params:,}"))
        self.query_one("#bar", Static).update(memory_bar(p.terms, p.budget_gb))
        lines = [f"• {say(r)}" for r in p.reasons] + [f"→ {say(r)}" for r in p.remedies]
        self.query_one("#reasons", Static).update("\n".join(lines))
        alts = [f"{c['method']} {c['peak_gb']:.2f} GB: {say(c['reason'])}" for c in p.candidates]
        self.query_one("#alternatives", Static).update(t("alternatives") + "  " + " | ".join(alts))
        if first or p.method != getattr(self, "_filled_for", p.method):
            self._fill_from_task(self.wizard.task, p.method)  # full fine-tuning has its own learning rate
        self._filled_for = p.method
        for name in ("adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_targets"):
            self.query_one(f"#k-{name}", Input).disabled = p.method == "full"  # no adapter in a full fine-tune
        self._show_geometry()

    def _show_geometry(self) -> None:
        """What will run, from the same engine step the trainer uses (packed rows × accumulation)."""
        w = self.wizard
        geometry = self.query_one("#geometry", Static)
        try:
            cfg = build_config(w, w.plan, self.knob_values())
        except (ValueError, TypeError) as exc:
            geometry.update(f"✗ {exc}")
            return
        from engine import prepare

        geo = prepare.geometry(cfg, [n for n in w.token_lengths if n])
        geometry.update(t("runs_as", geometry=geo.describe()) if geo else t("runs_as_unknown"))

    # -- save / start -------------------------------------------------------------------------
    def _prepare(self, start: bool) -> None:
        w = self.wizard
        if w.plan is None:
            self.notify(t("wait_plan"), severity="warning")
            return
        if not w.plan.fits:
            self.notify(t("plan_no_fit"), severity="error")
            return
        try:
            cfg = build_config(w, w.plan, self.knob_values())
        except (ValueError, TypeError) as exc:
            self.notify(f"{t('bad_number')}: {exc}", severity="error")
            return
        self.query_one("#saved", Static).update(t("starting") if start else t("saving"))
        self._write(cfg, list(w.conversations), w.eval_ratio, start, w.data_target)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prepare")
    def _write(self, cfg, convs, ratio, start, target: str = "messages") -> None:
        from engine import data, prepare, train
        from engine.errors import DanluError

        from ..dataview import convertible

        try:
            convs, _ = convertible(convs, target)  # Alpaca has no tool turns: those are left out (Data says how many)
            train_convs, eval_convs = data.split(convs, ratio, seed=cfg.seed) if ratio > 0 else (convs, [])
            run = prepare.prepare_run(cfg, train_convs, eval_convs, target=target)
            pid = train.detach(run.config_path, run) if start else None
            self.post_message(RunPrepared(str(run.path), start, pid=pid))
        except DanluError as exc:
            self.post_message(RunPrepared(None, start, exc.one_line()))
        except Exception as exc:  # noqa: BLE001
            self.post_message(RunPrepared(None, start, f"{type(exc).__name__}: {exc}"))

    @on(RunPrepared)
    def _prepared(self, msg: RunPrepared) -> None:
        saved = self.query_one("#saved", Static)
        if msg.error:
            saved.update(f"✗ {msg.error}")
            saved.set_classes("error")
            return
        self.wizard.run_path = msg.run_path
        saved.set_classes("ok")
        saved.update(t("config_saved", path=f"{msg.run_path}/config.yaml"))
        if msg.started:
            self.app.goto("dashboard", msg.run_path)

    def action_save(self) -> None:
        self._prepare(start=False)

    def action_start(self) -> None:
        self._prepare(start=True)

    def action_back(self) -> None:
        self.wizard.overrides = {k: v for k, v in self.knob_values().items() if v}
        self.app.pop_screen()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        self.action_start()
