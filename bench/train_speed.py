"""danlu's runner against plain TRL SFTTrainer defaults and a bare PyTorch+PEFT loop: real tokens/s, eval loss, RSS.

One epoch of LoRA on the sample data (the quickstart's cleaned split; for the real model
demo:smollm2 its English conversations, --samples of them), each side in its own fresh process,
one after the other:

* danlu    - `engine.train.run` with the planner's geometry for an effective batch of 8 samples:
             padding-free packing (best-fit decreasing, position ids restart per sample, attention per
             sample), loss on assistant tokens with the LM head on those positions only, events,
             checkpoints and the system sampler all on, as in real use.
* baseline - what a fine-tuning tutorial's code does: `SFTTrainer(model, train_dataset=messages,
             peft_config=LoRA)` with `SFTConfig` defaults (batch 8, no packing, pad to the longest
             sample of each batch, max_length 1024, gradient checkpointing on).  Only the settings
             that make the comparison fair are set: the same LoRA config, learning rate, epochs
             and seed, and on a CPU the same fp32 precision (SFTConfig's bf16 default is very slow
             on CPUs without bf16 units; danlu's planner picks fp32 there).
* bare     - the practical limit: a plain loop of forward (the model's own loss, full logits),
             backward and AdamW step over the same packed rows and accumulation as danlu, with the
             same per-sample attention; no trainer, no events, no checkpoints.

"Real tokens" are non-padding tokens trained, divided by the training time (the trainer's own
train_runtime; for the bare loop the loop's wall time; model loading excluded on every side).  The
final models are evaluated by the same function (engine.infer.evaluate.eval_loss: mean loss on assistant
tokens of the eval split).  Peak RSS is each process's own ru_maxrss.

    python bench/train_speed.py [--size small | --model demo:smollm2 [--samples 64]] [--json out.json]
    python bench/train_speed.py --model demo:smollm2 --sides danlu,bare --repeat 3   # the runner's overhead
    python bench/train_speed.py --model demo:smollm2 --method qlora                   # 4-bit base (GPU figures)

With --repeat N the danlu and bare sides run N times, alternating (A B B A …), and the medians are reported; TRL's
side runs once (it is the slow one, far from the ratio's goal).  On an NVIDIA GPU every side also reports its peak
VRAM (torch.cuda.max_memory_allocated).  --smoke trains demo:tiny on 16 conversations with every side in this
process (seconds; checks the code paths and that the figures are printed, not their values).
"""

from __future__ import annotations

import argparse
import json
import math
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


def prepare(workdir: Path, model: str, samples: int | None) -> tuple[Path, Path]:
    from danlu.engine import data
    from danlu.engine.plan import demo
    from danlu.engine.data import select

    convs, _ = data.load_conversations(demo.sample_data_file())
    cleaned, _ = data.clean(convs)
    chosen, _ = demo.select(model, cleaned, demo.sample_data_file())
    train_convs, eval_convs = data.split(chosen, 0.1, seed=42)
    train_convs = select.sample(train_convs, samples, seed=42)
    return (data.write_conversations(workdir / "train.jsonl", train_convs),
            data.write_conversations(workdir / "eval.jsonl", eval_convs))


def settings(model: str) -> dict:
    from danlu.engine.plan import demo

    s = demo.settings(model)
    return dict(model=model, lr=demo.lr(model, "lora"), lora_r=int(s.get("lora_r", 16)),
                lora_alpha=int(s.get("lora_alpha", 32)), lora_dropout=float(s.get("lora_dropout", 0.05)),
                epochs=1.0, seed=42)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_vram_mb() -> float | None:
    """The peak GPU memory torch allocated in this process (None without a GPU)."""
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def memory(side: dict) -> dict:
    return {**side, "peak_rss_mb": peak_rss_mb(), "peak_vram_mb": peak_vram_mb()}


def _config(workdir: Path, model: str, method: str):
    from danlu.engine.plan import hardware, memory as planner
    from danlu.engine.core.config import TrainConfig

    s = settings(model)
    p = planner.plan(s["model"], probe=hardware.probe(), seq_len=MAX_LEN, method=method, target_batch=EFFECTIVE_BATCH)
    # the same samples per optimizer step as the baseline, whatever micro-batch the planner found room for
    micro = min(p.micro_batch, EFFECTIVE_BATCH)
    return TrainConfig(model=s["model"], train_file=str(workdir / "train.jsonl"), eval_file=str(workdir / "eval.jsonl"),
                       method=method, max_seq_len=MAX_LEN, micro_batch=micro,
                       grad_accum=max(1, EFFECTIVE_BATCH // micro), epochs=s["epochs"], lr=s["lr"],
                       lora_r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"], seed=s["seed"],
                       grad_checkpointing=p.grad_checkpointing, optimizer=p.optimizer,
                       precision=p.precision).validate()


def side_danlu(workdir: Path, model: str, method: str) -> dict:
    from danlu.engine.runs import store as runs
    from danlu.engine.train import runner as train

    cfg = _config(workdir, model, method)
    run = runs.create("bench-danlu", workdir / "runs")
    result = train.run(cfg, run)
    from danlu.engine.core import events

    records = list(run.events())
    done = [e for e in records if isinstance(e, events.Done)][-1]
    geo = [e.args.get("geometry", "") for e in records if isinstance(e, events.Log) and e.code == "parameters"]
    return {"side": "danlu", "tokens": done.tokens, "tokens_per_s": result.tokens_per_s,
            "train_s": done.tokens / result.tokens_per_s, "steps": result.steps,
            "eval_loss": result.eval_loss_after, "eval_loss_before": result.eval_loss_before,
            "geometry": geo[0] if geo else ""}


def side_bare(workdir: Path, model: str, method: str) -> dict:
    """forward / backward / AdamW over danlu's packed rows: the loop danlu's runner wraps, and nothing else."""
    import torch
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    from danlu.engine.models import attention, encode, load as models
    from danlu.engine.infer import evaluate
    from danlu.engine.train import runner as train

    cfg = _config(workdir, model, method)
    models.quiet()
    dev = models.device()
    torch.manual_seed(cfg.seed)
    tokenizer = models.load_tokenizer(cfg.model)
    train_rows, eval_rows = train.prepare_rows(cfg, tokenizer)
    geo = train.geometry(cfg, train_rows)
    packed = pack_dataset(Dataset.from_list([{"input_ids": r["input_ids"], "labels": r["labels"]} for r in train_rows]),
                          geo.pack_len, strategy="bfd").shuffle(seed=cfg.seed)
    base = models.load_base(cfg.model, precision=cfg.precision, quantize_4bit=method == "qlora")
    attention.use_packed(base)
    from peft import LoraConfig, get_peft_model

    model_ = get_peft_model(base, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model_.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    steps = -(-len(packed) // geo.grad_accum)
    from transformers import get_cosine_schedule_with_warmup

    sched = get_cosine_schedule_with_warmup(opt, math.ceil(cfg.warmup_ratio * steps), steps)  # danlu's schedule
    model_.train()
    tokens = 0
    t0 = time.time()
    for i, row in enumerate(packed):
        lengths = row["seq_lengths"]
        cuts = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=dev)
        ids = torch.tensor([row["input_ids"]], device=dev)
        labels = torch.tensor([row["labels"]], device=dev)
        labels[0, cuts[:-1].long()] = encode.IGNORE  # no loss across a sample boundary, as in danlu
        positions = torch.cat([torch.arange(n) for n in lengths])[None].to(dev)
        out = model_(input_ids=ids, labels=labels, position_ids=positions,
                     cu_seq_lens_q=cuts, cu_seq_lens_k=cuts, max_length_q=max(lengths), max_length_k=max(lengths))
        (out.loss / geo.grad_accum).backward()
        tokens += ids.shape[1]
        if (i + 1) % geo.grad_accum == 0 or i + 1 == len(packed):
            torch.nn.utils.clip_grad_norm_(model_.parameters(), cfg.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
    runtime = time.time() - t0
    loss = evaluate.eval_loss(model_, eval_rows, pad_id=tokenizer.pad_token_id, batch_size=cfg.micro_batch)
    return {"side": "bare", "tokens": tokens, "tokens_per_s": tokens / runtime, "train_s": runtime, "steps": steps,
            "eval_loss": loss, "geometry": geo.describe()}


def side_baseline(workdir: Path, model: str, method: str) -> dict:
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from danlu.engine import data
    from danlu.engine.models import encode, load as models
    from danlu.engine.infer import evaluate

    s = settings(model)
    models.quiet()
    path = str(models.resolve_model(s["model"]))
    tokenizer = AutoTokenizer.from_pretrained(path)
    if method == "qlora":  # what a QLoRA tutorial does: the 4-bit NF4 base from transformers, LoRA from SFTTrainer
        model_ = models.load_base(s["model"], precision="bf16" if models.device() != "cpu" else "fp32",
                                  quantize_4bit=True)
    else:
        model_ = AutoModelForCausalLM.from_pretrained(path)
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
    trainer = SFTTrainer(model=model_, args=args, train_dataset=dataset, processing_class=tokenizer,
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
            "geometry": f"batch {args.per_device_train_batch_size} padded to its longest sample, no packing"}


SIDES = {"danlu": side_danlu, "baseline": side_baseline, "bare": side_bare}


def _median_run(rs: list[dict]) -> dict:
    """The run with the median tokens/s (its other figures with it)."""
    return sorted(rs, key=lambda r: r["tokens_per_s"])[len(rs) // 2]


def run_side(side: str, workdir: Path, model: str, method: str, in_process: bool = False) -> dict:
    if in_process:
        return memory(SIDES[side](workdir, model, method))
    env = dict(os.environ, PYTHONPATH=str(ROOT), DANLU_HOME=os.environ.get("DANLU_HOME", str(workdir / "home")))
    proc = subprocess.run([sys.executable, __file__, "--side", side, "--workdir", str(workdir), "--model", model,
                           "--method", method], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{side} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def schedule(order: list[str], repeat: int) -> list[str]:
    """A B B A … for the repeated sides; TRL's baseline (slow, far from its goal) once, in the first round."""
    out: list[str] = []
    for r in range(repeat):
        for side in (order if r % 2 == 0 else order[::-1]):
            if side != "baseline" or "baseline" not in out:
                out.append(side)
    return out


def figures_of(summary: dict, method: str) -> list:
    from figures import Figure, at_least, at_most

    res = {r["side"]: r for r in summary["results"]}
    d, b, bare = res.get("danlu"), res.get("baseline"), res.get("bare")
    where = f"{method}, {summary['model']}"
    out = []
    if d:
        out.append(Figure(f"train.{method}.tokens_per_s", f"training real tokens/s ({where})", d["tokens_per_s"],
                          "tok/s", b["tokens_per_s"] if b else None, "TRL SFTTrainer defaults",
                          "≥ 2.5× TRL defaults", at_least(summary.get("ratio"), 2.5)))
        if bare:
            out.append(Figure(f"train.{method}.tokens_per_s_vs_bare", f"training real tokens/s vs the bare loop ({where})",
                              d["tokens_per_s"], "tok/s", bare["tokens_per_s"], "bare PyTorch+PEFT loop",
                              "≥ 1.0× the bare loop", at_least(summary.get("ratio_bare"), 1.0)))
        if b:
            out.append(Figure(f"train.{method}.eval_loss", f"eval loss after one epoch ({where})", d["eval_loss"], "",
                              b["eval_loss"], "TRL SFTTrainer defaults", "≤ 1.02× TRL's",
                              at_most(d["eval_loss"] / b["eval_loss"], 1.02)))
        out.append(Figure(f"train.{method}.peak_rss_mb", f"training peak RSS ({where})", d["peak_rss_mb"], "MB",
                          b["peak_rss_mb"] if b else None, "TRL SFTTrainer defaults"))
        if d.get("peak_vram_mb") is not None:
            out.append(Figure(f"train.{method}.peak_vram_mb", f"training peak VRAM ({where})", d["peak_vram_mb"], "MB",
                              b.get("peak_vram_mb") if b else None, "TRL SFTTrainer defaults"))
    return out


def main() -> None:
    from figures import add_args, report

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="small", choices=["tiny", "small"], help="random-init demo model (default)")
    ap.add_argument("--model", help="any model reference instead, e.g. demo:smollm2 (the real pretrained model)")
    ap.add_argument("--method", default="lora", choices=["lora", "qlora"], help="lora (default) or qlora (4-bit base)")
    ap.add_argument("--samples", type=int, default=None,
                    help="train conversations (default: all for the random-init models, 64 for other models)")
    ap.add_argument("--sides", default="danlu,baseline,bare", help="which sides to run (default all three)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run danlu and bare this many times, alternating (A B B A ...), and report medians")
    add_args(ap)
    ap.add_argument("--side", choices=list(SIDES), help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.model, args.samples, args.repeat = "demo:tiny", 16, 1
    model = args.model or f"demo:{args.size}"
    if args.side:
        print(json.dumps(memory(SIDES[args.side](args.workdir, model, args.method))))
        return
    from danlu.engine.models import load as models

    samples = args.samples if args.samples is not None else (None if models.is_random_init(model) else 64)
    with tempfile.TemporaryDirectory(prefix="danlu-bench-") as tmp:
        workdir = Path(tmp)
        os.environ.setdefault("DANLU_HOME", str(workdir / "home"))
        models.resolve_model(model)
        train_file, _ = prepare(workdir, model, samples)
        n_train = sum(1 for _ in open(train_file, encoding="utf-8"))
        load = os.getloadavg()[0]
        t0 = time.time()
        order = args.sides.split(",")
        runs_by_side: dict = {side: [] for side in order}
        for side in schedule(order, args.repeat):
            runs_by_side[side].append(run_side(side, workdir, model, args.method, in_process=args.smoke))
        results = {side: _median_run(rs) for side, rs in runs_by_side.items()}
        wall = time.time() - t0
    print(f"one epoch of {args.method} on {model}, {n_train} train conversations, {os.cpu_count()} CPU cores, load "
          f"{load:.2f} at start, {wall:.0f} s wall" + (f"; medians of {args.repeat} alternating runs" if args.repeat > 1
                                                       else ""))
    if args.repeat > 1:
        for side, rs in runs_by_side.items():
            per_run = ", ".join(f"{r['tokens_per_s']:.1f}" for r in rs)
            print(f"  {side:<9} tokens/s per run: {per_run}")
    vram = any(r.get("peak_vram_mb") is not None for r in results.values())
    print(f"{'':9} {'real tok':>9} {'train s':>8} {'real tok/s':>10} {'steps':>6} {'eval loss':>9} {'peak RSS':>9}"
          + (f" {'peak VRAM':>10}" if vram else "") + "  geometry")
    for r in results.values():
        print(f"{r['side']:9} {r['tokens']:>9,} {r['train_s']:>8.1f} {r['tokens_per_s']:>10.1f} {r['steps']:>6} "
              f"{r['eval_loss']:>9.4f} {r['peak_rss_mb']:>7.0f} MB"
              + (f" {r['peak_vram_mb'] or 0:>7.0f} MB" if vram else "") + f"  {r['geometry']}")
    summary: dict = {"results": list(results.values()), "load": load, "model": model, "method": args.method,
                     "train_conversations": n_train, "repeat": args.repeat,
                     "per_run": {side: [r["tokens_per_s"] for r in rs] for side, rs in runs_by_side.items()}}
    d, b, bare = results.get("danlu"), results.get("baseline"), results.get("bare")
    if b and "padded_tokens" in b:
        print(f"baseline computed {b['padded_tokens']:,} token positions for {b['tokens']:,} real tokens "
              f"({1 - b['tokens'] / b['padded_tokens']:.0%} padding)")
    if d and b:
        summary["ratio"] = d["tokens_per_s"] / b["tokens_per_s"]
        summary["eval_gap"] = (d["eval_loss"] - b["eval_loss"]) / b["eval_loss"]
        print(f"eval loss: danlu {d['eval_loss']:.4f} vs baseline {b['eval_loss']:.4f} ({summary['eval_gap']:+.1%})")
    if d and bare:
        summary["ratio_bare"] = d["tokens_per_s"] / bare["tokens_per_s"]
    report("train_speed", figures_of(summary, args.method), args.json, smoke=args.smoke, detail=summary)


if __name__ == "__main__":
    main()
