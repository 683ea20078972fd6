"""The wizard's own small widgets, used by every screen instead of Textual's look-alikes."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import Checkbox, Footer, SelectionList, Static
from textual.widgets._toggle_button import ToggleButton  # what SelectionList draws its boxes with
from textual.widgets.option_list import OptionDoesNotExist


class TickBox(Checkbox):
    """A checkbox that reads without colour: ✓ when on, an empty box when off (Textual's draws an X either way and
    tells them apart by colour only).  Every checkbox in the wizard is one (tests/test_structure.py checks)."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 - Textual's class attribute, per state here
        return "✓" if self.value else " "


class TickList(SelectionList[str]):
    """A selection list whose ticks read without colour, like :class:`TickBox`."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        segments = list(strip)
        if len(segments) < 3 or segments[1].text != ToggleButton.BUTTON_INNER:
            return strip
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        segments[1] = Segment("✓" if option.value in self._selected else " ", segments[1].style)
        return Strip(segments, strip.cell_length)


class KeysFooter(Footer):
    """The footer of every screen: the screen's own keys, without Textual's "^p palette" on the right (the help says
    Ctrl+P), so that they fit 80 columns in both languages."""

    def __init__(self, *args, **kw):
        kw.setdefault("show_command_palette", False)
        super().__init__(*args, **kw)


def fill_table(table, labels: list[str], rows: list[tuple], keys: list[str]) -> None:
    """Put ``rows`` into ``table`` under columns as wide as their widest cell (the labels included, CJK counted
    double).  A DataTable measures added rows only when it is next idle, and a frame drawn before that could stay
    on screen with the header-only widths (its line cache is not told): sized columns draw right the first time."""
    table.clear(columns=True)
    for i, label in enumerate(labels):
        table.add_column(label, width=max(cell_len(str(x)) for x in [label, *(row[i] for row in rows)]))
    for row, key in zip(rows, keys):
        table.add_row(*row, key=key)


def clock() -> float:  # Busy's time (snapshot tests stop it)
    import time

    return time.monotonic()


class Busy(Static):
    """A status line for work that takes a while: what is being done, and a clock that moves every second, so
    that no wait looks frozen (a model loading, a report part, an export stage).  :meth:`work` starts or updates it,
    :meth:`done` stops the clock and shows the outcome."""

    def on_mount(self) -> None:
        self._text: str | None = None
        self._t0 = 0.0
        self.set_interval(1.0, self._tick)

    def work(self, text: str) -> None:
        if getattr(self, "_text", None) is None:
            self._t0 = clock()
        self._text = text
        self.set_classes("loading")
        self._tick()

    def done(self, text, classes: str = "ok") -> None:
        self._text = None
        self.set_classes(classes)
        self.update(text)

    @property
    def working(self) -> bool:
        return getattr(self, "_text", None) is not None

    def _tick(self) -> None:
        if self.working:
            s = int(clock() - self._t0)
            self.update(f"{self._text}  ⏱ {s // 60}:{s % 60:02d}")
