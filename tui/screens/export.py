"""Export a run: targets, GGUF types with their sizes, destination and free space; progress, checks, commands.

Everything is decided and done by engine.export (the same as ``danlu export``): the sizes shown are
its estimates, the export runs in a worker that reports each stage, and the result is the engine's
summary in plain words plus the commands that use it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Header, Input, Label, Select, SelectionList, Static, TextArea

from danlu.engine.export import TARGETS  # the engine's export targets, in its order

from ..strings import error_text, has, say, t
from ..widgets import Busy, KeysFooter, TickBox, TickList
from .base import StepScreen

GGUF_CHOICES = ("f16", "bf16", "q8_0", "q4_0", "q4_1", "q4_k_m", "q5_k_m", "q6_k")


class SourceRead(Message):
    def __init__(self, params: int | None, full: bool, dtype: str | None, kquants: bool, error: str | None = None):
        super().__init__()
        self.params, self.full, self.dtype, self.kquants, self.error = params, full, dtype, kquants, error


class ExportProgress(Message):
    def __init__(self, stage: str, text: str):
        super().__init__()
        self.stage, self.text = stage, text


class ExportFinished(Message):
    def __init__(self, result, error: str | None = None):  # result: engine.export.ExportResult
        super().__init__()
        self.result, self.error = result, error


def free_gb(path: Path) -> float | None:
    probe = next((p for p in [path, *path.parents] if p.exists()), None)
    return round(shutil.disk_usage(probe).free / 1024**3, 1) if probe else None


def _mb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


class ExportScreen(StepScreen):
    HELP = "export"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+e", "export", "key_export_now")]
    PALETTE = [("export", "key_export_now")]

    def __init__(self, run_path: str):
        super().__init__()
        self.run_path = Path(run_path)
        self.busy = False
        self.params: int | None = None
        self._stages: dict[str, str] = {}  # the export's stages, each with its latest word

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("export_title", run=self.run_path.name), classes="step-title")
        with VerticalScroll(classes="body"):
            for name in TARGETS:
                yield TickBox(t(f"target_{name}"), value=name in ("adapter", "merged"), id=f"t-{name}", compact=True)
            yield Static(t("export_checked"), classes="hint")
            with Horizontal(classes="row"):
                yield Label(t("merged_dtype"), classes="clabel")
                yield Select([(x, x) for x in ("bf16", "fp16", "fp32")], id="dtype", allow_blank=True, compact=True,
                             prompt=t("dtype_of_base"))
            yield Label(t("gguf_types"), classes="label")
            yield TickList(*[(q, q, q == "f16") for q in GGUF_CHOICES], id="gguf-types")
            with Horizontal(classes="row"):
                yield Label(t("hub_repo"), classes="clabel")
                yield Input(placeholder="you/my-model", id="hub-repo", compact=True)
            yield Static(t("destination"), classes="hint")
            yield Input(str(self.run_path / "export"), id="dest", compact=True)
            yield Static("", id="free", classes="hint")
            yield TickBox(t("overwrite"), id="overwrite", compact=True)
            yield Busy("", id="export-status", classes="hint", markup=False)
            yield Static("", id="export-log", classes="hint", markup=False)
            yield Static("", id="export-result", markup=False)
            # wrapped, never cut by the edge or the scrollbar; each command is still one line to select and copy
            yield TextArea("", id="commands", read_only=True, soft_wrap=True)
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_export"), id="go", variant="success", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#commands").display = False
        self._show_free(self.query_one("#dest", Input).value)
        if not (self.run_path / "final").exists():
            status = self.query_one("#export-status", Static)
            status.update(t("no_final_yet"))
            status.set_classes("warn")
        self._read_source(str(self.run_path))
        self.query_one("#go", Button).focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="source")
    def _read_source(self, run: str) -> None:
        from danlu.engine import export

        try:
            info = export.source_info(run)
            self.post_message(SourceRead(info.params, info.full, info.dtype, info.kquants))
        except Exception as exc:  # noqa: BLE001 - shown, never closes the app
            self.post_message(SourceRead(None, False, None, False, error_text(exc)))

    @on(SourceRead)
    def _source(self, msg: SourceRead) -> None:
        if msg.error:
            status = self.query_one("#export-status", Static)
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            return
        self.params = msg.params
        if msg.full:
            adapter = self.query_one("#t-adapter", Checkbox)  # a full fine-tune has no adapter to export
            adapter.value = False
            adapter.disabled = True
            adapter.label = t("no_adapter_full")
        self.query_one("#dtype", Select).prompt = t("dtype_of_base") + f" ({msg.dtype})"
        self._label_sizes(msg.dtype or "bf16", msg.kquants)

    def _label_sizes(self, dtype: str, kquants: bool) -> None:
        from danlu.engine import export

        if self.params is None:
            return
        per = {"fp32": 4, "bf16": 2, "fp16": 2}[dtype]
        self.query_one("#t-merged", Checkbox).label = t("target_merged") + f" — {_mb(self.params * per)}"
        types = self.query_one("#gguf-types", SelectionList)
        chosen = set(types.selected)
        types.clear_options()
        for c in export.gguf_choices(self.params, GGUF_CHOICES):
            note = "" if c.native else (f" ({t('via_llama_cpp')})" if kquants else f" ({t('needs_llama_cpp')})")
            types.add_option((f"{c.qtype} — {_mb(c.bytes)}{note}", c.qtype, c.qtype in chosen))

    @on(Input.Changed, "#dest")
    def _dest(self, event: Input.Changed) -> None:
        self._show_free(event.value)

    def _show_free(self, value: str) -> None:
        free = free_gb(Path(value).expanduser()) if value else None
        self.query_one("#free", Static).update(t("free_space", gb=free if free is not None else "?"))

    def action_export(self) -> None:
        if self.busy:
            return
        targets = [n for n in TARGETS if self.query_one(f"#t-{n}", Checkbox).value]
        if not targets:
            self.notify(t("pick_target"), severity="warning")
            return
        types = list(self.query_one("#gguf-types", SelectionList).selected) or ["f16"]
        picked = self.query_one("#dtype", Select)
        dtype = None if picked.is_blank() else str(picked.value)  # blank: the base model's own dtype
        self.busy = True
        status = self.query_one("#export-status", Busy)
        status.work(t("exporting"))
        self.query_one("#export-log", Static).update("")
        self._stages: dict[str, str] = {}
        self.call_after_refresh(status.scroll_visible, animate=False, top=True)  # its progress, on screen
        self._export(str(self.run_path), Path(self.query_one("#dest", Input).value).expanduser(), targets, types,
                     dtype, self.query_one("#overwrite", Checkbox).value,
                     self.query_one("#hub-repo", Input).value.strip() or None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export(self, run: str, dest: Path, targets: list, types: list, dtype, overwrite: bool, hub_repo) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        try:
            from danlu.engine import export

            res = export.export(run, dest, targets=targets, gguf_types=types, dtype=dtype, overwrite=overwrite,
                                hub_repo=hub_repo,
                                progress=lambda stage, text: self.post_message(ExportProgress(stage, text)),
                                cancelled=lambda: worker.is_cancelled)
            self.post_message(ExportFinished(res))
        except InterruptedError:
            return
        except Exception as exc:  # noqa: BLE001
            text = error_text(exc)
            self.post_message(ExportFinished(None, text))

    @on(ExportProgress)
    def _progress(self, msg: ExportProgress) -> None:
        """One line per stage, its latest word, in the wizard's language."""
        self._stages.pop(msg.stage, None)
        self._stages[msg.stage] = say(msg.text)
        label = {stage: t(f"stage_{stage}") if has(f"stage_{stage}") else stage for stage in self._stages}
        self.query_one("#export-log", Static).update(
            "\n".join(f"[{label[stage]}] {text}" for stage, text in list(self._stages.items())[-8:]))

    @on(ExportFinished)
    def _finished(self, msg: ExportFinished) -> None:
        from danlu.engine import export

        self.busy = False
        status = self.query_one("#export-status", Busy)
        if msg.error:
            status.done(f"✗ {msg.error}", "error")
            self.call_after_refresh(status.scroll_visible, animate=False, top=True)
            return
        r = msg.result
        status.done(t("export_done", path=r.export_dir))
        # paths inside the export folder, relative (the folder is named above); the commands, whole, in the box below
        self.query_one("#export-result", Static).update(
            "\n".join(say(line) for line in export.summary_lines(r, relative=True, commands=False)))
        commands = self.query_one("#commands", TextArea)
        commands.text = r.commands
        commands.display = True
        self._show_free(self.query_one("#dest", Input).value)
        body = self.query_one(".body", VerticalScroll)
        self.set_timer(0.2, lambda: body.scroll_to_widget(status, animate=False, top=True))  # the result, on screen

    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        self.action_export()
