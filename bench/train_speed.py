"""danlu's runner against plain TRL SFTTrainer defaults: real tokens per second, eval loss, peak RSS.

One epoch of LoRA on the `small` offline demo model and the variable-length sample data
(the quickstart's cleaned 90/10 split), each side in its own fresh process, one after the other:

* danlu   - `engine.train.run` with the planner's geometry for an effective batch of 8 samples:
            padding-free packing (best-fit decreasing, position ids restart per sample), loss on
            assistant tokens, events, checkpoints and the system sampler all on, as in real use.
* baseline - what a fine-tuning tutorial's code does: `SFTTrainer(model, train_dataset=messages,
            peft_config=LoRA)` with `SFTConfig` defaults (batch 8, no packing, pad to the longest
            sample of each batch, max_length 1024, gradient checkpointing on).  Only the settings
            that make the comparison fair are set: the same LoRA config, learning rate, epochs
            and seed, and on a CPU the same fp32 precision (SFTConfig's bf16 default is very slow
            on CPUs without bf16 units; danlu's planner picks fp32 there).

"Real tokens" are non-padding tokens trained (counted by the trainer), divided by the trainer's
own train_runtime (model loading excluded on both sides).  Both final models are evaluated by the
same function (engine.evaluate.eval_loss: mean loss on assistant tokens of the eval split).
Peak RSS is each process's own ru_maxrss.

    python bench/train_speed.py [--size small] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EFFECTIVE_BATCH = 8  # TRL's default per_device_train_batch_size, accumulation 1
MAX_LEN = 1024  # TRL's default max_length; no sample of the demo data is longer


def prepare(workdir: Path) -> tuple[Path, Path]:
    from engine import data, paths, presets

    demo = presets.demo()
    convs, _ = data.load_conversations(paths.sample_data_dir() / demo["data"])
    cleaned, _ = data.clean(convs)
    train_convs, eval_convs = data.split(cleaned, demo.get("eval_ratio", 0.1), seed=42)
    return (data.write_conversations(workdir / "train.jsonl", train_convs),
            data.write_conversations(workdir / "eval.jsonl", eval_convs))


def settings(size: str) -> dict:
    from engine import presets

    demo = presets.demo()
    return dict(model=f"demo:{size}", lr=demo["lr"]["lora"], lora_r=int(demo.get("lora_r", 16)),
                lora_alpha=int(demo.get("lora_alpha", 32)), lora_dropout=0.05, epochs=1.0, seed=42)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def side_danlu(workdir: Path, size: str) -> dict:
    from engine import hardware, planner, runs, train
    from engine.config import TrainConfig

    s = settings(size)
    train_file, eval_file = workdir / "train.jsonl", workdir / "eval.jsonl"
    p = planner.plan(s["model"], probe=hardware.probe(), seq_len=MAX_LEN, method="lora", target_batch=EFFECTIVE_BATCH)
    # the same samples per optimizer step as the baseline, whatever micro-batch the planner found room for
    micro = min(p.micro_batch, EFFECTIVE_BATCH)
    cfg = TrainConfig(model=s["model"], train_file=str(train_file), eval_file=str(eval_file), method="lora",
                      max_seq_len=MAX_LEN, micro_batch=micro, grad_accum=max(1, EFFECTIVE_BATCH // micro),
                      epochs=s["epochs"],
                      lr=s["lr"], lora_r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
                      seed=s["seed"], grad_checkpointing=p.grad_checkpointing, optimizer=p.optimizer,
                      precision=p.precision).validate()
    run = runs.create("bench-danlu", workdir / "runs")
    result = train.run(cfg, run)
    done = [e for e in run.events() if e["type"] == "done"][-1]
    geo = [e["message"] for e in run.events() if e["type"] == "log" and "trainable" in e.get("message", "")]
    return {"side": "danlu", "tokens": done["tokens"], "tokens_per_s": result.tokens_per_s,
            "train_s": done["tokens"] / result.tokens_per_s, "steps": result.steps,
            "eval_loss": result.eval_loss_after, "eval_loss_before": result.eval_loss_before,
            "geometry": geo[0].split("; ")[-1] if geo else "", "peak_rss_mb": peak_rss_mb()}


def side_baseline(workdir: Path, size: str) -> dict:
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from engine import data, encode, evaluate, models

    s = settings(size)
    models.quiet()
    path = str(models.resolve_model(s["model"]))
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    dataset = load_dataset("json", data_files=str(workdir / "train.jsonl"), split="train")
    # bf16=False: SFTConfig defaults to bf16, which a CPU without bf16 units runs many times slower than fp32
    # (a first run here had not finished one epoch after 55 minutes); danlu's planner picks fp32 on such a CPU,
    # so both sides get the same precision and the comparison is about the runner, not the number format.
    args = SFTConfig(output_dir=str(workdir / "baseline"), num_train_epochs=s["epochs"], learning_rate=s["lr"],
                     seed=s["seed"], use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
                     bf16=models.device() != "cpu",
                     include_num_input_tokens_seen="non_padding")  # counting only: it does not change training
    peft_config = LoraConfig(r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
                             target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config)
    out = trainer.train()
    runtime = out.metrics["train_runtime"]
    tokens = int(trainer.state.num_input_tokens_seen)
    eval_convs, _ = data.load_conversations(workdir / "eval.jsonl")
    eval_rows = encode.encode_all(tokenizer, eval_convs, MAX_LEN)
    loss = evaluate.eval_loss(trainer.model, eval_rows, pad_id=tokenizer.pad_token_id, batch_size=8)
    padded = sum(len(b["input_ids"][0]) * len(b["input_ids"]) for b in trainer.get_train_dataloader())
    return {"side": "baseline", "tokens": tokens, "tokens_per_s": tokens / runtime, "train_s": runtime,
            "steps": trainer.state.global_step, "eval_loss": loss, "padded_tokens": padded,
            "geometry": f"batch {args.per_device_train_batch_size} padded to its longest sample, no packing",
            "peak_rss_mb": peak_rss_mb()}


def run_side(side: str, workdir: Path, size: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DANLU_HOME=os.environ.get("DANLU_HOME", str(workdir / "home")))
    proc = subprocess.run([sys.executable, __file__, "--side", side, "--workdir", str(workdir), "--size", size],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small", choices=["tiny", "small"])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--side", choices=["danlu", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        fn = side_danlu if args.side == "danlu" else side_baseline
        print(json.dumps(fn(args.workdir, args.size)))
        return
    with tempfile.TemporaryDirectory(prefix="danlu-bench-") as tmp:
        workdir = Path(tmp)
        os.environ.setdefault("DANLU_HOME", str(workdir / "home"))
        from engine import models

        models.build_demo_model(args.size)
        prepare(workdir)
        load = os.getloadavg()[0]
        t0 = time.time()
        results = [run_side("danlu", workdir, args.size), run_side("baseline", workdir, args.size)]
        wall = time.time() - t0
    d, b = results
    ratio = d["tokens_per_s"] / b["tokens_per_s"]
    eval_gap = (d["eval_loss"] - b["eval_loss"]) / b["eval_loss"]
    print(f"one epoch of LoRA on demo:{args.size}, {os.cpu_count()} CPU cores, load {load:.2f} at start, "
          f"{wall:.0f} s wall")
    print(f"{'':9} {'real tok':>9} {'train s':>8} {'real tok/s':>10} {'steps':>6} {'eval loss':>9} {'peak RSS':>9}  geometry")
    for r in results:
        print(f"{r['side']:9} {r['tokens']:>9,} {r['train_s']:>8.1f} {r['tokens_per_s']:>10.1f} {r['steps']:>6} "
              f"{r['eval_loss']:>9.4f} {r['peak_rss_mb']:>7.0f} MB  {r['geometry']}")
    if "padded_tokens" in b:
        print(f"baseline computed {b['padded_tokens']:,} token positions for {b['tokens']:,} real tokens "
              f"({1 - b['tokens'] / b['padded_tokens']:.0%} padding)")
    print(f"real tokens/s ratio danlu/baseline: {ratio:.2f}x (goal >= 1.5x)")
    print(f"eval loss: danlu {d['eval_loss']:.4f} vs baseline {b['eval_loss']:.4f} ({eval_gap:+.1%}; goal: no worse "
          f"than +2%)")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio, "eval_gap": eval_gap, "load": load},
                                        indent=2))


if __name__ == "__main__":
    main()
