"""The evaluation report of a run: its eval.json rendered as Markdown in the wizard's language
(engine.infer.evaluate.markdown with tui.strings.say); made by engine.infer.evaluate.report in a worker when missing."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Header, Markdown, Static

from ..strings import error_text, has, say, t
from ..widgets import Busy, KeysFooter
from .base import StepScreen


class ReportProgress(Message):
    def __init__(self, stage: str, text):
        super().__init__()
        self.stage, self.text = stage, text


class ReportReady(Message):
    def __init__(self, markdown: str | None, error: str | None = None):
        super().__init__()
        self.markdown, self.error = markdown, error


class ReportScreen(StepScreen):
    HELP = "report"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+r", "rerun", "key_rerun_report")]
    PALETTE = [("rerun", "key_rerun_report")]

    def __init__(self, ref: str):
        super().__init__()
        self.ref = ref
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("report_title", run=Path(self.ref).name), classes="step-title")
        yield Busy("", id="report-status", classes="hint", markup=False)
        with VerticalScroll(id="report-body"):
            yield Markdown("", id="report")
        yield KeysFooter()

    def on_mount(self) -> None:
        md = self._existing()
        if md is not None:
            self._show(md)
            self.query_one("#report-status", Static).update(t("report_cached"))
        else:
            self.action_rerun()

    def _existing(self) -> str | None:
        """The saved report (eval.json) in this language; None when there is none or it cannot be read."""
        import json

        from danlu.engine import infer, runs
        from danlu.engine.core import DanluError

        try:
            run = runs.resolve(self.ref)
            return infer.eval_markdown(json.loads((run.path / "eval.json").read_text(encoding="utf-8")), say)
        except (DanluError, OSError, ValueError, KeyError, TypeError):
            return None

    def _show(self, markdown: str) -> None:
        self.query_one("#report", Markdown).update(markdown)

    def action_rerun(self) -> None:
        if self.running:
            return
        self.running = True
        self.query_one("#report-status", Busy).work(t("report_running"))
        self._make(self.ref)

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def _make(self, ref: str) -> None:
        from textual.worker import get_current_worker

        from danlu.engine import infer

        worker = get_current_worker()
        try:
            res = infer.eval_report(ref, progress=lambda stage, text: self.post_message(ReportProgress(stage, text)),
                                  cancelled=lambda: worker.is_cancelled)
            self.post_message(ReportReady(infer.eval_markdown(res, say)))
        except InterruptedError:
            return
        except Exception as exc:  # noqa: BLE001 - shown, never closes the app
            self.post_message(ReportReady(None, error_text(exc)))

    @on(ReportProgress)
    def _progress(self, msg: ReportProgress) -> None:
        stage = t(f"estage_{msg.stage}") if has(f"estage_{msg.stage}") else msg.stage
        self.query_one("#report-status", Busy).work(f"{t('report_running')} {stage}{t('colon')}{say(msg.text)}")

    @on(ReportReady)
    def _ready(self, msg: ReportReady) -> None:
        self.running = False
        status = self.query_one("#report-status", Busy)
        if msg.error:
            status.done(f"✗ {msg.error}", "error")
            return
        self._show(msg.markdown)
        status.done(t("report_done"))
