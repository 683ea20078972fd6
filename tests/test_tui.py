"""The wizard's first screen opens, lists runs on disk, and speaks zh."""

import asyncio

from textual.widgets import DataTable, OptionList

from engine import runs
from tui.app import DanluApp


def _run(coro):
    return asyncio.run(coro)


def test_welcome_lists_runs_on_disk(danlu_home):
    run = runs.create("welcome-test")
    run.set_status(state="done", method="lora", step=7, total=7, loss=1.25)

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            table = app.screen.query_one("#runs", DataTable)
            cells = [table.get_row_at(i) for i in range(table.row_count)]
            assert any(row[0] == run.id and row[1] == "done" and row[4] == "1.2500" for row in cells)
            assert app.screen.query_one("#actions", OptionList).has_focus
            await pilot.press("q")
        return app.return_code

    assert _run(go()) in (0, None)


def test_welcome_in_chinese():
    async def go():
        app = DanluApp(lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            text = app.screen.query_one("#title").render()
            assert "单卡微调" in str(text)

    _run(go())
