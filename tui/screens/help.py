"""Help for the current step (?)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..strings import t
from .base import StepModal


class HelpScreen(StepModal):
    BINDINGS = [Binding("escape", "close", "key_close"), Binding("question_mark", "close", "key_close"),
                Binding("q", "close", "key_close", show=False)]

    def __init__(self, topic: str):
        super().__init__()
        self.topic = topic

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(t(f"help_{self.topic}"), id="help-text")
            yield Static(t("help_common"), classes="hint")

    def action_close(self) -> None:
        self.dismiss()
