"""The wizard's first screen opens, lists runs on disk, and speaks zh; in a real terminal (tmux), a user's keys
take the demo from the Welcome screen to a training dashboard."""

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, OptionList

from danlu.engine.runs import store as runs
from danlu.tui.app import DanluApp

ROOT = Path(__file__).resolve().parent.parent


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


def test_the_hardware_step_chooses_a_gpu_without_changing_the_probe(monkeypatch, danlu_home):
    """Two GPUs (a fake NVML): the screen lists both, the second one chosen goes into the wizard's probe as a new
    value (the engine's probe is never edited in place) and the plan is made for that GPU."""
    from fake_nvml import install

    install(monkeypatch, "two_rtx3090")

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(100, 32)) as pilot:
            app.goto("hardware")
            for _ in range(200):
                await pilot.pause(0.05)
                if app.wizard.probe is not None:
                    break
            first = app.wizard.probe
            table = app.screen.query_one("#gpu-table", DataTable)
            assert table.display and table.row_count == 3  # all of them, GPU 0, GPU 1
            table.focus()
            table.move_cursor(row=2)
            await pilot.pause()
            app.screen.action_next()
            await pilot.pause()
            assert app.wizard.gpu == 1 and app.wizard.probe.selected_gpu == 1 and first.selected_gpu == 0
            assert app.wizard.probe.selected().index == 1 and "gpus" not in app.wizard.overrides
            # back, and all of them: the plan the model and plan steps make spreads the run over both
            app.goto("hardware")
            await pilot.pause(0.2)
            table = app.screen.query_one("#gpu-table", DataTable)
            assert table.row_count == 3 and "all 2" in str(table.get_row_at(0)[0])
            table.move_cursor(row=0)
            await pilot.pause()
            app.screen.action_next()
            await pilot.pause()
            assert app.wizard.overrides["gpus"] == 2
            from danlu.engine import plan

            p = plan.make("Qwen/Qwen2.5-7B", overrides=dict(app.wizard.overrides), lengths=None,
                          probe=app.wizard.probe)
            assert p.distributed["ranks"] == 2 and p.distributed["strategy"] in ("ddp", "fsdp")
            assert "× 2 devices" in str(p.summary())

    _run(go())


def test_danlu_without_arguments_opens_the_wizard(monkeypatch):
    from danlu.tui import entry

    opened = []
    monkeypatch.setattr(entry, "_open_wizard", lambda **kw: opened.append(kw))
    assert entry.main([]) == 0
    assert entry.main(["--demo", "--lang", "zh"]) == 0
    assert opened == [{"demo": False, "lang": None}, {"demo": True, "lang": "zh"}]


class Tmux:
    """A tmux session running one command; keys go in one at a time, the screen is read with capture-pane."""

    def __init__(self, command: str, env: dict, width: int = 80, height: int = 24, cwd: Path = ROOT):
        if not shutil.which("tmux"):
            pytest.skip("tmux is not installed")
        self.session = f"danlu-test-{os.getpid()}-{time.monotonic_ns()}"
        assignments = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env.items())
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                        "-c", str(cwd), f"env {assignments} {command}"], check=True)
        self.last = ""

    def screen(self) -> str:
        self.last = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True,
                                   text=True).stdout
        return self.last

    def wait_for(self, *texts: str, pattern: str | None = None, timeout: float = 60.0) -> str:
        """Poll the screen until every text (and the regex) is on it; fail with the screen as it was."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            screen = self.screen()
            if all(t in screen for t in texts) and (pattern is None or re.search(pattern, screen)):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {texts} {pattern or ''} on the screen:\n{self.last}")

    def press(self, *keys: str) -> None:
        """Send keys one at a time (tmux faster than the app reads can drop keys)."""
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.session, key], check=True)
            time.sleep(0.15)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.session], capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)


DANLU = os.path.join(os.path.dirname(sys.executable), "danlu")


def test_wizard_first_screen_renders_in_a_real_terminal(tmp_path):
    """The installed `danlu` command, in tmux at 80×24, shows the Welcome screen and quits on q."""
    term = Tmux(DANLU, {"DANLU_HOME": tmp_path, "HOME": tmp_path})
    try:
        term.wait_for("New fine-tune", "no runs yet", timeout=10)
        term.press("q")
        for _ in range(50):
            if not term.alive():
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the wizard did not quit on q")
    finally:
        term.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_path_typed_in_a_real_terminal(tiny_model, danlu_home, tmp_path):
    """`danlu --demo` in tmux at 80×24, driven by the keys a user types: hardware → model (demo:tiny) → data →
    plan → start training → the dashboard counts steps → detach; the training goes on without the UI."""
    from danlu.engine.runs import store as runs
    from danlu.engine.train import runner as train

    before = {r.id for r in runs.list_runs()}
    env = {"DANLU_HOME": danlu_home, "HOME": tmp_path, "DANLU_LANG": "en"}
    term = Tmux(f"{DANLU} --demo --lang en", env)
    run = None
    try:
        term.wait_for("New fine-tune", timeout=15)
        term.press("n")
        term.wait_for("Step 1/4 · Hardware", "Accelerator", "RAM", timeout=60)
        term.press("C-n")
        term.wait_for("Step 2/4 · Model", "Fit here", "demo:tiny", timeout=90)
        term.press("Down", "Enter")  # from the preselected demo:smollm2 to demo:tiny
        screen = term.wait_for("Step 3/4 · Data", "kept for training", "Chat template and tokens of demo:tiny",
                               timeout=90)
        assert "Format: sharegpt" in screen
        term.press("C-n")
        term.wait_for("Step 4/4 · Plan", "The plan fits this machine", timeout=60)
        term.press("C-t")
        term.wait_for(pattern=r"Run \S+ · running", timeout=60)
        screen = term.wait_for(pattern=r"\b([2-9]|\d\d+)/\d+\s+elapsed", timeout=240)  # two steps or more
        assert "loss" in screen
        new = [r for r in runs.list_runs() if r.id not in before]
        assert len(new) == 1, [r.id for r in new]
        run = new[0]
        assert f"Run {run.id}" in screen
        term.press("d")
        screen = term.wait_for("New fine-tune", "Detached from", timeout=30)
        term.press("q")
        for _ in range(50):
            if not term.alive():
                break
            time.sleep(0.1)
        assert not term.alive(), "the wizard did not quit"
        assert run.effective_state() in ("running", "done"), run.log_path.read_text()[-2000:]
        steps = [e.step for e in run.events() if e.type == "step"]
        assert steps and steps[0] == 1
    finally:
        term.close()
        if run is not None and run.effective_state() == "running":  # do not leave a trainer behind
            train.request(run, "stop")
            end = time.monotonic() + 120
            while run.effective_state() == "running" and time.monotonic() < end:
                time.sleep(0.5)
