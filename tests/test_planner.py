"""The planner counts parameters from config alone and picks a sensible method per card."""

import pytest

from danlu.engine.plan import memory as planner
from danlu.engine.core import presets


REMOTE_CODE = {"Qwen/Qwen-7B"}  # transformers has no built-in class for these


@pytest.mark.parametrize("model_id", [m for m in presets.model_ids() if m not in REMOTE_CODE])
def test_param_count_matches_meta_instantiation(model_id):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = presets.model_config(model_id)
    hf = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf)
    real = sum(p.numel() for p in model.parameters())
    assert planner.model_shape(model_id).params == real


def test_small_model_on_24gb_gets_full_finetuning():
    p = planner.plan("Qwen/Qwen2.5-0.5B-Instruct", gpu_mem_gb=24, seq_len=1024)
    assert p.fits and p.method == "full"
    assert p.micro_batch * p.grad_accum >= 16


def test_7b_on_24gb_gets_lora_or_qlora():
    p = planner.plan("Qwen/Qwen2.5-7B-Instruct", gpu_mem_gb=24, seq_len=1024)
    assert p.fits and p.method in ("lora", "qlora")
    assert p.predicted_peak_gb <= 24


def test_8b_on_8gb_is_qlora_or_says_what_would_fit():
    p = planner.plan("meta-llama/Llama-3.1-8B-Instruct", gpu_mem_gb=8, seq_len=512)
    assert (p.fits and p.method == "qlora") or (not p.fits and p.remedies)


def test_forced_choices_are_kept():
    p = planner.plan("Qwen/Qwen2.5-1.5B", gpu_mem_gb=80, method="qlora", micro_batch=2, optimizer="paged_adamw_8bit",
                     grad_checkpointing=True)
    assert (p.method, p.micro_batch, p.optimizer, p.grad_checkpointing) == ("qlora", 2, "paged_adamw_8bit", True)
    assert p.grad_accum == 8
