"""The Welcome screen: start a new fine-tune, or pick a run found on disk."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from engine import paths, runs

from ..strings import t


class WelcomeScreen(Screen):
    BINDINGS = [Binding("q", "app.quit", t("quit")), Binding("r", "refresh", t("refresh"))]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Vertical(id="welcome"):
            yield Static(t("welcome_title"), id="title")
            yield Static(t("welcome_body"), id="intro")
            yield OptionList(
                Option(t("new_finetune"), id="new"),
                Option(t("quickstart_cli"), id="quickstart"),
                id="actions",
            )
            yield Static(t("runs_on_disk", root=str(paths.runs_root())), id="runs-title")
            yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns(t("col_run"), t("col_state"), t("col_method"), t("col_step"), t("col_loss"))
        self.action_refresh()
        self.query_one("#actions", OptionList).focus()

    def action_refresh(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.clear()
        found = [r.summary() for r in runs.list_runs()]
        for r in found:
            loss = f"{r['loss']:.4f}" if isinstance(r["loss"], (int, float)) else "-"
            table.add_row(r["id"], r["state"], r["method"] or "-", f"{r['step'] or 0}/{r['total'] or '?'}", loss,
                          key=r["path"])
        if not found:
            table.add_row(t("no_runs"), "", "", "", "")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == "new":
            self.notify(t("coming_soon"), timeout=4)
        elif event.option.id == "quickstart":
            self.notify(t("quickstart_hint"), timeout=6)
