"""The real pretrained model offline: GGUF import, and LoRA / full / QLoRA fine-tunes of SmolLM2-135M-Instruct.

`danlu model import` must give the model that transformers loads from the GGUF itself (logits and
chat template compared here, independently of the importer's own check), refuse damaged or
unsupported files cleanly, and the demo must learn: held-out eval loss falls after a few steps.
Steps are few and sequences short (LoRA on this model runs at ~100-200 tokens/s on 2 cores).
"""

import json
import os
import stat
from pathlib import Path

import pytest

from conftest import run_cli, run_json

TWO_TURNS = [
    {"role": "system", "content": "You answer in one sentence."},
    {"role": "user", "content": "Name a primary colour."},
    {"role": "assistant", "content": "Red is a primary colour."},
    {"role": "user", "content": "And another one?"},
]


def _gguf_model(gguf_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from danlu.engine.models import load as models

    models.quiet()
    folder, name = str(gguf_path.parent), gguf_path.name
    return (AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(folder, gguf_file=name))


@pytest.fixture(scope="module")
def from_gguf(smollm2_gguf):
    return _gguf_model(smollm2_gguf)


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def test_imported_folder_gives_the_gguf_model(smollm2, from_gguf):
    """fp32 import (demo:smollm2): logits equal transformers' own GGUF load, chat template byte-identical."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_model, gguf_tok = from_gguf
    model = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(smollm2)
    a = gguf_tok.apply_chat_template(TWO_TURNS, tokenize=False, add_generation_prompt=True)
    b = tok.apply_chat_template(TWO_TURNS, tokenize=False, add_generation_prompt=True)
    assert a == b and "<|im_start|>assistant\n" in a
    ids = torch.tensor([tok(a, add_special_tokens=False)["input_ids"]])
    assert ids.tolist() == [gguf_tok(a, add_special_tokens=False)["input_ids"]]
    diff = (_logits(model, ids) - _logits(gguf_model, ids)).abs().max().item()
    print(f"fp32 import vs GGUF: max |logit diff| {diff:.2e} over {ids.shape[1]} tokens")
    assert diff <= 1e-4
    gen = json.loads((smollm2 / "generation_config.json").read_text())
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert im_end in (gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]])
    assert "dequantised" in (smollm2 / "README.md").read_text()


def test_model_import_cli_bf16(smollm2_gguf, from_gguf, tmp_path):
    """The CLI, in bf16: the stated bound holds against the GGUF, the same next tokens, normal file modes."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "smol-bf16"
    res = run_json("model", "import", smollm2_gguf, "--out", out, timeout=900)
    assert res["dtype"] == "bf16" and res["architecture"] == "llama" and res["quantised"] is True
    assert res["chat_template_identical"] is True and res["eos_tokens"] == ["<|im_end|>"]
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(out)
    ids = torch.tensor([tok(tok.apply_chat_template(TWO_TURNS, tokenize=False, add_generation_prompt=True),
                            add_special_tokens=False)["input_ids"]])
    a, b = _logits(model, ids), _logits(from_gguf[0], ids)
    diff = (a - b).abs().max().item()
    top1 = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
    print(f"bf16 import vs GGUF: max |logit diff| {diff:.3f}, next-token agreement {top1:.0%}")
    assert diff <= 1.0 and top1 >= 0.9
    assert next(iter(model.parameters())).dtype == torch.float32  # loaded as asked; saved as bf16:
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    mask = os.umask(0)
    os.umask(mask)
    for p in [out, *out.iterdir()]:
        want = (0o777 if p.is_dir() else 0o666) & ~mask
        assert stat.S_IMODE(p.stat().st_mode) == want, p
    again = run_cli("model", "import", smollm2_gguf, "--out", out)  # an existing folder needs --overwrite
    assert again.returncode == 2 and "--overwrite" in again.stderr


@pytest.mark.parametrize("case", ["truncated", "not_gguf", "empty", "unknown_arch", "unknown_quant", "folder"])
def test_bad_gguf_files_are_refused_cleanly(case, tmp_path, smollm2_gguf):
    import gguf
    import numpy as np

    path = tmp_path / f"{case}.gguf"
    if case == "truncated":
        with open(smollm2_gguf, "rb") as src:
            path.write_bytes(src.read(smollm2_gguf.stat().st_size // 2))
    elif case == "not_gguf":
        path.write_bytes(b"PK\x03\x04 this is a zip, not a model")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "folder":
        path = tmp_path
    else:
        w = gguf.GGUFWriter(str(path), "danlu-unknown" if case == "unknown_arch" else "llama")
        w.add_tokenizer_model("gpt2")
        if case == "unknown_arch":
            w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
        else:
            w.add_tensor("token_embd.weight", np.zeros((4, 40), dtype=np.uint8),
                         raw_dtype=gguf.GGMLQuantizationType.Q8_1)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    out = tmp_path / "out"
    proc = run_cli("model", "import", path, "--out", out)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("danlu: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    expect = {"truncated": "truncated", "not_gguf": "not a GGUF file", "empty": "empty",
              "unknown_arch": "architecture 'danlu-unknown' is not supported", "unknown_quant": "Q8_1",
              "folder": "folder"}[case]
    assert expect in errors[0]
    assert not out.exists() and not list(tmp_path.glob(".out*")), "nothing may be left behind"


def test_quickstart_fine_tunes_the_real_model_and_eval_loss_falls(real_run):
    """Eval loss on held-out conversations falls, held-out questions are answered by base and tuned model, the
    merged export matches, and only English conversations were trained on."""
    res = real_run
    # the recipe's adapter rate: the general preset's 2e-4 at hidden 4096, × 4096/576 for SmolLM2-135M
    assert res["model"] == "demo:smollm2" and res["method"] == "lora" and res["lr"] == pytest.approx(1.4e-3)
    assert "English" in res["data_note"]
    print(f"real model, {res['steps']} LoRA steps: eval loss {res['eval_loss_before']:.4f} -> "
          f"{res['eval_loss_after']:.4f}; {res['tokens_per_s']} tokens/s")
    assert res["steps"] == 30
    assert res["eval_loss_after"] < res["eval_loss_before"] - 0.05
    assert len(res["answers"]) == 2
    for a in res["answers"]:
        assert a["base"].strip() and a["tuned"].strip() and a["reference"]
    assert any(a["base"] != a["tuned"] for a in res["answers"])
    assert res["merged_logits_max_abs_diff"] <= 1e-3
    from danlu.engine.data import select

    train = [json.loads(line)["messages"] for line in
             (Path(res["run_dir"]) / "data" / "train.jsonl").read_text().splitlines()]
    assert train and all(select.language(m) == "en" for m in train)


def test_chat_cli_answers_with_the_tuned_and_the_base_model(real_run):
    # greedy: a fact is checked (chat's own default samples)
    tuned = run_json("chat", real_run["run_dir"], "--prompt", "What is the capital of France?",
                     "--max-new-tokens", "24", "--temperature", "0")
    base = run_json("chat", real_run["run_dir"], "--base", "--prompt", "What is the capital of France?",
                    "--max-new-tokens", "24", "--temperature", "0")
    print(f"tuned: {tuned['answer']!r}\nbase:  {base['answer']!r}")
    assert "Paris" in base["answer"]  # a real pretrained model, not noise
    assert tuned["answer"].strip()


def test_wizard_chat_streams_a_real_answer(real_run):
    import asyncio

    from textual.widgets import Input

    from danlu.tui.app import DanluApp

    async def go():
        app = DanluApp(lang="en")
        async with app.run_test(size=(100, 32)) as pilot:
            app.goto("chat", real_run["run_dir"])
            for _ in range(600):
                if getattr(app.screen, "model", None) is not None:
                    break
                await pilot.pause(0.1)
            chat = app.screen
            assert chat.model is not None, "the tuned model did not load"
            chat.query_one("#s-max_new_tokens", Input).value = "24"
            chat.query_one("#prompt", Input).focus()
            await pilot.press(*"What is the capital of France?", "enter")
            for _ in range(900):
                if len(chat.history) == 2:
                    break
                await pilot.pause(0.1)
            assert chat.history[-1]["role"] == "assistant"
            answer = chat.history[-1]["content"]
            assert any(c.isalpha() for c in answer), repr(answer)

    asyncio.run(go())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["full", "qlora"])
def test_full_and_qlora_on_the_real_model(method, smollm2):
    """Full fine-tuning and QLoRA (bitsandbytes 4-bit on the CPU) of the real model: a few steps, eval loss
    falls, base and tuned answers, merged export verified."""
    res = run_json("quickstart", "--method", method, "--max-steps", "4", timeout=2400)
    print(f"{method}: eval loss {res['eval_loss_before']:.4f} -> {res['eval_loss_after']:.4f}, "
          f"merged max |logit diff| {res['merged_logits_max_abs_diff']:.2e}, {res['seconds']} s")
    assert res["method"] == method and res["steps"] == 4
    assert res["eval_loss_after"] < res["eval_loss_before"]
    assert all(a["base"].strip() and a["tuned"].strip() for a in res["answers"])
    assert res["merged_logits_max_abs_diff"] <= 1e-3


@pytest.mark.slow
def test_kill_9_then_resume_on_the_real_model(smollm2, tmp_path):
    """kill -9 mid-run, then `danlu resume`: the loss curve equals an uninterrupted run's."""
    import signal

    import yaml

    from danlu.engine import data
    from danlu.engine.plan import demo
    from test_runner import alive, step_losses, wait_for

    convs, _ = data.load_conversations(demo.sample_data_file())
    english, _ = demo.select("demo:smollm2", convs, demo.sample_data_file())
    train = data.write_conversations(tmp_path / "train.jsonl", english[:40])
    evals = data.write_conversations(tmp_path / "eval.jsonl", english[-4:])
    cfg = dict(model="demo:smollm2", train_file=str(train), eval_file=str(evals), method="lora", max_seq_len=128,
               pack_len=256, micro_batch=2, grad_accum=1, max_steps=8, lr=2e-4, lora_dropout=0.0, save_steps=2)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    ref = run_json("train", path, "--run-name", "real-reference", timeout=1200)
    ref_losses = step_losses(ref["run_dir"])
    started = run_json("train", path, "--detach", "--run-name", "real-victim")
    run_dir, pid = Path(started["run_dir"]), started["pid"]
    wait_for(lambda: (run_dir / "checkpoints" / "checkpoint-4").is_dir() and max(step_losses(run_dir), default=0) >= 5,
             timeout=600, what="step 5 of the detached run")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=30, what="the trainer to die")
    killed_at = max(step_losses(run_dir))
    assert killed_at < 8, "the run finished before it could be killed"
    resumed = run_json("resume", run_dir.name, timeout=1200)
    assert resumed["state"] == "done"
    losses = step_losses(run_dir)
    assert sorted(losses) == sorted(ref_losses) == list(range(1, 9))
    worst = max(abs(losses[s] - ref_losses[s]) for s in ref_losses)
    print(f"real model: kill -9 after step {killed_at}, resumed; worst per-step loss gap {worst:.2e}")
    assert worst <= 1e-4
