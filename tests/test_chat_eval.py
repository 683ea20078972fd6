"""Chat evaluation on the real model (SmolLM2-135M-Instruct, LoRA): the session API, the REPL, the report.

Streaming, cancel within one token, base from the same model with the adapter off (token for token the
base model loaded alone, and no second copy in memory), checkpoints, the terminal REPL's commands and
Ctrl-C, and the evaluation report (eval.json / eval.md agreeing with --json).
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, run_json


@pytest.fixture(scope="module")
def loaded(real_run):
    from danlu.engine.infer import chat

    target = chat.locate(real_run["run_dir"])
    model, tokenizer = chat.load(real_run["run_dir"], target=target)
    return chat.ChatSession(model, tokenizer, target=target)


Q = "Hi, how long does food microbiology testing take?"


def test_the_first_piece_arrives_before_the_last_token(loaded):
    from danlu.engine.infer import chat

    loaded.sampling = chat.Sampling(max_new_tokens=40)
    tokens_at_first = None
    pieces = 0
    for piece in loaded.stream(Q, commit=False):
        pieces += 1
        if tokens_at_first is None:
            tokens_at_first = loaded.last.tokens
    total = loaded.last.tokens
    print(f"first piece after {tokens_at_first} of {total} tokens, {pieces} pieces")
    assert pieces > 1 and tokens_at_first < total


def test_cancel_stops_within_one_token(loaded):
    from danlu.engine.infer import chat

    loaded.sampling = chat.Sampling(max_new_tokens=60, repetition_penalty=1.0)
    stop = threading.Event()
    at_stop = None
    for _ in loaded.stream("Write a long story about a lighthouse keeper.", stop=stop, commit=False):
        if at_stop is None:
            at_stop = loaded.last.tokens
            stop.set()
    r = loaded.last
    print(f"stop asked at token {at_stop}; generation ended at token {r.tokens}")
    assert r.stopped and r.finished_on == "stopped"
    assert r.tokens <= at_stop + 1


def test_adapter_off_is_the_base_model_token_for_token_and_no_second_copy(loaded, real_run):
    import psutil

    from danlu.engine.infer import chat

    greedy = chat.Sampling(max_new_tokens=32, seed=7)
    loaded.sampling = greedy
    rss_before = psutil.Process().memory_info().rss
    list(loaded.stream(Q, side="base", commit=False))
    via_toggle = list(loaded.last.token_ids)
    list(loaded.stream(Q, side="tuned", commit=False))
    tuned = list(loaded.last.token_ids)
    rss_after = psutil.Process().memory_info().rss
    grown = (rss_after - rss_before) / chat.model_bytes(loaded.model)
    print(f"RSS {rss_before / 1e9:.2f} GB -> {rss_after / 1e9:.2f} GB after base + tuned answers "
          f"({grown:+.1%} of the model's {chat.model_bytes(loaded.model) / 1e9:.2f} GB)")
    assert grown < 0.25, "comparing with the base must not load a second copy of the model"
    base_model, tokenizer = chat.load(real_run["run_dir"], base=True)
    alone = chat.answer(base_model, tokenizer, [{"role": "user", "content": Q}], greedy)
    assert via_toggle == alone.token_ids
    assert via_toggle != tuned


def test_sampling_knobs_are_checked_and_read_from_the_model(loaded):
    from danlu.engine.infer import chat
    from danlu.engine.core.errors import DanluError

    s = chat.Sampling.from_model(loaded.model)
    # the imported GGUF's generation_config does not sample: chat starts from danlu's defaults, the Modelfile's
    assert s.source == "danlu" and s.temperature == chat.CHAT_DEFAULTS["temperature"] > 0
    assert s.repetition_penalty == chat.CHAT_DEFAULTS["repetition_penalty"] > 1
    from transformers import GenerationConfig

    class Recommends:  # a model whose authors recommend sampling settings
        generation_config = GenerationConfig(do_sample=True, temperature=0.3, top_p=0.8, top_k=20)

    mine = chat.Sampling.from_model(Recommends(), max_new_tokens=50)
    assert (mine.source, mine.temperature, mine.top_p, mine.top_k, mine.max_new_tokens) == ("model", 0.3, 0.8, 20, 50)
    assert chat.Sampling().temperature == 0  # evaluation's: greedy
    s.set("temperature", "0.7")
    s.set("top-p", 0.9)
    s.set("k", "40")
    assert (s.temperature, s.top_p, s.top_k) == (0.7, 0.9, 40)
    for name, bad in (("temperature", "-1"), ("top_p", "2"), ("max_new_tokens", "1.5"), ("colour", "3"),
                      ("temperature", "warm")):
        with pytest.raises(DanluError):
            s.set(name, bad)
    assert chat.shown("\n\n  \n", 4) == "(the model answered only whitespace/newlines — 4 tokens)"
    assert chat.shown("", 0).startswith("(the model answered nothing")


def test_save_writes_a_training_format_conversation(loaded, tmp_path):
    from danlu.engine import data

    loaded.reset()
    loaded.system = "You answer for Huace Lab."
    loaded.turns += [{"role": "user", "content": "Where do I send samples?"},
                     {"role": "assistant", "content": "To Building 3, 88 Kejiyuan Road, Suzhou."}]
    out = tmp_path / "fixes.jsonl"
    loaded.save(out)
    loaded.save(out)
    convs, report = data.load_conversations(out)
    assert report.format == "messages" and len(convs) == 2
    assert [m["role"] for m in convs[0]] == ["system", "user", "assistant"]
    loaded.reset()
    loaded.system = None


def test_checkpoints_can_be_chatted_with(real_run):
    run = Path(real_run["run_dir"])
    ckpts = sorted(run.glob("checkpoints/checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    assert ckpts
    res = run_json("chat", f"{run}@{ckpts[0].name.split('-')[-1]}", "--prompt", "Hello!", "--max-new-tokens", "8")
    assert res["answer"].strip()
    bad = run_cli("chat", f"{run}@checkpoint-99999", "--prompt", "Hello!")
    assert bad.returncode == 2 and "has no checkpoint-99999" in bad.stderr and ckpts[0].name in bad.stderr


def test_repl_commands_and_ctrl_c_stops_the_answer_not_the_repl(real_run, tmp_path):
    from test_tui import Tmux

    import subprocess
    import sys

    saved = tmp_path / "transcript.jsonl"
    env = {"DANLU_HOME": os.environ["DANLU_HOME"], "PYTHONPATH": str(ROOT)}
    term = Tmux(f"{sys.executable} -m danlu.engine.cli chat {real_run['run_dir']}", env, width=120, height=40)
    try:
        term.wait_for("you>", timeout=180)
        flat = term.screen().replace("\n", "")  # a long line wraps at the terminal's width
        assert "sampling: temperature 0.7" in flat and "danlu's chat defaults" in flat, term.screen()

        def send(line):
            subprocess.run(["tmux", "send-keys", "-t", term.session, "-l", line], check=True)
            subprocess.run(["tmux", "send-keys", "-t", term.session, "Enter"], check=True)

        # greedy without a repeat penalty: a small model's answer loops to max_new_tokens, so the Ctrl-C below lands
        # while it is being written (a sampled answer could end first, and the test would not test the stop)
        send("/set max_new_tokens 400")
        term.wait_for("max_new_tokens 400")
        send("/set temperature 0")
        term.wait_for("temperature 0.0,")
        send("/set repetition_penalty 1.0")
        term.wait_for("repetition_penalty 1.0")
        send("Tell me a very long story about the sea, with many details.")
        term.wait_for("tuned> ", timeout=60)
        time.sleep(2.0)  # part of the answer has streamed
        subprocess.run(["tmux", "send-keys", "-t", term.session, "C-c"], check=True)
        term.wait_for("stopped]", timeout=30)
        assert term.alive()
        # a Ctrl-C at the prompt (one meant for an answer that had just ended) keeps the conversation
        subprocess.run(["tmux", "send-keys", "-t", term.session, "C-c"], check=True)
        term.wait_for("Ctrl-C again", timeout=30)
        assert term.alive()
        send("/compare What is the capital of France?")
        term.wait_for("base> ", pattern=r"base> .*\n(.*\n)*.*tokens/s", timeout=180)
        send(f"/save {saved}")
        term.wait_for("appended the conversation", timeout=30)
        send("/quit")
        deadline = time.time() + 30
        while term.alive() and time.time() < deadline:
            time.sleep(0.2)
        assert not term.alive(), term.screen()
    finally:
        term.close()
    line = json.loads(saved.read_text().splitlines()[-1])
    roles = [m["role"] for m in line["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert line["messages"][2]["content"] == "What is the capital of France?"


def test_evaluation_report(real_run):
    """Tuned beats base on eval loss, the report's verdict on ROUGE-L matches its numbers, files agree with --json, the
    template check passes."""
    res = run_json("eval", real_run["run_dir"], "--samples", "6", "--stability", "2", "--max-new-tokens", "64",
                   timeout=1800)
    t, b = res["tuned"], res["base"]
    print(f"eval loss base {b['eval_loss']:.4f} tuned {t['eval_loss']:.4f}; ROUGE-L base {b['rouge_l']:.3f} tuned "
          f"{t['rouge_l']:.3f}; BLEU base {b['bleu']:.2f} tuned {t['bleu']:.2f}; forgetting KL "
          f"{res['forgetting']['kl']:.3f} ({res['forgetting']['verdict']}); stability {res['stability']['agreement']:.2f}; "
          f"peak RSS {res['memory']['peak_rss_gb']:.2f} GB; {res['seconds']} s")
    assert t["eval_loss"] < b["eval_loss"]
    # ROUGE-L on six greedy answers after 30 steps is noise-level (the cleaned demo data moved it from above the base
    # to just below): the report must say which way it went, in words that match its numbers
    assert 0 < t["rouge_l"] < 1 and 0 < b["rouge_l"] < 1
    closer = "its answers are closer to the references" in res["verdict"]
    assert closer == (t["rouge_l"] > b["rouge_l"]), res["verdict"]
    assert res["template"]["ok"] and res["template"]["end_of_turn"][0] == "<|im_end|>"
    assert len(res["forgetting"]["prompts"]) >= 6 and res["forgetting"]["verdict"] and res["forgetting"]["advice"]
    assert res["examples"] and all(ex["base"] is not None for ex in res["examples"])
    run = Path(real_run["run_dir"])
    on_disk = json.loads((run / "eval.json").read_text())
    assert on_disk == json.loads(json.dumps({k: v for k, v in res.items() if k != "files"}))
    assert sorted(res["files"]) == sorted([str(run / "eval.json"), str(run / "eval.md")])
    md = (run / "eval.md").read_text()
    assert f"{t['eval_loss']:.3f}" in md and f"{b['eval_loss']:.3f}" in md and "Forgetting" in md
    # the wizard renders eval.json in its language: no English outside the user's own texts, code and names
    from danlu.engine.infer import eval_markdown
    from danlu.tui import strings
    from layout import report_words

    assert eval_markdown(on_disk) == md
    strings.set_lang("zh")
    try:
        zh = eval_markdown(on_disk, strings.say)
    finally:
        strings.set_lang("en")
    assert not report_words(zh), (report_words(zh), zh)
    assert "## 遗忘" in zh and f"{t['eval_loss']:.3f}" in zh


def test_rouge_and_bleu_score_chinese_meaningfully():
    from danlu.engine.infer import metrics

    same = ["我们需要五份样品，每份至少200克。"]
    other = ["周五下午三点开会。"]
    assert metrics.rouge_l(same, same) == pytest.approx(1.0)
    assert metrics.rouge_l(other, same) < 0.3
    assert metrics.bleu(same, same) > 90 and metrics.bleu_tokenizer(same) == "zh"
    assert metrics.rouge_l(["Usually 5 working days"], ["usually 5 working days after receipt"]) > 0.7


def test_wizard_chat_side_by_side_recall_save_and_report(real_run, tmp_path):
    """The chat screen: tuned | base split view answers one prompt twice, ↑ recalls it, the side panel's
    sampling is applied, the transcript is saved, and the report view renders the run's eval.md."""
    import asyncio

    from textual.widgets import Checkbox, Input, Markdown

    from danlu.tui.app import DanluApp

    async def until(pilot, cond, seconds):
        for _ in range(int(seconds * 10)):
            if cond():
                return True
            await pilot.pause(0.1)
        return False

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(120, 40)) as pilot:
            app.goto("chat", real_run["run_dir"])
            chat = app.screen
            assert await until(pilot, lambda: chat.session is not None, 120), "model did not load"
            # chat starts from a sampling that does not loop (the GGUF names none: danlu's defaults), and says so
            assert chat.query_one("#s-temperature", Input).value == "0.7"
            assert "danlu's defaults" in chat.query_one("#sampling-how").render().plain
            chat.query_one("#s-temperature", Input).value = "0"  # greedy: the answers below are compared
            chat.query_one("#s-max_new_tokens", Input).value = "12"
            chat.query_one("#prompt", Input).focus()
            await pilot.press(*"What is the capital of France?", "enter")
            assert await until(pilot, lambda: not chat.streaming and len(chat.history) == 2, 120)
            assert chat.session.sampling.max_new_tokens == 12
            first = chat.reply_text["tuned"]
            # side by side from here: the base pane goes on from the conversation so far, and shows it
            chat.query_one("#split", Checkbox).value = True
            await pilot.pause()
            assert chat.query_one("#pane-base").display
            shown = list(chat.query_one("#pane-base").children)  # a line that says so, then the exchange
            assert len(shown) == 4 and str(shown[1].render()) == "› What is the capital of France?"
            assert "tuned model's" in str(shown[0].render()) and shown[3].has_class("copied")
            assert "tuned model's answer" in str(shown[2].render())  # each copied answer says whose it is
            chat.query_one("#prompt", Input).focus()
            await pilot.press(*"And of Germany?", "enter")  # (the base pane's waiting line: test_tui_snapshots)
            assert await until(pilot, lambda: not chat.streaming and len(chat.base_session.turns) == 4, 120)
            tuned, base = chat.reply_text["tuned"], chat.reply_text["base"]
            assert tuned.strip() and base.strip()
            # each pane was sent exactly the history it shows: its answer is the same prompt asked alone after it
            from danlu.engine.infer import chat as infer

            same = chat.session.sampling  # what the panes used: temperature 0 (greedy), the panel's other knobs
            assert same.temperature == 0 and same is chat.base_session.sampling
            m, tok = chat.session.model, chat.session.tokenizer
            assert infer.answer(m, tok, chat.session.messages()[:-1], same).text == tuned
            assert infer.answer(m, tok, chat.base_session.messages()[:-1], same, base=True).text == base
            assert [t["content"] for t in chat.base_session.turns] == [
                "What is the capital of France?", first, "And of Germany?", base]
            assert [t["content"] for t in chat.history] == ["What is the capital of France?", first,
                                                             "And of Germany?", tuned]
            # the line that says so, the copied exchange with its whose-answer line, the new exchange
            assert len(chat.query_one("#pane-base").children) == 6, "the pane shows the two exchanges it sent"
            await pilot.press("up")
            assert chat.query_one("#prompt", Input).value == "And of Germany?"
            chat.query_one("#transcript-path", Input).value = str(tmp_path / "t.jsonl")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert (tmp_path / "t.jsonl").read_text().count("\n") == 1
            await pilot.press("ctrl+r")
            assert await until(pilot, lambda: type(app.screen).__name__ == "ReportScreen", 10)
            report = app.screen
            if (Path(real_run["run_dir"]) / "eval.md").exists():  # made by test_evaluation_report
                assert await until(pilot, lambda: "Evaluation of" in report.query_one("#report", Markdown).source, 30)
            else:
                assert report.running  # no saved report yet: it evaluates, in a worker

    asyncio.run(go())
