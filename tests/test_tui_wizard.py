"""The wizard end to end on the tiny demo model, driven by keys through Textual's Pilot.

hardware → model → data → plan → train (detached, real) → dashboard → chat → export, and
detach/re-attach: leaving the dashboard mid-run keeps training going, the Welcome screen lists
the run, and a re-attached dashboard shows the whole loss history.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from danlu.engine.runs import store as runs
from danlu.tui.app import DanluApp
from danlu.tui.strings import t


async def wait_for(pilot, cond, timeout=60.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        await pilot.pause(0.1)
    shown = {}
    for wid in ("#export-status", "#export-log", "#status", "#data-status", "#tok-status"):  # what the screen said
        try:
            shown[wid] = str(pilot.app.screen.query_one(wid).render())
        except Exception:  # noqa: BLE001 - not on this screen
            pass
    raise AssertionError(f"timed out waiting for {what} on {type(pilot.app.screen).__name__}: {shown}")


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
    await wait_for(pilot, lambda: table.get_row_at(table.cursor_row)[0] == model,
                   what="the preselected model highlighted")
    await pilot.pause(0.2)
    assert table.scroll_y == 0, "the model table scrolled past its first rows"
    assert any("✓" in str(table.get_row_at(i)[-1]) for i in range(table.row_count))
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: screen_name(app) == "DataScreen", what="data screen")
    await wait_for(pilot, lambda: len(app.wizard.conversations) > 10, what="sample data read")
    assert app.wizard.data_report.format == "sharegpt"
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
            steps = [r for r in run.events() if r.type == "step"]
            assert len(steps) == 6 and dash.snapshot["n_losses"] == 6
            assert "6/6" in str(dash.query_one("#eta").render())
            # chat with the tuned model
            await pilot.press("c")
            await wait_for(pilot, lambda: screen_name(app) == "ChatScreen", what="chat screen")
            chat = app.screen
            await wait_for(pilot, lambda: chat.model is not None, timeout=60, what="model loaded")
            set_input(app, "#s-max_new_tokens", "12")
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
    seen = len([r for r in run.events() if r.type == "step"])

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
            steps = [r.step for r in run.events() if r.type == "step"]
            assert dash.snapshot["n_losses"] == len(steps)
            assert steps[0] == 1, "the re-attached dashboard starts from the first step"

    asyncio.run(reattach())


# -- the Data screen ---------------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
DIRTY = ROOT / "sample_data" / "lab_consultant.dirty.jsonl"


async def open_data(app, pilot, path):
    app.wizard.model = "demo:tiny"
    app.wizard.data_file = str(path)
    app.goto("data")
    await wait_for(pilot, lambda: screen_name(app) == "DataScreen", what="data screen")
    await pilot.pause()
    await wait_for(pilot, lambda: app.screen.loaded is not None
                   or "✗" in str(app.screen.query_one("#data-status").render()), what="data read")
    return app.screen


def test_data_screen_cleaning_choices_problems_and_token_lengths():
    from textual.widgets import Checkbox

    manifest = json.loads((ROOT / "sample_data" / "dirty_manifest.json").read_text())

    async def go():
        app = DanluApp(demo=True, lang="en")
        async with app.run_test(size=(100, 40)) as pilot:
            scr = await open_data(app, pilot, DIRTY)
            counts = scr.loaded.counts()
            assert counts["exact_duplicate"] > 0 and counts["near_duplicate"] > 0 and counts["fix"] > 0
            assert counts["empty_answer"] == sum(1 for m in manifest if m["problem"] == "empty_answer")
            # every toggle shows its count; turning a rule off keeps exactly the rows it dropped
            for name in ("fix", "exact_duplicate", "near_duplicate", "overlong"):
                assert f"({counts[name]})" in str(scr.query_one(f"#c-{name}", Checkbox).label)
            n0 = len(app.wizard.conversations)
            dup_rows = [i for i, r in enumerate(scr.loaded.rules) if r == "exact_duplicate" and not scr.loaded.fixed[i]]
            scr.query_one("#c-exact_duplicate", Checkbox).value = False
            await pilot.pause()
            assert len(app.wizard.conversations) == n0 + len(dup_rows)
            assert app.wizard.data_choices["exact_duplicate"] is False
            scr.query_one("#c-exact_duplicate", Checkbox).value = True
            scr.query_one("#c-fix", Checkbox).value = True
            await pilot.pause()
            repaired = [i for i, f in enumerate(scr.loaded.fixed) if f and scr.loaded.rules[i] is None]
            assert len(app.wizard.conversations) == n0 + len(repaired)
            # the problems table lists the manifest's duplicates as removed; Enter on one jumps to its original
            problems = scr.query_one("#problems", DataTable)
            rows = [problems.get_row_at(i) for i in range(problems.row_count)]
            lines = {int(r[0]) for r in rows if r[3] == "removed"}
            assert {m["line"] for m in manifest if m["problem"] in ("exact_duplicate", "near_duplicate")} <= lines
            report = scr.loaded.report.problems
            k = next(i for i, p in enumerate(report) if p.kind == "exact_duplicate")
            problems.focus()
            problems.move_cursor(row=k)
            await pilot.pause()
            detail = str(scr.query_one("#problem-detail").render())
            assert f":{report[k].line}" in detail and "exact duplicate" in detail
            await wait_for(pilot, lambda: "conversations" in str(scr.query_one("#problem-detail").render()),
                           what="the source line under the problem")
            await pilot.press("enter")
            preview = scr.query_one("#preview", DataTable)
            assert preview.has_focus
            assert preview.get_row_at(preview.cursor_row)[0] == str(report[k].duplicate_of)
            # the model's view: chat template with the trained span, token counts against max_seq_len
            await wait_for(pilot, lambda: scr.tokens is not None, timeout=120, what="token counts")
            assert "<|im_start|>assistant" in str(scr.query_one("#rendered").render())
            # max_seq_len is the plan's choice for the training split's token lengths (engine.plan.choose_seq_len)
            from danlu.engine.plan import value as plan

            planned = plan.choose_seq_len(app.wizard.model, app.wizard.train_lengths())[0]
            assert scr.seq == planned and f"> {planned}" in str(scr.query_one("#hist").render())
            assert "max_seq_len" not in app.wizard.overrides  # the plan's value is not the user's override
            scr.query_one("#seq", Input).value = "120"
            await pilot.pause()
            assert app.wizard.overrides["max_seq_len"] == "120"
            hist = str(scr.query_one("#hist").render())
            over = scr.loaded.counts(scr.tokens, 120, app.wizard.data_choices)["too_long"]
            assert over == sum(1 for i in scr.kept if scr.tokens[i] > 120) > 0
            assert "> 120" in hist and f"{over} over max_seq_len 120" in hist
            assert f"({over}; else truncated)" in str(scr.query_one("#c-too_long", Checkbox).label)
            n1 = len(app.wizard.conversations)
            scr.query_one("#c-too_long", Checkbox).value = True
            await pilot.pause()
            assert len(app.wizard.conversations) == n1 - over
            assert all(scr.tokens[i] <= 120 for i in scr.kept)

    asyncio.run(go())


def test_data_screen_mapping_editor_when_the_columns_are_unknown(tmp_path):
    from textual.widgets import Select

    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps({"k1": f"q{i}", "k2": f"a{i}"}) + "\n" for i in range(12)))

    async def go():
        app = DanluApp(demo=True, lang="en")
        async with app.run_test(size=(100, 40)) as pilot:
            scr = await open_data(app, pilot, path)
            assert scr.loaded is None and not app.wizard.conversations
            assert scr.query_one("#mapping-box").has_class("-shown")
            scr.query_one("#m-instruction", Select).value = "k1"
            apply = scr.query_one("#apply-mapping")
            apply.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert "Pick a question and an answer" in " ".join(str(n.message) for n in app._notifications)
            scr.query_one("#m-output", Select).value = "k2"
            await pilot.pause()
            apply = scr.query_one("#apply-mapping")  # the box may have been rebuilt by the change
            # a button ignores Enter while its press effect from the first try lasts
            await wait_for(pilot, lambda: not apply.has_class("-active"), what="the button's press effect to end")
            apply.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: scr.loaded is not None, what="read with the mapping")
            assert app.wizard.data_mapping == {"instruction": "k1", "output": "k2"}
            assert len(app.wizard.conversations) == 12
            assert app.wizard.conversations[0][0] == {"role": "user", "content": "q0"}
            assert scr.query_one("#mapping-box").has_class("-shown"), "a given mapping stays editable"

    asyncio.run(go())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_file_whose_columns_were_only_guessed_is_not_a_dataset_until_confirmed(lang):
    """sample_data/dirty_manifest.json (a list of problem records) maps to instruction/output only by a guess from
    its contents: no green tick, Next refuses, and Apply (the mapping confirmed) makes it a dataset."""

    async def go():
        app = DanluApp(demo=True, lang=lang)
        async with app.run_test(size=(80, 24)) as pilot:
            scr = await open_data(app, pilot, ROOT / "sample_data" / "dirty_manifest.json")
            status = scr.query_one("#data-status")
            assert scr.guessed and status.has_class("warn") and "✓" not in str(status.render())
            assert scr.query_one("#mapping-box").has_class("-shown")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert type(app.screen).__name__ == "DataScreen"
            assert any(t("confirm_mapping_first") in str(n.message) for n in app._notifications)
            apply = scr.query_one("#apply-mapping")
            apply.focus()
            await pilot.press("enter")
            await wait_for(pilot, lambda: scr.loaded is not None and scr.loaded.report.mapping_source == "given",
                           what="read with the confirmed mapping")
            assert not scr.guessed and status.has_class("ok") and "✓" in str(status.render())

    asyncio.run(go())


def test_data_screen_proposed_mapping_and_alpaca_copy(tmp_path):
    from textual.widgets import Select

    src = tmp_path / "zh.csv"
    src.write_bytes((ROOT / "sample_data" / "lab_consultant_zh_headers.csv").read_bytes())

    async def go():
        app = DanluApp(demo=True, lang="zh")
        async with app.run_test(size=(80, 24)) as pilot:
            scr = await open_data(app, pilot, src)
            assert scr.loaded.report.mapping_source == "proposed"
            assert scr.query_one("#mapping-box").has_class("-shown")
            assert scr.query_one("#m-instruction", Select).value == "问题"
            assert scr.query_one("#m-output", Select).value == "回答"
            scr.query_one("#target", Select).value = "alpaca"
            await pilot.pause()
            assert app.wizard.data_target == "alpaca"
            out = tmp_path / "out" / "clean.json"
            scr.query_one("#save-path", Input).value = str(out)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: out.exists(), what="the cleaned copy")
            rows = json.loads(out.read_text())
            assert len(rows) == len(app.wizard.conversations) and rows[0]["instruction"] and rows[0]["output"]
            info = json.loads((out.parent / "dataset_info.json").read_text())
            assert info["clean"]["file_name"] == "clean.json"
            await wait_for(pilot, lambda: "✓" in str(scr.query_one("#save-result").render()), what="saved note")

    asyncio.run(go())


# -- the dashboard: stop and checkpoint through the engine, events in plain words -----------------------------------
def test_dashboard_keys_reach_the_trainer_through_the_engine(danlu_home, monkeypatch):
    from danlu.engine import train  # the surface the wizard calls

    run = runs.create("keys-test")
    run.set_status(state="running", pid=os.getpid(), method="lora")
    rows = [{"ts": 1.0, "type": "step", "step": 1, "total": 9, "loss": 2.0, "elapsed_s": 1.0},
            {"ts": 2.0, "type": "backoff", "step": 1, "reason": "CUDA out of memory. Tried to allocate 2 GiB",
             "old": "micro-batch 4 × accumulation 4", "new": "micro-batch 2 × accumulation 8",
             "micro_batch": 2, "grad_accum": 8, "pack_len": None},
            {"ts": 3.0, "type": "checkpoint", "step": 2, "path": str(run.path / "checkpoints" / "checkpoint-2")},
            {"ts": 4.0, "type": "error", "message": "out of memory: CUDA", "hint": "lower micro_batch"}]
    run.events_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    calls = []
    monkeypatch.setattr(train, "request", lambda r, action: calls.append((r.path, action)) or True)

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(80, 24)) as pilot:
            app.goto("dashboard", str(run.path))
            dash = app.screen
            await wait_for(pilot, lambda: dash.snapshot.get("events", 0) == 4, what="events")
            events = str(dash.query_one("#events").render())
            assert "out of memory at step 1: continuing with micro-batch 2 × accumulation 8" in events
            assert "checkpoint saved at step 2 (checkpoint-2)" in events
            assert "error: out of memory: CUDA — what to do: lower micro_batch" in events
            await pilot.press("k")
            await pilot.press("s")
            await pilot.pause()
            assert calls == [(run.path, "checkpoint"), (run.path, "stop")]
            run.set_status(state="done")
            await pilot.press("k")
            await pilot.pause()
            assert len(calls) == 2, "a run that is not running gets no request"

    asyncio.run(go())


def test_events_in_plain_words_in_chinese():
    from danlu.engine.core import events
    from danlu.tui import strings, tail

    strings.set_lang("zh")
    try:
        text = tail.describe(events.Backoff(step=7, micro_batch=1, grad_accum=16, pack_len=512,
                                            reason="CUDA out of memory", old="x", new="y"))
        assert "第 7 步显存不足" in text and "打包长度 512" in text and "累积 16" in text
        assert "已保存检查点" in tail.describe(events.Checkpoint(step=3, path="/r/checkpoint-3"))
        # the trainer's log lines, from their codes and values (the English message is the fallback)
        line = events.log("parameters", trainable=1_000, total=2_000, train=9, eval=1, geometry="g", micro_batch=2,
                          grad_accum=4, pack_len=None)
        assert tail.describe(line) == "可训练参数 1,000 / 共 2,000；训练 9 条 / 验证 1 条；微批 2 × 累积 4"
        assert tail.describe(events.log("loading", model="demo:tiny", method="lora")) == "正在加载 demo:tiny，用于 lora 训练"
        assert tail.describe(events.Log(message="a line from elsewhere", code="unknown")) == "a line from elsewhere"
        assert tail.describe(events.Done(state="stopped", step=3, seconds=9.0)) == "训练结束（已停止），共 3 步，用时 9 秒"
    finally:
        strings.set_lang("en")


def test_model_screen_shows_the_preselected_row_wherever_it_is():
    """demo:small (row 3, after demo:smollm2 and demo:tiny) is highlighted with the table unscrolled, so the rows
    above it stay in sight; a preset far down the list is highlighted and scrolled into view."""
    async def go(model):
        app = DanluApp(demo=True, lang="en")
        async with app.run_test(size=(100, 32)) as pilot:
            app.wizard.model = model
            await pilot.press("n")
            await wait_for(pilot, lambda: app.wizard.probe is not None, what="probe")
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: screen_name(app) == "ModelScreen", what="model screen")
            table = app.screen.query_one("#models", DataTable)
            await wait_for(pilot, lambda: table.row_count > 2 and table.get_row_at(table.cursor_row)[0] == model,
                           what="the preselected model highlighted")
            await pilot.pause(0.3)
            row = table.cursor_row
            shown = table.scrollable_content_region.height - 1  # less the header
            assert table.scroll_y <= row < table.scroll_y + shown, (row, table.scroll_y, shown)
            return row, table.scroll_y

    assert asyncio.run(go("demo:small")) == (2, 0)
    row, scrolled = asyncio.run(go("google/gemma-3-12b-pt"))
    assert row > 20 and scrolled > 0


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_dashboard_says_what_the_trainer_does_between_steps_and_its_clock_ticks(danlu_home, monkeypatch, lang):
    """No silent wait: an evaluation before training shows its counter in the bar's place, the elapsed clock moves
    while no event arrives, a step brings the bar back, the final evaluation and saving are said, and at the end the
    elapsed time is the run's own (the log's "done after … s")."""
    from danlu.tui import tail

    clock = {"now": 1000.0}
    monkeypatch.setattr(tail, "now", lambda: clock["now"])
    run = runs.create(f"phases-{lang}")
    run.set_status(state="running", pid=os.getpid(), method="lora")

    def add(row):
        with run.events_path.open("a") as f:
            f.write(json.dumps(row) + "\n")

    add({"ts": 940.0, "type": "log", "message": "loading", "code": "loading", "args": {"model": "m", "method": "lora"}})
    add({"ts": 990.0, "type": "phase", "phase": "eval", "n": 3, "of": 12, "step": 0})
    words = {"en": ("evaluating before training 3/12", "final evaluation 1/12", "elapsed 1:00", "elapsed 1:05",
                    "elapsed 3:16"),
             "zh": ("训练前评估 3/12", "最终评估 1/12", "1:00", "1:05", "3:16")}[lang]

    async def go():
        app = DanluApp(lang=lang)
        async with app.run_test(size=(80, 24)) as pilot:
            app.goto("dashboard", str(run.path))
            dash = app.screen
            await wait_for(pilot, lambda: dash.snapshot.get("events", 0) == 2, what="the events")
            await wait_for(pilot, lambda: words[0] in str(dash.query_one("#phase").render()), what="the phase")
            assert not dash.query_one("#progress").display
            assert words[2] in str(dash.query_one("#eta").render())
            clock["now"] = 1005.0  # no event for five seconds: the clock still moves
            await wait_for(pilot, lambda: words[3] in str(dash.query_one("#eta").render()), what="the clock")
            add({"ts": 1006.0, "type": "eval", "step": 0, "loss": 3.4})
            add({"ts": 1007.0, "type": "status", "state": "running", "step": 0, "total": 10})
            add({"ts": 1010.0, "type": "step", "step": 1, "total": 10, "loss": 3.0, "elapsed_s": 3.0})
            await wait_for(pilot, lambda: dash.query_one("#progress").display, what="the bar after a step")
            assert not dash.query_one("#phase").display
            add({"ts": 1040.0, "type": "step", "step": 10, "total": 10, "loss": 2.0, "elapsed_s": 33.0})
            add({"ts": 1041.0, "type": "phase", "phase": "final_eval", "n": 1, "of": 12, "step": 10})
            await wait_for(pilot, lambda: words[1] in str(dash.query_one("#phase").render()), what="final eval")
            add({"ts": 1136.0, "type": "done", "state": "done", "step": 10, "eval_loss": 2.1, "seconds": 196.0})
            run.set_status(state="done")
            await wait_for(pilot, lambda: dash.state == "done", what="done")
            await wait_for(pilot, lambda: words[4] in str(dash.query_one("#eta").render()), what="the run's time")
            assert not dash.query_one("#phase").display

    asyncio.run(go())


def test_dashboard_chart_follows_a_running_run_at_a_bounded_rate(danlu_home, monkeypatch):
    """While a run goes on, loss points arriving every 0.1 s redraw the chart at most once per CHART_S, the
    chart still catches up with the newest point, and the end of the run draws the final curve at once;
    the progress bar stays hidden until the total is known (no indeterminate animation meanwhile)."""
    from danlu.tui.screens import dashboard

    monkeypatch.setattr(dashboard, "CHART_S", 0.6)
    run = runs.create("chart-rate")
    run.set_status(state="running", pid=os.getpid(), method="lora")
    run.events_path.write_text("")
    drawn = []
    real_plot = dashboard.DashboardScreen._plot
    monkeypatch.setattr(dashboard.DashboardScreen, "_plot",
                        lambda self, s: drawn.append((time.monotonic(), s["n_losses"])) or real_plot(self, s))

    def add(step):
        with run.events_path.open("a") as f:
            f.write(json.dumps({"ts": float(step), "type": "step", "step": step, "total": 30, "loss": 5 - step / 10,
                                "elapsed_s": float(step)}) + "\n")

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(100, 32)) as pilot:
            app.goto("dashboard", str(run.path))
            dash = app.screen
            await pilot.pause(0.3)
            assert not dash.query_one("#progress").display
            for step in range(1, 21):
                add(step)
                await pilot.pause(0.1)
            assert dash.query_one("#progress").display
            gaps = [b[0] - a[0] for a, b in zip(drawn, drawn[1:])]
            assert len(drawn) < 10 and all(g >= 0.55 for g in gaps), gaps
            await wait_for(pilot, lambda: drawn[-1][1] == 20, timeout=5, what="the chart catching up")
            add(21)
            run.set_status(state="done")
            await wait_for(pilot, lambda: dash.state == "done", what="done")
            await pilot.pause(0.2)
            assert drawn[-1][1] == 21

    asyncio.run(go())


@pytest.mark.timeout(600)
@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_the_plan_screen_shows_and_saves_what_danlu_plan_save_writes(tiny_model, danlu_home, tmp_path, method):
    """One source of truth: what the Plan screen shows is what its config.yaml holds, and `danlu plan --save`
    writes the same config for the same choices (model, method, task preset, data)."""
    import yaml
    from conftest import run_json

    from textual.widgets import Select, Static

    async def go():
        app = DanluApp(demo=True, lang="en")
        async with app.run_test(size=(120, 40)) as pilot:
            await walk_to_plan(app, pilot)
            app.screen.query_one("#method", Select).value = method
            await wait_for(pilot, lambda: app.wizard.plan is not None and app.wizard.plan.method == method,
                           what=f"the {method} plan")
            await wait_for(pilot, lambda: app.screen.query_one("#k-lr", Input).value != "", what="knobs")
            await pilot.pause(0.3)
            shown = {n: app.screen.query_one(f"#k-{n}", Input).value for n in ("max_seq_len", "lr", "epochs")}
            pick = str(app.screen.query_one("#pick", Static).render())
            reasons = str(app.screen.query_one("#reasons", Static).render())
            hidden = not app.screen.query_one("#k-lora_r", Input).display
            planned = app.wizard.plan
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.wizard.run_path is not None, what="the run to be prepared")
            return Path(app.wizard.run_path), shown, pick, reasons, hidden, planned

    run, shown, pick, reasons, hidden, planned = asyncio.run(go())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["method"] == method and pick.startswith(method) and pick == str(planned.summary())
    assert hidden == (method == "full")  # no adapter fields for a full fine-tune
    assert f"seq len {saved['max_seq_len']}" in pick and str(saved["max_seq_len"]) == shown["max_seq_len"]
    assert float(shown["lr"]) == saved["lr"] and float(shown["epochs"]) == saved["epochs"]
    assert all(str(text) in reasons for _, text in planned.reasons)
    # `danlu plan --save` on the run's training split: the same plan and the same config
    out = tmp_path / "plan.yaml"
    cli = run_json("plan", "--model", "demo:tiny", "--method", method, "--save", out,
                   "--data", run / "data" / "train.jsonl")
    from_cli = yaml.safe_load(out.read_text())
    import re

    paths = ("train_file", "eval_file", "dataset_hash")

    def same(cfg):  # the reasons quote the RAM free at that moment
        return {k: re.sub(r"[\d.]+ GB", "N GB", v) if k == "plan_reason" else v for k, v in cfg.items() if k not in paths}

    assert same(from_cli) == same(saved) and saved["plan_reason"]
    assert {k: cli[k] for k in planned.comparable()} == planned.comparable()
    assert cli["geometry"] in pick


def test_the_planners_reasons_and_the_probes_warnings_in_chinese(monkeypatch):
    """The engine's English texts carry their codes and values (engine.core.texts.Msg); the zh wizard says them in its
    own words, and the CLI's --json keeps the English text."""
    import dataclasses
    import json

    from fake_nvml import install

    from danlu.engine.plan import hardware, memory as planner
    from danlu.tui import strings

    install(monkeypatch, "rtx4090_shared")
    probe = hardware.probe()
    p = planner.plan("demo:tiny", probe=probe)
    as_json = json.loads(json.dumps(dataclasses.asdict(p)))
    assert as_json["reasons"] == [str(r) for r in p.reasons] and "micro-batch" in as_json["reasons"][3]
    strings.set_lang("zh")
    try:
        said = [strings.say(r) for r in p.reasons]
        assert said[3] == f"微批 {p.micro_batch} × 累积 {p.grad_accum} = 有效批量 {p.micro_batch * p.grad_accum}"
        assert said[2].startswith(f"{p.method}：微批 {p.micro_batch}") and "时放得下" in said[2]
        assert "参数，词表 4,096" in said[0]
        shared = [strings.say(w) for w in probe.warnings if w.code == "shared_gpu"]
        assert shared and shared[0].startswith("GPU 0 被共用") and "pid 4242" in shared[0]
        assert strings.say("plain text") == "plain text"
        install(monkeypatch, None, missing_library=True)
        cpu = hardware.probe()
        assert strings.say(cpu.warnings[0]) == "没有找到 NVIDIA 驱动（看不到 NVIDIA GPU）：danlu 按 CPU 规划（较慢；演示模型足够）"
        said = strings.say(planner.plan("demo:tiny", probe=cpu).reasons[1])
        assert said.startswith("内存预算：CPU（可用内存 ") and "按其中 80% 规划）" in said
    finally:
        strings.set_lang("en")
    assert strings.say(p.reasons[3]) == str(p.reasons[3])
    assert str(cpu.warnings[0]).startswith("no NVIDIA driver found")


def test_the_data_doctors_evidence_and_cleaning_findings_in_chinese():
    """Format evidence and the cleaning rules' findings carry their codes (the JSON report keeps the English)."""
    import json

    from danlu.engine import data
    from danlu.tui import strings

    convs, report = data.load_conversations(DIRTY, on_error="fix")
    data.analyse(convs, report, max_chars=2000)
    d = json.loads(json.dumps(report.to_dict()))
    assert "records have 'conversations' lists of from/value turns (ShareGPT)" in d["evidence"]
    found = {p.kind: p for p in report.problems if p.kind in ("exact_duplicate", "near_duplicate", "overlong")}
    assert set(found) == {"exact_duplicate", "near_duplicate", "overlong"}
    strings.set_lang("zh")
    try:
        assert strings.say(report.evidence).endswith("条符合：'conversations' 字段为 from/value 轮次列表（ShareGPT）")
        assert strings.say(found["exact_duplicate"].what) == f"与第 {found['exact_duplicate'].duplicate_of} 行完全重复"
        assert strings.say(found["near_duplicate"].what).startswith("与第 ") and "相似度" in strings.say(
            found["near_duplicate"].what)
        assert strings.say(found["overlong"].what).startswith("过长：") and "上限 2,000" in strings.say(found["overlong"].what)
        assert strings.say(found["overlong"].fix).startswith("缩短或删除它")
        _, proposed = data.load_conversations(ROOT / "sample_data" / "lab_consultant_zh_headers.csv")
        # the wizard's own words: its control, not the CLI's flag
        assert strings.say(proposed.evidence) == ("按列名映射列 '问题', '回答'；建议的映射 instruction=问题,output=回答 "
                                                  "—— 在下方检查后点“应用映射”")
    finally:
        strings.set_lang("en")


def test_the_data_doctors_validation_problems_in_chinese():
    """The sample's planted problems (empty answers, role order, ...) are said in Chinese, with the same values."""
    from danlu.engine import data
    from danlu.tui import strings

    _, report = data.load_conversations(DIRTY, on_error="skip")
    broken = next(p for p in report.problems if p.kind == "malformed_json")
    by_kind = {}
    for p in report.problems:
        by_kind.setdefault(p.kind, p)
    assert {"empty_answer", "role_order"} <= set(by_kind)
    strings.set_lang("zh")
    try:
        said = {k: (strings.say(p.what), strings.say(p.fix)) for k, p in by_kind.items()}
        assert said["empty_answer"][0].startswith("助手回答为空") and said["empty_answer"][1] == "写上回答，或删除这条记录"
        assert strings.say(broken.what).startswith("损坏的 JSON 行（") and str(broken.what.args["detail"]) in \
            strings.say(broken.what)
        role = by_kind["role_order"]
        assert said["role_order"][0] != str(role.what) and any(ch > "\u4e00" for ch in said["role_order"][0])
        if role.what.args.get("role"):
            assert role.what.args["role"] in said["role_order"][0]
    finally:
        strings.set_lang("en")


def test_every_engine_text_code_has_chinese_words_and_every_entry_a_code():
    """Each msg("code", …) the engine writes has a zh entry (msg_<code>), the zh table names no code the engine no
    longer writes, and a zh template uses only the values its call passes."""
    import ast
    import string

    from danlu.tui import strings

    codes: dict[str, set] = {}
    for path in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(node, "func", None) and getattr(node.func, "id", getattr(node.func, "attr", None))
            if not (isinstance(node, ast.Call) and name in ("msg", "Msg") and len(node.args) >= (2 if name == "Msg" else 1)):
                continue
            names = {k.arg for k in node.keywords}
            first = node.args[1] if name == "Msg" else node.args[0]
            if isinstance(first, ast.Constant):
                codes[first.value] = names
            elif isinstance(first, ast.JoinedStr):  # msg(f"ev_mapped_{how}", …): one code per way of mapping
                for how in ("name", "longest", "two_longest"):
                    codes[f"ev_mapped_{how}"] = names
    zh = {k[len("msg_"):]: v for k, v in strings.STRINGS["zh"].items() if k.startswith("msg_")}
    assert len(codes) > 60
    assert sorted(set(codes) - set(zh)) == [], "engine texts without Chinese words"
    assert sorted(set(zh) - set(codes)) == [], "Chinese words for texts the engine no longer writes"
    for code, names in codes.items():
        used = {f.split(":")[0].split("!")[0] for _, f, _, _ in string.Formatter().parse(zh[code]) if f}
        assert used <= names, (code, used, names)
    # the wizard's own words for an engine text (wiz_<code>, in both languages) are for codes the engine writes
    wiz = {lang: {k[len("wiz_"):] for k in strings.STRINGS[lang] if k.startswith("wiz_")} for lang in ("en", "zh")}
    assert wiz["en"] == wiz["zh"] and wiz["en"] <= set(codes), wiz


def test_the_demo_language_note_in_both_languages():
    from danlu.engine import data
    from danlu.engine.plan import demo
    from danlu.tui import strings

    convs, _ = data.load_conversations(ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl")
    kept, note = demo.select("demo:smollm2", convs, ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl")
    assert str(note).startswith("SmolLM2 is English-centric") and f"({len(kept)} kept, " in str(note)
    strings.set_lang("zh")
    try:
        assert strings.say(note).startswith(f"SmolLM2 以英文为主：演示只用双语示例数据中的英文部分（保留 {len(kept)} 条；未用：")
    finally:
        strings.set_lang("en")


def test_the_engines_errors_in_chinese(tmp_path):
    """Errors the wizard shows carry a code and values: the Chinese wizard says what and how to fix in Chinese
    (the English CLI text is not in it), wherever they come from: a data file, a model reference, a run, a chat
    setting."""
    import re

    from danlu.engine import data, infer, models
    from danlu.engine.core import DanluError
    from danlu.tui import strings

    empty, binary, broken = tmp_path / "empty.jsonl", tmp_path / "b.jsonl", tmp_path / "broken.json"
    empty.write_text("")
    binary.write_bytes(b"\x00\x01\x02" * 10)
    broken.write_text('[{"instruction": "hi", "output": ')
    cases = [lambda: data.load_conversations(empty), lambda: data.load_conversations(binary),
             lambda: data.load_conversations(broken), lambda: data.load_conversations(tmp_path / "none.jsonl"),
             lambda: models.check_model_ref(str(tmp_path / "no-model")), lambda: models.check_model_ref("demo:nope"),
             lambda: infer.locate(f"{tmp_path}@checkpoint-3"), lambda: infer.Sampling().set("temperature", "warm")]
    strings.set_lang("zh")
    try:
        for case in cases:
            with pytest.raises(DanluError) as info:
                case()
            exc = info.value
            said = strings.error_text(exc)
            assert exc.code and re.search(r"[\u4e00-\u9fff]", said), (exc.code, said)
            assert str(exc.what) not in said and (not exc.fix or str(exc.fix) not in said), said
    finally:
        strings.set_lang("en")


def test_an_engine_fix_that_names_a_flag_is_said_with_the_wizards_control():
    """The export folder exists: the CLI says --overwrite, the wizard names its checkbox, in both languages."""
    from danlu.engine.core import DanluError, msg
    from danlu.tui import strings

    exc = DanluError(msg("err_export_exists", "the export folder already exists and is not empty"), where="/x",
                     fix=msg("fix_export_exists", "choose another --out, or pass --overwrite"))
    assert "--overwrite" in exc.one_line()
    for lang in ("en", "zh"):
        strings.set_lang(lang)
        try:
            said = strings.error_text(exc)
        finally:
            strings.set_lang("en")
        assert "--overwrite" not in said and strings.STRINGS[lang]["overwrite"] in said, said


def test_closing_the_wizard_while_a_run_trains_says_it_goes_on(danlu_home, monkeypatch, capsys, tmp_path):
    from danlu.tui import app as app_mod

    monkeypatch.setenv("DANLU_RUNS", str(tmp_path / "runs"))  # runs of its own (others here "run" as this process)

    monkeypatch.setattr(DanluApp, "run", lambda self: None)  # the wizard opened and was closed (Ctrl+Q)
    app_mod.run_app(lang="en")
    assert "still training" not in capsys.readouterr().err
    run = runs.create("goes-on")
    run.set_status(state="running", pid=os.getpid(), method="lora")
    app_mod.run_app(lang="en")
    assert f"run {run.id} is still training in its own process" in capsys.readouterr().err


def test_a_finished_chat_answer_reads_as_markdown_not_as_its_syntax():
    from danlu.tui.screens.chat import answer_view
    from rich.console import Console

    console = Console(width=60, record=True)
    console.print(answer_view("**Sourcing**\n\n- ISO 4833\n- 5 working days"))
    text = console.export_text()
    assert "Sourcing" in text and "**" not in text and "ISO 4833" in text
    assert answer_view("Usually 5 working days.") == "Usually 5 working days."  # plain text stays plain


def test_a_text_written_into_a_run_is_said_in_chinese_when_read_back():
    """The plan line of a run's events keeps its text's code and values through JSON (engine.core.to_json), so a
    Chinese dashboard reads it in Chinese, as the Plan screen said it."""
    from danlu.engine.core import events, from_json, to_json
    from danlu.engine.plan import value as plan
    from danlu.tui import strings, tail

    p = plan.make("demo:tiny", lengths=[200] * 40, held_out=5)
    row = json.loads(json.dumps(events.log("plan", summary=str(p.summary()), said=to_json(p.summary()),
                                           **p.comparable()).to_row()))
    said = row["args"]["said"]
    assert from_json(said) == p.summary() and from_json(said).code == p.summary().code
    strings.set_lang("zh")
    try:
        said = tail.describe(events.parse(row))
        assert said == f"方案：{strings.say(p.summary())}" and "packed" not in said and "epoch" not in said, said
    finally:
        strings.set_lang("en")


def test_every_plan_setting_has_its_help_in_chinese():
    """The Plan screen's fields show TrainConfig's help as their tooltip and hint: in Chinese, every one of them."""
    import dataclasses

    from danlu.engine.core import TrainConfig
    from danlu.tui import strings
    from danlu.tui.screens.plan import KNOBS

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    zh = {k[len("cfg_help_"):] for k in strings.STRINGS["zh"] if k.startswith("cfg_help_")}
    assert set(KNOBS) <= zh <= fields, (set(KNOBS) - zh, zh - fields)


def test_a_files_texts_come_back_as_msgs_through_its_said_key():
    """A file for any reader keeps plain strings and a ``said`` key beside them (engine.core.said); read back,
    the run's diagnosis.json is said in Chinese (the evaluation report's diagnosis part is made from it), and a
    text that no longer matches its said stays the plain text."""
    from danlu.engine.core import msg, said, with_said
    from danlu.engine.runs.diagnosis import Diagnosis
    from danlu.tui import strings

    value = {"verdict": msg("st_stable", "stable"), "n": 3, "rows": [{"a": "plain"}, {"a": msg("yes", "yes")}]}
    on_disk = json.loads(json.dumps({**value, "said": said(value)}))
    back = with_said(on_disk)
    assert back["verdict"].code == "st_stable" and back["rows"][1]["a"].code == "yes" and back["n"] == 3
    assert not hasattr(back["rows"][0]["a"], "code") and said({"a": "plain"}) is None
    on_disk["verdict"] = "edited by hand"
    assert not hasattr(with_said(on_disk)["verdict"], "code")

    d = Diagnosis("over_fit", msg("dx_over_fit", "over-fit after step {step}: the best model is step {step}'s", step=7),
                  [msg("dx_ev_restored", "early stopping kept step {step}'s weights as the final model", step=7)])
    read = Diagnosis.from_dict(json.loads(json.dumps(d.to_dict())))
    assert read.summary == d.summary and read.summary.code == "dx_over_fit"
    strings.set_lang("zh")
    try:
        assert strings.say(read.summary) == "第 7 步之后过拟合：最佳模型是第 7 步的"
        assert "7" in strings.say(read.evidence[0]) and "early" not in strings.say(read.evidence[0])
    finally:
        strings.set_lang("en")


def test_a_text_may_carry_values_named_text_and_code():
    """The export's GGUF stage says "{q}: {text}": a value name must never collide with Msg's own arguments (it did,
    and every GGUF export from the wizard failed with a TypeError)."""
    from danlu.engine.core import from_json, msg, to_json

    inner = msg("ex_tensors", "{i}/{n} tensors written", i=3, n=9)
    m = msg("ex_of", "{q}: {text}", q="f16", text=inner)
    assert m == "f16: 3/9 tensors written" and m.args["text"] is inner
    assert from_json(to_json(msg("x", "{code} {text}", code="c", text="t"))).args == {"code": "c", "text": "t"}


def test_the_welcome_runs_table_follows_new_runs_and_keeps_a_chosen_one(danlu_home, monkeypatch, tmp_path):
    from danlu.tui.screens import welcome

    monkeypatch.setenv("DANLU_RUNS", str(tmp_path / "runs"))
    monkeypatch.setattr(welcome, "REFRESH_S", 0.2)
    first = runs.create("first")
    first.set_status(state="done", method="lora", created=1.0)

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(100, 30)) as pilot:
            scr = app.screen
            await wait_for(pilot, lambda: scr.selected_run() == str(first.path), what="the run listed")
            second = runs.create("second")
            second.set_status(state="running", method="lora", created=2.0)
            # the cursor was on the first row: the newest run, the new one, is selected (a/Enter attach to it)
            await wait_for(pilot, lambda: scr.selected_run() == str(second.path), what="the new run, selected")
            scr.query_one("#runs", DataTable).move_cursor(row=1)
            third = runs.create("third")
            third.set_status(state="pending", method="lora", created=3.0)
            await wait_for(pilot, lambda: scr.query_one("#runs", DataTable).row_count == 3, what="the third run")
            assert scr.selected_run() == str(first.path), "a run the person moved to stays selected"

    asyncio.run(go())


def test_a_failed_runs_clock_stops_at_its_error():
    """The dashboard's clock of a run that failed: elapsed up to the error, no ETA (it kept counting before)."""
    from danlu.tui import tail

    c = tail.clock({"started": 100.0, "error": {"ts": 130.0}, "eta_s": 50.0, "step_ts": 120.0}, now=500.0)
    assert c == {"elapsed_s": 30.0, "eta_s": None}
    running = tail.clock({"started": 100.0, "eta_s": 50.0, "step_ts": 120.0}, now=130.0)
    assert running == {"elapsed_s": 30.0, "eta_s": 40.0}
