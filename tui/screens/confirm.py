"""A yes/no question that needs an explicit answer (used for trust_remote_code)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static

from ..strings import t
from .base import StepModal


class ConfirmScreen(StepModal):
    BINDINGS = [Binding("escape", "no", "key_cancel")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(self.question)
            with Horizontal(classes="row"):
                yield Button(t("btn_no"), id="no", variant="primary", compact=True)
                yield Button(t("btn_yes_trust"), id="yes", variant="error", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)
