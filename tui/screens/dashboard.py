"""The training dashboard: a viewer of a run directory (DESIGN.md §2).

A thread tails ``events.jsonl`` from a remembered offset, folds rows into :class:`tui.tail.Metrics`
and posts a snapshot at most ten times a second; each snapshot replaces a queued one, so a fast
trainer never floods the UI.  Leaving the screen (d) leaves the training running.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Header, ProgressBar, Static
from textual.worker import get_current_worker

from danlu.engine import runs

from ..strings import error_text, t
from .. import tail
from ..tail import STATES, Metrics, fmt_duration
from ..widgets import KeysFooter
from .base import StepScreen

MAX_HZ = 10.0
CHART_S = 5.0  # the chart is redrawn at most this often while the run goes on (a redraw costs ~30-50 ms)


class MetricsReceived(Message):
    def __init__(self, snapshot: dict, state: str):
        super().__init__()
        self.snapshot, self.state = snapshot, state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsReceived)


EVENT_STYLES = {"backoff": "bold yellow", "error": "bold red", "checkpoint": "green", "done": "bold",
                "eval": "cyan"}


def events_text(log: list) -> Text:
    """The last events in plain words, coloured by kind (back-off, error, checkpoint…)."""
    if not log:
        return Text(t("no_events_yet"), style="dim")
    return Text("\n").join(Text(line, style=EVENT_STYLES.get(kind, "")) for _, kind, line in log)


def bar(used: float, total: float, width: int = 8) -> str:
    if not total:
        return "░" * width
    filled = max(0, min(width, round(width * used / total)))
    return "█" * filled + "░" * (width - filled)


def side_text(s: dict) -> str:
    def num(v, f):
        return format(v, f) if isinstance(v, (int, float)) else "–"

    def row(label: str, value: str) -> str:  # values in one column, whatever the label's width in cells
        return label + " " * max(1, 10 - cell_len(label)) + value

    lines = [
        row(t("m_loss"), num(s.get("loss"), ".4f")),
        row(t("m_eval"), num(s["evals"][-1][1], ".4f") if s.get("evals") else "–"),
        row("lr", num(s.get("lr"), ".2e")),
        row(t("m_grad_norm"), num(s.get("grad_norm"), ".3f")),
        row(t("m_tokens_s"), num(s.get("tokens_per_s"), ",.0f")),
        row(t("m_epoch"), num(s.get("epoch"), ".2f")),
    ]
    if s.get("accuracy") is not None or s.get("eval_accuracy") is not None:  # a preference stage's rewards
        lines += [row(t("m_pref_acc"), num(s.get("accuracy"), ".2f")),
                  row(t("m_pref_eval"), num(s.get("eval_accuracy"), ".2f")),  # one value a row: 80 columns
                  row(t("m_margin"), num(s.get("margin"), ".3f")),
                  row(t("m_logps"), f"{num(s.get('logp_chosen'), '.0f')} / {num(s.get('logp_rejected'), '.0f')}")]
    lines.append("")
    sysrow = s.get("system") or {}
    for g in sysrow.get("gpus", []):
        lines.append(f"GPU{g.get('index')} {num(g.get('util_pct'), '.0f')}%  {num(g.get('temp_c'), '.0f')}°C "
                     f"{num(g.get('power_w'), '.0f')} W")
        lines.append(f" {bar(g.get('mem_used_gb', 0), g.get('mem_total_gb', 0))} "
                     f"{num(g.get('mem_used_gb'), '.1f')}/{num(g.get('mem_total_gb'), '.0f')} GB")
    if sysrow:
        lines.append(f"CPU {num(sysrow.get('cpu_pct'), '.0f')}%  RSS {num(sysrow.get('rss_gb'), '.2f')} GB")
        for r in sysrow.get("ranks", []):  # several ranks on this machine: each process
            lines.append(f" {t('rank_n', n=r.get('rank'))}: {num(r.get('cpu_pct'), '.0f')}%  "
                         f"RSS {num(r.get('rss_gb'), '.2f')} GB")
        lines.append(f"RAM {bar(sysrow.get('ram_used_gb', 0), sysrow.get('ram_total_gb', 0))} "
                     f"{num(sysrow.get('ram_used_gb'), '.1f')}/{num(sysrow.get('ram_total_gb'), '.0f')} GB")
    else:
        lines.append(t("no_system_yet"))
    return "\n".join(lines)


class DashboardScreen(StepScreen):
    HELP = "dashboard"
    BINDINGS = [Binding("d", "detach", "key_detach"), Binding("escape", "detach", "key_detach", show=False),
                Binding("s", "stop", "key_stop"), Binding("k", "checkpoint", "key_checkpoint"),
                Binding("c", "chat", "key_chat"), Binding("r", "report", "key_report"),
                Binding("e", "export", "key_export"), Binding("n", "next_plan", "key_next_plan")]  # the diagnosis line says n
    PALETTE = [("stop", "key_stop"), ("checkpoint", "key_checkpoint"), ("detach", "key_detach"),
               ("chat", "key_chat"), ("report", "key_report"), ("export", "key_export"), ("next_plan", "key_next_plan")]

    def __init__(self, run_path: str):
        super().__init__()
        self.run = runs.RunDir(Path(run_path))
        self.snapshot: dict = {}
        self.state = "pending"
        self._plotted: tuple | None = None  # (losses, evals, last eval) last drawn
        self._plot_t = 0.0  # when the chart was last drawn (monotonic)
        self._plot_timer = None  # a pending redraw of the chart (a Textual Timer)
        self._shown: dict[str, object] = {}  # selector -> content last shown
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot

        yield Header()
        yield Static(t("dash_title", run=self.run.id, state="…"), id="dash-title", classes="step-title")
        with Horizontal(id="dash-top"):
            yield PlotextPlot(id="chart")
            yield Static(t("reading_events"), id="side")
        with Horizontal(id="progress-row"):
            yield Static("", id="phase")  # what the trainer does between steps, in the bar's place
            yield ProgressBar(id="progress", show_eta=False, show_percentage=True)
            yield Static("", id="eta")
        yield Static("", id="events")
        yield KeysFooter()

    def on_mount(self) -> None:
        plt = self.query_one("#chart").plt
        plt.title(t("chart_title"))
        plt.xlabel(t("chart_x"))
        # hidden until the total is known: an indeterminate bar animates at 15 fps, CPU taken from the
        # trainer while it loads the model (the step counter in #eta shows 0/? meanwhile)
        self.query_one("#progress", ProgressBar).display = False
        self._tail(self.run)
        self.set_interval(1.0, self._tick)  # the clock moves between events (a step can take a minute)

    def on_unmount(self) -> None:
        self._stop.set()

    def check_action(self, action: str, parameters) -> bool | None:
        """Stop and checkpoint are for a run that trains: a finished run's footer does not offer them."""
        if action in ("stop", "checkpoint"):
            return self.state in ("pending", "running")
        if action == "next_plan":  # the next plan follows from the diagnosis: offered once the run has ended
            return self.state not in ("pending", "running")
        return True

    @work(thread=True, exclusive=True, exit_on_error=False, group="tail")
    def _tail(self, run: runs.RunDir) -> None:
        worker = get_current_worker()
        reader, metrics = runs.EventReader(run.events_path), Metrics(run=run.id)
        last_post, last_state, dirty = 0.0, None, True
        while not worker.is_cancelled and not self._stop.is_set():
            rows, replaced = reader.read()
            if replaced:  # a resume dropped the steps after its checkpoint: so does the chart
                metrics, dirty = Metrics(run=run.id), True
            for row in rows:
                metrics.add(row)
            dirty = dirty or bool(rows)
            state = run.effective_state()
            now = time.monotonic()
            if (dirty or state != last_state) and now - last_post >= 1 / MAX_HZ:
                self.post_message(MetricsReceived(metrics.snapshot(), state))
                last_post, last_state, dirty = now, state, False
            self._stop.wait(0.1 if state in ("pending", "running") else 0.5)

    @on(MetricsReceived)
    def _received(self, msg: MetricsReceived) -> None:
        if msg.state != self.state:
            self.refresh_bindings()
        s, self.snapshot, self.state = msg.snapshot, msg.snapshot, msg.state
        self._set("#dash-title", t("dash_title", run=self.run.id, state=t(f"state_{msg.state}")), layout=True)
        self._set("#side", side_text(s))
        progress = self.query_one("#progress", ProgressBar)
        if s.get("total") and (progress.total, progress.progress) != (s["total"], s["step"]):
            progress.update(total=s["total"], progress=s["step"])
        phase = s.get("phase") if msg.state in ("pending", "running") else None
        if phase is None and msg.state == "pending" and not s.get("events"):
            phase = t("phase_starting")
        self._set("#phase", f"⏳ {phase}" if phase else "")
        self.query_one("#phase").display = bool(phase)
        progress.display = bool(s.get("total")) and not phase
        self._tick()
        self._set("#events", events_text(s.get("log", [])[-5:]))
        plotted = self._points(s)
        # A new loss or eval point redraws the chart (the costly part: ~30-50 ms), at most every CHART_S while
        # the run goes on, and at once when it ends; a point held back is drawn by a timer.
        if plotted == self._plotted:
            return
        wait = self._plot_t + CHART_S - time.monotonic()
        if msg.state not in ("pending", "running") or wait <= 0:
            self._plot_latest()
        elif self._plot_timer is None:  # the newest point is drawn when the interval is over, events or not
            self._plot_timer = self.set_timer(wait, self._plot_latest)

    def _tick(self) -> None:
        """The step counter with a clock that moves every second, not only when a step lands."""
        s = self.snapshot
        if not s:
            return
        if s.get("started") is None:  # no event yet (the trainer is starting): the clock runs from the run's creation
            created = self.run.status().get("created")
            s = dict(s, started=created if isinstance(created, (int, float)) else None)
        c = tail.clock(s, tail.now())
        self._set("#eta", f" {s['step']}/{s['total'] or '?'}  {t('elapsed')} {fmt_duration(c['elapsed_s'])}  "
                          f"ETA {fmt_duration(c['eta_s'])}")

    @staticmethod
    def _points(s: dict) -> tuple:
        """What the chart shows: the number of loss points, of eval points, and the last eval point."""
        return s.get("n_losses"), len(s.get("evals") or []), (s.get("evals") or [None])[-1]

    def _plot_latest(self) -> None:
        """Draw the newest snapshot if the chart lags behind it (a timer that finds it drawn does nothing)."""
        self._plot_timer = None
        s = self.snapshot
        plotted = self._points(s)
        if plotted != self._plotted:
            self._plot(s)
            self._plotted, self._plot_t = plotted, time.monotonic()

    def _set(self, selector: str, content, layout: bool = False) -> None:
        """Update a Static only when its content changed.  The dashboard's panels have fixed sizes
        (styles.py), so an update repaints the panel alone instead of laying out the whole screen,
        which would also repaint the chart; that keeps the watcher's CPU away from the trainer."""
        if self._shown.get(selector) != content:
            self._shown[selector] = content
            self.query_one(selector, Static).update(content, layout=layout)

    def _plot(self, s: dict) -> None:
        chart = self.query_one("#chart")
        plt = chart.plt
        plt.clear_data()
        if s["losses"]:
            xs, ys = zip(*s["losses"])
            # no legend: plotext counts characters, not cells, so CJK labels push its frame out; the translated
            # title above the chart says which is which (line: loss, dots: eval loss)
            plt.plot(list(xs), list(ys), marker="braille")
        if s["evals"]:
            xs, ys = zip(*s["evals"])
            plt.scatter(list(xs), list(ys), marker="●")
        # the x axis spans the whole run in whole steps (not the steps so far, in fractions)
        last = max([s.get("total") or 0, s.get("step") or 0] + [x for x, _ in s["losses"] + s["evals"]])
        if last:
            ticks = sorted({round(last * k / 4) for k in range(5)})
            plt.xlim(0, last)
            plt.xticks(ticks, [str(x) for x in ticks])
        chart.refresh()

    # -- keys ---------------------------------------------------------------------------------
    def action_detach(self) -> None:
        self._stop.set()
        self.app.back_to_welcome() if len(self.app.screen_stack) > 2 else self.app.pop_screen()
        if self.state in ("pending", "running"):
            self.app.notify(t("detached", run=self.run.id))

    def _request(self, action: str) -> None:
        """Stop or checkpoint through the engine: a control file plus a signal, never a kill mid-write."""
        from danlu.engine import train

        state = self.run.effective_state()
        if state != "running" or not train.request(self.run, action):
            self.notify(t("not_running", state=t(f"state_{state}") if state in STATES else state),
                        severity="warning")
            (self.run.path / "control.json").unlink(missing_ok=True)  # nobody will read it
            return
        self.notify(t("stop_sent" if action == "stop" else "checkpoint_sent"))

    def action_stop(self) -> None:
        self._request("stop")

    def action_checkpoint(self) -> None:
        self._request("checkpoint")

    def action_chat(self) -> None:
        self.app.goto("chat", str(self.run.path))

    def action_export(self) -> None:
        self.app.goto("export", str(self.run.path))

    def action_next_plan(self) -> None:
        """The plan after this run: its diagnosis's changes on its settings (engine.plan.next_inputs), on the Plan
        screen, where they can still be changed."""
        if self.state in ("pending", "running"):
            self.notify(t("next_after_training"), severity="warning")
            return
        self.notify(t("next_planning"))
        self._next_inputs(self.run)

    @work(thread=True, exclusive=True, exit_on_error=False, group="next")
    def _next_inputs(self, run) -> None:
        from danlu.engine import plan
        from danlu.engine.core import DanluError

        try:
            inputs = plan.next_inputs(run)
        except DanluError as exc:
            self.app.call_from_thread(self.notify, error_text(exc), severity="error")
            return
        except Exception as exc:  # noqa: BLE001 - shown, never closes the wizard
            self.app.call_from_thread(self.notify, f"{type(exc).__name__}: {exc}", severity="error")
            return
        self.app.call_from_thread(self._open_next, inputs)

    def _open_next(self, inputs) -> None:
        from ..state import WizardState

        self.app.wizard = WizardState.after(inputs, probe=self.app.wizard.probe)
        self.app.goto("plan")

    def action_report(self) -> None:
        if self.state in ("pending", "running"):
            self.notify(t("report_after_training"), severity="warning")
            return
        self.app.goto("report", str(self.run.path))
