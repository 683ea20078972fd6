"""The Data screen's parts, each a widget with typed properties and its own messages (posting style), so that the
screen composes them and reacts to what they report instead of reaching into their children by id:

- :class:`MappingBox`: the column-mapping editor shown when detection is unsure; posts :class:`MappingBox.Applied`.
- :class:`CleaningChoices`: the cleaning toggles with their counts; ``values``; posts :class:`CleaningChoices.Changed`.
- :class:`PreviewPanel`: the kept conversations, and the highlighted one as the model sees it (chat template,
  trained spans); ``status`` is its tokenizer line.
- :class:`ProblemsPanel`: every problem with its line, the highlighted one's fix and source; posts
  :class:`ProblemsPanel.Jump` when Enter asks for the row it points at.
- :class:`SplitAndFormat`: eval ratio and the split it gives, the training files' format, saving a cleaned copy;
  ``target`` and ``save_path``; posts :class:`SplitAndFormat.RatioChanged`, ``TargetChanged``, ``SaveRequested``.

What the rules and counts are is decided by the engine (``tui.dataview`` over ``engine.data``); these only show it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from .. import dataview
from ..widgets import TickBox
from ..strings import say, t

MAP_FIELDS = ("instruction", "output", "input", "system", "history", "messages")
PROBLEM_ROWS = 500
PREVIEW_ROWS = 1000  # rows in the preview table (the histogram and the counts cover every row)
RENDER_LINES = 10
RENDER_CHARS = 900
MAX_CHARS = f"{dataview.MAX_CHARS:,}"
_SPECIAL = re.compile(r"<\|[^|>\s]{1,40}\|>|</?s>|\[/?INST\]")


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


def first(conv, role: str) -> str:
    return next((m.get("content", "") for m in conv if m.get("role") == role), "")


def plain_turns(msgs) -> Text:
    """A conversation without a template (no tokenizer yet): role and content per turn."""
    out = Text()
    for m in msgs:
        out.append(f"{m.get('role')}: ", style="bold")
        out.append(f"{m.get('content')}\n", style="green" if m.get("role") == "assistant" else "")
    return out


def rendered_text(text: str, spans: list, specials=()) -> Text:
    """The templated conversation: trained spans in green, special tokens dim, shortened to fit."""
    cut = len(text)
    lines = text.split("\n")
    if len(lines) > RENDER_LINES:
        cut = len("\n".join(lines[:RENDER_LINES]))
    cut = min(cut, RENDER_CHARS)
    out = Text(text[:cut])
    for s, e in spans:
        if s < cut:
            out.stylize("bold green", s, min(e, cut))
    pattern = re.compile("|".join(map(re.escape, sorted(specials, key=len, reverse=True)))) if specials else _SPECIAL
    for m in pattern.finditer(text[:cut]):
        out.stylize("dim", m.start(), m.end())
    if text[cut:].strip():
        out.append("\n" + t("render_more", n=len(text) - cut), style="italic dim")
    return out


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
            yield TickBox(t(f"clean_{name}", n="…", seq="…", chars=MAX_CHARS), value=self._initial[name],
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
        self.problems: list = []  # engine.data.Problem
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

    def show(self, problems: list, choices: dict[str, bool]) -> None:
        self.problems, self.choices = problems, choices
        table = self.table
        table.clear()
        width = max(40, min(100, self.app.size.width - 36))
        for i, p in enumerate(problems[:PROBLEM_ROWS]):
            table.add_row(str(p.line or ""), short(p.field or "", 12), short(say(p.what or ""), width),
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

    def _action(self, p) -> str:
        return t(f"act_{dataview.shown_action(p, self.choices)}")

    def _problem(self, row_key) -> tuple[int, dict] | None:
        try:
            i = int(row_key.value)
            return i, self.problems[i]
        except (ValueError, IndexError, TypeError):
            return None

    def _text(self, p: dict, source: str | None = None) -> Text:
        out = Text()
        out.append(f"{Path(p.file or '').name}:{p.line}", style="bold")
        field = p.field or ""
        out.append((f" {field}:" if field and field != "-" else "") + f" {say(p.what or '')}\n")
        out.append(f"→ {say(p.fix or '')} ({self._action(p)})")
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
        self._read_source(i, p.file or "", int(p.line or 0))

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


class PreviewPanel(Vertical):
    """The conversations training keeps (line, turns, tokens, first question and answer) and, under the table, the
    highlighted one rendered with the model's chat template, the trained spans marked."""

    DEFAULT_CSS = "PreviewPanel { height: auto; }"

    def __init__(self, **kw):
        super().__init__(**kw)
        self.convs: list = []
        self.kept: list[int] = []
        self.tokens: list | None = None
        self.tokenizer = None
        self._row_of: dict[int, int] = {}  # conversation index -> table row

    def compose(self) -> ComposeResult:
        yield Static("", id="tok-status", classes="hint", markup=False)
        yield DataTable(id="preview", cursor_type="row", zebra_stripes=True)
        yield Static("", id="rendered", markup=False)

    def on_mount(self) -> None:
        for key in ("line", "turns", "tokens", "user", "assistant"):
            self.table.add_column(t(f"col_{key}"), key=key)
        self.rendered.border_title = t("rendered_title")

    @property
    def status(self) -> Static:
        """The tokenizer's line above the table (loading, ready, counting)."""
        return self.query_one("#tok-status", Static)

    @property
    def table(self) -> DataTable:
        return self.query_one("#preview", DataTable)

    @property
    def rendered(self) -> Static:
        return self.query_one("#rendered", Static)

    @property
    def current(self) -> int | None:
        """The highlighted conversation's index, or None."""
        table = self.table
        if not table.row_count:
            return None
        try:
            return int(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:  # noqa: BLE001 - an empty or refilled table
            return None

    def has_row(self, index: int) -> bool:
        return index in self._row_of

    def show(self, convs: list, kept: list[int], tokens: list | None, tokenizer) -> None:
        self.convs, self.kept, self.tokens = convs, kept, tokens
        table, current = self.table, self.current
        table.clear()
        self._row_of = {}
        known = tokens or []
        width = max(24, min(60, (self.app.size.width - 32) // 2))
        for row, i in enumerate(kept[:PREVIEW_ROWS]):
            conv = convs[i]
            n = known[i] if i < len(known) and known[i] is not None else "…" if tokens is None else "?"
            table.add_row(str(conv.line), str(len(conv)), str(n), short(first(conv, "user"), width),
                          short(first(conv, "assistant"), width), key=str(i))
            self._row_of[i] = row
        if current in self._row_of:
            table.move_cursor(row=self._row_of[current])
        self.render_current(tokenizer)

    def move_to(self, index: int) -> None:
        """Highlight (and focus) a conversation's row."""
        self.table.move_cursor(row=self._row_of[index])
        self.table.focus()
        self.render_current(self.tokenizer)

    def clear(self) -> None:
        self.convs, self.kept, self.tokens, self._row_of = [], [], None, {}
        self.table.clear()
        self.rendered.update("")
        self.rendered.border_title = t("rendered_title")  # nothing of the previous file stays on screen

    def render_current(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        box, i = self.rendered, self.current
        if i is None or i >= len(self.convs):
            box.update("")
            return
        conv = self.convs[i]
        tokens = self.tokens[i] if self.tokens and i < len(self.tokens) else None
        box.border_title = (t("rendered_title_line", line=conv.line)
                            + (" · " + t("n_tokens", n=tokens) if tokens else ""))
        if tokenizer is None:
            box.update(plain_turns(conv))
            return
        try:
            text, spans = dataview.render(tokenizer, conv)
        except Exception as exc:  # noqa: BLE001 - a template that rejects this conversation says why
            box.update(Text(t("template_rejects", error=str(exc)[:200]), style="red"))
            return
        box.update(rendered_text(text, spans, getattr(tokenizer, "all_special_tokens", ())))

    @on(DataTable.RowHighlighted, "#preview")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.render_current(self.tokenizer)


class SplitAndFormat(Vertical):
    """How many conversations train and how many evaluate, the format the training files are written in, and
    saving a cleaned copy in that format."""

    DEFAULT_CSS = "SplitAndFormat { height: auto; }"

    class RatioChanged(Message):
        def __init__(self, ratio: float):
            super().__init__()
            self.ratio = ratio

    class TargetChanged(Message):
        def __init__(self, target: str):
            super().__init__()
            self.target = target

    class SaveRequested(Message):
        pass

    def __init__(self, ratio: float, target: str, **kw):
        super().__init__(**kw)
        self._ratio, self._target = ratio, target if target in dataview.TARGETS else "messages"

    def compose(self) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(t("eval_ratio"), classes="clabel")
            yield Input(f"{self._ratio:g}", id="ratio", type="number", compact=True)
            yield Static("", id="split-info", classes="hint")
        with Horizontal(classes="row"):
            yield Label(t("target"), classes="clabel")
            yield Select([(t(f"target_{x}"), x) for x in dataview.TARGETS], id="target", allow_blank=False,
                         value=self._target, compact=True)
        yield Static("", id="target-notes", classes="hint", markup=False)
        with Horizontal(classes="row"):
            yield Input(id="save-path", compact=True)
            yield Button(t("btn_save_copy"), id="save-copy", compact=True)
        yield Static("", id="save-result", markup=False)

    @property
    def target(self) -> str:
        value = self.query_one("#target", Select).value
        return str(value) if value in dataview.TARGETS else "messages"

    @property
    def save_path(self) -> str:
        return self.query_one("#save-path", Input).value.strip()

    @save_path.setter
    def save_path(self, value: str) -> None:
        self.query_one("#save-path", Input).value = value

    def show_split(self, train: int, held: int) -> None:
        self.query_one("#split-info", Static).update(t("split_info", train=train, eval=held))

    def show_note(self, note: str) -> None:
        self.query_one("#target-notes", Static).update(note)

    def show_saving(self, path: str) -> None:
        self.query_one("#save-result", Static).update(t("saving_copy", path=path))

    def show_saved(self, result, error: str | None) -> None:  # result: engine.data.CopyResult
        out = self.query_one("#save-result", Static)
        if error:
            out.update(Text(f"✗ {error}", style="red"))
            return
        out.update(Text(t("copy_saved", n=result.records, path=result.path)
                        + (" " + t("target_cannot", n=result.dropped) if result.dropped else ""), style="green"))

    def clear(self) -> None:
        self.query_one("#split-info", Static).update("")

    @on(Input.Changed, "#ratio")
    def _ratio_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            value = float(event.value)
        except ValueError:
            return
        if 0 <= value < 0.9:
            self.post_message(self.RatioChanged(value))

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value in dataview.TARGETS:
            self.post_message(self.TargetChanged(str(event.value)))

    @on(Button.Pressed, "#save-copy")
    def _save(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.SaveRequested())
