"""Does danlu's automatic recipe (engine/plan/recipe.py) give the best result for the data?  The real model trained on
two datasets of different size and task with: the automatic recipe, a grid around it, LLaMA-Factory's default LoRA
recipe and TRL's SFTTrainer defaults, all in danlu's trainer.  For each: held-out loss, ROUGE-L of greedy answers
to held-out prompts, the forgetting probe and wall time.

Datasets (offline):
  support  the sample data's English conversations (a lab's customer support; multi-paragraph answers)
  extract  a strict-format extraction set built from the sample generator's test catalogue: a customer's request
           in free text → one JSON object (name, city, test, samples, sample_type, express); answers are short

Recipes (each run in danlu's trainer, the same data, split and sequence length):
  auto     engine.plan.make on the training set with the task a user would pick (support: domain Q&A, whose preset
           mixes in 10 % replay against forgetting; extract: strict format): method, batch, lr, epochs, warm-up,
           evaluation and early stopping
  grid     8 points around auto: lr × {1/2, 2}, epochs × {auto - 1 (or 1/2), auto + 1}, batch × {1/2, 2}
           (the same early stopping as auto)
  lf       LLaMA-Factory's default LoRA SFT recipe: rank 8 (alpha 16, dropout 0) on all linear layers, lr 1e-4, 3
           epochs, batch 1 × accumulation 8, cosine, warm-up 0.1, no packing
  trl      TRL SFTTrainer's defaults: a full fine-tune, lr 2e-5, 3 epochs, batch 8, linear decay, no warm-up, no
           packing

Held-out loss is the mean loss on the held-out conversations' assistant tokens of the final model (for auto and the
grid: the best step's, which early stopping keeps).  ROUGE-L: greedy answers (``--answer-tokens``) to the first
user turn of ``--rouge`` held-out conversations against their reference answers.  Forgetting probe: the mean
KL(base ‖ tuned) per token on the base model's own greedy answers to presets/general_prompts.yaml (English).

    python bench/recipe.py                               # both datasets, about 80 minutes on a 2-core CPU
    python bench/recipe.py --datasets extract --json out.json
    python bench/recipe.py --smoke                       # demo:tiny, a few conversations, 2 grid points
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
from figures import Figure, add_args, at_most, report, work_dir  # noqa: E402

LF = {"method": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "lora_targets": "all-linear", "lr": 1e-4,
      "epochs": 3, "micro_batch": 1, "grad_accum": 8, "lr_scheduler": "cosine", "warmup_ratio": 0.1, "packing": False,
      "eval_steps": 0, "early_stopping_patience": 0, "group_by_length": False}
TRL = {"method": "full", "lr": 2e-5, "epochs": 3, "micro_batch": 8, "grad_accum": 1, "lr_scheduler": "linear",
       "warmup_ratio": 0.0, "packing": False, "eval_steps": 0, "early_stopping_patience": 0, "group_by_length": False,
       "weight_decay": 0.0}


# -- the datasets -----------------------------------------------------------------------------------------------------
def support_set(model_ref: str, n_train: int, n_eval: int, seed: int = 42):
    from danlu.engine import data
    from danlu.engine.data import select as sel
    from danlu.engine.plan import demo

    convs, _ = data.load_conversations(str(demo.sample_data_file()))
    english, _ = sel.by_language(data.clean(convs)[0], ["en"])
    train, held = data.split(english, 0.1, seed=seed)
    return sel.sample(train, n_train, seed), sel.sample(held, n_eval, seed)


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_data",
                                                  ROOT / "sample_data" / "generator" / "make_sample_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EXTRACT_SYSTEM = ("Extract the order from the customer's message as one JSON object with the keys name, city, test, "
                  "samples, sample_type and express. Reply with the JSON only.")
NAMES = ["Li Wei", "Zhang Min", "Anna Schmidt", "Tom Baker", "Chen Jing", "Maria Rossi", "Wang Fang", "David Kim",
         "Priya Nair", "Lukas Weber", "Sara Lopez", "Zhou Lei"]
CITIES = ["Suzhou", "Shanghai", "Hangzhou", "Nanjing", "Wuxi", "Ningbo", "Hefei", "Changzhou", "Xiamen", "Qingdao"]
TEMPLATES = [
    "Hi, this is {name} from {city}. We need {test} for {count} samples of {sample}{express}. Can you quote?",
    "{name} here ({city}). Please arrange {test}: {count} x {sample}{express}.",
    "Good morning. Our site in {city} has {count} samples of {sample} that need {test}{express}. Contact: {name}.",
    "Could you run {test} on {sample}? {count} samples from our {city} plant{express}. Thanks, {name}",
    "We'd like a quotation for {test} ({count} samples, {sample}){express}. {name}, {city} office.",
]
EXPRESS = [(", express service please", True), (" - it's urgent, we need the express option", True), ("", False),
           ("", False), (", standard turnaround is fine", False)]


def extract_set(n_train: int, n_eval: int, seed: int = 7):
    """Customer requests in free text → a JSON order, from the sample generator's catalogue (deterministic)."""
    gen = _generator()
    rng = random.Random(seed)
    convs = []
    for _ in range(n_train + n_eval):
        t = rng.choice(gen.TESTS)
        sample = rng.choice(t["en_samples"])
        express, is_express = rng.choice(EXPRESS)
        fields = {"name": rng.choice(NAMES), "city": rng.choice(CITIES), "count": rng.randint(1, 24)}
        user = rng.choice(TEMPLATES).format(test=t["en_name"], sample=sample, express=express, **fields)
        order = {"name": fields["name"], "city": fields["city"], "test": t["key"], "samples": fields["count"],
                 "sample_type": sample, "express": is_express}
        convs.append([{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": user},
                      {"role": "assistant", "content": json.dumps(order, ensure_ascii=False)}])
    return convs[:n_train], convs[n_train:]


# -- measuring a tuned model --------------------------------------------------------------------------------------
def greedy(model, tok, messages, max_new_tokens):
    import torch

    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                             repetition_penalty=1.1)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def base_probe(model, tok, max_new_tokens):
    """The base model's greedy answers to the English general prompts, and its log-probabilities over them."""
    import torch
    import yaml

    prompts = [p["prompt"] for p in yaml.safe_load((ROOT / "presets" / "general_prompts.yaml").read_text())
               if p["lang"] == "en"]
    rows = []
    for p in prompts:
        msgs = [{"role": "user", "content": p}]
        answer = greedy(model, tok, msgs, max_new_tokens)
        ids, n = _ids(tok, msgs, answer)
        with torch.no_grad():
            logp = model(input_ids=ids).logits[0, -n - 1:-1].float().log_softmax(-1)
        rows.append((msgs, answer, logp))
    return rows


def _ids(tok, msgs, answer):
    import torch

    prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt",
                                     return_dict=True)["input_ids"][0].tolist()
    return torch.tensor([prompt + answer]), len(answer)


def forgetting(model, tok, probe) -> float:
    import torch
    import torch.nn.functional as F

    kls = []
    for msgs, answer, base in probe:
        if not answer:
            continue
        ids, n = _ids(tok, msgs, answer)
        with torch.no_grad():
            tuned = model(input_ids=ids).logits[0, -n - 1:-1].float().log_softmax(-1)
        kls.append(F.kl_div(tuned, base, log_target=True, reduction="none").sum(-1).mean().item())
    return sum(kls) / len(kls) if kls else float("nan")


def rouge(model, tok, questions, max_new_tokens) -> tuple[float, float]:
    """ROUGE-L of greedy answers against the references, and the share of answers that parse as JSON."""
    from danlu.engine.infer import metrics

    answers = [tok.decode(greedy(model, tok, q["messages"], max_new_tokens), skip_special_tokens=True).strip()
               for q in questions]
    parsed = 0
    for a in answers:
        try:
            json.loads(a)
            parsed += 1
        except ValueError:
            pass
    return metrics.rouge_l(answers, [q["reference"] for q in questions]), parsed / max(1, len(answers))


# -- one run ------------------------------------------------------------------------------------------------------
def train_one(name, cfg, train, held, root, questions, probe, answer_tokens, keep=False):
    from danlu.engine.plan import prepare
    from danlu.engine.train import runner

    run = prepare.prepare_run(cfg, train, held, name=f"{name}", root=root)
    t0 = time.time()
    result = runner.run(cfg, run)
    wall = time.time() - t0
    model = result.model.eval()
    r, json_share = rouge(model, result.tokenizer, questions, answer_tokens)
    kl = forgetting(model, result.tokenizer, probe)
    done = next((e for e in reversed(run.events()) if e.TYPE == "done"), None)
    row = {"recipe": name, "held_out_loss": result.eval_loss_after, "rouge_l": r, "json_valid": json_share,
           "forgetting_kl": kl, "wall_s": round(wall, 1), "steps": result.steps, "best_step": done.best_step if done
           else None, "method": cfg.method, "lr": cfg.lr, "epochs": cfg.epochs, "micro_batch": cfg.micro_batch,
           "grad_accum": cfg.grad_accum, "eval_steps": cfg.eval_steps}
    print(f"    {name:<22} loss {row['held_out_loss']:.4f}  ROUGE-L {r:.3f}  json {json_share:.2f}  KL {kl:.4f}  "
          f"{wall:.0f} s  {result.steps} steps (best {row['best_step']})", flush=True)
    del result, model
    import gc

    gc.collect()
    if not keep:  # measured: a full fine-tune's folder holds gigabytes (checkpoints, best step, final model)
        shutil.rmtree(run.path, ignore_errors=True)
    return row


def grid_points(auto_plan) -> list[tuple[str, dict]]:
    e = auto_plan.epochs
    epochs = (max(1.0, e - 1) if e > 1 else 0.5, e + 1)
    b = auto_plan.effective_batch
    batches = (max(1, b // 2) if b > 1 else 2, 2 * b if b > 1 else 4)
    out = []
    for lr_x in (0.5, 2.0):
        for ep in epochs:
            for tb in batches:
                out.append((f"grid lr×{lr_x:g} ep{ep:g} b{tb}", {"lr": auto_plan.lr * lr_x, "epochs": ep, "tb": tb}))
    return out


TASKS = {"support": "domain_qa", "extract": "strict_format"}  # the goal a user would pick in the wizard


def bench_dataset(label, model_ref, train, held, args, work, probe_rows, tok_len):
    from danlu.engine.core.config import TrainConfig
    from danlu.engine.plan import demo, hardware, value as plan

    probe = hardware.probe()
    lengths = plan.token_lengths(model_ref, train)
    over = {"max_seq_len": args.seq_len} if args.seq_len else {}
    task = TASKS[label]
    auto = plan.make(model_ref, task=task, lengths=lengths, held_out=len(held), probe=probe, overrides=over)
    print(f"  {label}: {len(train)} train / {len(held)} held-out conversations, {sum(lengths):,} tokens; auto plan: "
          f"{auto.summary()}", flush=True)
    questions = demo.questions(held, args.rouge)
    root = work / label
    rows = [train_one("auto", auto.config(train_file="x"), train, held, root, questions, probe_rows, tok_len,
                      args.keep)]
    points = grid_points(auto)[:args.grid] if "grid" in args.recipes else []
    for name, pt in points:
        p = plan.make(model_ref, task=task, lengths=lengths, held_out=len(held), probe=probe, target_batch=pt["tb"],
                      method=auto.method, overrides=dict(over, lr=pt["lr"], epochs=pt["epochs"]))
        rows.append(train_one(name, p.config(train_file="x"), train, held, root, questions, probe_rows, tok_len,
                              args.keep))
    seq = auto.max_seq_len
    for name, recipe in (("LLaMA-Factory default", LF), ("TRL defaults", TRL)):
        if ("lf" if recipe is LF else "trl") not in args.recipes:
            continue
        if args.smoke:
            recipe = dict(recipe, epochs=1)
        cfg = TrainConfig(model=model_ref, train_file="x", max_seq_len=seq, **recipe).validate()
        rows.append(train_one(name, cfg, train, held, root, questions, probe_rows, tok_len, args.keep))
    return auto, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo:smollm2", help="the model (default the real demo:smollm2, planned as a "
                                                            "user's model folder: no demo time budget)")
    ap.add_argument("--datasets", default="support,extract")
    ap.add_argument("--support-train", type=int, default=48, help="training conversations of the support set")
    ap.add_argument("--extract-train", type=int, default=120, help="training examples of the extraction set")
    ap.add_argument("--held-out", type=int, default=12, help="held-out conversations of each set")
    ap.add_argument("--seq-len", type=int, default=256, help="max_seq_len for every recipe (the same for all)")
    ap.add_argument("--grid", type=int, default=8, help="grid points around auto (at most 8)")
    ap.add_argument("--recipes", default="auto,grid,lf,trl",
                    help="which to run (auto always; the figures need all four): auto,grid,lf,trl")
    ap.add_argument("--rouge", type=int, default=5, help="held-out prompts answered for ROUGE-L")
    ap.add_argument("--answer-tokens", type=int, default=48)
    add_args(ap)
    args = ap.parse_args()
    if args.smoke:
        args.model, args.support_train, args.extract_train, args.held_out = "demo:tiny", 8, 8, 4
        args.grid, args.rouge, args.answer_tokens, args.seq_len = 1, 1, 4, 128

    from danlu.engine.models import load as models

    ref = str(models.resolve_model(args.model))  # a model folder: planned as a user's model (no demo settings)
    with work_dir("recipe", args.keep) as work:
        bench_all(args, ref, work)


def bench_all(args, ref: str, work: Path) -> None:
    from danlu.engine.models import load as models

    from transformers import AutoModelForCausalLM

    tok = models.load_tokenizer(ref)
    base = AutoModelForCausalLM.from_pretrained(ref).eval()
    probe_rows = base_probe(base, tok, args.answer_tokens)
    del base

    figures, detail = [], {"model": args.model, "args": vars(args) | {"json": str(args.json)}}
    for label in args.datasets.split(","):
        if label == "support":
            train, held = support_set(ref, args.support_train, args.held_out)
        elif label == "extract":
            train, held = extract_set(args.extract_train, args.held_out)
        else:
            raise SystemExit(f"unknown dataset {label!r}: support or extract")
        print(f"dataset {label} …", flush=True)
        auto, rows = bench_dataset(label, ref, train, held, args, work, probe_rows, args.answer_tokens)
        detail[label] = {"plan": auto.to_dict()["summary"], "rows": rows}
        a = rows[0]
        grid = [r for r in rows if r["recipe"].startswith("grid")]
        lf = next((r for r in rows if r["recipe"].startswith("LLaMA")), None)
        trl = next((r for r in rows if r["recipe"].startswith("TRL")), None)
        if lf is None or trl is None:  # a partial run (--recipes): its rows only
            continue
        best = min([a] + grid, key=lambda r: r["held_out_loss"])
        figures += [
            Figure(f"recipe.{label}.loss_vs_grid_best", f"recipe ({label}): held-out loss, auto vs the grid's best "
                   f"({best['recipe']})", a["held_out_loss"], "", best["held_out_loss"], "grid best", "≤ 1.03×",
                   at_most(a["held_out_loss"] / best["held_out_loss"], 1.03)),
            Figure(f"recipe.{label}.loss_vs_lf", f"recipe ({label}): held-out loss, auto vs LLaMA-Factory's default",
                   a["held_out_loss"], "", lf["held_out_loss"], "LF default", "< 1×",
                   a["held_out_loss"] < lf["held_out_loss"]),
            Figure(f"recipe.{label}.loss_vs_trl", f"recipe ({label}): held-out loss, auto vs TRL defaults",
                   a["held_out_loss"], "", trl["held_out_loss"], "TRL defaults", "< 1×",
                   a["held_out_loss"] < trl["held_out_loss"]),
            Figure(f"recipe.{label}.wall_vs_lf", f"recipe ({label}): wall time, auto vs LLaMA-Factory's default",
                   a["wall_s"], "s", lf["wall_s"], "LF default", "≤ 1×", at_most(a["wall_s"] / lf["wall_s"], 1.0)),
            Figure(f"recipe.{label}.rouge_vs_lf", f"recipe ({label}): ROUGE-L, auto vs the better of LF and TRL",
                   a["rouge_l"], "", max(lf["rouge_l"], trl["rouge_l"]), "best baseline", "≥ 1×",
                   a["rouge_l"] >= max(lf["rouge_l"], trl["rouge_l"])),
            Figure(f"recipe.{label}.forgetting_vs_lf", f"recipe ({label}): forgetting KL, auto vs the least of LF "
                   "and TRL", a["forgetting_kl"], "nats", min(lf["forgetting_kl"], trl["forgetting_kl"]),
                   "best baseline", "≤ 1×", a["forgetting_kl"] <= min(lf["forgetting_kl"], trl["forgetting_kl"])),
        ]
    print("\n" + table(detail, args.datasets.split(",")))
    report("recipe", figures, args.json, smoke=args.smoke, detail=detail)


def table(detail, labels) -> str:
    lines = []
    for label in labels:
        lines += [f"{label}: {detail[label]['plan']}",
                  "| recipe | held-out loss | ROUGE-L | JSON valid | forgetting KL | wall s | steps (best) |",
                  "|---|---|---|---|---|---|---|"]
        for r in detail[label]["rows"]:
            lines.append(f"| {r['recipe']} | {r['held_out_loss']:.4f} | {r['rouge_l']:.3f} | {r['json_valid']:.2f} | "
                         f"{r['forgetting_kl']:.4f} | {r['wall_s']:.0f} | {r['steps']} ({r['best_step']}) |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
