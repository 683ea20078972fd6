"""The whole job walked as a person walks it, in both languages and at two terminal sizes, with a watcher that reads
the screen four times a second and fails the walk on what a person would call broken:

* a wait of more than 2 s while the wizard works with nothing on the screen changing (no phase, no counter, no
  clock),
* a word cut at a widget's edge, a cut placeholder, footer keys over each other (tests/layout.py),
* "�" anywhere,
* on a Chinese screen, an English word outside the allow-list (names, units, keys, code),
* a side-by-side chat pane whose answer differs from the same prompt sent alone with the same history.

The report's own text is checked as a whole (tests/layout.report_words), not line by line on the screen: its
examples quote the user's data, which may be English.

demo:tiny keeps it fast (a random-init model: its answers are noise, but the same noise for the same history).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from textual.widgets import Input

import layout
from test_tui_wizard import screen_name, set_input, walk_to_plan

from danlu.tui.app import DanluApp

STALE_S = 2.0  # a working wizard changes its screen at least this often


class Watch:
    """Reads the screen every 0.25 s; collects what a person would call broken (see the module's docstring)."""

    def __init__(self, app, lang: str):
        self.app, self.lang = app, lang
        self.found: dict[str, None] = {}  # ordered, without repeats
        self.working = False  # the walk is waiting for the wizard to do something
        self.last, self.since = None, time.monotonic()
        self.longest = 0.0
        self.stop = False

    def note(self, text: str) -> None:
        self.found.setdefault(text, None)

    async def run(self) -> None:
        while not self.stop:
            await asyncio.sleep(0.25)
            try:
                screen = self.app.screen
                name = type(screen).__name__
                lines = layout.screen_text(screen)
                problems = layout.problems(screen)
                words = layout.english_words(layout.screen_text(screen, layout.NOT_OURS)) if self.lang == "zh" else []
            except Exception:  # noqa: BLE001 - the screen changed under the reader: read it next time
                continue
            text = "\n".join(lines)
            if "\ufffd" in text:
                self.note(f"{name}: '\ufffd' on the screen: {next(x for x in lines if chr(0xFFFD) in x).strip()!r}")
            for p in problems:
                self.note(f"{name} {self.app.size.width}x{self.app.size.height}: {p}")
            for w in words:
                self.note(f"{name}: English on a Chinese screen: {w}")
            now = time.monotonic()
            if text != self.last or not self.working:
                self.last, self.since = text, now
            elif now - self.since > STALE_S:
                self.longest = max(self.longest, now - self.since)
                status = next((x.strip() for x in lines[1:6] if x.strip()), "")
                self.note(f"{name}: unchanged for more than {STALE_S:g} s while working (near {status!r})")

    async def wait(self, pilot, cond, timeout: float, what: str) -> None:
        self.working = True
        try:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if cond():
                    return
                await pilot.pause(0.1)
            raise AssertionError(f"timed out waiting for {what} on {screen_name(self.app)}")
        finally:
            self.working = False


WALKS = [("zh", (80, 24)), ("en", (120, 40))]
MORE = [("en", (80, 24)), ("zh", (120, 40))]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("lang, size", WALKS + [pytest.param(*w, marks=pytest.mark.slow) for w in MORE],
                         ids=lambda v: v if isinstance(v, str) else f"{v[0]}x{v[1]}")
def test_the_whole_job_walked_as_a_person(tiny_model, danlu_home, lang, size):
    async def go():
        app = DanluApp(demo=True, lang=lang)
        async with app.run_test(size=size) as pilot:
            watch = Watch(app, lang)
            watcher = asyncio.create_task(watch.run())
            try:
                await walk(app, pilot, watch)
            finally:
                watch.stop = True
                await watcher
            assert not watch.found, "\n".join(watch.found)

    asyncio.run(go())


async def walk(app, pilot, watch: Watch) -> None:
    from danlu.engine.infer import chat as infer

    await walk_to_plan(app, pilot)
    set_input(app, "#k-max_steps", "8")
    await pilot.press("ctrl+t")
    await watch.wait(pilot, lambda: screen_name(app) == "DashboardScreen", 30, "the dashboard")
    dash = app.screen
    await watch.wait(pilot, lambda: dash.state == "done" and dash.snapshot.get("done"), 300, "training to end")

    # chat: one question alone, then side by side; greedy, so that each pane's answer can be asked again
    await pilot.press("c")
    await watch.wait(pilot, lambda: screen_name(app) == "ChatScreen", 10, "the chat screen")
    chat = app.screen
    await watch.wait(pilot, lambda: chat.session is not None, 120, "the model to load")
    set_input(app, "#s-temperature", "0")
    set_input(app, "#s-max_new_tokens", "10")
    chat.query_one("#prompt", Input).focus()
    await pilot.press(*"hello", "enter")
    await watch.wait(pilot, lambda: not chat.streaming and len(chat.history) == 2, 60, "the first answer")
    await pilot.press("ctrl+t")
    chat.query_one("#prompt", Input).focus()
    await pilot.press(*"and then?", "enter")
    await watch.wait(pilot, lambda: not chat.streaming and chat.base_session is not None
                     and len(chat.base_session.turns) == 4, 60, "both answers")
    for side, session in (("tuned", chat.session), ("base", chat.base_session)):  # the panes' own sampling (greedy)
        alone = infer.answer(session.model, session.tokenizer, session.messages()[:-1], session.sampling,
                             base=side == "base")
        if alone.text != chat.reply_text[side]:
            watch.note(f"the {side} pane answered {chat.reply_text[side]!r}; the same prompt alone after the same "
                       f"history: {alone.text!r}")
    await pilot.press("escape")
    await watch.wait(pilot, lambda: screen_name(app) == "DashboardScreen", 10, "back to the dashboard")

    # the evaluation report: made in a worker, its progress and clock on screen
    await pilot.press("r")
    await watch.wait(pilot, lambda: screen_name(app) == "ReportScreen", 10, "the report screen")
    report = app.screen
    await watch.wait(pilot, lambda: not report.running and "✓" in str(report.query_one("#report-status").render()),
                     300, "the report")
    if watch.lang == "zh":
        for word in layout.report_words(report.query_one("#report").source):
            watch.note(f"English in the report: {word}")
    await pilot.press("escape")
    await watch.wait(pilot, lambda: screen_name(app) == "DashboardScreen", 10, "back to the dashboard")

    # export: adapter and merged model, verified
    await pilot.press("e")
    await watch.wait(pilot, lambda: screen_name(app) == "ExportScreen", 10, "the export screen")
    await pilot.pause(0.5)
    await pilot.press("ctrl+e")
    exp = app.screen
    await watch.wait(pilot, lambda: not exp.busy and "✓" in str(exp.query_one("#export-status").render()), 180,
                     "the export")
    verify = json.loads((dash.run.path / "export" / "merged" / "danlu_verify.json").read_text())
    assert verify["max_abs_logit_diff"] < 1e-3
