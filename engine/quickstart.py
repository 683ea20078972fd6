"""``danlu quickstart``: the whole job on the offline demo defaults, start to finish.

probe → plan → data (detect, convert, clean, split) → train (in a run directory) →
eval loss before/after → one chat answer → export adapter + merged → reload the merged
model and compare its logits with the tuned model in memory.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import data, hardware, paths, planner, presets, runs
from .config import TrainConfig
from .errors import DanluError


def quickstart(*, method: str = "lora", model: str | None = None, size: str = "small", data_file: str | None = None,
               epochs: float | None = None, max_steps: int = -1, runs_root: str | None = None,
               progress=lambda stage, text: None, listener=None) -> dict:
    t0 = time.time()
    demo = presets.demo()
    if method not in planner.METHODS:
        raise DanluError(f"unknown method {method!r}", fix="use full, lora or qlora")

    from . import models

    model_ref = model or f"demo:{size}"
    models.check_model_ref(model_ref)
    source = Path(data_file).expanduser() if data_file else paths.sample_data_dir() / demo["data"]
    if not source.is_file():
        raise DanluError(f"dataset file not found: {source}", fix="check the --data path (see sample_data/)")

    progress("probe", "probing hardware")
    hw = hardware.probe()
    progress("probe", f"{hw['accelerator']}: {hw['nvml']}" if hw["accelerator"] == "cpu" else
             f"GPU {hw['gpus'][0]['name']} with {hw['gpus'][0]['memory_free_gb']} GB free")

    if model_ref.startswith("demo:"):
        progress("model", f"building the offline demo model {model_ref} (cached after the first time)")
    models.resolve_model(model_ref)

    progress("data", f"reading {source}")
    convs, report = data.load_conversations(source)
    cleaned, removed = data.clean(convs)
    train_convs, eval_convs = data.split(cleaned, demo.get("eval_ratio", 0.1), seed=42)
    progress("data", f"{report.format} ({report.evidence}); {len(cleaned)} kept, {len(report.problems)} skipped, "
             f"{sum(removed.values())} duplicates removed; {len(train_convs)} train / {len(eval_convs)} eval")

    run = runs.create(f"quickstart-{method}-{model_ref.replace(':', '-')}", Path(runs_root) if runs_root else None)
    train_file = data.write_conversations(run.data_dir / "train.jsonl", train_convs)
    eval_file = data.write_conversations(run.data_dir / "eval.jsonl", eval_convs)

    seq_len = int(demo.get("max_seq_len", 384))
    p = planner.plan(model_ref, probe=hw, seq_len=seq_len, method=method, target_batch=16)
    progress("plan", "; ".join(p.reasons[2:]) or p.method)
    lr = demo.get("lr", {}).get(method, 2e-4) if model_ref.startswith("demo:") else 2e-4
    cfg = TrainConfig(
        model=model_ref, train_file=str(train_file), eval_file=str(eval_file), method=method,
        max_seq_len=seq_len, micro_batch=p.micro_batch, grad_accum=p.grad_accum,
        epochs=float(epochs if epochs is not None else demo.get("epochs", 1)), max_steps=max_steps, lr=lr,
        lora_r=int(demo.get("lora_r", 16)), lora_alpha=int(demo.get("lora_alpha", 32)),
        grad_checkpointing=p.grad_checkpointing, optimizer=p.optimizer, precision=p.precision,
        dataset_hash=data.file_hash(train_file), plan_reason=" | ".join(p.reasons),
    ).validate()
    from . import atomic

    atomic.write_text(run.config_path, cfg.to_yaml())

    progress("train", f"training in {run.path}")
    from . import train

    result = train.run(cfg, run, listener=listener)
    model_obj, tokenizer = result.model, result.tokenizer

    progress("chat", "asking the tuned model one question")
    from . import chat

    question = next(m["content"] for m in eval_convs[0] if m["role"] == "user") if eval_convs else "你好"
    answer = chat.reply(model_obj, tokenizer, [{"role": "user", "content": question}], max_new_tokens=48)

    progress("export", "exporting the adapter and a merged model, then checking the merged logits")
    from . import export

    exported = export.export(model_obj, tokenizer, run.path / "export", probe_rows=result.eval_rows)
    losses = result.losses
    return {
        "run_dir": str(run.path),
        "model": model_ref,
        "method": method,
        "device": hw["accelerator"],
        "micro_batch": cfg.micro_batch,
        "grad_accum": cfg.grad_accum,
        "steps": result.steps,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "eval_loss_before": result.eval_loss_before,
        "eval_loss_after": result.eval_loss_after,
        "tokens_per_s": round(result.tokens_per_s, 1) if result.tokens_per_s else None,
        "chat_prompt": question,
        "chat_answer": answer,
        "export_dir": exported["export_dir"],
        "adapter_dir": exported["adapter_dir"],
        "merged_dir": exported["merged_dir"],
        "merged_logits_max_abs_diff": exported["merged_logits_max_abs_diff"],
        "seconds": round(time.time() - t0, 1),
    }
