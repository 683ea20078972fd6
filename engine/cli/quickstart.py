"""``danlu quickstart``: the whole job on the offline demo defaults, start to finish.

probe → model (import the real demo model once) → data (detect, convert, clean, select, split) →
plan → train (in a run directory) → eval loss before/after → held-out questions answered by the
base and the tuned model → export adapter + merged → reload the merged model and compare its
logits with the tuned model in memory.

The default model is the real pretrained SmolLM2-135M-Instruct (``demo:smollm2``) with the settings
of presets/demo.yaml (engine/plan/demo.py); ``--model demo:small|demo:tiny`` runs the quick random-init
paths, any other model the pretrained defaults.
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import data
from ..core import paths
from ..core.config import METHODS
from ..core.errors import DanluError
from ..models import load as models
from ..plan import demo, hardware, value as plan
from .common import out, print_answers, stderr_console
from .train import ProgressView, print_event


def quickstart(*, method: str | None = None, model: str | None = None, size: str | None = None,
               data_file: str | None = None, epochs: float | None = None, max_steps: int = -1,
               runs_root: str | None = None, progress=lambda stage, text: None, listener=None) -> dict:
    t0 = time.time()
    if method not in (*METHODS, "auto", None):
        raise DanluError(f"unknown method {method!r}", fix="use auto, full, lora or qlora")
    model_ref = model or (f"demo:{size}" if size else demo.default_model())
    models.check_model_ref(model_ref)
    source = Path(data_file).expanduser() if data_file else demo.sample_data_file()
    if not source.is_file():
        raise DanluError(f"dataset file not found: {source}", fix="check the --data path (see sample_data/)")
    s = demo.settings(model_ref)

    progress("probe", "probing hardware")
    hw = hardware.probe()
    progress("probe", f"{hw.accelerator}: {hw.nvml}" if hw.accelerator == "cpu" else
             f"GPU {hw.gpus[0].name} with {hw.gpus[0].memory_free_gb} GB free")

    if models.is_random_init(model_ref):
        progress("model", f"building the random-init demo model {model_ref} (cached after the first time)")
    # a first run imports the real demo model: its steps (read, load, write, verify) are the model stage's
    models.resolve_model(model_ref, progress=lambda step, text: progress("model", text if step == "model" else
                                                                        f"{step}: {text}"))
    progress("model", f"{model_ref}: {_describe(model_ref)}")

    progress("data", f"reading {source}")
    convs, report = data.load_conversations(source)
    cleaned, removed = data.clean(convs)
    chosen, note = demo.select(model_ref, cleaned, source)
    train_convs, eval_convs = demo.split(model_ref, chosen)
    progress("data", f"{report.format} ({report.evidence}); {len(cleaned)} kept, {len(report.problems)} skipped, "
             f"{sum(removed.values())} duplicates removed")
    if note:
        progress("data", note)
    held = demo.settings(model_ref).get("eval_samples")
    progress("data", f"{len(train_convs)} train / {len(eval_convs)} held-out conversations"
             + (f" (the demo holds out at most {held}, so that evaluating takes seconds; the rest of the "
                f"{demo.eval_ratio():.0%} split trains)" if held and len(eval_convs) == held else ""))

    p = plan.demo_plan(model_ref, train_convs, method=method, epochs=epochs, max_steps=max_steps, probe=hw,
                  held_out=len(eval_convs))
    if not p.fits:
        raise DanluError(f"the plan does not fit this machine ({p.predicted_peak_gb:.2f} GB of {p.budget_gb:.2f} GB)",
                         fix="; ".join(p.remedies) or "use a smaller model (--model demo:tiny)")
    cfg = p.config(train_file="(prepared)")
    from ..plan import prepare
    from ..train import runner as train

    run = prepare.prepare_run(cfg, train_convs, eval_convs, name=prepare.run_name(cfg, "quickstart-"),
                              root=Path(runs_root) if runs_root else None)
    progress("plan", str(p.summary()))

    progress("train", f"training in {run.path}")
    result = train.run(cfg, run, listener=listener)
    model_obj, tokenizer = result.model, result.tokenizer

    from ..infer import chat

    questions = demo.questions(eval_convs, int(s.get("questions", 2)))
    progress("chat", f"{len(questions)} held-out question(s), answered greedily by the base and the tuned model")
    answers = chat.compare(model_obj, tokenizer, questions, base_ref=model_ref if cfg.method == "full" else None,
                           max_new_tokens=int(s.get("answer_tokens", 64)),
                           repetition_penalty=float(s.get("repetition_penalty", 1.0)))

    progress("export", "exporting the adapter and a merged model, then checking the merged logits")
    from ..export import pipeline as export

    # the tuned model in memory is the reference the merged model must match (QLoRA: the merge goes into the 16-bit
    # base, so its reference is loaded from disk)
    exported = export.export(str(run.path), run.path / "export", targets=("adapter", "merged"),
                             reference=model_obj.eval() if cfg.method != "qlora" else None,
                             progress=lambda stage, text: progress("export", text))
    losses = result.losses
    return {
        "run_dir": str(run.path),
        "model": model_ref,
        "method": cfg.method,
        "device": hw.accelerator,
        "data_note": note,
        "train_conversations": len(train_convs),
        "eval_conversations": len(eval_convs),
        "max_seq_len": cfg.max_seq_len,
        "lr": cfg.lr,
        "lora_r": p.lora_r,
        "micro_batch": cfg.micro_batch,
        "grad_accum": cfg.grad_accum,
        "steps": result.steps,
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "eval_loss_before": result.eval_loss_before,
        "eval_loss_after": result.eval_loss_after,
        "tokens_per_s": round(result.tokens_per_s, 1) if result.tokens_per_s else None,
        "answers": answers,
        "chat_prompt": answers[0]["prompt"] if answers else None,
        "chat_answer": answers[0]["tuned"] if answers else None,
        "export_dir": exported.export_dir,
        "adapter_dir": exported.adapter_dir,
        "merged_dir": exported.merged_dir,
        "merged_logits_max_abs_diff": exported.merged_logits_max_abs_diff,
        "plan": p.to_dict(),
        "diagnosis": _diagnosis(run),
        "seconds": round(time.time() - t0, 1),
    }


def _diagnosis(run) -> dict | None:
    from ..runs import diagnosis

    d = diagnosis.read(run)
    return d.to_dict() if d else None


def _describe(model_ref: str) -> str:
    if models.is_random_init(model_ref):
        return "random init: the pipeline runs, the answers are not meant to make sense"
    name = model_ref.split(":", 1)[1] if model_ref.startswith("demo:") else None
    if name in models.REAL_DEMOS:
        spec = models.REAL_DEMOS[name]
        return f"{spec['title']} (pretrained, imported from {spec['file']} in {paths.models_cache()})"
    return "pretrained model"


def cmd_quickstart(args):
    console = stderr_console()
    stages = ["probe", "model", "data", "plan", "train", "chat", "export"]

    def progress(stage, text):
        n = stages.index(stage) + 1 if stage in stages else "?"
        console.print(f"[bold cyan][{n}/{len(stages)} {stage}][/bold cyan] {text}")

    import contextlib

    view = ProgressView(console) if console.is_terminal and not args.json else contextlib.nullcontext(
        lambda ev: print_event(console, ev))
    with view as listener:
        res = quickstart(method=args.method, model=args.model, size=args.size, data_file=args.data,
                                    epochs=args.epochs, max_steps=args.max_steps, progress=progress, listener=listener)
    if args.json:
        out(args, res)
        return
    print_answers(res["answers"])
    print(f"\nrun:        {res['run_dir']}\n"
          f"train loss  {res['train_loss_first']:.3f} → {res['train_loss_last']:.3f} over {res['steps']} steps\n"
          f"eval loss   {res['eval_loss_before']:.3f} → {res['eval_loss_after']:.3f} on {res['eval_conversations']} "
          f"held-out conversations (base → tuned)\n"
          f"export:     {res['export_dir']} (merged logits max |diff| {res['merged_logits_max_abs_diff']:.2e})\n"
          + (f"diagnosis:  {res['diagnosis']['summary']} — next: {res['diagnosis']['next_reason']} "
             f"(danlu plan --from {res['run_dir']})\n" if res.get("diagnosis") else "") +
          f"took {res['seconds']:.0f} s — next: danlu chat {res['run_dir']}")
    from ..models import load as models

    if models.is_random_init(res["model"]):
        print("(the random-init demo model starts from random weights, so its answers are not meant to make sense: "
              "this run shows the pipeline; the default demo:smollm2 is a real pretrained model)")