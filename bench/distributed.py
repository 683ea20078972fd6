"""Several ranks on this machine's CPU (torchrun, gloo): the planner's per-device memory for DDP and FSDP2 against
each process's measured peak RSS, and the step time against one process, side by side in one run.

For each strategy (one process; DDP and FSDP2 on 2 ranks) a fresh torchrun launch runs danlu's runner
(``engine.train.run``) on the English sample conversations: full fine-tuning of the model, rows of one fixed length
(``--seq``; no packing across steps changes it), micro-batch 1 per rank, ``--steps`` optimizer steps.  Each rank
notes its RSS after importing the libraries and its peak RSS (ru_maxrss) at the end; measured = peak − that base,
the same quantity ``bench/plan_calibration.py`` checks for one process.  Predicted = the planner's per-device terms
for the strategy (``engine.plan.distributed.device_terms`` over ``engine.plan.memory.memory_terms``, the CPU's
"reserved" metric), exactly what ``danlu plan --gpus 2`` adds up.

    python bench/distributed.py                    # demo:smollm2 (135 M), about 5 minutes on 2 cores
    python bench/distributed.py --smoke            # demo:tiny, seconds

On a CPU both ranks share the cores, so two ranks are not faster than one: the step-time figure says what the
gloo collectives cost here, not what GPUs would gain.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from figures import Figure, add_args, report  # noqa: E402

RANK_CHILD = r"""
import json, os, resource, sys
from pathlib import Path
import psutil
import torch, transformers, peft, trl, accelerate
from danlu.engine import data, train
from danlu.engine.runs import store as runs
from danlu.engine.core.config import TrainConfig
model, strategy, seq, steps, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
base = psutil.Process().memory_info().rss
cfg = TrainConfig(model=model, train_file=str(work / "train.jsonl"), method="full", max_seq_len=seq, packing=False,
                  group_by_length=False, micro_batch=1, grad_accum=1, max_steps=steps, lr=1e-5, save_steps=10_000,
                  precision="fp32", eval_steps=0, early_stopping_patience=0, lora_dropout=0.0,
                  gpus=world, strategy=strategy)
run = runs.RunDir(work / "runs" / strategy)
if rank == 0:
    run.path.mkdir(parents=True, exist_ok=True)
res = train.run(cfg, run)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
step_s, training = None, {}
if rank == 0:
    events = run.events()
    rows = [e for e in events if type(e).__name__ == "Step"]
    if len(rows) > 1:  # the first step includes warm-up; the rest are steady
        step_s = (rows[-1].elapsed_s - rows[0].elapsed_s) / (len(rows) - 1)
    # each rank's RSS while it trains (rank 0's system samples, every second, from the first step on): the
    # high-water mark of loading the whole model before sharding it is not in these
    for e in events:
        if type(e).__name__ == "System" and rows and e.ts >= rows[0].ts:
            for r in e.ranks or [{"rank": 0, "rss_gb": e.rss_gb}]:
                training[r["rank"]] = max(training.get(r["rank"], 0.0), r["rss_gb"] * 1024**3)
(work / f"{strategy}.rank{rank}.json").write_text(json.dumps({"base": base, "peak": peak, "step_s": step_s,
                                                              "training": training}))
"""


def prepare(work: Path, model: str, seq: int) -> None:
    """Training rows of exactly ``seq`` tokens: the English sample conversations whose encoding is at least that
    long, cut at ``seq`` (danlu's encoder keeps the assistant tokens within max_seq_len)."""
    from danlu.engine import data
    from danlu.engine.models import encode, load as models
    from danlu.engine.plan import demo

    models.resolve_model(model)
    convs, _ = data.load_conversations(demo.sample_data_file())
    convs, _ = demo.select(model, convs, demo.sample_data_file())
    tok = models.load_tokenizer(model)
    long = [c for c in convs if len(encode.encode(tok, c, 100_000)["input_ids"]) >= seq]
    if len(long) < 8:
        long = convs  # a small model's short sample set: rows of their own lengths
    data.write_conversations(work / "train.jsonl", long[:64])


def launch(model: str, strategy: str, ranks: int, seq: int, steps: int, work: Path, port: int) -> list[dict]:
    (work / "tmp").mkdir(exist_ok=True)  # torchrun's folders: gone with the work folder
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 2) // ranks)), TMPDIR=str(work / "tmp"))
    child = work / "rank_child.py"
    child.write_text(RANK_CHILD, encoding="utf-8")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks), "--master-port", str(port),
           str(child), model, strategy, str(seq), str(steps), str(work)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"{strategy}: {out.stderr[-3000:]}")
    return [json.loads((work / f"{strategy}.rank{r}.json").read_text()) for r in range(ranks)]


def predict(model: str, strategy: str, ranks: int, seq: int) -> dict:
    from danlu.engine.plan import distributed as dist, memory

    shape = memory.model_shape(model)
    terms = memory.memory_terms(shape, "full", 1, seq, precision="fp32", grad_checkpointing=False,
                                optimizer="adamw_torch", lora_r=16, lora_targets="all-linear", gpu=False,
                                lora_dropout=0.0, eval_batch=1, grad_accum=1)
    dev, _ = dist.device_terms(terms, shape, "full", strategy, ranks, precision="fp32", trained=shape.params)
    return {"gb": memory.metric_gb(dev, "reserved"), "terms_gb": {k: round(v / memory.GB, 3) for k, v in dev.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="demo:smollm2")
    ap.add_argument("--seq", type=int, default=512, help="tokens per row")
    ap.add_argument("--steps", type=int, default=6)
    add_args(ap)
    args = ap.parse_args(argv)
    if args.smoke:
        args.model, args.seq, args.steps = "demo:tiny", 128, 2
    work = Path(tempfile.mkdtemp(prefix="danlu-bench-dist-"))
    os.environ.setdefault("DANLU_HOME", str(work / "home"))
    try:
        prepare(work, args.model, args.seq)
        print(f"{args.model}, full fine-tune, fp32, rows of ≤ {args.seq} tokens, micro-batch 1 per rank, "
              f"{args.steps} steps (CPU, gloo)")
        print(f"{'strategy':<10} {'ranks':>5} {'predicted GB':>12} {'measured GB (each rank)':>26} {'ratio':>6} "
              f"{'while training GB':>20} {'s/step':>7}")
        rows, figures = {}, []
        for i, (strategy, ranks) in enumerate((("single", 1), ("ddp", 2), ("fsdp", 2))):
            measured = launch(args.model, strategy, ranks, args.seq, args.steps, work, 29650 + i)
            gbs = [(m["peak"] - m["base"]) / 1024**3 for m in measured]
            during = {int(k): v for k, v in measured[0]["training"].items()}
            train_gbs = [(during[r] - m["base"]) / 1024**3 for r, m in enumerate(measured) if r in during]
            pred = predict(args.model, strategy, ranks, args.seq)
            ratio = pred["gb"] / max(gbs)
            rows[strategy] = {"ranks": ranks, "predicted_gb": pred["gb"], "measured_gb": gbs,
                              "measured_training_gb": train_gbs, "step_s": measured[0]["step_s"],
                              "predicted_terms_gb": pred["terms_gb"]}
            print(f"{strategy:<10} {ranks:>5} {pred['gb']:>12.3f} {', '.join(f'{g:.3f}' for g in gbs):>26} "
                  f"{ratio:>6.2f} {', '.join(f'{g:.3f}' for g in train_gbs):>20} "
                  f"{measured[0]['step_s'] or float('nan'):>7.2f}", flush=True)
        one = rows["single"]["step_s"]
        for strategy in ("ddp", "fsdp"):
            r = rows[strategy]
            ratio = r["predicted_gb"] / max(r["measured_gb"])
            figures.append(Figure(f"dist.{strategy}.memory_ratio",
                                  f"planner: predicted / measured per-rank peak memory, {strategy.upper()} on 2 CPU "
                                  f"ranks ({args.model}, full)", ratio, "×", goal="1.0–1.5 (never under-budgets)",
                                  met=1.0 <= ratio <= 1.5))
            figures.append(Figure(f"dist.{strategy}.rank_memory_gb", f"measured peak memory of the larger rank, "
                                  f"{strategy.upper()} ({args.model}, full)", max(r["measured_gb"]), "GB",
                                  max(rows["single"]["measured_gb"]), "one process"))
            if r["measured_training_gb"] and rows["single"]["measured_training_gb"]:
                figures.append(Figure(f"dist.{strategy}.rank_training_gb", f"largest rank's memory while training "
                                      f"(sampled every second), {strategy.upper()} ({args.model}, full)",
                                      max(r["measured_training_gb"]), "GB",
                                      max(rows["single"]["measured_training_gb"]), "one process"))
            if r["step_s"] and one:
                figures.append(Figure(f"dist.{strategy}.step_s", f"seconds per optimizer step, {strategy.upper()} on "
                                      "2 CPU ranks sharing 2 cores (same samples per rank-step)", r["step_s"], "s",
                                      one, "one process"))
        report("distributed", figures, args.json, smoke=args.smoke, detail=rows)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
