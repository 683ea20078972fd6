"""One plan, one decider: every surface shows the plan engine.plan.make decides, and nothing else.

The surfaces: `danlu plan` (text and --json), `danlu plan --save` (the config), the quickstart's plan, the wizard's
Model-step fit column and Plan screen (through Pilot, in a wizard kept open for all examples), and the trainer's
first log event.  Hypothesis draws the inputs: model (demo models and the offline presets' Hub ids), method, task
preset, overrides (as KEY=VALUE or as flags), data file and split, and the GPU (faked at the pynvml boundary).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import random
import re
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from danlu.engine import cli
from danlu.engine import data
from danlu.engine.models import encode, load as models
from danlu.engine.plan import hardware, value as plan, tasks
from danlu.engine.core import presets
from danlu.engine.train import runner as train
from danlu.engine.core.config import TrainConfig

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
GPUS = [None, "rtx3060", "rtx4090", "a100_80"]  # None: a CPU machine with 16 GB of RAM available
FLAGS = {"max_seq_len": "--seq-len", "micro_batch": "--micro-batch", "lora_r": "--lora-r"}


def in_process(*argv) -> tuple[int, dict | str]:
    """`danlu ARGV` in this process (the CLI's own parsing and output), its status and --json document."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = cli.main([str(a) for a in argv])
    text = out.getvalue()
    try:
        return rc, json.loads(text)
    except ValueError:
        return rc, text


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two small data files: English conversations, and English and Chinese mixed (from the sample data)."""
    convs, _ = data.load_conversations(SAMPLES / "lab_consultant.messages.jsonl")
    rng = random.Random(7)
    out = tmp_path_factory.mktemp("plan-data")
    english = [c for c in convs if not any("\u4e00" <= ch <= "\u9fff" for m in c for ch in m["content"][:80])]
    chosen = {"en40": rng.sample(english, 40), "mixed60": rng.sample(convs, 60)}
    return {name: data.write_conversations(out / f"{name}.jsonl", rows, "messages") for name, rows in chosen.items()}


class Wizard:
    """The wizard, open for the whole test: one task in its own thread serves each example's request (show a screen
    for a WizardState, read what it shows), so that every request runs inside the app's context."""

    def __init__(self):
        import concurrent.futures

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.requests: asyncio.Queue | None = None
        ready = concurrent.futures.Future()
        self.done = asyncio.run_coroutine_threadsafe(self._serve(ready), self.loop)
        ready.result(120)

    async def _serve(self, ready):
        from danlu.tui.app import DanluApp

        self.requests = asyncio.Queue()
        self.app = DanluApp(lang="en")
        async with self.app.run_test(size=(120, 40)) as pilot:
            self.pilot = pilot
            ready.set_result(True)
            while True:
                job = await self.requests.get()
                if job is None:
                    return
                fn, args, answer = job
                try:
                    answer.set_result(await fn(*args))
                except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                    answer.set_exception(exc)

    def call(self, fn, *args, timeout: float = 120):
        import concurrent.futures

        answer = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(self.requests.put_nowait, (fn, args, answer))
        return answer.result(timeout)

    async def _until(self, cond, what: str, timeout: float = 60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            await self.pilot.pause(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    async def _plan_screen(self, state):
        app = self.app
        app.wizard = state
        app.goto("plan")
        await self._until(lambda: type(app.screen).__name__ == "PlanScreen" and app.screen.query("#pick"),
                          "the plan screen")
        scr = app.screen
        await self._until(lambda: scr._gen > 0 and scr._shown_gen == scr._gen, "the plan")
        await self.pilot.pause(0.05)
        from textual.widgets import Input, Static

        seen = {"plan": app.wizard.plan, "pick": str(scr.query_one("#pick", Static).render()),
                "status": str(scr.query_one("#plan-status", Static).render()),
                "fields": {n: scr.query_one(f"#k-{n}", Input).value for n in ("max_seq_len", "lr", "epochs",
                                                                               "max_steps", "lora_r")},
                "lora_shown": scr.query_one("#k-lora_r", Input).display}
        app.pop_screen()
        return seen

    async def _model_screen(self, state, ref):
        app = self.app
        app.wizard = state
        app.goto("model")
        from textual.widgets import DataTable

        await self._until(lambda: type(app.screen).__name__ == "ModelScreen" and app.screen.query("#models"),
                          "the model screen")
        table = app.screen.query_one("#models", DataTable)
        await self._until(lambda: table.row_count > 3, "the fit column")
        row = next(table.get_row_at(i) for i in range(table.row_count) if table.get_row_at(i)[0] == ref)
        app.pop_screen()
        return str(row[-1])

    def plan_screen(self, state):
        return self.call(self._plan_screen, state)

    def model_screen(self, state, ref):
        return self.call(self._model_screen, state, ref)

    def close(self):
        self.loop.call_soon_threadsafe(self.requests.put_nowait, None)
        self.done.result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def wizard(tiny_model):
    w = Wizard()
    yield w
    w.close()


@pytest.fixture
def machine(monkeypatch):
    """Set the machine of an example: a fake GPU profile (pynvml) or a CPU with a fixed amount of free RAM."""
    from collections import namedtuple

    import psutil
    from fake_nvml import install

    vm = namedtuple("vm", "total available percent used free")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: vm(32 * 2**30, 16 * 2**30, 50.0, 16 * 2**30, 16 * 2**30))

    def use(profile):
        if profile is None:
            install(monkeypatch, None, missing_library=True)
        else:
            install(monkeypatch, profile)
        return hardware.probe()

    return use


overrides_st = st.fixed_dictionaries({}, optional={
    "lr": st.sampled_from([1e-5, 5e-5, 1e-4, 3e-4]),
    "epochs": st.sampled_from([0.5, 1, 2, 3]),
    "max_steps": st.sampled_from([-1, 3, 40]),
    "max_seq_len": st.sampled_from([128, 256, 384, 1000]),
    "lora_r": st.sampled_from([4, 8, 32]),
    "lora_dropout": st.sampled_from([0.0, 0.1]),
    "micro_batch": st.sampled_from([1, 2, 4]),
    "grad_accum": st.sampled_from([1, 4]),
    "warmup_ratio": st.sampled_from([0.0, 0.1]),
})


def _cli_args(model, method, task, overrides, as_flags, data_file=None, eval_file=None):
    args = ["plan", "--model", model, "--task", task, "--json"]
    if method:
        args += ["--method", method]
    if data_file:
        args += ["--data", data_file]
    if eval_file:  # the wizard's held-out split: it decides the evaluation cadence and early stopping
        args += ["--eval-data", eval_file]
    for key, value in overrides.items():
        args += [FLAGS[key], value] if as_flags and key in FLAGS else [f"{key}={value}"]
    return args


@pytest.mark.timeout(1200)
@settings(max_examples=int(os.environ.get("DANLU_PLAN_EXAMPLES", 200)), deadline=None, derandomize=True,
          print_blob=True, phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no slow shrinking of GUI runs
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(model=st.sampled_from(["demo:tiny", "demo:small", "demo:smollm2", *presets.model_ids()]),
       method=st.sampled_from([None, "full", "lora", "qlora"]), task=st.sampled_from(list(tasks.load())),
       overrides=overrides_st, as_flags=st.booleans(), data_key=st.sampled_from([None, "en40", "mixed60"]),
       eval_ratio=st.sampled_from([0.0, 0.1, 0.2]), gpu=st.sampled_from(GPUS))
def test_every_surface_shows_the_same_plan(files, wizard, machine, tmp_path_factory, model, method, task, overrides,
                                           as_flags, data_key, eval_ratio, gpu):
    from danlu.tui.dataview import token_counts
    from danlu.tui.screens.model import verdict
    from danlu.tui.state import WizardState

    probe = machine(gpu)
    convs = data.load_conversations(files[data_key])[0] if data_key else []
    train_convs, held = data.split(convs, eval_ratio, seed=42) if convs and eval_ratio else (convs, [])
    work = tmp_path_factory.mktemp("ex")
    train_file = data.write_conversations(work / "train.jsonl", train_convs, "messages") if convs else None
    eval_file = data.write_conversations(work / "eval.jsonl", held, "messages") if held else None

    # `danlu plan --json` on the training split: the reference every other surface is compared with
    rc, ref = in_process(*_cli_args(model, method, task, overrides, as_flags, train_file, eval_file))
    assert rc == 0, ref
    want = {k: ref[k] for k in plan.COMPARED}
    assert ref["summary"].startswith(ref["method"]) and ref["why"]["seq_len"].startswith(
        f"max_seq_len {ref['max_seq_len']}")

    # the text output says the same
    rc, text = in_process(*[a for a in _cli_args(model, method, task, overrides, as_flags, train_file, eval_file)
                            if a != "--json"])
    assert rc == 0 and f"plan: {ref['summary']}" in text

    # the wizard's Plan screen, through Pilot, with the same inputs (all conversations, its own split)
    lengths = None
    if convs:
        try:
            lengths = token_counts(models.preview_tokenizer(model), convs)
        except Exception:  # noqa: BLE001 - a Hub id offline: the Data screen counts no tokens
            lengths = []
    state = WizardState(model=model, probe=probe, task=task, method=method or "auto",
                        overrides={k: str(v) for k, v in overrides.items()}, conversations=list(convs),
                        token_lengths=lengths or [], eval_ratio=eval_ratio)
    seen = wizard.plan_screen(state)
    shown = seen["plan"]
    assert shown is not None, seen["status"]
    assert shown.comparable() == want
    assert seen["pick"] == ref["summary"]  # the header a person reads
    assert float(seen["fields"]["lr"]) == ref["lr"] and int(seen["fields"]["max_seq_len"]) == ref["max_seq_len"]
    assert float(seen["fields"]["epochs"]) == ref["epochs"] and int(seen["fields"]["max_steps"]) == ref["max_steps"]
    assert seen["lora_shown"] == (ref["method"] != "full")

    # the Model step's fit column: the same call at that screen's inputs (no data yet), compared with `danlu plan`
    if data_key is None:
        assert wizard.model_screen(WizardState(model=model, probe=probe, task=task, method=method or "auto",
                                               overrides={k: str(v) for k, v in overrides.items()}), model) == \
            verdict(plan.make(model, task=task, method=method, overrides=overrides, probe=probe))
        assert ref["effective_batch"] == want["effective_batch"]

    # `danlu plan --save`: the config holds the plan's decisions, and the trainer's first log line states them
    if ref["fits"]:
        out = work / "config.yaml"
        rc, saved = in_process(*_cli_args(model, method, task, overrides, as_flags, train_file, eval_file), "--save", out)
        assert rc == 0, saved
        cfg = TrainConfig.load(out) if train_file else TrainConfig.from_dict(
            {**yaml.safe_load(out.read_text()), "train_file": "(none)"})
        for key in ("method", "micro_batch", "grad_accum", "max_seq_len", "lr", "epochs"):
            assert getattr(cfg, key) == ref[key], key
        if train_convs and lengths:
            tok = models.preview_tokenizer(model)
            event = train.plan_event(cfg, encode.token_lengths(tok, train_convs))
            assert event.code == "plan" and {k: event.args[k] for k in plan.COMPARED} == want
            assert event.message == f"plan: {ref['summary']}"

    # the quickstart's plan: the same function on the same conversations (LoRA, its epochs/max_steps only)
    if convs and task == "general" and set(overrides) <= {"epochs", "max_steps"}:
        q = plan.demo_plan(model, train_convs, method=method, epochs=overrides.get("epochs"),
                                 max_steps=overrides.get("max_steps", -1), probe=probe, held_out=len(held) if held else None)
        rc, qref = in_process(*_cli_args(model, method or "lora", task, overrides, False, train_file, eval_file))
        assert q.comparable() == {k: qref[k] for k in plan.COMPARED}


def test_the_trainers_first_log_event_is_the_plan(tiny_model, danlu_home, tmp_path):
    """A real run: the first log line in events.jsonl is the plan `danlu plan --data` printed for the config, and the
    run takes the optimizer steps the plan predicted (packed rows counted as TRL packs them)."""
    from conftest import run_cli, run_json

    cfg = tmp_path / "config.yaml"
    sample = SAMPLES / "lab_consultant.messages.jsonl"
    ref = run_json("plan", "--model", "demo:tiny", "--data", sample, "--method", "lora")
    run_json("plan", "--model", "demo:tiny", "--data", sample, "--method", "lora", "--save", cfg)
    proc = run_cli("train", cfg, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    from danlu.engine.runs import store as runs

    run = runs.resolve(json.loads(proc.stdout)["run_dir"])
    logs = [e for e in run.events() if e.type == "log"]
    assert logs[0].code == "plan", logs[0]
    assert {k: logs[0].args[k] for k in plan.COMPARED} == {k: ref[k] for k in plan.COMPARED}
    steps = [e for e in run.events() if e.type == "step"]
    assert len(steps) == ref["steps"] == steps[-1].total > 5
    assert yaml.safe_load(cfg.read_text())["pack_len"] == ref["pack_len"]  # config.yaml says the row length that runs


def test_packed_rows_are_counted_as_trl_packs_them():
    """The plan's row count is TRL's best-fit-decreasing packing of the same lengths (its own function)."""
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    rng = random.Random(3)
    for pack, n in ((384, 300), (1024, 2500), (64, 50)):
        lengths = [rng.choice([rng.randint(5, pack), rng.randint(5, pack // 4)]) for _ in range(n)]
        ds = Dataset.from_list([{"input_ids": list(range(k))} for k in lengths])
        assert plan.packed_rows(lengths, pack) == len(pack_dataset(ds, pack, strategy="bfd")), (pack, n)


@pytest.mark.parametrize("lang, said", [("en", "lr must be a number"), ("zh", "lr 必须是数字")])
def test_a_wrong_setting_on_the_plan_screen_is_shown_at_its_field(tiny_model, danlu_home, lang, said):
    from textual.widgets import Input, Static

    from danlu.tui.app import DanluApp
    from danlu.tui.state import WizardState

    async def go():
        app = DanluApp(lang=lang)
        async with app.run_test(size=(80, 24)) as pilot:
            app.wizard = WizardState(model="demo:tiny", probe=hardware.probe())
            app.goto("plan")
            for _ in range(300):
                await pilot.pause(0.05)
                if app.wizard.plan is not None:
                    break
            scr = app.screen
            scr.query_one("#k-lr", Input).value = "abc"
            for _ in range(300):
                await pilot.pause(0.05)
                if app.wizard.plan is None and scr._shown_gen == scr._gen:
                    break
            hint = str(scr.query_one("#knob-hint", Static).render())
            assert said in hint and scr.query_one("#k-lr", Input).has_class("-invalid")
            assert lang == "en" or "must" not in hint, hint  # the whole error in Chinese, its fix too
            await pilot.press("ctrl+t")
            await pilot.pause(0.2)
            assert app._notifications
            scr.query_one("#k-lr", Input).value = "1e-4"
            for _ in range(300):
                await pilot.pause(0.05)
                if app.wizard.plan is not None:
                    break
            assert app.wizard.plan.lr == 1e-4 and not scr.query_one("#k-lr", Input).has_class("-invalid")

    asyncio.run(go())


WRONG_SETTINGS = [  # (overrides, the field the error names)
    ({"lr": "abc"}, "lr"), ({"lr": "5"}, "lr"), ({"epochs": "0"}, "epochs"), ({"micro_batch": "0"}, "micro_batch"),
    ({"max_seq_len": "99999999"}, "max_seq_len"), ({"lora_dropout": "2"}, "lora_dropout"), ({"seed": "-1"}, "seed"),
    ({"lora_r": "2.5"}, "lora_r"), ({"packing": "maybe"}, "packing"), ({"optimizer": "sgdx"}, "optimizer"),
    ({"max_steps": "0"}, "max_steps"), ({"adapter": "prompt_tuning", "method": "full"}, "adapter"),
    ({"warmup_ratio": "1"}, "warmup_ratio"), ({"lrr": "1e-4"}, "overrides"),
]


@pytest.mark.parametrize("overrides, field", WRONG_SETTINGS)
def test_a_wrong_setting_is_an_error_with_a_code_the_chinese_wizard_says(overrides, field):
    """Every wrong setting is refused with its field, a code and the values in it: the CLI says it in English,
    the Chinese wizard in its own words (no English left in what or fix)."""
    from danlu.engine.core import DanluError
    from danlu.tui import strings

    with pytest.raises(DanluError) as info:
        plan.make("demo:tiny", overrides=overrides)
    exc = info.value
    assert exc.code and field in (exc.where or ""), (exc.code, exc.where)
    assert not re.search(r"[\u4e00-\u9fff]", exc.one_line())  # the CLI's English
    strings.set_lang("zh")
    try:
        said = strings.error_text(exc)
    finally:
        strings.set_lang("en")
    assert said != exc.one_line() and not any(w in said for w in ("must", "unknown", "set ", "e.g.", "use one")), said
    assert field in said


def test_a_plan_is_a_value_and_an_override_makes_a_new_one():
    p = plan.make("demo:tiny", method="lora")
    with pytest.raises(Exception):
        p.lr = 1.0  # frozen
    q = plan.make("demo:tiny", method="lora", overrides={"lr": "1e-4", "max_seq_len": 256})
    assert (p.lr, q.lr) != (q.lr, q.lr) and q.lr == 1e-4 and q.max_seq_len == 256
    assert q.sources["lr"] == "you" and "your setting" in q.why("lr")
    cfg = q.config(train_file="x.jsonl")
    assert cfg.lr == 1e-4 and cfg is not q.config(train_file="x.jsonl")
    cfg.lr = 0.5  # editing a config made from a plan leaves the plan as it was
    assert q.settings["lr"] == 1e-4
    # no numbers in prose: every figure in a reason is one of the plan's values
    full = plan.make("demo:smollm2", method="full", lengths=[100, 300, 500] * 20)
    assert full.adapter is None and full.lora_r is None and "rank" not in str(full.summary())
    assert f"lr {full.lr:g}" in full.why("lr") and f"lr {full.lr:g}" in str(full.summary())
    assert full.sources["lr"] == "recipe" and full.sources["epochs"] == "recipe"


@pytest.mark.parametrize("bad, where", [({"lr": "abc"}, "lr"), ({"epochs": 0}, "epochs"), ({"bogus": 1}, "bogus"),
                                        ({"max_seq_len": -5}, "max_seq_len")])
def test_a_bad_override_is_refused_with_its_name(bad, where):
    from danlu.engine.core.errors import DanluError

    with pytest.raises(DanluError) as exc:
        plan.make("demo:tiny", overrides=bad)
    assert where in exc.value.one_line()


def test_the_sequence_length_rule():
    """One rule for every surface: the user's value; else the training conversations' p99 rounded up to 64 and
    capped (the demo model's own limit, 1024, the model's context); else the cap."""
    assert plan.choose_seq_len("demo:tiny", [], None)[0] == 640  # demo.yaml's limit for the random-init models
    assert plan.choose_seq_len("Qwen/Qwen2.5-0.5B", [], None)[0] == plan.DEFAULT_SEQ_LEN
    lengths = list(range(1, 101))
    value, why, source = plan.choose_seq_len("Qwen/Qwen2.5-0.5B", lengths, None)
    assert value == 128 and source == "data" and "p99 is 100 tokens" in why
    value, why, _ = plan.choose_seq_len("demo:smollm2", [1000] * 10, None)
    assert value == 384 and "capped" in why and "10 of 10 (100 %)" in why
    assert plan.choose_seq_len("demo:tiny", lengths, 77)[:1] == (77,)
