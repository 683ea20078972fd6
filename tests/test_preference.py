"""Preference stages (DPO, ORPO, SimPO, KTO): the data forms people have, the data doctor, the plan, the runner and
the report's preference block (engine.data.preference, engine.plan.value, engine.train.preference)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, run_json

from danlu.engine.data import preference as pf

SAMPLE = ROOT / "sample_data" / "lab_consultant.preference.jsonl"
SYSTEM = {"role": "system", "content": "You are the lab's assistant."}
Q1, A1 = "Which standard do you follow for formaldehyde?", "GB 18401-2010, with GB/T 2912.1 as the method."
Q2, GOOD, BAD = "And how long does it take?", "Five working days after the sample arrives.", "It depends, contact us."
PAIR = pf.Pair([SYSTEM, {"role": "user", "content": Q1}, {"role": "assistant", "content": A1},
                {"role": "user", "content": Q2}], GOOD, BAD)
ONE = pf.Pair([{"role": "user", "content": Q2}], GOOD, BAD)


# -- every form people have reads as the same pair ------------------------------------------------------------------
FORMS = {
    "trl": ({"prompt": Q2, "chosen": GOOD, "rejected": BAD}, ONE),
    "trl_conversational": ({"prompt": PAIR.prompt, "chosen": [{"role": "assistant", "content": GOOD}],
                            "rejected": [{"role": "assistant", "content": BAD}]}, PAIR),
    "implicit prompt": ({"chosen": PAIR.prompt + [{"role": "assistant", "content": GOOD}],
                         "rejected": PAIR.prompt + [{"role": "assistant", "content": BAD}]}, PAIR),
    "ultrafeedback": ({"prompt": Q2, "chosen": [{"role": "user", "content": Q2}, {"role": "assistant", "content": GOOD}],
                       "rejected": [{"role": "user", "content": Q2}, {"role": "assistant", "content": BAD}],
                       "score_chosen": 8.0}, ONE),
    "alpaca_preference": ({"instruction": Q2, "input": "", "chosen": GOOD, "rejected": BAD, "system": SYSTEM["content"],
                           "history": [[Q1, A1]]}, PAIR),
    "sharegpt_preference": ({"conversations": [{"from": "system", "value": SYSTEM["content"]},
                                               {"from": "human", "value": Q1}, {"from": "gpt", "value": A1},
                                               {"from": "human", "value": Q2}],
                             "chosen": {"from": "gpt", "value": GOOD}, "rejected": {"from": "gpt", "value": BAD}},
                            PAIR),
}


@pytest.mark.parametrize("form", FORMS)
def test_each_form_reads_as_the_pair_and_round_trips(form, tmp_path):
    row, want = FORMS[form]
    fmt = pf.row_format(row)
    got = pf.to_pair(row, fmt)
    assert (got.prompt, got.chosen, got.rejected) == (want.prompt, want.chosen, want.rejected)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(row) + "\n" + json.dumps(row | {"chosen": row["chosen"]}) + "\n")
    for target in ("trl_conversational", "alpaca_preference", "sharegpt_preference") + (("trl",) if want is ONE else ()):
        out = tmp_path / f"{target}.jsonl"
        pf.write(pf.records(pf.load(src), target), out)
        back = pf.load(out)
        assert back.format == target
        assert [(p.prompt, p.chosen, p.rejected) for p in back.pairs] == [(want.prompt, GOOD, BAD)], target


def test_kto_takes_unpaired_answers_and_pairs_become_a_good_and_a_bad_one(tmp_path):
    src = tmp_path / "pairs.jsonl"
    pf.write(pf.records(pf.PreferenceData("", "", 1, pairs=[PAIR]), "trl_conversational"), src)
    kto = tmp_path / "kto.jsonl"
    pf.write(pf.records(pf.load(src), "kto"), kto)
    d = pf.load(kto)
    assert d.format == "kto" and d.stages() == ("kto",) and not d.pairs
    assert [(u.completion, u.label) for u in d.unpaired] == [(GOOD, True), (BAD, False)]
    assert pf.load(src).stages() == ("dpo", "orpo", "simpo", "kto")


def test_llama_factory_entries_name_the_columns(tmp_path):
    """A dataset_info.json entry with "ranking": true (or a kto_tag column) renames columns and tags the way
    LLaMA-Factory reads them; the file reads as the same pairs it would give LLaMA-Factory."""
    (tmp_path / "al.json").write_text(json.dumps([{"q": Q2, "ctx": "", "good": GOOD, "bad": BAD,
                                                  "sys": SYSTEM["content"], "past": [[Q1, A1]]}]))
    turn = lambda who, text: {"speaker": who, "text": text}  # noqa: E731
    (tmp_path / "sg.jsonl").write_text(json.dumps({
        "dialog": [turn("S", SYSTEM["content"]), turn("U", Q1), turn("A", A1), turn("U", Q2)],
        "good": turn("A", GOOD), "bad": turn("A", BAD)}) + "\n")
    (tmp_path / "kto.jsonl").write_text("".join(json.dumps(
        {"messages": [{"from": "human", "value": Q2}, {"from": "gpt", "value": answer}], "ok": ok}) + "\n"
        for answer, ok in ((GOOD, True), (BAD, False))))
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "al": {"file_name": "al.json", "ranking": True, "columns": {"prompt": "q", "query": "ctx", "chosen": "good",
                                                                    "rejected": "bad", "system": "sys",
                                                                    "history": "past"}},
        "sg": {"file_name": "sg.jsonl", "formatting": "sharegpt", "ranking": True,
               "columns": {"messages": "dialog", "chosen": "good", "rejected": "bad"},
               "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "U", "assistant_tag": "A",
                        "system_tag": "S"}},
        "kt": {"file_name": "kto.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages", "kto_tag": "ok"}},
    }))
    info = tmp_path / "dataset_info.json"
    for name in ("al", "sg"):
        d = pf.load(f"{info}#{name}")
        assert [(p.prompt, p.chosen, p.rejected) for p in d.pairs] == [(PAIR.prompt, GOOD, BAD)], name
        assert pf.looks_like(f"{info}#{name}") == d.format
    kto = pf.load(f"{info}#kt")
    assert kto.format == "kto" and [(u.prompt, u.completion, u.label) for u in kto.unpaired] == \
        [(ONE.prompt, GOOD, True), (ONE.prompt, BAD, False)]
    res = run_json("data", "convert", f"{info}#sg", "--to", "alpaca_preference", "-o", str(tmp_path / "out" / "a.json"))
    assert res["records"] == 1 and pf.load(tmp_path / "out" / "a.json").pairs[0].prompt == PAIR.prompt


@pytest.mark.parametrize("command", ["plan", "train"])
def test_preference_data_where_conversations_are_expected_says_which_stage(command, tmp_path, danlu_home):
    """Every command that reads SFT conversations says that a preference file trains a preference stage (and how),
    instead of failing on each record."""
    if command == "plan":
        res = run_cli("plan", "--model", "demo:tiny", "--data", str(SAMPLE))
    else:
        cfg = tmp_path / "c.yaml"
        run_json("plan", "--model", "demo:tiny", "--data", str(ROOT / "sample_data" / "lab_consultant.messages.jsonl"),
                 "--save", str(cfg))
        res = run_cli("train", str(cfg), f"train_file={SAMPLE}")
    assert res.returncode == 2 and "preference data (trl_conversational)" in res.stderr, (res.stdout, res.stderr)
    assert "--stage dpo" in res.stderr and "Traceback" not in res.stderr


def test_plan_texts_count_pairs_for_a_preference_stage():
    """A preference plan's reasons count pairs (or answers for KTO), never conversations, in both languages."""
    from danlu.engine.plan import value as plan
    from danlu.tui import strings

    strings.set_lang("zh")
    try:
        for stage, word, zh in (("dpo", "pair", "数据对"), ("kto", "answer", "回答")):
            p = plan.make("demo:smollm2", overrides={"stage": stage}, lengths=[300] * 200, held_out=20, method="lora")
            texts = [p.why(k) for k in ("seq_len", "batch", "steps", "eval") if p.why(k) is not None]
            assert len(texts) == 4 and all(word in str(t) and "conversation" not in str(t) for t in texts), texts
            said = [strings.say(t) for t in texts]
            assert all(zh in t and "对话" not in t for t in said), said
        sft = plan.make("demo:smollm2", lengths=[300] * 200, held_out=20, method="lora")
        assert "conversation" in str(sft.why("batch")) and "条对话" in strings.say(sft.why("batch"))
    finally:
        strings.set_lang("en")


# -- the doctor -----------------------------------------------------------------------------------------------------
def test_the_doctor_drops_what_cannot_teach_and_flags_what_teaches_the_wrong_thing(tmp_path):
    long_q = "Could you tell me which tests a children's plush toy needs for the EU market?"
    rows = [
        {"prompt": Q2, "chosen": GOOD, "rejected": BAD},  # 1 fine
        {"prompt": Q2, "chosen": GOOD, "rejected": BAD},  # 2 the same pair again
        {"prompt": Q1, "chosen": A1, "rejected": A1},  # 3 identical sides
        {"prompt": Q1, "chosen": "  ", "rejected": BAD},  # 4 empty chosen
        {"prompt": long_q, "chosen": f"{long_q} EN 71-1, -2 and -3.", "rejected": "No idea."},  # 5 prompt inside
        {"prompt": [{"role": "user", "content": Q1}, {"role": "assistant", "content": A1}],
         "chosen": [{"role": "assistant", "content": GOOD}], "rejected": [{"role": "assistant", "content": BAD}]},  # 6
    ]
    src = tmp_path / "dirty.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    d = pf.load(src)
    found = {(p.line, p.code, p.action) for p in d.problems}
    assert found == {(2, "duplicate", "dropped"), (3, "identical", "dropped"), (4, "empty", "dropped"),
                     (5, "prompt_in_answer", "kept"), (6, "turns", "dropped")}, found
    assert [p.line for p in d.pairs] == [1, 5]


def test_a_length_bias_is_flagged_and_the_bundled_pairs_have_none(tmp_path):
    rows = [{"prompt": f"question {i}", "chosen": "a long and careful answer " * 3, "rejected": "short"}
            for i in range(20)]
    src = tmp_path / "biased.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    d = pf.load(src)
    assert d.stats["chosen_longer"] == 1.0 and any("longer" in str(w) for w in d.warnings)
    sample = pf.load(SAMPLE)
    assert len(sample.pairs) == 368 and not sample.warnings and not sample.problems
    assert 0.1 < sample.stats["chosen_longer"] < 0.9
    langs = {json.loads(line)["lang"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()}
    assert langs == {"en", "zh"}


def test_a_split_keeps_every_prompt_on_one_side():
    items = [pf.Pair([{"role": "user", "content": f"q{i % 30}"}], f"good {i}", f"bad {i}") for i in range(90)]
    train, held = pf.split(items, 0.2, seed=1)
    assert len(train) + len(held) == 90 and 12 <= len(held) <= 24
    assert pf.leakage(train, held) == 0


# -- the CLI --------------------------------------------------------------------------------------------------------
def test_data_commands_on_preference_files(tmp_path):
    info = run_json("data", "inspect", str(SAMPLE))
    assert info["format"] == "trl_conversational" and info["stages"] == ["dpo", "orpo", "simpo", "kto"]
    assert info["kept"] == 368
    res = run_json("data", "convert", str(SAMPLE), "--to", "alpaca_preference", "-o", str(tmp_path / "a.json"))
    assert res["records"] == 368 and run_json("data", "inspect", str(tmp_path / "a.json"))["format"] == \
        "alpaca_preference"
    res = run_json("data", "split", str(tmp_path / "a.json"), "--out-dir", str(tmp_path / "split"))
    assert res["train_records"] + res["eval_records"] == 368 and res["leakage"]["prompts"] == 0
    chosen = run_json("data", "convert", str(SAMPLE), "--to", "messages", "-o", str(tmp_path / "sft.jsonl"))
    assert chosen["records"] == 368  # the chosen answers as SFT conversations
    bad = run_cli("data", "convert", str(ROOT / "sample_data" / "lab_consultant.messages.jsonl"), "--to", "preference",
                  "-o", str(tmp_path / "x.jsonl"))
    assert bad.returncode == 2 and "no chosen/rejected" in bad.stderr and not (tmp_path / "x.jsonl").exists()


# -- the plan -------------------------------------------------------------------------------------------------------
def test_the_plan_of_a_preference_stage():
    """Two sequences a pair in memory, a reference copy only for a full fine-tune of DPO/KTO, lr a tenth of SFT's,
    the stage's beta, at least 8 pairs a step; said in the plan's reasons."""
    from danlu.engine.plan import value as plan

    lengths = [300] * 200
    same = {"micro_batch": 2, "packing": False}  # the same batches, so that the two plans' terms compare
    dpo = plan.make("demo:smollm2", overrides={"stage": "dpo", **same}, lengths=lengths, held_out=20, method="lora",
                    target_batch=8)
    sft_np = plan.make("demo:smollm2", overrides=same, lengths=lengths, held_out=20, method="lora", target_batch=8)
    assert dpo.stage == "dpo" and dpo.pref_beta == 0.1 and "reference" not in dpo.terms
    assert dpo.terms["activations"] == pytest.approx(2 * sft_np.terms["activations"], rel=0.01)
    assert dpo.lr == sft_np.lr  # an adapter keeps the SFT rate (a tenth barely moved the held-out preference)
    assert "adapter switched off" in str(dpo.why("stage")) and "SFT adapter rate" in str(dpo.why("lr"))
    full = plan.make("demo:smollm2", overrides={"stage": "dpo"}, lengths=lengths, held_out=20, method="full")
    sft_full = plan.make("demo:smollm2", lengths=lengths, held_out=20, method="full")
    assert full.lr == pytest.approx(sft_full.lr / 10, rel=0.01) and "a tenth" in str(full.why("lr"))
    assert full.terms["reference"] == full.terms["weights"] and "second copy" in str(full.why("stage"))
    simpo = plan.make("demo:smollm2", overrides={"stage": "simpo"}, lengths=lengths, held_out=20, method="full")
    assert "reference" not in simpo.terms and simpo.pref_beta == 2.0
    small = plan.make("demo:smollm2", overrides={"stage": "dpo"}, lengths=lengths, held_out=20)
    assert small.effective_batch >= 8 and small.epochs >= 1
    assert small.summary().startswith("dpo (beta 0.1)")


def test_plan_stage_on_the_cli_saves_a_config_that_trains_it(tmp_path):
    res = run_json("plan", "--model", "demo:tiny", "--stage", "orpo", "--data", str(SAMPLE),
                   "--save", str(tmp_path / "c.yaml"))
    assert res["stage"] == "orpo" and res["config"]["stage"] == "orpo" and res["config"]["packing"] is False
    assert res["train_samples"] == 368


# -- the runner ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    d = pf.load(SAMPLE)
    en = [p for p, line in zip(d.pairs, SAMPLE.read_text(encoding="utf-8").splitlines())
          if json.loads(line)["lang"] == "en"]
    for name, part in (("train", en[:24]), ("eval", en[24:30])):
        pf.write(pf.records(pf.PreferenceData("", "", len(part), pairs=part), "trl_conversational"),
                 folder / f"{name}.jsonl")
    return folder


@pytest.mark.parametrize("stage, method", [("dpo", "lora"), ("dpo", "full"), ("orpo", "lora"), ("simpo", "lora"),
                                           ("kto", "lora")])
def test_each_stage_trains_on_the_runner(stage, method, tiny_pairs, tmp_path, danlu_home):
    """A few steps of each stage on demo:tiny: the run ends done with its final model, the steps carry the
    stage's rewards (KTO and SimPO log no reference rewards where TRL does not), the held-out evaluations the
    preference accuracy; the loss moved."""
    cfg = tmp_path / "c.yaml"
    run_json("plan", "--model", "demo:tiny", "--method", method, "--stage", stage, "--data",
             str(tiny_pairs / "train.jsonl"), "--eval-data", str(tiny_pairs / "eval.jsonl"), "--save", str(cfg),
             "max_steps=4", "eval_steps=2", "micro_batch=4", "grad_accum=1")
    res = run_json("train", str(cfg), timeout=900)
    assert res["state"] == "done" and res["steps"] == 4
    run = Path(res["run_dir"])
    assert (run / "final").is_dir() and (run / "diagnosis.json").is_file()
    evs = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    steps = [e for e in evs if e["type"] == "step"]
    evals = [e for e in evs if e["type"] == "eval"]
    assert [e["step"] for e in steps] == [1, 2, 3, 4]
    assert [e["step"] for e in evals] == [0, 2, 4]
    assert len({round(e["loss"], 6) for e in steps}) > 1
    if stage in ("dpo", "orpo", "simpo"):
        assert all("accuracy" in e and "margin" in e for e in steps), steps[0]
        assert all("accuracy" in e for e in evals)


@pytest.mark.parametrize("stage", ["orpo", "kto"])  # in CI (not slow): 58 s for both
def test_orpo_and_kto_losses_fall_on_the_real_model(stage, smollm2, tiny_pairs, tmp_path):
    """A few steps of ORPO and KTO on demo:smollm2 (SmolLM2-135M-Instruct) at a short sequence length: the loss of
    the last steps is below the first steps'."""
    cfg = tmp_path / "c.yaml"
    run_json("plan", "--model", "demo:smollm2", "--method", "lora", "--stage", stage, "--data",
             str(tiny_pairs / "train.jsonl"), "--save", str(cfg), "max_steps=6", "max_seq_len=96", "micro_batch=2",
             "grad_accum=1", "eval_steps=0", "early_stopping_patience=0")
    res = run_json("train", str(cfg), "--run-name", stage, timeout=900)
    assert res["state"] == "done" and res["steps"] == 6
    evs = [json.loads(line) for line in (Path(res["run_dir"]) / "events.jsonl").read_text().splitlines()]
    losses = [e["loss"] for e in evs if e["type"] == "step"]
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses


def test_a_preference_run_exports_and_plans_its_next_run(tiny_pairs, tmp_path, danlu_home):
    """Export reads a preference run's held-out pairs for its check prompt (each prompt with its chosen answer), as
    it reads an SFT run's conversations: the merged model is made and checked against the tuned one."""
    cfg = tmp_path / "c.yaml"
    run_json("plan", "--model", "demo:tiny", "--method", "lora", "--stage", "dpo", "--data",
             str(tiny_pairs / "train.jsonl"), "--eval-data", str(tiny_pairs / "eval.jsonl"), "--save", str(cfg),
             "max_steps=2", "micro_batch=4", "grad_accum=1", "eval_steps=0", "early_stopping_patience=0")
    res = run_json("train", str(cfg), "--run-name", "dpo-export", timeout=900)
    out = run_cli("export", res["run_dir"], "--to", "adapter,merged", "--out", str(tmp_path / "exp"), timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "reloaded, logits within" in out.stdout and (tmp_path / "exp" / "merged").is_dir()
    after = run_json("plan", "--from", res["run_dir"])  # the next plan reads the run's pairs as pairs
    assert after["stage"] == "dpo" and after["train_samples"] == 24


def test_a_precomputed_reference_trains_as_the_second_copy_does(tiny_pairs, tmp_path, danlu_home):
    """Full DPO with the reference's log-probabilities computed up front (the plan's choice when a second copy does
    not fit) gives the same losses as holding the copy: the same reference, without its memory."""
    losses = {}
    for how in ("copy", "precomputed"):
        cfg = tmp_path / f"{how}.yaml"
        run_json("plan", "--model", "demo:tiny", "--method", "full", "--stage", "dpo", "--data",
                 str(tiny_pairs / "train.jsonl"), "--save", str(cfg), "max_steps=3", "micro_batch=4", "grad_accum=1",
                 f"precompute_ref={'true' if how == 'precomputed' else 'false'}")
        res = run_json("train", str(cfg), "--run-name", how, timeout=900)
        assert res["state"] == "done"
        evs = [json.loads(line) for line in (Path(res["run_dir"]) / "events.jsonl").read_text().splitlines()]
        losses[how] = [e["loss"] for e in evs if e["type"] == "step"]
    assert len(losses["copy"]) == 3 and losses["precomputed"] == pytest.approx(losses["copy"], abs=1e-4)


def test_the_plan_holds_a_reference_copy_only_when_it_fits():
    from danlu.engine.plan import value as plan

    roomy = plan.make("demo:smollm2", overrides={"stage": "dpo"}, lengths=[300] * 200, method="full", gpu_mem_gb=4)
    tight = plan.make("demo:smollm2", overrides={"stage": "dpo"}, lengths=[300] * 200, method="full", gpu_mem_gb=2.2)
    assert not roomy.settings["precompute_ref"] and roomy.terms["reference"] > 0
    assert tight.fits and tight.settings["precompute_ref"] and "reference" not in tight.terms
    assert "computed once before training" in str(tight.why("stage")) and tight.config(train_file="x").precompute_ref
    again = plan.of_config(tight.config(train_file="x"), [300] * 200)  # the trainer's plan line: no copy counted
    assert "reference" not in again.terms and "computed once" in str(again.why("stage"))


def test_a_dpo_run_killed_with_9_resumes_to_the_uninterrupted_losses(tiny_pairs, tmp_path, danlu_home):
    """The runner contract on a preference stage: kill -9 mid-run, `danlu resume`, and every step's loss equals
    the uninterrupted run's."""
    import os
    import signal

    from test_runner import alive, step_losses, wait_for

    cfg = tmp_path / "c.yaml"
    run_json("plan", "--model", "demo:tiny", "--method", "lora", "--stage", "dpo", "--data",
             str(tiny_pairs / "train.jsonl"), "--save", str(cfg), "max_steps=8", "save_steps=2", "micro_batch=2",
             "grad_accum=1", "lora_dropout=0", "lr=0.003")
    ref = run_json("train", str(cfg), "--run-name", "dpo-reference", timeout=900)
    ref_losses = step_losses(ref["run_dir"])
    started = run_json("train", str(cfg), "--detach", "--run-name", "dpo-victim")
    run_dir, pid = Path(started["run_dir"]), started["pid"]
    wait_for(lambda: (run_dir / "checkpoints" / "checkpoint-4").is_dir() and max(step_losses(run_dir), default=0) >= 5,
             what="step 5 of the detached run")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=30, what="the trainer to die")
    assert max(step_losses(run_dir)) < 8
    assert run_json("resume", run_dir.name, timeout=900)["state"] == "done"
    losses = step_losses(run_dir)
    assert sorted(losses) == sorted(ref_losses)
    worst = max(abs(losses[s] - ref_losses[s]) for s in ref_losses)
    assert worst <= 1e-4, worst


def test_the_wizard_trains_a_preference_stage(tiny_model, danlu_home, tmp_path):
    """Data screen: a preference file reads as pairs (the preview shows each prompt with its longer answer), the
    Plan screen offers the stages, DPO first; the plan on the screen is the engine's for those pairs, split with
    every prompt on one side; Start trains it and the dashboard shows its rewards."""
    import asyncio

    from test_tui_wizard import screen_name, set_input, wait_for

    from danlu.tui.app import DanluApp
    from danlu.tui.screens.dashboard import side_text

    pairs = tmp_path / "pairs.jsonl"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    pairs.write_text("\n".join([line for line in lines if '"lang": "en"' in line][:40]) + "\n", encoding="utf-8")

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(120, 40)) as pilot:
            app.wizard.model = "demo:tiny"
            app.goto("data")
            await wait_for(pilot, lambda: screen_name(app) == "DataScreen" and app.screen.query("#path"),
                           what="data screen")
            set_input(app, "#path", str(pairs))
            app.screen.query_one("#path").focus()
            await pilot.press("enter")  # the path input has the focus
            await wait_for(pilot, lambda: len(app.wizard.pairs) == 40 and len(app.wizard.token_lengths) == 40,
                           what="the pairs read and counted")
            assert app.wizard.stage == "dpo" and app.wizard.data_report.format == "preference"
            assert "dpo, orpo, simpo, kto" in str(app.screen.query_one("#data-format").render())
            app.wizard.overrides.update(max_steps=2, eval_steps=0, early_stopping_patience=0)
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: screen_name(app) == "PlanScreen", what="plan screen")
            await wait_for(pilot, lambda: app.wizard.plan is not None, what="plan")
            p = app.wizard.plan
            assert p.stage == "dpo" and str(p.summary()).startswith("dpo (beta 0.1)")
            assert app.screen.query_one("#stage").value == "dpo"
            train, held = app.wizard.pair_split()
            assert p.train_samples == len(train) and len(held) == 4 and pf.leakage(train, held) == 0
            await pilot.press("ctrl+t")
            await wait_for(pilot, lambda: screen_name(app) == "DashboardScreen", timeout=60, what="dashboard")
            dash = app.screen
            await wait_for(pilot, lambda: (dash.snapshot.get("done") or {}).get("state") == "done", timeout=300,
                           what="the DPO run done")
            assert "pref acc" in side_text(dash.snapshot)

    asyncio.run(go())
