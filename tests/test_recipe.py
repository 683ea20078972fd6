"""The recipe chosen from the data, early stopping that keeps the best step, and the diagnosis after a run.

The recipe is exercised through engine.plan.make (the one decider) on token lengths alone (a preset model's shape,
no download); early stopping and the over-fitting verdict on a real run of the tiny model (many epochs on 20
conversations); the verdict rules on event logs built for each kind.
"""

import json
import math
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, run_json
from danlu.engine import plan
from danlu.engine.core import events
from danlu.engine.runs import diagnosis

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"  # a preset (presets/models.yaml): planned offline from its shape


def _plan(n: int, mean: int = 300, **kw):
    return plan.make(kw.pop("model", QWEN), lengths=[mean] * n, gpu_mem_gb=kw.pop("gpu_mem_gb", 24),
                     held_out=kw.pop("held_out", max(1, n // 10)), **kw)


@pytest.mark.parametrize("n, batch, epochs", [(20, 1, 3), (168, 4, 3), (400, 8, 2), (2000, 32, 2), (50_000, 32, 1)])
def test_the_batch_and_passes_follow_the_data_size(n, batch, epochs):
    p = _plan(n, method="lora")
    assert p.sources["epochs"] == "recipe" and p.epochs == epochs
    assert f"{batch} conversation(s) a step" in p.why("target_batch")
    assert p.micro_batch * p.grad_accum == batch  # the planner reaches the recipe's batch by accumulation
    if n >= 2000:
        assert p.steps >= 50  # a large set: one or two passes, many steps
    assert p.steps >= min(60, n)  # a small set still gets enough optimizer steps to learn


def test_more_data_means_fewer_passes_and_bigger_batches():
    small, large = _plan(100, method="lora"), _plan(20_000, method="lora")
    assert small.epochs > large.epochs and small.effective_batch < large.effective_batch


def test_the_learning_rate_follows_the_method_and_the_models_width():
    lora = _plan(500, method="lora")  # Qwen2.5-0.5B: hidden 896
    assert math.isclose(lora.lr, 2e-4 * 4096 / 896, rel_tol=0.02) and "adapters" in lora.why("lr")
    style = _plan(500, method="lora", task="tone_style")
    assert math.isclose(style.lr, lora.lr / 2, rel_tol=0.02)  # the task preset's rate, scaled the same
    wide_lora = _plan(500, method="lora", model="Qwen/Qwen2.5-7B-Instruct", gpu_mem_gb=200)  # hidden 3584
    assert wide_lora.lr == pytest.approx(2e-4 * 4096 / 3584, rel=0.02)  # near the guides' 2e-4 at 7 B
    narrow = _plan(500, method="full")  # hidden 896
    wide = _plan(500, method="full", model="Qwen/Qwen2.5-7B-Instruct", gpu_mem_gb=200)  # hidden 3584
    assert narrow.lr > wide.lr >= 2e-5 and narrow.lr <= 2e-4
    assert math.isclose(narrow.lr, 2e-5 * 4096 / 896, rel_tol=0.02) and "896" in narrow.why("lr")
    assert lora.lr == pytest.approx(10 * narrow.lr, rel=0.05)  # LoRA's best rate: about 10× full fine-tuning's


def test_an_adapter_unless_the_data_outgrows_it():
    """Where a full fine-tune fits, the recipe still takes LoRA for a set that fits in the adapter; a set with more
    tokens than the adapter has parameters gets the full fine-tune (the planner's best fit)."""
    small = _plan(500, gpu_mem_gb=80)
    assert small.method == "lora" and small.sources["method"] == "recipe"
    assert "forgets less" in small.why("method_recipe")
    assert next(c for c in small.candidates if c["method"] == "full")["fits"]  # a choice, not a fallback
    big = _plan(200_000, mean=1000, gpu_mem_gb=80)
    assert big.method == "full" and "more than the adapter" in big.why("method_recipe")
    assert _plan(500, gpu_mem_gb=80, method="full").method == "full"  # yours wins


def test_no_adapter_dropout_where_early_stopping_guards_over_fitting():
    with_split = _plan(500, task="domain_qa")
    assert with_split.lora_dropout == 0 and "early stopping" in with_split.why("dropout")
    assert _plan(500, task="domain_qa", held_out=0).lora_dropout == 0.05  # no split: the preset's dropout
    assert _plan(500, task="domain_qa", overrides={"lora_dropout": 0.1}).lora_dropout == 0.1  # yours wins


def test_your_settings_win_over_the_recipe():
    p = _plan(500, method="lora", overrides={"epochs": 5, "lr": 1e-3, "eval_steps": 7, "warmup_ratio": 0.2})
    assert (p.epochs, p.lr, p.eval_steps, p.warmup_ratio) == (5, 1e-3, 7, 0.2)
    assert {p.sources[k] for k in ("epochs", "lr", "eval_steps", "warmup_ratio")} == {"you"}
    assert plan.make(QWEN, lengths=[300] * 500, gpu_mem_gb=24, target_batch=4).effective_batch <= 5


def test_evaluation_cadence_and_early_stopping_need_a_held_out_split():
    with_split = _plan(2000, method="lora", held_out=200)
    assert with_split.eval_steps > 0 and with_split.early_stopping_patience >= 2
    evals = with_split.steps // with_split.eval_steps
    assert 3 <= evals <= 10
    assert f"every {with_split.eval_steps} steps" in with_split.why("eval")
    without = _plan(2000, method="lora", held_out=0)
    assert without.eval_steps == 0 and without.early_stopping_patience == 0 and "no held-out" in without.why("eval")


def test_warm_up_is_a_few_percent_of_the_steps():
    for n in (40, 400, 40_000):
        p = _plan(n, method="lora")
        assert 0.03 <= p.warmup_ratio <= 0.10 and f"{100 * p.warmup_ratio:g} %" in p.why("schedule")


def test_the_random_init_demo_models_keep_their_own_settings():
    p = plan.make("demo:tiny", method="lora", lengths=[200] * 100, held_out=10)
    assert p.sources["lr"] == "demo" and p.lr == 0.003 and p.sources["epochs"] == "demo"


def test_the_demo_fits_its_time_budget():
    """demo:smollm2 declares a training time (presets/demo.yaml): fewer passes, a smaller batch, and the plan says so."""
    p = plan.make("demo:smollm2", method="lora", lengths=[300] * 168, held_out=16)
    assert p.predicted_seconds <= 1.15 * plan.demo.settings("demo:smollm2")["time_budget_s"]
    assert p.sources["epochs"] == "recipe" and p.eval_steps > 0 and p.early_stopping_patience >= 2


# -- early stopping on a real run ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overfit_run(tiny_model, tmp_path_factory):
    """The tiny model, full fine-tune at a high rate, 30 epochs over 20 conversations: it over-fits in seconds."""
    from danlu.engine import data
    from danlu.engine.core.config import TrainConfig
    from danlu.engine.plan import prepare
    from danlu.engine.train import runner

    convs, _ = data.load_conversations(str(ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl"))
    cfg = TrainConfig(model="demo:tiny", method="full", train_file="x", max_seq_len=256, micro_batch=4, grad_accum=1,
                      epochs=30, lr=3e-3, eval_steps=5, early_stopping_patience=2, warmup_ratio=0.0, packing=False)
    run = prepare.prepare_run(cfg, convs[:20], convs[100:110], root=tmp_path_factory.mktemp("runs"))
    result = runner.run(cfg, run)
    return run, result


def test_early_stopping_stops_before_the_last_epoch_and_keeps_the_best_step(overfit_run):
    from transformers import AutoModelForCausalLM

    from danlu.engine.infer import evaluate

    run, result = overfit_run
    evs = run.events()
    planned = next(e.total for e in evs if isinstance(e, events.Step))
    assert result.steps < planned - 5  # stopped at least one epoch (5 steps) early
    assert any(isinstance(e, events.Log) and e.code == "early_stopping" for e in evs)
    evals = [e for e in evs if isinstance(e, events.Eval) and e.step > 0]
    best = min(evals, key=lambda e: e.loss)
    done = next(e for e in evs if isinstance(e, events.Done))
    assert done.best_step == best.step < result.steps and done.eval_loss == pytest.approx(best.loss)
    # the saved final model is the best step's: its held-out loss, measured afresh, is the best evaluation's
    model = AutoModelForCausalLM.from_pretrained(str(run.final_dir)).eval()
    again = evaluate.eval_loss(model, result.eval_rows, pad_id=result.tokenizer.pad_token_id, batch_size=4)
    assert again == pytest.approx(best.loss, rel=1e-4)
    assert not (run.path / "best").exists()  # kept while training; once final/ holds it, no second copy on disk
    assert len({e.step for e in evs if isinstance(e, events.Eval)}) == len(
        [e for e in evs if isinstance(e, events.Eval)])  # no step evaluated twice


def test_a_real_over_fitting_run_is_called_over_fit_with_its_best_step(overfit_run):
    run, result = overfit_run
    d = json.loads((run.path / "diagnosis.json").read_text())
    best = min((e for e in run.events() if isinstance(e, events.Eval) and e.step > 0), key=lambda e: e.loss)
    assert d["verdict"] == "over_fit" and d["best_step"] == best.step
    assert f"step {best.step}" in d["summary"] and 0 < d["next_overrides"]["epochs"] < 30


def test_plan_from_a_run_applies_its_diagnosis(overfit_run, tmp_path):
    run, _ = overfit_run
    env = {"DANLU_RUNS": str(run.path.parent)}
    got = run_json("plan", "--from", str(run.path), env=env)
    d = json.loads((run.path / "diagnosis.json").read_text())
    assert got["diagnosis"]["verdict"] == "over_fit" and got["epochs"] == d["next_overrides"]["epochs"]
    assert got["method"] == "full" and got["lr"] == 3e-3  # the rest is the run's plan
    listed = run_json("runs", env=env)
    assert [r["verdict"] for r in listed if r["id"] == run.id] == ["over_fit"]
    text = run_cli("runs", env=env).stdout
    assert "over-fit" in text and max(len(line) for line in text.splitlines()) <= 100
    saved = tmp_path / "next.yaml"
    proc = run_cli("plan", "--from", run.id, "--save", str(saved), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "epochs: 7" in saved.read_text() or f"epochs: {d['next_overrides']['epochs']}" in saved.read_text()


# -- the verdicts on event logs of each kind ------------------------------------------------------------------
def _log(train: list, evals: dict, best_step=None):
    evs = [events.Step(step=i + 1, total=len(train), loss=x, grad_norm=1.0) for i, x in enumerate(train)]
    evs += [events.Eval(step=s, loss=v) for s, v in evals.items()]
    evs.sort(key=lambda e: (e.step, e.TYPE != "step"))
    evs.append(events.Done(step=len(train), best_step=best_step))
    return evs


FALLING = [3.0 - 0.02 * i for i in range(60)]


@pytest.mark.parametrize("name, train, evals, verdict", [
    ("still learning", FALLING, {0: 3.0, 20: 2.6, 40: 2.3, 60: 2.0}, "under_fit"),
    ("held-out rises", FALLING, {0: 3.0, 20: 2.5, 40: 2.6, 60: 2.9}, "over_fit"),
    ("settled", FALLING[:30] + [2.4] * 30, {0: 3.0, 20: 2.5, 40: 2.45, 60: 2.449}, "clean"),
    ("a spike that stays", FALLING[:30] + [25.0] + [9.0 - 0.02 * i for i in range(29)], {0: 3.0, 30: 2.6, 60: 6.3},
     "diverged"),
    # one conversation a step: a hard sample's loss 3.4× the ten before it, and the run goes on learning (measured:
    # the recipe bench's LoRA run on the support set was called diverged by a rule that took any such step)
    ("one hard sample", FALLING[:30] + [8.0] + FALLING[31:], {0: 3.0, 20: 2.6, 40: 2.45, 60: 2.449}, "clean"),
    ("a noisy small batch", [(2.0 if i % 3 else 0.4) - 0.01 * i for i in range(30)] + [0.2, 0.15, 0.9, 0.18, 0.6,
     0.12, 0.2, 0.7, 0.1, 0.25, 0.755, 0.3, 0.1, 0.6, 0.2, 0.15, 0.5], {0: 3.0, 16: 2.5, 32: 2.45, 47: 2.449},
     "clean"),
    ("NaN", FALLING[:10] + [float("nan")] + FALLING[11:], {0: 3.0, 60: 2.3}, "diverged"),
    ("rising training loss", [2.0 + 0.05 * i for i in range(40)], {0: 3.0, 40: 3.4}, "diverged"),
    ("no mid-run evals, still falling", FALLING, {0: 3.0, 60: 1.9}, "under_fit"),
])
def test_the_verdict_of_each_kind_of_run(name, train, evals, verdict):
    d = diagnosis.diagnose(_log(train, evals), epochs=1.0, lr=2e-4)
    assert d.verdict == verdict, (name, d.summary, d.evidence)
    assert d.evidence and all(any(ch.isdigit() for ch in str(e)) or "no held-out" in str(e) for e in d.evidence)
    if verdict == "under_fit":
        assert d.next_overrides == {"epochs": 2.0}
    if verdict == "over_fit":
        assert d.best_step == 20 and d.next_overrides["epochs"] == pytest.approx(20 / 60, abs=0.01)
    if verdict == "diverged":
        assert d.next_overrides["lr"] < 2e-4
    if verdict == "clean":
        assert d.next_overrides == {}


def test_under_fit_at_three_passes_asks_for_a_higher_rate():
    d = diagnosis.diagnose(_log(FALLING, {0: 3.0, 20: 2.6, 40: 2.3, 60: 2.0}), epochs=3.0, lr=1e-4)
    assert d.verdict == "under_fit" and d.next_overrides == {"lr": 2e-4}


def test_the_wizard_offers_the_next_plan_after_a_run(overfit_run, danlu_home):
    """Dashboard of a finished run → n → the Plan screen with the diagnosis's change, the run's own split kept; Save
    writes a run whose held-out conversations are the first run's."""
    import asyncio

    from danlu.engine.runs import store as runs
    from danlu.tui.app import DanluApp

    run, _ = overfit_run
    d = json.loads((run.path / "diagnosis.json").read_text())

    async def until(pilot, cond, what, timeout=120.0):
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            await pilot.pause(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    async def go():
        for lang, words in (("zh", "过拟合"), ("en", "over-fit")):
            app = DanluApp(lang=lang)
            async with app.run_test(size=(100, 30)) as pilot:
                app.goto("dashboard", str(run.path))
                dash = app.screen
                await until(pilot, lambda: dash.state == "done", "the finished run")
                await pilot.press("n")
                await until(pilot, lambda: type(app.screen).__name__ == "PlanScreen" and app.wizard.plan is not None,
                            "the next plan")
                p = app.wizard.plan
                assert p.epochs == d["next_overrides"]["epochs"] and p.method == "full" and p.lr == 3e-3
                assert words in str(app.screen.query_one("#after").render())
                assert p.sources["epochs"] == "after" and p.sources["lr"] == "you"  # the diagnosis changed epochs only
                said = str(app.screen.query_one("#reasons").render())
                assert ("上一次训练的诊断" if lang == "zh" else "the last run's diagnosis") in said
                if lang == "en":
                    await pilot.press("ctrl+s")
                    await until(pilot, lambda: app.wizard.run_path is not None, "the saved run")
        return app.wizard.run_path

    saved = runs.RunDir(Path(asyncio.run(go())))
    assert (saved.path / "data" / "eval.jsonl").read_text() == (run.path / "data" / "eval.jsonl").read_text()
    assert len((saved.path / "data" / "train.jsonl").read_text().splitlines()) == 20


# -- the forgetting guard: self-distilled replay -------------------------------------------------------------------
def test_a_task_that_asks_for_general_data_gets_replay_and_the_plan_says_the_share():
    style = _plan(400, method="lora", task="tone_style")
    assert style.data_mix == 0.2 and style.sources["replay"] == "task" and "20 %" in style.why("data_mix")
    plain = _plan(400, method="lora")
    assert plain.data_mix == 0 and "replay=" in plain.why("data_mix")
    assert style.steps > plain.steps  # the replay conversations train too, and the steps count them
    mine = _plan(400, method="lora", task="tone_style", overrides={"replay": 0})
    assert mine.data_mix == 0


def test_replay_trains_on_the_base_models_own_answers(smollm2, tmp_path):
    from danlu.engine import data
    from danlu.engine.core.config import TrainConfig
    from danlu.engine.data import replay as data_replay, select
    from danlu.engine.plan import prepare
    from danlu.engine.train import runner

    convs, _ = data.load_conversations(str(ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl"))
    english, _ = select.by_language(convs, ["en"])
    cfg = TrainConfig(model="demo:smollm2", method="lora", train_file="x", max_seq_len=256, micro_batch=2,
                      grad_accum=1, max_steps=2, replay=0.2, lora_dropout=0.0, packing=False)
    run = prepare.prepare_run(cfg, english[:8], english[-4:], root=tmp_path)
    runner.run(cfg, run)
    mixed = [json.loads(line)["messages"] for line in (run.data_dir / "replay.jsonl").read_text().splitlines()]
    assert 1 <= len(mixed) <= data_replay.count(0.2, 8) == 2
    for conv in mixed:
        assert conv[0]["content"] in data_replay.prompts()["en"] and len(conv[1]["content"].split()) >= 3
    logged = [e for e in run.events() if isinstance(e, events.Log) and e.code == "replay"]
    assert logged and logged[0].args["n"] == len(mixed)
    params = next(e for e in run.events() if isinstance(e, events.Log) and e.code == "parameters")
    assert params.args["train"] == 8 + len(mixed)  # the user's conversations and the replay ones train


@pytest.mark.parametrize("kl", [0.3, 0.9])
def test_the_forgetting_advice_does_not_ask_a_run_for_the_replay_it_already_had(kl):
    """A run that mixed in general conversations is not told to mix them in: it is told what it had, and the lever
    that moves the model less (bench/recipe.md: a larger share held back little)."""
    from danlu.engine.infer import evaluate

    _, plain = evaluate.forgetting_verdict(kl)
    _, mixed = evaluate.forgetting_verdict(kl, replay=0.1)
    assert "--mix" in plain and "--mix" not in mixed
    assert "already mixed in 10 %" in mixed and "lower the learning rate" in mixed
    assert evaluate.forgetting_verdict(0.01, replay=0.1)[1] == "nothing to do"


def test_replay_answers_are_drawn_from_the_base_model_and_repeat_with_the_seed(smollm2, monkeypatch):
    """Sampled, not greedy (bench/recipe.md, round six): another seed gives other answers, the same seed the same
    ones, and training's own random state is left as it was."""
    import torch
    from transformers import AutoModelForCausalLM

    from danlu.engine.models import load as models
    from danlu.engine.train import replay

    monkeypatch.setattr(replay, "MAX_NEW_TOKENS", 48)
    monkeypatch.setattr(replay, "prompts", lambda: {"en": ["Write a short poem about rain.",
                                                           "Name a fruit and say why you like it."]})
    model = AutoModelForCausalLM.from_pretrained(smollm2).eval()
    tok = models.load_tokenizer(str(smollm2))
    convs = [[{"role": "user", "content": f"How long does test {i} take?"},
              {"role": "assistant", "content": "About five working days."}] for i in range(12)]
    state = torch.get_rng_state()
    first = replay.make(model, tok, 0.2, convs, seed=1)
    assert torch.equal(state, torch.get_rng_state())
    assert len(first) == 2 and first == replay.make(model, tok, 0.2, convs, seed=1)
    other = replay.make(model, tok, 0.2, convs, seed=2)
    answers = lambda made: {c[0]["content"]: c[1]["content"] for c in made}  # noqa: E731
    assert answers(other).keys() == answers(first).keys()  # the same two prompts, answered with other samples
    assert all(answers(other)[p] != a for p, a in answers(first).items())


def test_a_final_evaluation_right_after_the_last_scheduled_one_does_not_hide_the_trend():
    """The quickstart's run: evaluations at 29, 58, 87 and the final one at 89; the trend is 58 → 89."""
    train = [3.3 - 0.008 * i for i in range(89)]
    d = diagnosis.diagnose(_log(train, {0: 3.499, 29: 3.012, 58: 2.804, 87: 2.7516, 89: 2.7516}), epochs=1.0, lr=2e-4)
    assert d.verdict == "under_fit" and "2.8040" in str(d.evidence[0]) and d.next_overrides == {"epochs": 2.0}


def test_outlying_samples_are_named_by_line():
    losses = {i: 2.0 + 0.05 * (i % 7) for i in range(1, 41)}
    losses[17], losses[33] = 9.5, 7.0
    found = diagnosis.outliers(losses)
    assert [x["line"] for x in found] == [17, 33]
    assert diagnosis.outliers({i: 2.0 + 0.1 * i for i in range(1, 30)}) == []  # a spread, no outlier


def test_a_broken_sample_is_named_in_the_diagnosis(smollm2, tmp_path):
    """The real model trained one pass over 15 support conversations and one whose answer is noise: the
    diagnosis names that one's line in data/train.jsonl."""
    import random

    from danlu.engine import data
    from danlu.engine.core.config import TrainConfig
    from danlu.engine.data import select
    from danlu.engine.plan import prepare
    from danlu.engine.train import runner

    convs, _ = data.load_conversations(str(ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl"))
    english = [c for c in select.by_language(convs, ["en"])[0] if len(c) == 2][:15]
    import base64

    rng = random.Random(0)
    noise = base64.b64encode(bytes(rng.randrange(256) for _ in range(180))).decode()  # a pasted blob, not an answer
    broken = [english[0][0], {"role": "assistant", "content": noise}]
    train = english[:9] + [broken] + english[9:]
    cfg = TrainConfig(model="demo:smollm2", method="lora", train_file="x", max_seq_len=192, micro_batch=4,
                      grad_accum=1, epochs=1, lr=1e-4, lora_dropout=0.0, packing=False)
    run = prepare.prepare_run(cfg, train, english[-3:], root=tmp_path)
    runner.run(cfg, run)
    line = next(i for i, text in enumerate((run.data_dir / "train.jsonl").read_text().splitlines(), 1)
                if noise in text)
    d = json.loads((run.path / "diagnosis.json").read_text())
    assert [x["line"] for x in d["data_issues"]] == [line]
    assert f"line(s) {line} of the training file" in d["evidence"][-1]
