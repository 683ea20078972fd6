"""Export: the LoRA adapter, a merged full model (safetensors), and a check that it matches.

The merged model is built without touching the tuned model in memory: each LoRA-wrapped
linear layer's weight becomes ``W + scale·B·A`` (``W`` dequantised from NF4 first for
QLoRA), everything else is copied, and the result is loaded into a fresh model of the
base architecture (no quantisation config) and saved with ``save_pretrained``.  The
export is written to a temporary folder and renamed when complete (DESIGN.md §4).
"""

from __future__ import annotations

import copy
from pathlib import Path

from . import atomic
from .errors import DanluError

TARGETS = ("adapter", "merged")


def _dequantized(module):
    """The weight of a linear layer as a plain tensor (dequantising bitsandbytes 4-bit)."""
    weight = module.weight
    state = getattr(weight, "quant_state", None)
    if state is None:
        return weight.data
    import bitsandbytes.functional as bnbf

    data = weight.data
    if getattr(state, "packing_format_for_cpu", False):
        # bitsandbytes repacks 4-bit weights for its CPU inference kernel; undo that on a copy
        data, state = bnbf._convert_weight_packed_for_cpu_inverse(data.clone(), copy.deepcopy(state))
    return bnbf.dequantize_4bit(data, state)


def merged_state_dict(model, dtype=None) -> tuple[dict, object]:
    """A plain state dict with every adapter merged, and the inner base model's config."""
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft missing: nothing can be an adapter
        LoraLayer = ()
    special: dict[str, dict] = {}
    for name, module in inner.named_modules():
        if any(name.startswith(f"{done}.") for done in special):
            continue  # the base layer inside an adapter-wrapped layer: already merged
        if LoraLayer and isinstance(module, LoraLayer):
            base = module.get_base_layer()
            w = _dequantized(base).float()
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    w = w + module.get_delta_weight(adapter).float()
            tensors = {"weight": w}
            if getattr(base, "bias", None) is not None:
                tensors["bias"] = base.bias.data.float()
            special[name] = tensors
        elif getattr(getattr(module, "weight", None), "quant_state", None) is not None:
            tensors = {"weight": _dequantized(module).float()}
            if getattr(module, "bias", None) is not None:
                tensors["bias"] = module.bias.data.float()
            special[name] = tensors
    dtype = dtype or _compute_dtype(inner)
    out = {}
    prefixes = tuple(f"{n}." for n in special)
    for key, value in inner.state_dict().items():
        if prefixes and key.startswith(prefixes):
            continue
        out[key] = value.detach().to(dtype) if value.is_floating_point() else value.detach()
    for name, tensors in special.items():
        for k, v in tensors.items():
            out[f"{name}.{k}"] = v.to(dtype)
    return out, inner.config


def _compute_dtype(inner):
    import torch

    qc = getattr(inner.config, "quantization_config", None)
    if qc is not None:
        cd = qc.get("bnb_4bit_compute_dtype") if isinstance(qc, dict) else getattr(qc, "bnb_4bit_compute_dtype", None)
        if isinstance(cd, str):
            return getattr(torch, cd.replace("torch.", ""))
        if cd is not None:
            return cd
    return next(p.dtype for p in inner.parameters() if p.is_floating_point())


def save_merged(model, tokenizer, out: Path) -> None:
    """Write the merged model (safetensors) + tokenizer to ``out``."""
    import copy

    import torch
    from transformers import AutoModelForCausalLM

    sd, config = merged_state_dict(model)
    config = copy.deepcopy(config)
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    dtype = next(v.dtype for v in sd.values() if v.is_floating_point())
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)
    missing, unexpected = fresh.load_state_dict(sd, strict=False, assign=True)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise DanluError(f"merged weights do not match the architecture (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})", fix="report this with the model id; export the adapter only")
    if tied:
        fresh.tie_weights()
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(inner, "generation_config", None) is not None:
        fresh.generation_config = inner.generation_config
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)


def probe_ids(tokenizer, rows: list[dict] | None = None, length: int = 64):
    """A small batch of token ids to compare logits on."""
    import torch

    if rows:
        seqs = [r["input_ids"][:length] for r in rows[:4]]
        width = min(len(s) for s in seqs)
        return torch.tensor([s[:width] for s in seqs])
    text = "Hello, how do I send a water sample for testing? 你好，请问水样怎么送检？"
    return torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][:length]])


def logits(model, ids):
    import torch

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids.to(device)).logits.float().cpu()
    model.train(was)
    return out


def _mergeable(model) -> bool:
    """LoRA-family adapters change weights and merge; prompt and prefix tuning add virtual tokens and do not."""
    return all(getattr(c, "peft_type", None) is not None and c.peft_type.value in ("LORA", "ADALORA", "LOHA", "LOKR")
               for c in model.peft_config.values())


def export(model, tokenizer, out_dir: str | Path, *, targets=TARGETS, probe_rows=None, overwrite: bool = False) -> dict:
    """Export ``model`` (a PeftModel or a plain model) to ``out_dir``; verify the merged model.

    Returns ``{"export_dir", "adapter_dir", "merged_dir", "merged_logits_max_abs_diff"}``.
    """
    import torch
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise DanluError(f"unknown export target(s): {', '.join(unknown)}", fix=f"use {', '.join(TARGETS)}")
    if out_dir.exists() and not overwrite and any(out_dir.iterdir()):
        raise DanluError("the export folder already exists and is not empty", where=str(out_dir),
                         fix="choose another --out, or pass --overwrite")
    is_peft = hasattr(model, "peft_config")
    if "merged" in targets and is_peft and not _mergeable(model):
        kind = next(iter(model.peft_config.values())).peft_type.value.lower().replace("_", " ")
        if list(targets) == ["merged"]:
            raise DanluError(f"a {kind} adapter cannot be merged into the weights (its virtual tokens are inputs, "
                             "not weight changes)", fix="export the adapter: --target adapter")
        targets = [t for t in targets if t != "merged"]
        skipped = f"no merged model: a {kind} adapter cannot be merged; load the adapter on the base model"
    else:
        skipped = None
    result: dict = {"export_dir": str(out_dir), "adapter_dir": None, "merged_dir": None,
                    "merged_logits_max_abs_diff": None}
    if skipped:
        result["note"] = skipped
    ids = probe_ids(tokenizer, probe_rows)
    reference = logits(model, ids)
    with atomic.staged_dir(out_dir, overwrite=True) as tmp:
        if "adapter" in targets and is_peft:
            model.save_pretrained(tmp / "adapter")
            tokenizer.save_pretrained(tmp / "adapter")
            result["adapter_dir"] = str(out_dir / "adapter")
        if "merged" in targets:
            save_merged(model, tokenizer, tmp / "merged")
            reloaded = AutoModelForCausalLM.from_pretrained(tmp / "merged", dtype=torch.float32)
            diff = (logits(reloaded, ids) - reference).abs().max().item()
            del reloaded
            result["merged_dir"] = str(out_dir / "merged")
            result["merged_logits_max_abs_diff"] = diff
            atomic.write_json(tmp / "merged" / "danlu_verify.json", {"max_abs_logit_diff": diff,
                                                                       "probe_tokens": list(ids.shape)})
    return result
