"""Plan: the engine's plan (engine.plan.Plan) as it will run — header, memory bar, reasons, task, method, settings.

The screen decides nothing.  Every change (task, method, a setting typed in the grid) goes back to the engine's
``plan.make`` with the wizard's inputs, and the new plan value is shown whole: the header, the bullets, the bar and
the fields all come from that one value, and Save / Start write ``plan.config()`` — what ``danlu plan --save``
writes for the same inputs.  Widgets: :class:`PlanView` (a reactive ``plan``) and :class:`Knobs` (posts
:class:`Knobs.Edited` for what the user types; shows the plan's values and hides what does not apply).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Header, Input, Label, Select, Static

from .. import tasks
from ..strings import error_text, has, say, t
from ..widgets import KeysFooter
from .base import StepScreen

KNOBS = ("max_seq_len", "lr", "epochs", "max_steps", "adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
         "warmup_ratio", "lr_scheduler", "eval_steps", "early_stopping_patience", "replay", "save_steps", "seed")
ADAPTER_KNOBS = ("adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_targets")  # hidden for a full fine-tune
TERM_COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
               "#bab0ac"]
REPLAN_DELAY = 0.4  # seconds after the last keystroke before the engine plans again


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
        legend.append("■\u00a0", style=color)  # no-break spaces: a legend item is never split over two lines
        label = t(f"term_{name}") if has(f"term_{name}") else name.replace("_", "\u00a0")
        legend.append(f"{label}\u00a0{gb:.2f}  ")
    used = bar.cell_len
    cap = round((budget_gb or 0) * scale)
    if cap > used:
        bar.append("░" * (cap - used), style="dim")
    bar.append(f"  {total:.2f} / {budget_gb:.2f} GB")  # the plan's own figures, to the same digits
    return Text("\n").join([bar, legend])


def shown(value) -> str:
    """A setting as the grid shows it."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def methods() -> tuple:
    from danlu.engine.core import METHODS

    return ("auto", *METHODS)


class PlanComputed(Message):
    def __init__(self, plan, error: str | None = None, gen: int = 0, field: str | None = None):
        super().__init__()
        self.plan, self.error, self.gen, self.field = plan, error, gen, field  # field: the setting the error is about


class RunPrepared(Message):
    def __init__(self, run_path: str | None, started: bool, error: str | None = None, pid: int | None = None):
        super().__init__()
        self.run_path, self.started, self.error, self.pid = run_path, started, error, pid


class PlanView(Vertical):
    """The plan's header, memory bar, reasons and alternatives: all from one ``plan`` value."""

    plan = reactive(None, always_update=True)

    def compose(self) -> ComposeResult:
        yield Static("", id="pick")
        yield Static("", id="bar")
        yield Static("", id="reasons", classes="hint")
        yield Static("", id="alternatives", classes="hint")

    def watch_plan(self, p) -> None:
        if p is None:
            return
        self.query_one("#pick", Static).update(say(p.summary()))
        self.query_one("#bar", Static).update(memory_bar(dict(p.terms), p.budget_gb))
        lines = [f"• {say(text)}" for _, text in p.reasons] + [f"→ {say(r)}" for r in p.remedies]
        self.query_one("#reasons", Static).update("\n".join(lines))
        # a plan over several devices: each option is a strategy and a method, its reason says its memory
        alts = [f"{c['strategy']} · {c['method']}{t('colon')}{say(c['reason'])}" if c.get("strategy") else
                f"{c['method']} {c['peak_gb']:.2f} GB{t('colon')}{say(c['reason'])}" for c in p.candidates]
        self.query_one("#alternatives", Static).update(t("alternatives") + "  " + " | ".join(alts))


class Knobs(Grid):
    """The plan's settings as editable fields.  Typing posts :class:`Knobs.Edited`; :meth:`show` fills the fields
    from a plan without overwriting the one being typed in."""

    class Edited(Message):
        def __init__(self, name: str, value: str):
            super().__init__()
            self.name, self.value = name, value

    def compose(self) -> ComposeResult:
        from danlu.engine.core import TrainConfig

        helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(TrainConfig)}
        for name in KNOBS:
            yield Label(name, id=f"l-{name}")
            inp = Input(id=f"k-{name}", compact=True)
            inp.tooltip = t(f"cfg_help_{name}") if has(f"cfg_help_{name}") else helps.get(name, "")
            yield inp

    def show(self, p) -> None:
        full = p.method == "full"
        for name in KNOBS:
            inp = self.query_one(f"#k-{name}", Input)
            for node in (inp, self.query_one(f"#l-{name}", Label)):
                node.display = not (full and name in ADAPTER_KNOBS)  # no adapter in a full fine-tune
            if inp.has_focus:
                continue  # never under the cursor of the one typing
            with self.prevent(Input.Changed):
                inp.value = shown(p.settings[name])

    def mark(self, name: str | None) -> None:
        """Show which field the plan's error is about (None: no error)."""
        for knob in KNOBS:
            self.query_one(f"#k-{knob}", Input).set_class(knob == name, "-invalid")

    def values(self) -> dict:
        return {n: self.query_one(f"#k-{n}", Input).value.strip() for n in KNOBS}

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(event.input.id[2:], event.value.strip()))


class PlanScreen(StepScreen):
    HELP = "plan"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+r", "replan", "key_replan"),
                Binding("ctrl+s", "save", "key_save"), Binding("ctrl+t", "start", "key_start")]
    PALETTE = [("replan", "key_replan"), ("save", "key_save"), ("start", "key_start")]

    def __init__(self):
        super().__init__()
        self._gen = 0  # the newest plan asked for
        self._shown_gen = -1  # the plan on the screen
        self._timer = None  # a replan waiting for the typing to pause
        self._after_plan: bool | None = None  # Save (False) or Start (True) asked for while a plan was on its way

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("step_plan"), classes="step-title")
        with VerticalScroll(id="plan-scroll", classes="body"):
            d = self.wizard.after_diagnosis
            if self.wizard.after_run and d is not None:
                yield Static(t("next_plan_after", run=Path(self.wizard.after_run).name, summary=say(d.summary),
                               next=say(d.next_reason) if d.next_reason else "—"), id="after", classes="hint")
            yield Static(t("planning"), id="plan-status", classes="loading")
            yield PlanView(id="plan-view")
            with Horizontal(classes="row"):
                yield Label(t("task_preset"), classes="label")
                yield Select([(tasks.text(v, "name"), k) for k, v in tasks.load().items()], id="task",
                             allow_blank=False, value=self.wizard.task if self.wizard.task in tasks.load() else "general")
            yield Static("", id="task-reason", classes="hint")
            stages = self.stages()
            if len(stages) > 1 or stages != ("sft",):  # preference data: which stage trains it
                with Horizontal(classes="row"):
                    yield Label(t("stage_label"), classes="label")
                    yield Select([(t(f"stage_{s}"), s) for s in stages], id="stage", allow_blank=False,
                                 value=self.wizard.stage if self.wizard.stage in stages else stages[0])
            with Horizontal(classes="row"):
                yield Label(t("method_choice"), classes="label")
                yield Select([(t(f"method_{m}"), m) for m in methods()], id="method", allow_blank=False,
                             value=self.wizard.method if self.wizard.method in methods() else "auto")
            yield Knobs(id="knobs")
            yield Static("", id="knob-hint", classes="hint")
            yield Static("", id="saved", classes="ok")
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_save"), id="save", compact=True)
            yield Button(t("btn_start"), id="start", variant="success", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        if self.wizard.task not in tasks.load():
            self.wizard.task = "general"
        self._show_task()
        self.action_replan()

    def _show_task(self) -> None:
        """The preset's reason (prose) and what it sets in the plan on the screen (from the plan's values)."""
        entry = tasks.load().get(self.wizard.task, {})
        p = self.wizard.plan
        if p is None or p.task != self.wizard.task:
            self.query_one("#task-reason", Static).update(tasks.text(entry, "reason"))
            return
        prose = tasks.text(entry, "reason") if p.method != "full" else ""  # its prose is about adapters
        self.query_one("#task-reason", Static).update("  ".join(x for x in (prose, say(p.task_text())) if x))

    # -- inputs → the engine ---------------------------------------------------------------------------------------
    @on(Select.Changed, "#task")
    def _task(self, event: Select.Changed) -> None:
        if event.select.is_blank() or str(event.value) == self.wizard.task:
            return
        self.wizard.task = str(event.value)
        self._show_task()
        self.action_replan()

    def stages(self) -> tuple:
        """The stages this data can train: SFT for conversations, the preference stages for pairs (KTO alone for
        answers labelled good or bad)."""
        from danlu.engine.data import preference

        if not self.wizard.pairs:
            return ("sft",)
        paired = isinstance(self.wizard.pairs[0], preference.Pair)
        return preference.STAGES if paired else ("kto",)

    @on(Select.Changed, "#stage")
    def _stage(self, event: Select.Changed) -> None:
        if event.select.is_blank() or str(event.value) == self.wizard.stage:
            return
        self.wizard.stage = str(event.value)
        self.action_replan()

    @on(Select.Changed, "#method")
    def _method(self, event: Select.Changed) -> None:
        if event.select.is_blank() or str(event.value) == self.wizard.method:
            return
        self.wizard.method = str(event.value)
        self.action_replan()

    @on(Knobs.Edited)
    def _edited(self, event: Knobs.Edited) -> None:
        """A typed setting becomes an override when it differs from the plan's value; the engine plans again."""
        w, name = self.wizard, event.name
        hint = self.query_one("#knob-hint", Static)
        hint.update(f"{name}: {self.query_one(f'#k-{name}', Input).tooltip or ''}")
        hint.set_classes("hint")
        current = shown(w.plan.settings[name]) if w.plan is not None else None
        if event.value in ("", current):
            w.overrides.pop(name, None)
        else:
            w.overrides[name] = event.value
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(REPLAN_DELAY, self.action_replan)

    def action_replan(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        w = self.wizard
        status = self.query_one("#plan-status", Static)
        status.update(t("planning"))
        status.set_classes("loading")
        self._gen += 1
        overrides = dict(w.overrides, stage=w.stage) if w.preference() else dict(w.overrides)
        self._plan(self._gen, w.model, w.task, w.method, overrides, w.train_lengths(), w.probe,
                   w.trust_remote_code, w.demo_reason(), w.held_out(), w.after_changed())

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def _plan(self, gen, model, task, method, overrides, lengths, probe, trust, demo, held_out, after=()) -> None:
        from danlu.engine import plan
        from danlu.engine.core import DanluError

        try:
            p = plan.make(model, task=task, method=method, overrides=overrides, lengths=lengths, probe=probe,
                          trust_remote_code=trust, demo=demo, held_out=held_out, after=after)
            self.post_message(PlanComputed(p, gen=gen))
        except DanluError as exc:
            self.post_message(PlanComputed(None, error_text(exc), gen, (exc.where or "").split(":")[-1].strip()))
        except Exception as exc:  # noqa: BLE001 - shown on the screen, never closes the wizard
            self.post_message(PlanComputed(None, f"{type(exc).__name__}: {exc}", gen))

    @on(PlanComputed)
    def _planned(self, msg: PlanComputed) -> None:
        if msg.gen != self._gen:
            return  # an older plan, overtaken by a newer edit
        self._shown_gen = msg.gen
        status = self.query_one("#plan-status", Static)
        knobs = self.query_one(Knobs)
        knobs.mark(msg.field if msg.plan is None else None)
        if msg.plan is None:
            self.wizard.plan = None  # nothing to save or start until the settings plan again
            self._after_plan = None
            self._error = msg.error
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            hint = self.query_one("#knob-hint", Static)  # beside the fields, where the typing happens
            hint.update(f"✗ {msg.error}")
            hint.set_classes("error")
            return
        self._error = None
        hint = self.query_one("#knob-hint", Static)
        if hint.has_class("error"):  # the setting that was wrong plans now
            hint.update("")
            hint.set_classes("hint")
        p = msg.plan
        self.wizard.plan = p
        status.update(t("plan_fits") if p.fits else t("plan_no_fit"))
        status.set_classes("ok" if p.fits else "error")
        self.query_one(PlanView).plan = p
        self.query_one(Knobs).show(p)
        self._show_task()
        if self._after_plan is not None:  # Save or Start was pressed while this plan was being made: run it now
            start, self._after_plan = self._after_plan, None
            self._prepare(start)

    # -- save / start -------------------------------------------------------------------------------------------------
    def _prepare(self, start: bool) -> None:
        w = self.wizard
        if self._timer is not None or self._shown_gen != self._gen:
            self._after_plan = start  # what was typed last is planned first: Save / Start run that plan
            if self._timer is not None:
                self.action_replan()
            return
        if w.plan is None:
            if getattr(self, "_error", None):
                self.notify(t("fix_first", error=self._error), severity="error")
            else:
                self.notify(t("wait_plan"), severity="warning")
            return
        if not w.plan.fits:
            self.notify(t("plan_no_fit"), severity="error")
            return
        self.query_one("#saved", Static).update(t("starting") if start else t("saving"))
        if w.preference():  # the pairs, split with every prompt on one side
            train_pairs, held_pairs = w.pair_split()
            self._write_pairs(w.plan.config(train_file="(prepared)"), train_pairs, held_pairs, start)
            return
        self._write(w.plan.config(train_file="(prepared)"), list(w.conversations), w.eval_ratio, start,
                    w.data_target, w.held)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prepare")
    def _write(self, cfg, convs, ratio, start, target: str = "messages", held: list | None = None) -> None:
        from danlu.engine import data
        from danlu.engine import plan, train
        from danlu.engine.core import DanluError

        from ..dataview import convertible

        try:
            convs, _ = convertible(convs, target)  # Alpaca has no tool turns: those are left out (Data says how many)
            if held is not None:  # the plan after a run: that run's split, as it was
                train_convs, eval_convs = convs, list(held)
            else:
                train_convs, eval_convs = data.split(convs, ratio, seed=cfg.seed) if ratio > 0 else (convs, [])
            run = plan.prepare_run(cfg, train_convs, eval_convs, target=target)
            pid = train.detach(run.config_path, run) if start else None
            self.post_message(RunPrepared(str(run.path), start, pid=pid))
        except DanluError as exc:
            self.post_message(RunPrepared(None, start, error_text(exc)))
        except Exception as exc:  # noqa: BLE001
            self.post_message(RunPrepared(None, start, f"{type(exc).__name__}: {exc}"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="prepare")
    def _write_pairs(self, cfg, train_pairs: list, held_pairs: list, start: bool) -> None:
        from danlu.engine import plan, train
        from danlu.engine.core import DanluError

        try:
            run = plan.prepare_run(cfg, train_pairs, held_pairs)
            pid = train.detach(run.config_path, run) if start else None
            self.post_message(RunPrepared(str(run.path), start, pid=pid))
        except DanluError as exc:
            self.post_message(RunPrepared(None, start, error_text(exc)))
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

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#start")
    def _start(self) -> None:
        self.action_start()
