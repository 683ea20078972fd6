"""Data: pick a file, see its detected format with the evidence, a preview, every problem with its line, the split."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static

from ..strings import t
from .base import StepScreen


class DataLoaded(Message):
    def __init__(self, path: str, report: dict | None, convs: list, removed: dict, error: str | None = None):
        super().__init__()
        self.path, self.report, self.convs, self.removed, self.error = path, report, convs, removed, error


def short(text: str, n: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def first(conv, role: str) -> str:
    return next((m.get("content", "") for m in conv if m.get("role") == role), "")


class DataScreen(StepScreen):
    HELP = "data"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+n", "next", "key_next"),
                Binding("ctrl+o", "sample", "key_sample")]
    PALETTE = [("sample", "key_sample"), ("next", "key_next")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("step_data"), classes="step-title")
        with VerticalScroll(classes="body"):
            yield Static(t("data_file_hint"), classes="hint")
            yield Input(placeholder=t("data_file_placeholder"), id="path")
            yield Static("", id="data-status", classes="hint")
            yield Static("", id="data-format")
            yield Static(t("preview"), classes="step-title")
            yield DataTable(id="preview", cursor_type="row", zebra_stripes=True)
            yield Static(t("problems"), classes="step-title")
            yield DataTable(id="problems", cursor_type="row")
            yield Static("", id="problem-detail", classes="hint")
            with Horizontal(classes="row"):
                yield Label(t("eval_ratio"), classes="label")
                yield Input(id="ratio", type="number")
            yield Static("", id="split-info", classes="hint")
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_next"), id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#preview", DataTable).add_columns(t("col_line"), t("col_turns"), t("col_user"),
                                                          t("col_assistant"))
        self.query_one("#problems", DataTable).add_columns(t("col_line"), t("col_field"), t("col_problem"))
        self.query_one("#ratio", Input).value = f"{self.wizard.eval_ratio:g}"
        path = self.wizard.data_file
        if not path:
            from ..state import sample_data_file

            path = str(sample_data_file())
        inp = self.query_one("#path", Input)
        inp.value = path
        inp.focus()
        self._load_path(path)

    def action_sample(self) -> None:
        from ..state import sample_data_file

        self.query_one("#path", Input).value = str(sample_data_file())
        self._load_path(str(sample_data_file()))

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        self._load_path(event.value.strip())

    def _load_path(self, path: str) -> None:
        status = self.query_one("#data-status", Static)
        status.update(t("reading", path=path))
        status.set_classes("loading")
        self._read(path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="data")
    def _read(self, path: str) -> None:
        from engine import data
        from engine.errors import DanluError

        p = Path(path).expanduser()
        try:
            if not p.exists():
                raise DanluError(f"file not found: {p}", fix=t("fix_path"))
            convs, report = data.load_conversations(p)
            cleaned, removed = data.clean(convs)
            self.post_message(DataLoaded(str(p), report.to_dict(), cleaned, dict(removed)))
        except DanluError as exc:
            self.post_message(DataLoaded(str(p), None, [], {}, exc.one_line()))
        except Exception as exc:  # noqa: BLE001
            self.post_message(DataLoaded(str(p), None, [], {}, f"{type(exc).__name__}: {exc}"))

    @on(DataLoaded)
    def _loaded(self, msg: DataLoaded) -> None:
        status = self.query_one("#data-status", Static)
        preview = self.query_one("#preview", DataTable)
        problems = self.query_one("#problems", DataTable)
        preview.clear()
        problems.clear()
        if msg.error:
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            self.query_one("#data-format", Static).update("")
            self.wizard.conversations = []
            return
        r = msg.report
        w = self.wizard
        if w.data_file != msg.path:
            w.plan = None
        w.data_file, w.data_report, w.conversations, w.removed = msg.path, r, msg.convs, msg.removed
        removed = sum(int(v) for v in msg.removed.values() if isinstance(v, (int, float)))
        status.update(t("data_summary", records=r.get("records", 0), kept=len(msg.convs),
                        problems=len(r.get("problems", [])), removed=removed))
        status.set_classes("ok" if msg.convs else "error")
        conf = r.get("confidence")
        self.query_one("#data-format", Static).update(
            t("data_format", format=r.get("format"), evidence=r.get("evidence"),
              confidence=f"{conf:.0%}" if isinstance(conf, (int, float)) else "?")
            + (f"\n{t('mapping')}: {r['mapping']}" if r.get("mapping") else ""))
        for conv in msg.convs[:8]:
            preview.add_row(str(getattr(conv, "line", "")), str(len(conv)), short(first(conv, "user"), 30),
                            short(first(conv, "assistant"), 30))
        for i, p in enumerate(r.get("problems", [])[:200]):
            problems.add_row(str(p.get("line", "")), short(p.get("field", ""), 14), short(p.get("what", ""), 44),
                             key=str(i))
        if not r.get("problems"):
            problems.add_row("–", "", t("no_problems"))
        self._update_split()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "problems" or not self.wizard.data_report:
            return
        probs = self.wizard.data_report.get("problems", [])
        try:
            p = probs[int(event.row_key.value)]
        except (ValueError, IndexError, TypeError):
            return
        self.query_one("#problem-detail", Static).update(
            f"{Path(p.get('file', '')).name}:{p.get('line')}: {p.get('what')} — {p.get('fix')} ({p.get('action')})")

    @on(Input.Changed, "#ratio")
    def _ratio(self, event: Input.Changed) -> None:
        try:
            value = float(event.value)
        except ValueError:
            return
        if 0 <= value < 0.9:
            self.wizard.eval_ratio = value
            self.wizard.plan = None
            self._update_split()

    def _update_split(self) -> None:
        n = len(self.wizard.conversations)
        n_eval = int(round(n * self.wizard.eval_ratio))
        self.query_one("#split-info", Static).update(t("split_info", train=n - n_eval, eval=n_eval))

    def action_next(self) -> None:
        if not self.wizard.conversations:
            self.notify(t("no_data_yet"), severity="warning")
            return
        self.app.goto("plan")

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        self.action_next()
