"""What every wizard screen shares: translated key descriptions, the step header, help."""

from __future__ import annotations

import dataclasses

from textual import on
from textual.screen import ModalScreen, Screen
from textual.widgets import Button

from ..strings import t


def translate_bindings(node) -> None:
    """Binding descriptions are string keys in the class; show them in the chosen language."""
    for key, bindings in list(node._bindings.key_to_bindings.items()):
        node._bindings.key_to_bindings[key] = [
            dataclasses.replace(b, description=t(b.description)) if b.description.startswith("key_") else b
            for b in bindings
        ]


class StepScreen(Screen):
    HELP = "welcome"  # key of this screen's help text (strings: help_<HELP>)
    PALETTE: list = []  # (action, label key) pairs offered in the command palette

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        translate_bindings(self)

    @property
    def wizard(self):
        return self.app.wizard

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_next(self) -> None:  # screens with a next step override this
        pass

    # every step's nav row has Back and Next buttons: they do what escape and ctrl+n do
    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        self.action_next()


class StepModal(ModalScreen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        translate_bindings(self)
