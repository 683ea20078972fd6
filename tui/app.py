"""The danlu wizard (Textual).  Opens without torch/transformers; the engine loads them in workers.

Screens live in ``tui/screens/`` (one module each) and are imported when first shown, so the
first screen appears fast.  The wizard's gathered choices live in :class:`tui.state.WizardState`.
"""

from __future__ import annotations

import sys

import importlib

from textual.app import App, SystemCommand
from textual.binding import Binding

from . import linebreak
from .screens.welcome import WelcomeScreen
from .state import WizardState
from .styles import CSS as STYLES
from .strings import set_lang, t

linebreak.install()  # Chinese lines break between characters, never a number from its unit (tui/linebreak.py)

SCREENS_BY_NAME = {
    "hardware": ("danlu.tui.screens.hardware", "HardwareScreen"),
    "model": ("danlu.tui.screens.model", "ModelScreen"),
    "data": ("danlu.tui.screens.data", "DataScreen"),
    "plan": ("danlu.tui.screens.plan", "PlanScreen"),
    "dashboard": ("danlu.tui.screens.dashboard", "DashboardScreen"),
    "chat": ("danlu.tui.screens.chat", "ChatScreen"),
    "export": ("danlu.tui.screens.export", "ExportScreen"),
    "report": ("danlu.tui.screens.report", "ReportScreen"),
    "help": ("danlu.tui.screens.help", "HelpScreen"),
}


TEXTUAL_COMMANDS = {("Theme", None): "tx_theme", ("Quit", None): "tx_quit", ("Keys", None): "tx_keys_hide",
                    ("Keys", "show"): "tx_keys", ("Minimize", None): "tx_minimize", ("Maximize", None): "tx_maximize",
                    ("Screenshot", None): "tx_screenshot"}


class DanluApp(App):
    TITLE = "danlu 丹炉"
    CSS = STYLES
    BINDINGS = [
        Binding("question_mark", "help", "key_help"),
        Binding("f2", "toggle_theme", "key_theme", show=False),  # said in the help and the palette
    ]

    def __init__(self, *, demo: bool = False, lang: str | None = None):
        set_lang(lang)
        super().__init__()
        self.demo = demo
        self.wizard = WizardState.for_demo(demo)
        from .screens.base import translate_bindings

        translate_bindings(self)

    def on_mount(self) -> None:
        self.push_screen(WelcomeScreen())

    # -- navigation -------------------------------------------------------------------------
    def make_screen(self, name: str, *args, **kwargs):
        module, cls = SCREENS_BY_NAME[name]
        return getattr(importlib.import_module(module), cls)(*args, **kwargs)

    def goto(self, name: str, *args, **kwargs) -> None:
        self.push_screen(self.make_screen(name, *args, **kwargs))

    def back_to_welcome(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if isinstance(self.screen, WelcomeScreen):
            self.screen.action_refresh()

    def action_help(self) -> None:
        if type(self.screen).__name__ == "HelpScreen":
            return
        self.goto("help", getattr(self.screen, "HELP", "welcome"))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme != "textual-light" else "textual-dark"

    # -- command palette: one entry per action ------------------------------------------------
    def get_system_commands(self, screen):
        for cmd in super().get_system_commands(screen):  # Textual's own entries, in the wizard's language
            if cmd.title == "Bell":
                continue
            key = TEXTUAL_COMMANDS.get((cmd.title, "show" if cmd.help.startswith("Show") else None)) or \
                TEXTUAL_COMMANDS.get((cmd.title, None))
            yield SystemCommand(t(key), t(f"{key}_help"), cmd.callback, cmd.discover) if key else cmd
        yield SystemCommand(t("new_finetune"), t("cmd_new_help"), lambda: self._start_new())
        yield SystemCommand(t("cmd_attach_latest"), t("cmd_attach_latest_help"), lambda: self._latest("dashboard"))
        yield SystemCommand(t("cmd_chat_latest"), t("cmd_chat_latest_help"), lambda: self._latest("chat"))
        yield SystemCommand(t("cmd_export_latest"), t("cmd_export_latest_help"), lambda: self._latest("export"))
        yield SystemCommand(t("cmd_toggle_theme"), t("cmd_toggle_theme_help"), self.action_toggle_theme)
        yield SystemCommand(t("cmd_help"), t("cmd_help_help"), self.action_help)
        keys = {b.action: b.key for b in getattr(screen, "BINDINGS", []) if hasattr(b, "action")}
        for action, label in getattr(screen, "PALETTE", []):
            key = keys.get(action)
            yield SystemCommand(t(label), t("palette_screen_action", k=key) if key else t("palette_screen_action_nokey"),
                                lambda a=action, s=screen: s.run_action(a))

    def _start_new(self) -> None:
        self.back_to_welcome()
        self.goto("hardware")

    def _latest(self, name: str) -> None:
        from danlu.engine import runs

        found = runs.list_runs()
        if not found:
            self.notify(t("no_runs"), severity="warning")
            return
        self.goto(name, str(found[0].path))


def run_app(demo: bool = False, lang: str | None = None) -> None:
    import threading

    DanluApp(demo=demo, lang=lang).run()
    from danlu.engine import runs

    training = runs.training_now()
    if training is not None:  # closing the wizard never stops a run: say so, and how to come back to it
        print(t("still_training", run=training.id), file=sys.stderr, flush=True)
    busy = [th for th in threading.enumerate() if th is not threading.main_thread() and not th.daemon and th.is_alive()]
    if busy:  # a model still loading or an export still writing: say why the prompt is not back yet
        print(f"danlu: finishing {len(busy)} background task(s) (a model load or an export) before exiting; "
              "a training run goes on in its own process — `danlu attach` follows it", file=sys.stderr, flush=True)
