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


def test_danlu_without_arguments_opens_the_wizard(monkeypatch):
    from tui import entry

    opened = []
    monkeypatch.setattr(entry, "_open_wizard", lambda **kw: opened.append(kw))
    assert entry.main([]) == 0
    assert entry.main(["--demo", "--lang", "zh"]) == 0
    assert opened == [{"demo": False, "lang": None}, {"demo": True, "lang": "zh"}]


def test_wizard_first_screen_renders_in_a_real_terminal(tmp_path):
    """The installed `danlu` command, in tmux at 80×24, shows the Welcome screen and quits on q."""
    import os
    import shutil
    import subprocess
    import sys
    import time

    import pytest

    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    danlu = os.path.join(os.path.dirname(sys.executable), "danlu")
    session = f"danlu-test-{os.getpid()}"
    env = f"DANLU_HOME={tmp_path}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", f"env {env} {danlu}"],
                   check=True)
    try:
        screen = ""
        for _ in range(100):
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
            if "New fine-tune" in screen and "no runs yet" in screen:
                break
            time.sleep(0.1)
        assert "New fine-tune" in screen and "no runs yet" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        for _ in range(50):
            if subprocess.run(["tmux", "has-session", "-t", session], capture_output=True).returncode != 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the wizard did not quit on q")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
