"""Snapshot tests: every wizard screen at 80×24 and 120×40, en and (for some) zh, with frozen inputs.

Nothing here depends on the clock, the machine or the checkout's location: the probe is a fixed
dict, runs live in a fixed folder with fixed events, free space is patched, the chat model's load
is held back so its loading state shows.  Textual is pinned: the SVGs are for Textual 8.2.8.
Update after an intended change: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

import pytest

import pytest_textual_snapshot  # noqa: E402,F401 - the dev extra installs it: missing is a failure, not a skip

PINNED = "8.2.8"  # the Textual the SVGs were recorded with (pyproject's dev extra pins it)


@pytest.fixture(autouse=True)
def pinned_textual():
    """Another Textual renders differently: every snapshot test fails with the reason, none is skipped."""
    found = metadata.version("textual")
    if found != PINNED:
        pytest.fail(f"snapshots are recorded with Textual {PINNED}, this is {found}: install the dev extra "
                    f"(pip install -e '.[dev]') or re-record them with --snapshot-update")

from textual.widgets import Input  # noqa: E402

from danlu.engine.plan import hardware
from danlu.engine.runs import store as runs  # noqa: E402
from danlu.tui.app import DanluApp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUNS = Path("/tmp/danlu-snapshot-runs")
SIZES = [(80, 24), (120, 40)]
PROBE = {
    "accelerator": "cuda", "nvml": "ok", "driver": "550.54", "cuda_driver": "12.4",
    "torch": {"version": "2.5.1", "build": "cuda", "cuda": "12.4"},
    "gpus": [{"index": 0, "name": "NVIDIA GeForce RTX 4090", "memory_total_gb": 23.99, "memory_free_gb": 22.1,
              "memory_used_gb": 1.89, "usable_gb": 22.1, "compute_capability": "8.9", "bf16": True, "tf32": True,
              "flash_attention_2": True, "sdpa_efficient": True,
              "processes": [{"pid": 4242, "name": "python", "memory_gb": 1.5}], "mig": {"enabled": False, "instances": []}}],
    "selected_gpu": 0, "warnings": ["GPU 0 is shared: 1.5 GB held by 1 other process(es) (pid 4242 python)"],
    "host": {"cpu": "AMD Ryzen 9 7950X", "cores": 32, "ram_total_gb": 62.7, "ram_available_gb": 55.0,
             "disk_free_gb": 812.4, "disk_path": "/home/me/.danlu/runs"},
}


def probe():
    """PROBE as the engine's probe makes it: its warning a text with its code (JSON keeps only the English)."""
    import dataclasses

    from danlu.engine.core.texts import msg

    p = hardware.Probe.from_dict(PROBE)
    warning = msg("shared_gpu", "GPU {index} is shared: {held:.1f} GB held by {n} other process(es) ({who}); danlu "
                                "plans with the {free:.1f} GB that are free", index=0, held=1.5, n=1,
                  who="pid 4242 python", free=22.1)
    return dataclasses.replace(p, warnings=(warning,))


@pytest.fixture
def fixed_runs(monkeypatch):
    shutil.rmtree(RUNS, ignore_errors=True)
    RUNS.mkdir(parents=True)
    monkeypatch.setenv("DANLU_RUNS", str(RUNS))
    monkeypatch.chdir(ROOT)
    run = runs.RunDir(RUNS / "20261123-101500-lora-demo-small")
    run.path.mkdir()
    run.set_status(state="done", method="lora", model="demo:small", step=20, total=20, loss=3.1415, created=1.0)
    ts = 1_700_000_000.0
    rows = [{"ts": ts, "type": "log", "message": "loading demo:small for lora training", "code": "loading",
             "args": {"model": "demo:small", "method": "lora"}},
            {"ts": ts, "type": "eval", "step": 0, "loss": 8.4}]
    for s in range(1, 21):
        rows.append({"ts": ts + s, "type": "step", "step": s, "total": 20, "loss": 8.4 - 0.26 * s, "lr": 3e-3 * (1 - s / 20),
                     "grad_norm": 1.5 - s * 0.02, "epoch": s / 20, "tokens": 1000 * s, "tokens_per_s": 990.0,
                     "elapsed_s": 2.0 * s})
        rows.append({"ts": ts + s, "type": "system", "cpu_pct": 97.0, "ram_used_gb": 1.6, "ram_total_gb": 24.0,
                     "rss_gb": 1.1, "gpus": [{"index": 0, "util_pct": 93, "mem_used_gb": 9.5, "mem_total_gb": 24.0,
                                              "temp_c": 66, "power_w": 301.0}]})
    rows += [{"ts": ts + 21, "type": "eval", "step": 20, "loss": 3.3},
             {"ts": ts + 22, "type": "checkpoint", "step": 20, "path": "runs/…/final", "final": True},
             {"ts": ts + 22, "type": "done", "state": "done", "step": 20, "seconds": 44.0}]
    run.events_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run


@pytest.fixture(autouse=True)
def stopped_clocks(monkeypatch):
    """A busy line's clock reads 0:00 in every snapshot, however long the machine took to get there."""
    from danlu.tui import widgets

    monkeypatch.setattr(widgets, "clock", lambda: 0.0)


@pytest.fixture
def snap_compare(snap_compare):
    """The plugin's snap_compare, and on every recorded screen the layout check (tests/layout.py): a snapshot of a
    cut label would otherwise be recorded as the truth."""
    import layout

    def compare(app, *, run_before=None, **kw):
        async def checked(pilot):
            if run_before is not None:
                await run_before(pilot)
            found = layout.problems(pilot.app.screen)
            assert not found, "\n".join(found)

        return snap_compare(app, run_before=checked, **kw)

    return compare


def make_app(lang="en", **wizard):
    app = DanluApp(demo=True, lang=lang)
    app.wizard.probe = probe()
    app.wizard.data_file = "sample_data/lab_consultant.sharegpt.jsonl"
    for k, v in wizard.items():
        setattr(app.wizard, k, v)
    return app


async def settle(pilot, cond=lambda: True, n=100):
    for _ in range(n):
        await pilot.pause(0.05)
        if cond():
            break
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


def step(name, cond_fn=None, *args, n=400):
    async def run_before(pilot):
        pilot.app.goto(name, *args)
        await settle(pilot, (lambda: cond_fn(pilot.app)) if cond_fn else (lambda: True), n=n)
        if cond_fn:
            assert cond_fn(pilot.app), f"the {name} screen did not settle"

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_welcome(snap_compare, fixed_runs, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=lambda p: settle(p, n=2))


def test_welcome_zh(snap_compare, fixed_runs):
    assert snap_compare(make_app("zh"), terminal_size=(80, 24), run_before=lambda p: settle(p, n=2))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_hardware(snap_compare, fixed_runs, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=step("hardware"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_model(snap_compare, fixed_runs, size):
    def done(app) -> bool:  # verdicts in, and the cursor moved to the preselected model (after a refresh)
        table = app.screen.query_one("#models")
        want = app.wizard.model or "demo:small"
        # and the columns widened to their rows (the table measures new rows when it is next idle)
        return table.row_count > 2 and table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value == want \
            and list(table.columns.values())[0].content_width >= len("HuggingFaceTB/SmolLM2-135M")

    async def run_before(pilot):
        # (the screen sizes its columns to their cells: a frame drawn with the headers' widths, before the table
        # measured its rows, could stay on screen; it was this snapshot 1 run in 4)
        await step("model", done)(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def data_ready(app) -> bool:
    """Read, tokenizer loaded and tokens counted (the demo tokenizer takes seconds: transformers loads first)."""
    scr = app.screen
    return type(scr).__name__ == "DataScreen" and scr.tokens is not None and scr.loaded is not None


def data_step(then=None, **kw):
    async def run_before(pilot):
        pilot.app.goto("data")
        await settle(pilot, lambda: data_ready(pilot.app), n=1200)
        assert data_ready(pilot.app), "the data screen did not finish loading"
        for inp in pilot.app.screen.query(Input):  # the wait above is long: freeze the blinking cursor
            inp.cursor_blink = False
        if then:
            then(pilot.app.screen)
        await settle(pilot, n=4)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_data(snap_compare, fixed_runs, size):
    assert snap_compare(make_app(), terminal_size=size, run_before=data_step())


def _show_cleaning(scr):
    scr.query_one("#data-scroll").scroll_to_widget(scr.query_one("#c-fix"), top=True, animate=False)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_data_cleaning_and_histogram(snap_compare, fixed_runs, lang):
    app = make_app(lang, data_file="sample_data/lab_consultant.dirty.jsonl")
    assert snap_compare(app, terminal_size=(80, 24), run_before=data_step(_show_cleaning))


def test_data_mapping_zh(snap_compare, fixed_runs):
    app = make_app("zh", data_file="sample_data/lab_consultant_zh_headers.csv")
    assert snap_compare(app, terminal_size=(80, 24), run_before=data_step())


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_plan(snap_compare, fixed_runs, size, lang):
    done = lambda app: app.wizard.plan is not None  # noqa: E731
    app = make_app(lang, model="demo:small", conversations=[[{"role": "user", "content": "x"}]] * 10)
    assert snap_compare(app, terminal_size=size, run_before=step("plan", done))


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, fixed_runs, size, lang):
    done = lambda app: app.screen.snapshot.get("done") is not None  # noqa: E731
    assert snap_compare(make_app(lang), terminal_size=size,
                        run_before=step("dashboard", done, str(fixed_runs.path)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_chat_loading(snap_compare, fixed_runs, size, monkeypatch):
    from danlu.tui.screens import chat

    monkeypatch.setattr(chat.ChatScreen, "_load", lambda self, ref: None)
    assert snap_compare(make_app(), terminal_size=size, run_before=step("chat", None, str(fixed_runs.path)))


class _Shown:
    """What the chat screen reads of a loaded session, for a layout snapshot (the real session is tested with
    the real model in test_chat_eval.py)."""

    def __init__(self):
        from danlu.engine.infer.chat import Sampling

        self.sampling = Sampling.from_model(object(), max_new_tokens=96)  # the GGUF demo names none: danlu's
        self.turns = []
        self.model = object()
        self.system = None

    def fork(self):
        return self


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_chat_side_by_side(snap_compare, fixed_runs, size, monkeypatch):
    run_before = side_by_side(monkeypatch, str(fixed_runs.path),
                              {"tuned": "Usually 5 working days after sample receipt.",
                               "base": "It depends on the method; some tests take weeks."})
    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def write_report(run_dir) -> None:
    """A saved evaluation report (eval.json) with frozen numbers, its verdicts the engine's own texts."""
    from danlu.engine.core import atomic, said
    from danlu.engine.infer import evaluate

    verdict, advice = evaluate.forgetting_verdict(0.042)
    r = {"run": str(run_dir), "model": "demo:small", "method": "lora", "checkpoint": None,
         "data": str(run_dir / "data" / "eval.jsonl"), "eval_conversations": 16,
         "base_side": evaluate.msg("cmp_adapter", "base = the same model with the adapter switched off (no second copy "
                                                  "in memory)"),
         "base": {"eval_loss": 3.351, "perplexity": 28.53, "rouge_l": 0.067, "bleu": 1.0},
         "tuned": {"eval_loss": 3.108, "perplexity": 22.38, "rouge_l": 0.093, "bleu": 1.6},
         "generation": {"prompts": 8, "max_new_tokens": 128, "repetition_penalty": 1.1, "bleu_tokenize": "13a"},
         "examples": [{"prompt": "How long does food microbiology testing take?",
                       "reference": "Usually 5 working days after sample receipt.",
                       "base": "It depends on the method.", "tuned": "Usually 5 working days."}],
         "stability": {"temperature": 0.7, "runs": 5, "agreement": None, "prompts": [], "verdict": None},
         "forgetting": {"prompts": [{}] * 8, "kl": 0.042, "ppl_base": 2.22, "ppl_tuned": 2.31, "verdict": verdict,
                        "advice": advice},
         "template": {"prompt_identical": True, "tokens_identical": True, "trained_end": "<|im_end|>",
                      "end_of_turn": ["<|im_end|>"], "stops_on_trained_end": True,
                      "generation_stopped_at_end_of_turn": 7, "generation_hit_max_new_tokens": 1},
         "memory": {"peak_rss_gb": 1.64, "model_gb": 0.56}, "seconds": 103.0}
    r["verdict"] = evaluate._overall(r)
    atomic.write_json(run_dir / "eval.json", {**r, "said": said(r)})


def test_report(snap_compare, fixed_runs):
    write_report(fixed_runs.path)
    done = lambda app: "Evaluation" in app.screen.query_one("#report").source  # noqa: E731
    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=step("report", done, str(fixed_runs.path)))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_export(snap_compare, fixed_runs, size, monkeypatch):
    from danlu.tui.screens import export

    monkeypatch.setattr(export, "free_gb", lambda path: 812.4)
    assert snap_compare(make_app(), terminal_size=size, run_before=step("export", None, str(fixed_runs.path)))


def test_help(snap_compare, fixed_runs):
    async def run_before(pilot):
        await settle(pilot, n=2)
        await pilot.press("question_mark")
        await settle(pilot, n=2)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


# -- every screen, both languages, both sizes: nothing cut, no English left on a Chinese screen ----------------------
SCREENS = ["welcome", "hardware", "model", "data", "plan", "dashboard", "chat", "report", "export", "help"]


def _screen(name: str, fixed_runs, monkeypatch):
    """(wizard settings, run_before) that bring the wizard to ``name`` with the snapshot tests' frozen inputs."""
    from danlu.tui.screens import export

    run = str(fixed_runs.path)
    if name == "welcome":
        return {}, lambda p: settle(p, n=2)
    if name == "hardware":
        return {}, step("hardware")
    if name == "model":
        return {}, step("model", lambda app: app.screen.query_one("#models").row_count > 2)
    if name == "data":
        return {"data_file": "sample_data/lab_consultant.dirty.jsonl"}, data_step()
    if name == "plan":
        return ({"model": "demo:small", "conversations": [[{"role": "user", "content": "x"}]] * 10},
                step("plan", lambda app: app.wizard.plan is not None))
    if name == "dashboard":
        return {}, step("dashboard", lambda app: app.screen.snapshot.get("done") is not None, run)
    if name == "report":
        write_report(fixed_runs.path)
        return {}, step("report", lambda app: "## " in app.screen.query_one("#report").source, run)
    if name == "export":
        monkeypatch.setattr(export, "free_gb", lambda path: 812.4)
        return {}, step("export", None, run)
    if name == "help":
        async def helped(pilot):
            await settle(pilot, n=2)
            await pilot.press("question_mark")
            await settle(pilot, n=2)
        return {}, helped

    return {}, side_by_side(monkeypatch, run, {"tuned": "5 working days.", "base": "5 working days."})


def side_by_side(monkeypatch, run: str, answers: dict):
    """A run_before that opens the chat (its model load and generation held back), turns side-by-side on, sends a
    prompt and delivers ``answers`` (side -> text) as the finished replies."""
    from danlu.engine.infer.chat import Reply
    from danlu.tui.screens import chat

    def loaded(self, ref):
        self.post_message(chat.ModelLoaded(_Shown(), compare=chat_compare_text(), can_compare=True))

    monkeypatch.setattr(chat.ChatScreen, "_load", loaded)
    monkeypatch.setattr(chat.ChatScreen, "_generate", lambda self, prompt, sides, stop: None)

    async def run_before(pilot):
        pilot.app.goto("chat", run)
        await settle(pilot, lambda: type(pilot.app.screen).__name__ == "ChatScreen")
        scr = pilot.app.screen
        await settle(pilot, lambda: scr.session is not None)
        await pilot.press("ctrl+t")
        scr.query_one("#prompt", Input).value = "How long does food microbiology testing take?"
        await pilot.press("enter")
        # the base pane answers after the tuned one, and says so instead of showing a cursor that does not move
        from danlu.tui.strings import t

        assert str(scr.reply_widgets["base"].render()) == t("waiting_side", side=t("pane_tuned"))
        for side, text in answers.items():
            scr.post_message(chat.TokensReceived(side, text))
            scr.post_message(chat.ReplyFinished(side, Reply(text=text, tokens=11, seconds=0.5,
                                                            finished_on="end_of_turn")))
        await settle(pilot, lambda: not scr.streaming)
        prompt = scr.query_one("#prompt", Input)
        prompt.cursor_blink = False  # a blinking cursor is on or off by when the screenshot lands (a busy machine)
        prompt.focus()
        await settle(pilot, lambda: prompt.has_focus, n=4)

    return run_before


def chat_compare_text():
    from danlu.engine.core.texts import msg

    return msg("cmp_adapter", "base = the same model with the adapter switched off (no second copy in memory)")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", SCREENS)
def test_every_screen_reads_whole_in_both_languages(fixed_runs, monkeypatch, name, size, lang):
    """The layout check of tests/layout.py on every screen, and on a Chinese screen no English word outside the
    allow-list (names, units, keys, code)."""
    import asyncio

    import layout

    wizard, run_before = _screen(name, fixed_runs, monkeypatch)

    async def go():
        app = make_app(lang, **wizard)
        async with app.run_test(size=size) as pilot:
            await run_before(pilot)
            found = layout.problems(pilot.app.screen)
            if lang == "zh":
                found += layout.english_words(layout.screen_text(pilot.app.screen, layout.NOT_OURS))
                if name == "report":  # the report's text, outside the user's own (its examples)
                    found += layout.report_words(pilot.app.screen.query_one("#report").source)
            assert not found, "\n".join(found)

    asyncio.run(go())
