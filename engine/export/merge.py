"""Merge a LoRA adapter into its base model file by file: W' = W + scale · B·A, shard by shard.

The merge reads the *16-bit (or fp32) base weights from disk* — for a QLoRA run too, so the adapter is
never merged into 4-bit weights — and the adapter's A/B matrices, and writes the merged tensors shard
by shard (at most ``SHARD_BYTES`` a file, with the usual ``model.safetensors.index.json``).  Only one
shard of the base and the adapter are in memory at a time, so a model larger than the RAM merges;
nothing touches the GPU.  Full fine-tunes are written the same way from the run's own weights.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from ..core.errors import DanluError
from ..core.texts import msg

SHARD_BYTES = 2 * 1024**3
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_MERGEABLE = ("LORA",)  # DoRA and the like merge through PEFT in memory (engine.export)


def base_dtype(folder: Path) -> str:
    """The dtype the base model is stored in, as fp32/bf16/fp16."""
    cfg = json.loads((Path(folder) / "config.json").read_text())
    name = str(cfg.get("dtype") or cfg.get("torch_dtype") or "float32").replace("torch.", "")
    return {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(name, "fp32")


def _weights(folder: Path) -> list[Path]:
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        raise DanluError("the model folder has no safetensors weights", where=str(folder),
                         fix="danlu reads safetensors only (never pickled .bin files)")
    return [f for f in files if not f.name.startswith("adapter_")]


def adapter_plan(adapter: Path) -> tuple[dict, dict]:
    """(per base weight name: (A key, B key, scale), adapter config) for a plain LoRA adapter."""
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    if cfg.get("peft_type") not in _MERGEABLE or cfg.get("use_dora"):
        raise DanluError(f"a {cfg.get('peft_type')}{' (DoRA)' if cfg.get('use_dora') else ''} adapter is merged "
                         "in memory", fix="internal: use the in-memory merge")
    if cfg.get("fan_in_fan_out"):
        raise DanluError("fan_in_fan_out adapters are merged in memory", fix="internal: use the in-memory merge")
    from safetensors import safe_open

    plan = {}
    r, alpha = cfg["r"], cfg["lora_alpha"]
    with safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") as fh:
        keys = list(fh.keys())
    for key in keys:
        if ".lora_A." not in key:
            continue
        module = key.split(".lora_A.")[0]
        name = module.removeprefix("base_model.model.")
        short = name.split(".")[-1]
        rr = cfg.get("rank_pattern", {}).get(name, cfg.get("rank_pattern", {}).get(short, r))
        aa = cfg.get("alpha_pattern", {}).get(name, cfg.get("alpha_pattern", {}).get(short, alpha))
        scale = aa / math.sqrt(rr) if cfg.get("use_rslora") else aa / rr
        plan[f"{name}.weight"] = (key, key.replace(".lora_A.", ".lora_B."), scale)
    saved = [k for k in keys if ".lora_" not in k]  # modules_to_save: whole trained copies
    for key in saved:
        name = key.removeprefix("base_model.model.").replace(".modules_to_save.default", "")
        plan[name] = (key, None, None)
    if not plan:
        raise DanluError("the adapter holds no LoRA weights", where=str(adapter))
    return plan, cfg


def merge_to(base: Path, out: Path, *, adapter: Path | None = None, dtype: str | None = None,
             progress=lambda text: None) -> dict:
    """Write the merged (or, without an adapter, re-typed) model's weights to ``out`` (safetensors shards)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    base, out = Path(base), Path(out)
    dtype = dtype or base_dtype(base)
    torch_dtype = getattr(torch, DTYPES[dtype])
    plan, _ = adapter_plan(adapter) if adapter else ({}, None)
    lora = safe_open(str(adapter / "adapter_model.safetensors"), framework="pt") if adapter else None
    out.mkdir(parents=True, exist_ok=True)
    shard: dict = {}
    shard_bytes = 0
    index: dict = {}
    files: list[str] = []
    merged = total = 0

    def flush():
        nonlocal shard, shard_bytes
        if not shard:
            return
        name = f"model-{len(files) + 1:05d}.safetensors"
        save_file(shard, str(out / name), metadata={"format": "pt"})
        files.append(name)
        for k in shard:
            index[k] = name
        shard, shard_bytes = {}, 0

    used = set()
    for f in _weights(base):
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                t = fh.get_tensor(key)
                total += 1
                if key in plan:
                    a_key, b_key, scale = plan[key]
                    used.add(key)
                    if b_key is None:
                        t = lora.get_tensor(a_key)
                    else:
                        a, b = lora.get_tensor(a_key).float(), lora.get_tensor(b_key).float()
                        t = t.float() + scale * (b @ a)
                    merged += 1
                t = t.to(torch_dtype) if t.is_floating_point() else t
                if shard_bytes and shard_bytes + t.numel() * t.element_size() > SHARD_BYTES:
                    flush()
                shard[key] = t.contiguous()
                shard_bytes += t.numel() * t.element_size()
        progress(msg("ex_merged_so_far", "{file}: {n} adapter weights merged so far", file=f.name, n=merged)
                 if adapter else msg("ex_retyped", "{file}: {n} tensors written as {dtype}", file=f.name, n=total,
                                     dtype=dtype))
    flush()
    missing = sorted(set(plan) - used)
    if missing:
        raise DanluError(f"the adapter changes weights the base model does not have ({missing[:2]})",
                         where=str(adapter), fix="the adapter was trained on another base model")
    if len(files) == 1:
        (out / files[0]).rename(out / "model.safetensors")
    else:
        size = sum((out / n).stat().st_size for n in files)
        (out / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": size}, "weight_map": index}, indent=2))
    cfg = json.loads((base / "config.json").read_text())
    for key in ("quantization_config", "_name_or_path"):
        cfg.pop(key, None)
    cfg["dtype"] = DTYPES[dtype]
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    for name in ("generation_config.json",):
        if (base / name).is_file():
            shutil.copy2(base / name, out / name)
    return {"dtype": dtype, "tensors": total, "merged_weights": merged, "shards": max(1, len(files))}
