"""Export a run: adapter and/or merged model, to a folder; the result, its verification, commands to use it."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Footer, Header, Input, Static, TextArea

from ..strings import t
from .base import StepScreen


class ExportFinished(Message):
    def __init__(self, result: dict | None, error: str | None = None):
        super().__init__()
        self.result, self.error = result, error


def free_gb(path: Path) -> float | None:
    probe = next((p for p in [path, *path.parents] if p.exists()), None)
    return round(shutil.disk_usage(probe).free / 1024**3, 1) if probe else None


def usage_commands(result: dict) -> str:
    lines = []
    if result.get("merged_dir"):
        m = result["merged_dir"]
        lines += [f"danlu chat {m}",
                  f"python -c \"from transformers import pipeline; print(pipeline('text-generation', '{m}')"
                  f"([{{'role': 'user', 'content': 'hi'}}]))\""]
    if result.get("adapter_dir"):
        a = result["adapter_dir"]
        lines += [f"danlu chat {Path(a).parent.parent}",
                  f"python -c \"from peft import AutoPeftModelForCausalLM; AutoPeftModelForCausalLM.from_pretrained('{a}')\""]
    return "\n".join(lines)


class ExportScreen(StepScreen):
    HELP = "export"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+e", "export", "key_export_now")]
    PALETTE = [("export", "key_export_now")]

    def __init__(self, run_path: str):
        super().__init__()
        self.run_path = Path(run_path)
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("export_title", run=self.run_path.name), classes="step-title")
        with VerticalScroll(classes="body"):
            yield Checkbox(t("target_adapter"), value=True, id="t-adapter")
            yield Checkbox(t("target_merged"), value=True, id="t-merged")
            yield Static(t("destination"), classes="hint")
            yield Input(str(self.run_path / "export"), id="dest")
            yield Static("", id="free", classes="hint")
            yield Checkbox(t("overwrite"), id="overwrite")
            yield Static("", id="export-status", classes="hint")
            yield Static("", id="export-result")
            yield TextArea("", id="commands", read_only=True)
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_export"), id="go", variant="success", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#commands").display = False
        self._show_free(self.query_one("#dest", Input).value)
        final = self.run_path / "final"
        if (final / "config.json").exists() and not (final / "adapter_config.json").exists():
            adapter = self.query_one("#t-adapter", Checkbox)  # a full fine-tune has no adapter to export
            adapter.value = False
            adapter.disabled = True
            adapter.label = t("no_adapter_full")
        if not final.exists():
            status = self.query_one("#export-status", Static)
            status.update(t("no_final_yet"))
            status.set_classes("warn")
        self.query_one("#go", Button).focus()

    @on(Input.Changed, "#dest")
    def _dest(self, event: Input.Changed) -> None:
        self._show_free(event.value)

    def _show_free(self, value: str) -> None:
        free = free_gb(Path(value).expanduser()) if value else None
        self.query_one("#free", Static).update(t("free_space", gb=free if free is not None else "?"))

    def action_export(self) -> None:
        if self.busy:
            return
        targets = [n for n in ("adapter", "merged") if self.query_one(f"#t-{n}", Checkbox).value]
        if not targets:
            self.notify(t("pick_target"), severity="warning")
            return
        self.busy = True
        status = self.query_one("#export-status", Static)
        status.update(t("exporting"))
        status.set_classes("loading")
        self._export(str(self.run_path), Path(self.query_one("#dest", Input).value).expanduser(), targets,
                     self.query_one("#overwrite", Checkbox).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export(self, run: str, dest: Path, targets: list, overwrite: bool) -> None:
        try:
            from engine import chat, export

            model, tokenizer = chat.load(run)
            self.post_message(ExportFinished(export.export(model, tokenizer, dest, targets=targets,
                                                          overwrite=overwrite)))
        except Exception as exc:  # noqa: BLE001
            text = exc.one_line() if hasattr(exc, "one_line") else f"{type(exc).__name__}: {exc}"
            self.post_message(ExportFinished(None, text))

    @on(ExportFinished)
    def _finished(self, msg: ExportFinished) -> None:
        self.busy = False
        status = self.query_one("#export-status", Static)
        if msg.error:
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            return
        r = msg.result
        status.update(t("export_done", path=r["export_dir"]))
        status.set_classes("ok")
        lines = []
        if r.get("adapter_dir"):
            lines.append(f"adapter: {r['adapter_dir']}")
        if r.get("merged_dir"):
            diff = r.get("merged_logits_max_abs_diff")
            lines.append(f"merged:  {r['merged_dir']}")
            lines.append(t("verified", diff=f"{diff:.2e}") if diff is not None else "")
        self.query_one("#export-result", Static).update("\n".join(lines))
        commands = self.query_one("#commands", TextArea)
        commands.text = usage_commands(r)
        commands.display = True
        self._show_free(self.query_one("#dest", Input).value)

    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        self.action_export()
