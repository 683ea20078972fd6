"""The danlu wizard (Textual).  Opens without torch/transformers; the engine loads them in workers."""

from __future__ import annotations

from textual.app import App

from .screens.welcome import WelcomeScreen
from .strings import set_lang


class DanluApp(App):
    TITLE = "danlu 丹炉"
    CSS = """
    #welcome { padding: 1 2; }
    #title { text-style: bold; color: $accent; }
    #intro { color: $text-muted; margin-bottom: 1; }
    #actions { height: auto; max-height: 6; margin-bottom: 1; }
    #runs-title { text-style: bold; }
    #runs { height: 1fr; }
    """

    def __init__(self, *, demo: bool = False, lang: str | None = None):
        super().__init__()
        self.demo = demo
        set_lang(lang)

    def on_mount(self) -> None:
        self.push_screen(WelcomeScreen())


def run_app(demo: bool = False, lang: str | None = None) -> None:
    DanluApp(demo=demo, lang=lang).run()
