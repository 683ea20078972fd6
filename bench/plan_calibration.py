"""Check the planner's memory formulas against real training on this machine's CPU.

For each configuration a fresh subprocess imports the libraries, notes its RSS, loads the demo
model for the method, trains three steps on fixed-length batches (forward, loss, backward, AdamW
step) and reports its peak RSS (ru_maxrss).  Measured = peak − RSS before the model was loaded.
Predicted = the planner's terms for the same configuration, in its "reserved" metric (no CUDA
context on the CPU).  Prints predicted/measured per configuration and the median relative error.

    python bench/plan_calibration.py            # ~2 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
from engine import models
from engine.config import TrainConfig
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


def measure(size, method, mb, seq, gc, attn, env):
    out = subprocess.run([sys.executable, "-c", CHILD, size, method, str(mb), str(seq), "1" if gc else "0", attn],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return (d["peak"] - d["base"]) / 1024**3


def predict(size, method, mb, seq, gc, attn):
    from engine import planner

    shape = planner.model_shape(f"demo:{size}")
    terms = planner.memory_terms(shape, method, mb, seq, precision="fp32", grad_checkpointing=gc,
                                 optimizer="adamw_torch", lora_r=16, lora_targets="all-linear", gpu=False,
                                 lora_dropout=0.05, attention=attn)
    return planner.metric_gb(terms, "reserved")


def main(argv=None):
    import argparse

    from engine import models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--save", help="write the measurements to this JSON file")
    ap.add_argument("--measured", help="reuse measurements from a JSON file written by --save (no training)")
    args = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(os.cpu_count() or 1))
    cached = json.loads(Path(args.measured).read_text()) if args.measured else {}
    if not cached:
        for size in {c[0] for c in CONFIGS}:
            models.build_demo_model(size)
    rows, saved = [], {}
    print(f"{'config':<40} {'predicted GB':>12} {'measured GB':>12} {'ratio':>7}")
    for cfg in CONFIGS:
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


if __name__ == "__main__":
    main()
