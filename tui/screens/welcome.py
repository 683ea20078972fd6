"""The Welcome screen: start a new fine-tune, or re-attach to / chat with / export a run on disk."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.option_list import Option

from danlu.engine.core import paths
from danlu.engine import runs

from ..strings import t
from ..widgets import KeysFooter
from .base import StepScreen


REFRESH_S = 2.0  # how often the runs table is read again


class WelcomeScreen(StepScreen):
    HELP = "welcome"
    _rows: list | None = None  # the runs table's rows as last shown
    BINDINGS = [
        Binding("q", "app.quit", "key_quit"),
        Binding("n", "new", "key_new"),
        Binding("a", "attach", "key_attach"),
        Binding("c", "chat", "key_chat"),
        Binding("e", "export", "key_export"),
        Binding("r", "refresh", "key_refresh"),
    ]
    PALETTE = [("attach", "key_attach"), ("chat", "key_chat"), ("export", "key_export"), ("refresh", "key_refresh")]

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
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns(t("col_run"), t("col_state"), t("col_method"), t("col_step"), t("col_loss"))
        self.action_refresh()
        self.query_one("#actions", OptionList).focus()
        self.set_interval(REFRESH_S, self.action_refresh)  # a run training in the background moves on here too

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        """The runs on disk; the table is rebuilt only when a row changed, and a cursor moved to a run stays on it
        (one on the first row stays there: the newest run)."""
        table = self.query_one("#runs", DataTable)
        rows = [(r.path, (r.id, t(f"state_{r.state}"), r.method or "-", r.step_text, r.loss_text))
                for r in (s.summary() for s in runs.list_runs())]
        if rows == self._rows:
            return
        table_cursor = self.query_one("#runs", DataTable).cursor_row
        at = self.selected_run() if table_cursor > 0 else None  # on the first row: the newest run stays selected
        self._rows = rows
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if not rows:
            table.add_row(t("no_runs"), "", "", "", "")
        keys = [k for k, _ in rows]
        if at in keys:
            table.move_cursor(row=keys.index(at), animate=False)

    def selected_run(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - empty table
            return None
        return key if key and key != t("no_runs") and "/" in str(key) else None

    def _with_run(self, name: str) -> None:
        run = self.selected_run()
        if run is None:
            self.notify(t("pick_run_first"), severity="warning")
            return
        self.app.goto(name, run)

    def action_new(self) -> None:
        self.app.goto("hardware")

    def action_attach(self) -> None:
        self._with_run("dashboard")

    def action_chat(self) -> None:
        self._with_run("chat")

    def action_export(self) -> None:
        self._with_run("export")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_attach()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id == "new":
            self.action_new()
        elif event.option.id == "quickstart":
            from ..state import WizardState

            self.app.wizard = WizardState.for_demo(True)  # the real demo model and the sample data, preselected
            self.notify(t("quickstart_hint"), timeout=6)
            self.action_new()
