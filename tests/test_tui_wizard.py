"""The wizard end to end on the tiny demo model, driven by keys through Textual's Pilot.

hardware → model → data → plan → train (detached, real) → dashboard → chat → export, and
detach/re-attach: leaving the dashboard mid-run keeps training going, the Welcome screen lists
the run, and a re-attached dashboard shows the whole loss history.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from engine import runs
from tui.app import DanluApp


async def wait_for(pilot, cond, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def screen_name(app) -> str:
    return type(app.screen).__name__


async def walk_to_plan(app, pilot, model="demo:tiny"):
    app.wizard.model = model
    await pilot.press("n")
    await wait_for(pilot, lambda: screen_name(app) == "HardwareScreen", what="hardware screen")
    await wait_for(pilot, lambda: app.wizard.probe is not None, what="probe")
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "ModelScreen", what="model screen")
    await wait_for(pilot, lambda: app.screen.query_one("#models", DataTable).row_count > 2, what="fit verdicts")
    table = app.screen.query_one("#models", DataTable)
    assert table.get_row_at(table.cursor_row)[0] == model, "the preselected model is highlighted"
    assert any("✓" in str(table.get_row_at(i)[3]) for i in range(table.row_count))
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "DataScreen", what="data screen")
    await wait_for(pilot, lambda: len(app.wizard.conversations) > 10, what="sample data read")
    assert app.wizard.data_report["format"] == "sharegpt"
    assert app.screen.query_one("#preview", DataTable).row_count > 0
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "PlanScreen", what="plan screen")
    await wait_for(pilot, lambda: app.wizard.plan is not None, what="plan")
    assert app.wizard.plan.fits


def set_input(app, selector, value):
    app.screen.query_one(selector, Input).value = value


@pytest.mark.timeout(600)
def test_full_demo_path(tiny_model, danlu_home):
    async def go():
        app = DanluApp(demo=True, lang="en")
        async with app.run_test(size=(100, 32)) as pilot:
            await walk_to_plan(app, pilot)
            set_input(app, "#k-max_steps", "6")
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: screen_name(app) == "DashboardScreen", timeout=30, what="dashboard")
            dash = app.screen
            run = dash.run
            assert (run.path / "config.yaml").exists() and (run.path / "data" / "train.jsonl").exists()
            await wait_for(pilot, lambda: dash.state in ("done", "failed", "stopped", "crashed")
                           and dash.snapshot.get("done"), timeout=240, what="training to finish")
            assert dash.state == "done", run.log_path.read_text()[-2000:]
            steps = [r for r in run.events() if r["type"] == "step"]
            assert len(steps) == 6 and dash.snapshot["n_losses"] == 6
            assert "6/6" in str(dash.query_one("#eta").render())
            # chat with the tuned model
            await pilot.press("c")
            await wait_for(pilot, lambda: screen_name(app) == "ChatScreen", what="chat screen")
            chat = app.screen
            await wait_for(pilot, lambda: chat.model is not None, timeout=60, what="model loaded")
            set_input(app, "#max-tokens", "12")
            app.screen.query_one("#prompt", Input).focus()
            await pilot.press(*"hello", "enter")
            await wait_for(pilot, lambda: len(chat.history) == 2, timeout=60, what="reply")
            assert chat.history[-1]["role"] == "assistant"
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen_name(app) == "DashboardScreen", what="back to dashboard")
            # export adapter + merged, verified
            await pilot.press("e")
            await wait_for(pilot, lambda: screen_name(app) == "ExportScreen", what="export screen")
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: "Exported" in str(app.screen.query_one("#export-status").render()),
                           timeout=120, what="export")
            assert (run.path / "export" / "merged" / "model.safetensors").exists()
            method = app.wizard.plan.method
            assert (run.path / "export" / "adapter" / "adapter_config.json").exists() == (method != "full")
            verify = json.loads((run.path / "export" / "merged" / "danlu_verify.json").read_text())
            assert verify["max_abs_logit_diff"] < 1e-3
            assert "danlu chat" in app.screen.query_one("#commands").text

    asyncio.run(go())


@pytest.mark.timeout(600)
def test_detach_and_reattach_shows_the_whole_history(tiny_model, danlu_home):
    async def go():
        app = DanluApp(demo=True, lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await walk_to_plan(app, pilot)
            set_input(app, "#k-max_steps", "40")
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: screen_name(app) == "DashboardScreen", timeout=30, what="dashboard")
            run = app.screen.run
            await wait_for(pilot, lambda: app.screen.snapshot.get("n_losses", 0) >= 2, timeout=120,
                           what="first steps")
            await pilot.press("d")
            await wait_for(pilot, lambda: screen_name(app) == "WelcomeScreen", what="welcome after detach")
            return run

    run = asyncio.run(go())
    # the UI is gone; training goes on in its own session
    assert run.effective_state() == "running"
    seen = len([r for r in run.events() if r["type"] == "step"])

    async def reattach():
        app = DanluApp(lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.2)
            table = app.screen.query_one("#runs", DataTable)
            ids = [table.get_row_at(i)[0] for i in range(table.row_count)]
            assert run.id in ids
            table.focus()
            table.move_cursor(row=ids.index(run.id))
            await pilot.press("a")
            await wait_for(pilot, lambda: screen_name(app) == "DashboardScreen", what="dashboard")
            dash = app.screen
            await wait_for(pilot, lambda: dash.snapshot.get("n_losses", 0) > seen, timeout=120,
                           what="history plus new steps")
            await pilot.press("s")  # stop it cleanly: SIGTERM, the trainer saves and exits
            await wait_for(pilot, lambda: dash.state in ("stopped", "done"), timeout=120, what="stopped")
            steps = [r["step"] for r in run.events() if r["type"] == "step"]
            assert dash.snapshot["n_losses"] == len(steps)
            assert steps[0] == 1, "the re-attached dashboard starts from the first step"

    asyncio.run(reattach())
