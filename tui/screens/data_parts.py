"""The Data screen's parts, each a widget with typed properties and its own messages (posting style), so that the
screen composes them and reacts to what they report instead of reaching into their children by id:

- :class:`MappingBox`: the column-mapping editor shown when detection is unsure; posts :class:`MappingBox.Applied`.
- :class:`CleaningChoices`: the cleaning toggles with their counts; ``values``; posts :class:`CleaningChoices.Changed`.
- :class:`ProblemsPanel`: every problem with its line, the highlighted one's fix and source; posts
  :class:`ProblemsPanel.Jump` when Enter asks for the row it points at.

What the rules and counts are is decided by the engine (``tui.dataview`` over ``engine.data``); these only show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, DataTable, Label, Select, Static

from .. import dataview
from ..strings import t

MAP_FIELDS = ("instruction", "output", "input", "system", "history", "messages")
PROBLEM_ROWS = 500
MAX_CHARS = f"{dataview.MAX_CHARS:,}"


def short(text: str, n: int = 40) -> str:
    """One line of at most ``n`` terminal cells (CJK characters take two)."""
    text = " ".join(str(text).split())
    if cell_len(text) <= n:
        return text
    out, width = [], 0
    for ch in text:
        w = cell_len(ch)
        if width + w > n - 1:
            break
        out.append(ch)
        width += w
    return "".join(out) + "…"


class MappingBox(Vertical):
    """Which column holds which field, for a file whose columns have no standard names."""

    DEFAULT_CSS = "MappingBox { height: auto; }"

    class Applied(Message):
        """The user applied a complete mapping: read the file again with it."""

        def __init__(self, mapping: dict[str, str]):
            super().__init__()
            self.mapping = mapping

    def compose(self) -> ComposeResult:
        yield Static(t("mapping_title"), classes="warn")
        with Grid(id="mapping-grid"):
            for name in MAP_FIELDS:
                yield Label(t(f"map_{name}"), classes="clabel")
                yield Select([], id=f"m-{name}", prompt=t("map_none"), compact=True)
        with Horizontal(classes="row"):
            yield Button(t("btn_apply_mapping"), id="apply-mapping", compact=True, variant="warning")
            yield Static(t("mapping_hint"), classes="hint")

    def show(self, columns: list[str], mapping: dict | None, unsure: bool) -> None:
        """Shown (with the file's columns to pick from) only when detection is unsure and there are columns."""
        self.set_class(bool(unsure and columns), "-shown")
        if not (unsure and columns):
            return
        mapping = mapping or {}
        for name in MAP_FIELDS:
            select = self.query_one(f"#m-{name}", Select)
            with self.prevent(Select.Changed):
                select.set_options([(c, c) for c in columns])
                if mapping.get(name) in columns:
                    select.value = mapping[name]

    @property
    def choice(self) -> dict[str, str]:
        """The fields with a column picked."""
        out = {}
        for name in MAP_FIELDS:
            value = self.query_one(f"#m-{name}", Select).value
            if value is not Select.NULL and value is not None:
                out[name] = str(value)
        return out

    @on(Button.Pressed, "#apply-mapping")
    def _apply(self, event: Button.Pressed) -> None:
        event.stop()
        mapping = self.choice
        if "messages" in mapping:
            mapping = {k: v for k, v in mapping.items() if k in ("messages", "system")}
        elif not ("instruction" in mapping and "output" in mapping):
            self.notify(t("mapping_incomplete"), severity="warning")
            return
        self.post_message(self.Applied(mapping))


class ChoiceBox(Checkbox):
    """A cleaning toggle: ✓ when on, an empty box when off (not only a colour change)."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's class attribute, per state here
        return "✓" if self.value else " "


class CleaningChoices(Vertical):
    """The cleaning rules as toggles, each with how many rows it concerns, and a line on what is always dropped."""

    DEFAULT_CSS = "CleaningChoices { height: auto; }"

    class Changed(Message):
        def __init__(self, values: dict[str, bool]):
            super().__init__()
            self.values = values

    def __init__(self, values: dict[str, bool], **kw):
        super().__init__(**kw)
        self._initial = dict(values)

    def compose(self) -> ComposeResult:
        for name in dataview.CHOICES:
            yield ChoiceBox(t(f"clean_{name}", n="…", seq="…", chars=MAX_CHARS), value=self._initial[name],
                            id=f"c-{name}", classes="choice", compact=True)
        yield Static("", id="clean-info", classes="hint", markup=False)

    @property
    def values(self) -> dict[str, bool]:
        return {name: self.query_one(f"#c-{name}", Checkbox).value for name in dataview.CHOICES}

    def show(self, counts: dict, *, tokens_known: bool, seq: int, kept: int) -> None:
        for name in dataview.CHOICES:
            n = "…" if name == "too_long" and not tokens_known else counts[name]
            self.query_one(f"#c-{name}", Checkbox).label = t(f"clean_{name}", n=n, seq=seq, chars=MAX_CHARS)
        self.query_one("#clean-info", Static).update(
            t("clean_info", empty=counts["empty_answer"], unusable=counts["unusable"], kept=kept))

    def clear(self) -> None:
        self.query_one("#clean-info", Static).update("")

    @on(Checkbox.Changed, ".choice")
    def _changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.values))


class ProblemsPanel(Vertical):
    """Every problem the data doctor found (line, field, what, what happens to the row); the highlighted one's fix
    and the source line under the table.  ``can_jump`` says whether a problem's row is in the preview."""

    DEFAULT_CSS = "ProblemsPanel { height: auto; }"

    class Jump(Message):
        """Enter on a problem: show the row it points at."""

        def __init__(self, problem: dict):
            super().__init__()
            self.problem = problem

    def __init__(self, can_jump: Callable[[dict], bool], **kw):
        super().__init__(**kw)
        self.can_jump = can_jump
        self.problems: list[dict] = []
        self.choices: dict[str, bool] = {}

    def compose(self) -> ComposeResult:
        yield DataTable(id="problems", cursor_type="row")
        yield Static("", id="problem-detail", classes="hint", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("line", "field", "problem", "action"):
            table.add_column(t(f"col_{key}"), key=key)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def detail(self) -> Static:
        return self.query_one("#problem-detail", Static)

    def show(self, problems: list[dict], choices: dict[str, bool]) -> None:
        self.problems, self.choices = problems, choices
        table = self.table
        table.clear()
        width = max(40, min(100, self.app.size.width - 36))
        for i, p in enumerate(problems[:PROBLEM_ROWS]):
            table.add_row(str(p.get("line", "")), short(p.get("field", ""), 12), short(p.get("what", ""), width),
                          self._action(p), key=str(i))
        if not problems:
            table.add_row("–", "", t("no_problems"), "", key="none")
        self.detail.update(t("problems_more", n=len(problems) - PROBLEM_ROWS) if len(problems) > PROBLEM_ROWS else "")

    def set_choices(self, choices: dict[str, bool]) -> None:
        """The cleaning choices changed: so does what happens to each row."""
        self.choices = choices
        for i, p in enumerate(self.problems[:PROBLEM_ROWS]):
            self.table.update_cell(str(i), "action", self._action(p))

    def clear(self) -> None:
        self.problems = []
        self.table.clear()
        self.detail.update("")

    def _action(self, p: dict) -> str:
        return t(f"act_{dataview.shown_action(p, self.choices)}")

    def _problem(self, row_key) -> tuple[int, dict] | None:
        try:
            i = int(row_key.value)
            return i, self.problems[i]
        except (ValueError, IndexError, TypeError):
            return None

    def _text(self, p: dict, source: str | None = None) -> Text:
        out = Text()
        out.append(f"{Path(p.get('file', '')).name}:{p.get('line')}", style="bold")
        field = p.get("field", "")
        out.append((f" {field}:" if field and field != "-" else "") + f" {p.get('what')}\n")
        out.append(f"→ {p.get('fix')} ({self._action(p)})")
        if self.can_jump(p):
            out.append("  " + t("enter_jumps"), style="italic")
        if source:
            out.append("\n" + source, style="dim")
        return out

    @on(DataTable.RowHighlighted, "#problems")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        found = self._problem(event.row_key)
        if found is None:
            return
        i, p = found
        self.detail.update(self._text(p))
        self._read_source(i, p.get("file", ""), int(p.get("line") or 0))

    class _SourceRead(Message):
        def __init__(self, index: int, text: str | None):
            super().__init__()
            self.index, self.text = index, text

    @work(thread=True, exclusive=True, exit_on_error=False, group="source")
    def _read_source(self, index: int, file: str, line: int) -> None:
        self.post_message(self._SourceRead(index, dataview.source_excerpt(file, line, max_chars=240)))

    @on(_SourceRead)
    def _source_read(self, msg: _SourceRead) -> None:
        index, text = msg.index, msg.text
        table = self.table
        try:
            current = int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # noqa: BLE001 - an empty or refilled table
            return
        if current == index and index < len(self.problems):
            self.detail.update(self._text(self.problems[index], text))

    @on(DataTable.RowSelected, "#problems")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        found = self._problem(event.row_key)
        if found is not None:
            self.post_message(self.Jump(found[1]))
