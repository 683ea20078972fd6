"""``danlu probe`` and ``danlu plan``: render engine.plan's value (text, --json, --save)."""

from __future__ import annotations

from ..core.errors import DanluError
from .common import out


# -- probe ------------------------------------------------------------------------------------
def cmd_probe(args):
    from ..plan import hardware

    info = hardware.probe(gpu=args.gpu)
    if args.gpu is not None and info.gpus and info.selected_gpu is None:
        raise DanluError(f"no GPU with index {args.gpu}", fix=f"choose one of {[g.index for g in info.gpus]}")
    lines = [f"accelerator: {info.accelerator}  (NVML: {info.nvml})"]
    if info.driver:
        lines.append(f"driver {info.driver}, CUDA {info.cuda_driver}")
    for g in info.gpus:
        mark = "*" if g.index == info.selected_gpu else " "
        lines.append(
            f"{mark} GPU {g.index}: {g.name}  {g.memory_free_gb:.1f} / {g.memory_total_gb:.1f} GB free"
            f"  cc {g.compute_capability}  bf16 {'yes' if g.bf16 else 'no'}"
            + (f"  ({len(g.processes)} other process(es) hold memory)" if g.processes else "")
        )
    if info.interconnect:
        lines.append(f"interconnect: {info.link_words()}")
        for pair in info.topology:
            if pair["path"]:
                lines.append(f"  GPU {pair['gpus'][0]} ↔ GPU {pair['gpus'][1]}: through {pair['path']}")
        lines.append(f"  plan for them all: danlu plan --gpus {len(info.gpus)} …")
    for w in info.warnings:
        lines.append(f"! {w}")
    h = info.host
    lines.append(f"host: {h.cpu} · {h.cores} cores · RAM {h.ram_available_gb:.1f} / {h.ram_total_gb:.1f} GB "
                 f"free · disk {h.disk_free_gb:.0f} GB free at {h.disk_path}")
    out(args, info.to_dict(), "\n".join(lines))


# -- plan -------------------------------------------------------------------------------------
def cmd_plan(args):
    from ..core import presets

    if args.list_models:
        out(args, presets.model_ids(), "\n".join(presets.model_ids()))
        return
    if args.from_run and args.stage and args.stage != _run_stage(args.from_run):
        _start_from_run(args)  # a new stage after the run: its model is the starting point
    elif args.from_run:
        _plan_from_run(args)
        return
    if not args.model:
        raise DanluError("no model given", where="danlu plan", fix="pass --model, e.g. --model Qwen/Qwen2.5-7B-Instruct")
    p, convs = _plan_from_args(args)
    if args.save:
        _save_plan(args, p, convs)
        return
    out(args, p.to_dict(), _plan_text(p))


def _plan_from_args(args):
    """The plan for `danlu plan`'s flags: the engine's one decider (engine.plan.make), flags as overrides."""
    from ..core import config as config_mod
    from .. import data
    from ..plan import hardware, value as plan

    probe = None if args.gpu_mem is not None else hardware.probe(gpu=args.gpu)
    if probe and args.gpu is not None and probe.selected_gpu is None:
        raise DanluError(f"no GPU with index {args.gpu}",
                         fix=f"choose one of {[g.index for g in probe.gpus] or 'none: this machine has no GPU'}")
    overrides = config_mod.TrainConfig.parse_overrides(args.overrides)
    flags = {"max_seq_len": args.seq_len, "micro_batch": args.micro_batch, "lora_r": args.lora_r,
             "lora_targets": args.lora_targets, "optimizer": args.optimizer,
             "grad_checkpointing": {"on": True, "off": False, None: None}[args.grad_checkpointing]}
    flags.update(gpus=getattr(args, "gpus", None), nodes=getattr(args, "nodes", None))
    overrides.update({k: v for k, v in flags.items() if v is not None})
    stage = getattr(args, "stage", None) or overrides.get("stage") or "sft"
    if stage != "sft":
        overrides["stage"] = stage
    if getattr(args, "start_from", None):
        overrides["start_from"] = args.start_from
    convs, lengths = None, None
    if args.data and stage != "sft":  # pairs: each counted with its longer answer (a sequence of the pair)
        from ..data import preference

        d = preference.load(args.data)
        convs = d.pairs or d.unpaired
        longer = [preference.longer_conversation(i) for i in convs]
        lengths = plan.token_lengths(args.model, longer, trust_remote_code=args.trust_remote_code) if convs else []
    elif args.data:
        convs, _ = data.load_conversations(args.data)
        lengths = plan.token_lengths(args.model, convs, trust_remote_code=args.trust_remote_code) if convs else []
    if args.eval_data and stage != "sft":
        from ..data import preference

        held = preference.load(args.eval_data)
        held_out = len(held.pairs or held.unpaired)
    else:
        held_out = len(data.load_conversations(args.eval_data)[0]) if args.eval_data else 0
    p = plan.make(args.model, task=args.task, method=args.method, overrides=overrides, lengths=lengths, probe=probe,
                  gpu_mem_gb=args.gpu_mem, target_batch=args.target_batch, trust_remote_code=args.trust_remote_code,
                  held_out=held_out, link=getattr(args, "interconnect", None))
    return p, convs


def _run_stage(ref: str) -> str:
    from ..core.config import TrainConfig
    from ..runs import store as runs

    run = runs.resolve(ref)
    return TrainConfig.load(run.config_path).stage if run.config_path.exists() else "sft"


def _start_from_run(args) -> None:
    """``danlu plan --stage dpo --from RUN``: the new stage starts from the run's model (its merged weights, made
    once into the run's export folder), which is also the new stage's reference model."""
    import sys

    from ..export import pipeline
    from ..runs import store as runs

    run = runs.resolve(args.from_run)
    if args.model:
        raise DanluError("--model and --from both name the starting model", where="danlu plan",
                         fix=f"drop --model: the {args.stage} stage starts from run {run.id}'s model")
    if not args.json:
        print(f"starting point: run {run.id}'s model (merging its adapter once into {run.path / 'export' / 'merged'})",
              file=sys.stderr)
    args.model = str(pipeline.starting_point(run))
    args.start_from = str(run.path)
    args.from_run = None


def _plan_from_run(args) -> None:
    """``danlu plan --from RUN``: the run's diagnosis, and the plan its next-plan changes give (engine.plan.next_plan)."""
    from pathlib import Path

    from ..core import atomic, guard
    from ..plan import value as plan
    from ..runs import store as runs

    run = runs.resolve(args.from_run)
    p, d, cfg = plan.next_plan(run, overrides=args.overrides)
    head = [f"run {run.id}: {d.summary}"] + [f"  • {e}" for e in d.evidence]
    head.append(f"next: {d.next_reason or 'the same plan'}"
                + (" (" + ", ".join(f"{k}={v}" for k, v in d.next_overrides.items()) + ")" if d.next_overrides else ""))
    result = p.to_dict()
    result.update(from_run=str(run.path), diagnosis=d.to_dict())
    if args.save:
        dest = Path(args.save)
        if str(args.save).endswith("/") or dest.is_dir():
            dest = dest / "config.yaml"
        guard.check_destination(dest, guard.inputs_of((cfg.train_file, "the run's training data"),
                                                     (run.config_path, "the run's config")), what="--save")
        atomic.write_text(dest, cfg.to_yaml())
        result["saved"] = str(dest)
        head.append(f"saved {dest}\nnext: danlu train {dest}")
    out(args, result, "\n".join(head + ["", _plan_text(p)]))


def _plan_text(p) -> str:
    verdict = "fits" if p.fits else "DOES NOT FIT"
    lines = [f"{p.model} on {p.device}", f"plan: {p.summary()}",
             f"predicted peak {p.predicted_peak_gb:.2f} GB of {p.budget_gb:.2f} GB: {verdict}", "why:"]
    lines += [f"  • {text}" for _, text in p.reasons]
    if p.remedies:
        lines.append("to make it fit: " + "; ".join(p.remedies))
    lines.append("candidates (per device):" if p.distributed.get("world_size", 1) > 1 else "candidates:")
    for c in p.candidates:
        terms = ", ".join(f"{k} {v:.2f}" for k, v in c["terms"].items() if v)
        where = f"{c['strategy']:<12} " if "strategy" in c else ""
        ckpt = "ckpt" if c.get("grad_checkpointing") else "    "  # checkpointing: why activations differ so
        lines.append(f"  {where}{c['method']:<5} mb {c['micro_batch']:<2} {ckpt} {c['peak_gb']:>7.2f} GB  "
                     f"{c['reason']}  [{terms}]")
    return "\n".join(lines)


def _save_plan(args, p, convs) -> None:
    """``danlu plan --save CONFIG``: the plan's config (the wizard's Plan screen writes the same for the same
    choices: both are engine.plan.Plan.config)."""
    from pathlib import Path

    from ..core import atomic, guard
    from .. import data

    if not p.fits:
        raise DanluError(f"the plan does not fit ({p.predicted_peak_gb:.2f} GB of {p.budget_gb:.2f} GB)",
                         fix="; ".join(p.remedies) or "pick a smaller model or a shorter --seq-len")
    dest = Path(args.save)
    if str(args.save).endswith("/") or dest.is_dir():
        dest = dest / "config.yaml"
    guard.check_destination(dest, guard.inputs_of((args.data, "the dataset (--data)"),
                                                 (args.eval_data, "the eval data (--eval-data)")), what="--save")
    cfg = p.config(train_file=str(Path(args.data).resolve()) if args.data else "",
                   eval_file=str(Path(args.eval_data).resolve()) if args.eval_data else None,
                   dataset_hash=data.file_hash(args.data) if args.data else "")
    atomic.write_text(dest, cfg.to_yaml())
    import dataclasses

    d = p.to_dict()
    d.update(saved=str(dest), config=dataclasses.asdict(cfg))
    next_step = f"danlu train {dest}" if args.data else f"set train_file in {dest}, then: danlu train {dest}"
    out(args, d, f"plan: {p.summary()}\nsaved {dest}\nnext: {next_step}")
