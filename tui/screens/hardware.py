"""Hardware: what this machine offers (the engine's probe, run in a thread), and which GPU to use."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Header, Static

from ..strings import say, t
from ..widgets import KeysFooter
from .base import StepScreen


class ProbeFinished(Message):
    def __init__(self, probe, error: str | None = None):  # probe: engine.plan.hardware.Probe
        super().__init__()
        self.probe, self.error = probe, error


def hardware_rows(p) -> list[tuple[str, str]]:
    """The probe (engine.plan.hardware.Probe) as (what, value) rows, in plain words."""
    host, tb = p.host, p.torch
    rows = [(t("hw_accelerator"), p.accelerator),
            (t("hw_driver"), f"{p.driver or '–'} / CUDA {p.cuda_driver or '–'}"),
            ("torch", f"{tb.version or t('hw_missing')} ({tb.build or '–'})")]
    for g in p.gpus:
        procs = ", ".join(f"{x.pid} {x.name or ''} {x.memory_gb:.1f} GB" for x in g.processes[:3])
        rows.append((f"GPU {g.index}", f"{g.name}  {g.memory_free_gb:g}/{g.memory_total_gb:g} GB "
                                       f"{t('hw_free')}  bf16 {'✓' if g.bf16 else '✗'}"))
        if procs:
            rows.append((f"  {t('hw_other_procs')}", procs))
    if p.link_words() is not None:
        rows.append((t("hw_link"), say(p.link_words())))
    rows += [(t("hw_cpu"), f"{host.cpu} ({host.cores or '?'} {t('hw_cores')})"),
             (t("hw_ram"), f"{host.ram_available_gb}/{host.ram_total_gb} GB {t('hw_free')}"),
             (t("hw_disk"), f"{host.disk_free_gb} GB {t('hw_free')} ({host.disk_path})")]
    return rows


class HardwareScreen(StepScreen):
    HELP = "hardware"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+n", "next", "key_next"),
                Binding("r", "reprobe", "key_reprobe")]
    PALETTE = [("reprobe", "key_reprobe"), ("next", "key_next")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("step_hardware"), classes="step-title")
        with VerticalScroll(classes="body"):
            yield Static(t("probing"), id="hw-status", classes="loading")
            yield DataTable(id="hw-table", show_cursor=False, zebra_stripes=True)
            yield Static("", id="hw-warnings", classes="warn")
            yield Static(t("hw_pick_gpu"), id="gpu-hint", classes="hint")
            yield DataTable(id="gpu-table", cursor_type="row")
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_next"), id="next", variant="primary", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#hw-table", DataTable).add_columns(t("col_what"), t("col_value"))
        self.query_one("#gpu-table", DataTable).add_columns("GPU", t("col_name"), t("col_free"))
        self.query_one("#gpu-table").display = False
        self.query_one("#gpu-hint").display = False
        if self.wizard.probe is not None:
            self._show(self.wizard.probe)
        else:
            self.action_reprobe()

    def action_reprobe(self) -> None:
        self.query_one("#hw-status", Static).update(t("probing"))
        self.query_one("#hw-status").set_classes("loading")
        self._probe()

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def _probe(self) -> None:
        try:
            from danlu.engine.plan import hardware

            self.post_message(ProbeFinished(hardware.probe()))
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(ProbeFinished(None, str(exc)))

    @on(ProbeFinished)
    def _probed(self, msg: ProbeFinished) -> None:
        status = self.query_one("#hw-status", Static)
        if msg.probe is None:
            status.update(t("probe_failed", error=msg.error))
            status.set_classes("error")
            return
        self.wizard.probe = msg.probe
        self._show(msg.probe)

    def _show(self, p) -> None:
        status = self.query_one("#hw-status", Static)
        gpus = p.gpus
        status.update(t("hw_gpus_found", n=len(gpus)) if gpus else t("hw_cpu_mode"))
        status.set_classes("ok" if gpus else "warn")
        table = self.query_one("#hw-table", DataTable)
        table.clear()
        for what, value in hardware_rows(p):
            table.add_row(what, value)
        self.query_one("#hw-warnings", Static).update("\n".join(f"⚠ {say(w)}" for w in p.warnings))
        if len(gpus) > 1:
            gt = self.query_one("#gpu-table", DataTable)
            gt.clear()
            free = min(g.memory_free_gb for g in gpus)
            gt.add_row(t("hw_all_gpus", n=len(gpus)), t("hw_all_gpus_name"), f"{free:g} GB × {len(gpus)}", key="all")
            for g in gpus:
                gt.add_row(str(g.index), g.name, f"{g.memory_free_gb:g} GB", key=str(g.index))
            gt.display = True
            self.query_one("#gpu-hint").display = True
            gt.focus()
        else:
            self.query_one("#next", Button).focus()

    def action_next(self) -> None:
        p = self.wizard.probe
        if p is None:
            self.notify(t("wait_probe"), severity="warning")
            return
        gt = self.query_one("#gpu-table", DataTable)
        if gt.display and gt.row_count:
            key = gt.coordinate_to_cell_key(gt.cursor_coordinate).row_key.value
            if key == "all":  # the plan spreads the run over every GPU (engine.plan: gpus = their number)
                self.wizard.gpu = None
                self.wizard.overrides["gpus"] = len(p.gpus)
            else:
                self.wizard.gpu = int(key)
                self.wizard.probe = p.with_gpu(int(key))
                self.wizard.overrides.pop("gpus", None)
        self.app.goto("model")

