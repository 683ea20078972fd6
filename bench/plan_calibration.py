"""Check the planner's memory formulas against real training on this machine's CPU.

For each configuration a fresh subprocess imports the libraries, notes its RSS, loads the demo
model for the method, trains three steps on fixed-length batches (forward, loss, backward, AdamW
step) and reports its peak RSS (ru_maxrss).  Measured = peak − RSS before the model was loaded.
Predicted = the planner's terms for the same configuration, in its "reserved" metric (no CUDA
context on the CPU).  Prints predicted/measured per configuration and the median relative error.

    python bench/plan_calibration.py            # ~2 minutes on 2 cores

``--model demo:smollm2`` measures danlu's own runner instead (``engine.train.run``, three optimizer steps of
packed rows on the English sample conversations) for LoRA and full fine-tuning of the real model, and compares
each process's peak RSS above its RSS before loading the model with the planner's prediction for one row of that
length.  danlu computes the LM head on labelled positions only, while the planner budgets logits for every
position (it does not know the data's share of assistant tokens), so there it errs on the safe side.

    python bench/plan_calibration.py --model demo:smollm2     # ~5 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from figures import Figure, add_args, report  # noqa: E402

CONFIGS = [
    # (size, method, micro_batch, seq_len, grad_checkpointing, attention implementation)
    ("small", "full", 4, 256, False, "sdpa"),
    ("small", "full", 8, 512, False, "sdpa"),
    ("small", "full", 8, 512, False, "eager"),
    ("small", "full", 8, 512, True, "sdpa"),
    ("small", "lora", 4, 256, False, "sdpa"),
    ("small", "lora", 8, 512, False, "sdpa"),
    ("small", "lora", 8, 512, False, "eager"),
    ("small", "lora", 8, 512, True, "sdpa"),
    ("small", "lora", 16, 512, False, "sdpa"),
    ("tiny", "full", 16, 512, False, "sdpa"),
]

CHILD = r"""
import json, resource, sys, os
import torch, transformers, peft
from danlu.engine.models import load as models
from danlu.engine.core.config import TrainConfig
size, method, mb, seq, gc, attn = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6]
torch.manual_seed(0)
import psutil
base = psutil.Process().memory_info().rss
cfg = TrainConfig(model=f"demo:{size}", train_file="x", method=method, lora_dropout=0.05)
model = models.load_for_training(cfg)
model.set_attn_implementation(attn)
if gc:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
model.train()
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
vocab = model.config.vocab_size
for step in range(3):
    ids = torch.randint(0, vocab, (mb, seq))
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"base": base, "peak": peak, "attn": model.config._attn_implementation}))
"""


RUNNER_CONFIGS = [
    # (method, packed row length)
    ("lora", 384),
    ("lora", 1024),
    ("full", 384),
    ("full", 1024),
]

RUNNER_CHILD = r"""
import json, resource, shutil, sys, tempfile
from pathlib import Path
import psutil
import torch, transformers, peft, trl
from danlu.engine import data, runs, train
from danlu.engine.plan import demo
from danlu.engine.core.config import TrainConfig
model, method, seq = sys.argv[1], sys.argv[2], int(sys.argv[3])
convs, _ = data.load_conversations(demo.sample_data_file())
convs, _ = demo.select(model, convs, demo.sample_data_file())
tmp = Path(tempfile.mkdtemp())
train_file = data.write_conversations(tmp / "train.jsonl", convs[:48])
base = psutil.Process().memory_info().rss
cfg = TrainConfig(model=model, train_file=str(train_file), method=method, max_seq_len=min(seq, 512), pack_len=seq,
                  micro_batch=max(1, seq // min(seq, 512)), grad_accum=1, max_steps=3, lora_dropout=0.0,
                  lr=1e-4, save_steps=100, precision="fp32")
res = train.run(cfg, runs.create("calibration", tmp / "runs"))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
geo = [e.args.get("geometry", "") for e in runs.RunDir(Path(res.run_dir)).events() if getattr(e, "code", None) == "parameters"][0]
shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps({"base": base, "peak": peak, "geometry": geo}))
"""


def measure_runner(model, method, seq, env):
    out = subprocess.run([sys.executable, "-c", RUNNER_CHILD, model, method, str(seq)],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return (d["peak"] - d["base"]) / 1024**3, d["geometry"]


def predict_runner(model, method, seq):
    from danlu.engine.plan import memory as planner

    terms = planner.memory_terms(planner.model_shape(model), method, 1, seq, precision="fp32",
                                 grad_checkpointing=False, optimizer="adamw_torch", lora_r=16,
                                 lora_targets="all-linear", gpu=False, lora_dropout=0.0)
    return planner.metric_gb(terms, "reserved")


def runner_main(model: str, env: dict, args) -> None:
    from danlu.engine.models import load as models

    models.resolve_model(model)
    print(f"danlu's runner on {model}, 3 optimizer steps of one packed row (CPU, fp32)")
    print(f"{'config':<16} {'predicted GB':>12} {'measured GB':>12} {'ratio':>7}  geometry")
    ratios = []
    rows = {}
    for method, seq in (RUNNER_CONFIGS[:1] if args.smoke else RUNNER_CONFIGS):
        measured, geometry = measure_runner(model, method, seq, env)
        predicted = predict_runner(model, method, seq)
        ratios.append(predicted / measured)
        rows[f"{method} row {seq}"] = {"predicted_gb": predicted, "measured_gb": measured, "geometry": geometry}
        print(f"{method + ' row ' + str(seq):<16} {predicted:>12.3f} {measured:>12.3f} {predicted / measured:>7.2f}  "
              f"{geometry}", flush=True)
    print(f"predicted/measured {min(ratios):.2f}–{max(ratios):.2f} (above 1: the planner budgets more than was used)")
    # the planner must never budget less than is used (an OOM), nor waste much: every ratio within 1.0–1.5
    report("plan_calibration", [
        Figure("plan.runner_ratio_min", f"planner: predicted / measured peak memory of danlu's runner on {model} "
               "(lowest of its configurations)", min(ratios), "×", goal="≥ 1.0 (never under-budgets)",
               met=min(ratios) >= 1.0),
        Figure("plan.runner_ratio_max", f"planner: predicted / measured peak memory of danlu's runner on {model} "
               "(highest)", max(ratios), "×", goal="≤ 1.5", met=max(ratios) <= 1.5),
    ], args.json, smoke=args.smoke, detail=rows)


def measure(size, method, mb, seq, gc, attn, env):
    out = subprocess.run([sys.executable, "-c", CHILD, size, method, str(mb), str(seq), "1" if gc else "0", attn],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return (d["peak"] - d["base"]) / 1024**3


def predict(size, method, mb, seq, gc, attn):
    from danlu.engine.plan import memory as planner

    shape = planner.model_shape(f"demo:{size}")
    terms = planner.memory_terms(shape, method, mb, seq, precision="fp32", grad_checkpointing=gc,
                                 optimizer="adamw_torch", lora_r=16, lora_targets="all-linear", gpu=False,
                                 lora_dropout=0.05, attention=attn)
    return planner.metric_gb(terms, "reserved")


def main(argv=None):
    import argparse

    from danlu.engine.models import load as models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", help="write the measurements to this JSON file")
    ap.add_argument("--measured", help="reuse measurements from a JSON file written by --save (no training)")
    ap.add_argument("--model", help="measure danlu's runner on this model (e.g. demo:smollm2) instead")
    add_args(ap)
    args = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(os.cpu_count() or 1))
    if args.model:
        runner_main(args.model, env, args)
        return
    configs = CONFIGS[-1:] if args.smoke else CONFIGS
    cached = json.loads(Path(args.measured).read_text()) if args.measured else {}
    if not cached:
        for size in {c[0] for c in configs}:
            models.build_demo_model(size)
    rows, saved = [], {}
    print(f"{'config':<40} {'predicted GB':>12} {'measured GB':>12} {'ratio':>7}")
    for cfg in configs:
        size, method, mb, seq, gc, attn = cfg
        name = f"{size} {method} mb{mb} seq{seq}{' ckpt' if gc else ''} {attn}"
        measured = cached[name] if name in cached else measure(*cfg, env)
        saved[name] = measured
        predicted = predict(*cfg)
        ratio = predicted / measured
        rows.append(ratio)
        print(f"{name:<40} {predicted:>12.3f} {measured:>12.3f} {ratio:>7.2f}", flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(saved, indent=1))
    errors = [abs(r - 1) for r in rows]
    print(f"median |predicted/measured - 1| = {statistics.median(errors):.1%} over {len(rows)} configurations; "
          f"ratios {min(rows):.2f}–{max(rows):.2f}")
    report("plan_calibration", [
        Figure("plan.memory_error", f"planner: median |predicted / measured − 1| of peak memory ({len(rows)} "
               "demo-model configurations, CPU)", statistics.median(errors), "", goal="≤ 0.15",
               met=statistics.median(errors) <= 0.15),
        Figure("plan.memory_ratio_min", "planner: lowest predicted / measured peak memory (demo-model "
               "configurations)", min(rows), "×", goal="≥ 0.9", met=min(rows) >= 0.9),
    ], args.json, smoke=args.smoke, detail=saved)


if __name__ == "__main__":
    main()
