"""The offline demo model: deterministic, loadable with Auto classes, a chat template that stops."""

import json

import pytest

from danlu.engine.models import load as models


def test_tiny_builds_identically_twice(tmp_path):
    a = models.build_demo_model("tiny", tmp_path / "a")
    b = models.build_demo_model("tiny", tmp_path / "b")
    assert models.weights_hash(a) == models.weights_hash(b)
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    info = json.loads((a / "danlu_demo.json").read_text())
    assert info["params"] < 1_000_000
    assert info["weights_sha256"] == models.weights_hash(a)


def test_loads_with_auto_classes_and_template_ends_turn_with_eos(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == len(tok)
    msgs = [{"role": "user", "content": "水样要多少？"}, {"role": "assistant", "content": "500 mL."}]
    text = tok.apply_chat_template(msgs, tokenize=False)
    assert text.rstrip().endswith(tok.eos_token)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.eos_token_id in ids
    assert model.generation_config.eos_token_id == tok.eos_token_id
    # byte-level BPE: any text round-trips, Chinese included
    s = "Huace 华测 — pH 7.2, Pb < 0.01 mg/L ✓"
    assert tok.decode(tok(s, add_special_tokens=False)["input_ids"]) == s


def test_small_size_is_10_to_30_million_parameters():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=models.DEMO_VOCAB, tie_word_embeddings=True, **models.DEMO_SIZES["small"])
    with torch.device("meta"):
        n = sum(p.numel() for p in LlamaForCausalLM(cfg).parameters())
    assert 10e6 <= n <= 30e6


def test_cached_build_is_reused(tiny_model):
    stamp = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert models.build_demo_model("tiny") == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == stamp


def test_unknown_size_is_a_clear_error():
    from danlu.engine.core.errors import DanluError

    with pytest.raises(DanluError, match="tiny, small"):
        models.build_demo_model("huge")
