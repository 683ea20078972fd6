"""Export a run: adapter, merged model, GGUF and Ollama, Hub — each verified in the runtime that will run it.

``danlu export RUN --to adapter,merged,gguf,ollama,hub``:

* **adapter** — the PEFT folder with the tokenizer, chat template and a model card;
* **merged** — the adapter merged into the base model's own 16-bit (or fp32) weights read from disk,
  shard by shard (engine.export.merge: never into 4-bit weights, never the whole model in memory, on the CPU),
  with the tokenizer and a ``generation_config.json`` that stops at the end-of-turn token; reloaded
  and its logits compared with the tuned model (base + adapter) on fixed prompts;
* **gguf** — danlu's writer (engine.export.gguf_export) in f16 / bf16 / q8_0 / q4_0 / q4_1, K-quants through
  llama.cpp's quantiser (``llama-quantize``, or llama-cpp-python's), or llama.cpp's own converter with
  ``--llama-cpp DIR``; read back by the ``gguf`` reader (metadata, chat template, stop ids), loaded by
  transformers' GGUF loader and, when llama-cpp-python is installed, by llama.cpp itself (the runtime
  Ollama and LM Studio use): logits, next-token agreement, the greedy answer to a held-out prompt and
  the tokenizer, against the merged model;
* **ollama** — a Modelfile next to the GGUF: ``FROM``, a Go ``TEMPLATE`` derived from the chat template
  and rendered by Go's text/template against it (engine.export.ollama), ``PARAMETER stop`` for every
  end-of-turn token, the run's system prompt, and the ``ollama create`` command;
* **hub** — the adapter or merged folder pushed with its model card; the token comes from the
  environment or ``hf auth login`` and is never written anywhere.

Everything is written to a temporary folder beside the destination and renamed when complete; a
failed export leaves the previous one as it was and nothing that looks complete.
"""

from __future__ import annotations

import dataclasses
import copy
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..core import atomic
from . import checks
from ..core.errors import DanluError
from ..core.texts import Msg, msg

TARGETS = ("adapter", "merged", "gguf", "ollama", "hub")
DEFAULT_TARGETS = ("adapter", "merged")


# -- in-memory merge (DoRA and other adapters the file merge does not handle) -----------------------------------
def _dequantized(module):
    """The weight of a linear layer as a plain tensor (dequantising bitsandbytes 4-bit)."""
    weight = module.weight
    state = getattr(weight, "quant_state", None)
    if state is None:
        return weight.data
    import bitsandbytes.functional as bnbf

    data = weight.data
    if getattr(state, "packing_format_for_cpu", False):
        # bitsandbytes repacks 4-bit weights for its CPU inference kernel; undo that on a copy
        data, state = bnbf._convert_weight_packed_for_cpu_inverse(data.clone(), copy.deepcopy(state))
    return bnbf.dequantize_4bit(data, state)


def merged_state_dict(model, dtype=None) -> tuple[dict, object]:
    """A plain state dict with every adapter merged, and the inner base model's config."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft missing: nothing can be an adapter
        LoraLayer = ()
    special: dict[str, dict] = {}
    for name, module in inner.named_modules():
        if any(name.startswith(f"{done}.") for done in special):
            continue  # the base layer inside an adapter-wrapped layer: already merged
        if LoraLayer and isinstance(module, LoraLayer):
            base = module.get_base_layer()
            w = _dequantized(base).float()
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    w = w + module.get_delta_weight(adapter).float()
            tensors = {"weight": w}
            if getattr(base, "bias", None) is not None:
                tensors["bias"] = base.bias.data.float()
            special[name] = tensors
        elif getattr(getattr(module, "weight", None), "quant_state", None) is not None:
            tensors = {"weight": _dequantized(module).float()}
            if getattr(module, "bias", None) is not None:
                tensors["bias"] = module.bias.data.float()
            special[name] = tensors
    dtype = dtype or next(p.dtype for p in inner.parameters() if p.is_floating_point())
    out = {}
    prefixes = tuple(f"{n}." for n in special)
    for key, value in inner.state_dict().items():
        if prefixes and key.startswith(prefixes):
            continue
        out[key] = value.detach().to(dtype) if value.is_floating_point() else value.detach()
    for name, tensors in special.items():
        for k, v in tensors.items():
            out[f"{name}.{k}"] = v.to(dtype)
    return out, inner.config


def save_merged_in_memory(model, out: Path, dtype) -> None:
    """Write the merged model from the model in memory (adapters the file merge does not know, e.g. DoRA)."""
    import torch
    from transformers import AutoModelForCausalLM

    sd, config = merged_state_dict(model, dtype)
    config = copy.deepcopy(config)
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(config, dtype=dtype)
    missing, unexpected = fresh.load_state_dict(sd, strict=False, assign=True)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise DanluError(f"merged weights do not match the architecture (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})", fix="report this with the model id; export the adapter only")
    if tied:
        fresh.tie_weights()
    fresh.save_pretrained(out)


# -- what is exported from where --------------------------------------------------------------------------------
@dataclass
class Source:
    """A run's tuned model on disk: the base model folder, the adapter (or the full model), facts for the card."""

    run: Path
    base_dir: Path  # the base model folder (adapter runs) or the tuned full model (full runs)
    adapter: Path | None
    method: str
    base_ref: str
    params: int = 0
    config: object = None
    adapter_kind: str = "lora"
    notes: list = field(default_factory=list)


def locate(run_ref: str, checkpoint: int | str | None = None) -> Source:
    """The run's final model (or one checkpoint's) as files; raises DanluError before anything is loaded."""
    from ..infer import chat
    from ..runs import store as runs
    from ..core.config import TrainConfig

    run = runs.resolve(run_ref)
    if checkpoint is None and run.is_training():
        # its final/ (if any) is an earlier round's, while events and status already tell of the running one
        have = chat._checkpoints(run)
        raise DanluError(msg("err_still_training", "run {run} is still training", run=run.id), fix=(
            msg("fix_from_checkpoint", "export a saved checkpoint with --from-checkpoint {n}",
                n=have[-1].name.split("-")[-1]) if have else
            msg("fix_wait_export", "wait until it saves a checkpoint (danlu stop --checkpoint asks for one) or "
                "finishes")))
    if checkpoint is None and not run.final_dir.exists():
        raise DanluError(msg("err_no_final", "run {run} has no final model yet (state: {state})", run=run.id,
                             state=run.effective_state()),
                         fix=msg("fix_export_after", "export after training finishes (danlu attach shows it), or "
                                 "resume it"))
    target = chat.locate(str(run.path), checkpoint)
    cfg = TrainConfig.load(run.config_path) if run.config_path.exists() else None
    adapter = Path(target.adapter) if target.adapter else None
    kind = "lora"
    if adapter is not None:
        acfg = runs.read_json(adapter / "adapter_config.json", "the adapter's adapter_config.json")
        kind = "dora" if acfg.get("use_dora") else str(acfg.get("peft_type", "LORA")).lower()
    base_dir = Path(target.base)
    if not (base_dir / "config.json").is_file():
        raise DanluError(f"the base model {target.base_ref or target.base} is not a local folder, so it cannot be "
                         "merged from disk", fix="download it first (it is in the Hugging Face cache after training)")
    params = _count_params(base_dir)
    return Source(run=run.path, base_dir=base_dir, adapter=adapter, method=target.method or (cfg.method if cfg else
                  "lora"), base_ref=target.base_ref or str(base_dir), params=params, config=cfg, adapter_kind=kind)


def _count_params(folder: Path) -> int:
    from safetensors import safe_open

    n = 0
    for f in sorted(folder.glob("*.safetensors")):
        if f.name.startswith("adapter_"):
            continue
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                shape = fh.get_slice(key).get_shape()
                n += math.prod(shape)
    return n


def parse_targets(text) -> list[str]:
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [t for t in items if t not in TARGETS]
    if unknown or not items:
        raise DanluError(f"unknown export target(s): {', '.join(unknown) or '(none)'}",
                         fix=f"use a comma list of {', '.join(TARGETS)}")
    if "ollama" in items and "gguf" not in items:
        items.insert(items.index("ollama"), "gguf")  # Ollama runs a GGUF file
    return list(dict.fromkeys(items))


def parse_gguf_types(text) -> list[str]:
    from .gguf_export import ALL_TYPES

    items = [t.strip().lower().replace("-", "_") for t in (text.split(",") if isinstance(text, str) else text)
             if t.strip()]
    bad = [t for t in items if t not in ALL_TYPES]
    if bad or not items:
        raise DanluError(f"unknown GGUF type(s): {', '.join(bad) or '(none)'}", fix=f"use {', '.join(ALL_TYPES)}")
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class SourceInfo:
    """What the wizard's Export screen needs to know about a run before exporting it."""

    params: int
    full: bool  # a full fine-tune: no adapter to export
    dtype: str  # the base model's stored precision (fp32, bf16, fp16)
    kquants: bool  # llama.cpp's quantizer is available for the K-quant GGUF types


@dataclass(frozen=True)
class GGUFChoice:
    qtype: str
    bytes: int  # the file's estimated size
    native: bool  # written by danlu's own GGUF writer (the others need llama.cpp's quantizer)


def source_info(run_ref: str) -> SourceInfo:
    from . import merge

    source = locate(run_ref)
    return SourceInfo(source.params, source.adapter is None, merge.base_dtype(source.base_dir),
                      llama_quantizer() is not None)


def gguf_choices(params: int, types=None) -> list[GGUFChoice]:
    from . import gguf_export

    return [GGUFChoice(q, gguf_export.estimate_bytes(params, q), q in gguf_export.PYTHON_TYPES)
            for q in (types or gguf_export.ALL_TYPES)]


def llama_quantizer(path: str | None = None):
    """How K-quants are made here: ('binary', path) | ('python', None) | None."""
    path = path or os.environ.get("DANLU_LLAMA_QUANTIZE")
    if path:
        p = Path(path).expanduser()
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise DanluError("llama-quantize not found or not executable", where=str(p),
                             fix="pass the path of llama.cpp's llama-quantize binary (build/bin/llama-quantize)")
        return ("binary", str(p))
    found = shutil.which("llama-quantize")
    if found:
        return ("binary", found)
    try:
        import llama_cpp  # noqa: F401

        return ("python", None)
    except ImportError:
        return None


def sizes(source: Source, targets: list[str], gguf_types: list[str], dtype: str) -> dict:
    """Bytes each target will take on disk (shown before exporting)."""
    from .gguf_export import estimate_bytes

    per = {"fp32": 4, "bf16": 2, "fp16": 2}[dtype]
    out = {}
    if "adapter" in targets and source.adapter is not None:
        out["adapter"] = sum(p.stat().st_size for p in source.adapter.iterdir() if p.is_file())
    if "merged" in targets or "gguf" in targets:
        out["merged"] = source.params * per
    for q in gguf_types if "gguf" in targets else []:
        out[f"gguf {q}"] = estimate_bytes(source.params, q)
    return out


def preflight(run_ref: str, out: str | os.PathLike | None, *, targets, gguf_types=("f16",), dtype: str | None = None,
              overwrite: bool = False, llama_quantize: str | None = None, llama_cpp: str | None = None,
              hub_repo: str | None = None, system: str | None = None, checkpoint: int | str | None = None) -> dict:
    """Every check that can fail, before anything heavy runs: folder, targets, tools, disk and memory."""
    import psutil

    from . import gguf_export, merge

    defaulted = targets is None or tuple(targets) == DEFAULT_TARGETS
    targets = parse_targets(targets or DEFAULT_TARGETS)
    gguf_types = parse_gguf_types(gguf_types) if "gguf" in targets else []
    source = locate(run_ref, checkpoint)
    virtual = source.adapter_kind in ("prompt_tuning", "prefix_tuning")
    if virtual and defaulted:  # nothing to merge: the default becomes the adapter alone, said in the result
        targets = ["adapter"]
        source.notes.append(f"a {source.adapter_kind.replace('_', ' ')} adapter cannot be merged into the weights "
                            "(its virtual tokens are inputs, not weight changes): exported the adapter only")
    out = Path(out).expanduser() if out else source.run / "export"
    from ..core import guard

    inputs = [guard.Input(source.run, f"the run {source.run.name}", inside_ok=(source.run / "export",))]
    if source.base_dir and not source.base_dir.resolve().is_relative_to(source.run.resolve()):
        inputs.append(guard.Input(source.base_dir, "the base model's folder"))
    guard.check_destination(out, inputs, replaces_folder=True, own_run=source.run, what="--out")
    if out.exists() and not out.is_dir():
        raise DanluError(msg("err_export_file", "the export destination is a file"), where=str(out),
                         fix=msg("fix_out_folder", "choose a folder for --out"))
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DanluError(msg("err_export_exists", "the export folder already exists and is not empty"),
                         where=str(out), fix=msg("fix_export_exists", "choose another --out, or pass --overwrite (the "
                                                 "old export stays until the new one is complete)"))
    if source.adapter is None and targets == ["adapter"]:
        raise DanluError(msg("err_no_adapter_full", "a full fine-tune has no adapter to export"),
                         fix=msg("fix_to_merged", "export the merged model: --to merged"))
    if "hub" in targets and not {"adapter", "merged"} & set(targets):
        targets.insert(0, "adapter" if source.adapter is not None else "merged")  # what is pushed
    if virtual and any(t != "adapter" and t != "hub" for t in targets):
        raise DanluError(msg("err_virtual_merge", "a {kind} adapter cannot be merged into the weights (its virtual "
                             "tokens are inputs, not weight changes)", kind=source.adapter_kind.replace("_", " ")),
                         fix=msg("fix_to_adapter", "export the adapter: --to adapter"))
    dtype = dtype or merge.base_dtype(source.base_dir)
    if dtype not in merge.DTYPES:
        raise DanluError(f"unknown dtype {dtype!r}", fix="use bf16, fp16 or fp32")
    if gguf_types and not llama_cpp:
        gguf_export.check_supported(source.base_dir)  # architecture and tokenizer, with the way out if not
    kq = [q for q in gguf_types if q in gguf_export.KQUANT_TYPES]
    quantizer = llama_quantizer(llama_quantize) if kq else None
    if kq and quantizer is None:
        raise DanluError(msg("err_no_quantiser", "{types} (K-quants) are made by llama.cpp's quantiser, which is not "
                             "here", types=", ".join(kq)),
                         fix=msg("fix_no_quantiser", "install llama-cpp-python (`pip install 'danlu[llamacpp]'`), pass "
                                 "--llama-quantize PATH (or set DANLU_LLAMA_QUANTIZE), or pick f16, bf16, q8_0, q4_0 or "
                                 "q4_1"))
    if llama_cpp:
        script = Path(llama_cpp).expanduser() / "convert_hf_to_gguf.py"
        if not script.is_file():
            raise DanluError("no convert_hf_to_gguf.py in the llama.cpp folder", where=str(script.parent),
                             fix="pass the root of a llama.cpp checkout")
    if "hub" in targets:
        from . import hub

        hub.check_repo(hub_repo)
    ollama_system = None
    if "ollama" in targets:  # the Modelfile's SYSTEM, checked before any weight is written
        from . import ollama

        ollama_system = ollama.check_system(system if system is not None else
                                            ollama.default_system(_train_convs(source)), given=system is not None)
    need = sizes(source, targets, gguf_types, dtype)
    total = sum(need.values())
    probe = out.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if total * 1.05 > free:
        listed = ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in need.items())
        raise DanluError(msg("err_export_disk", "not enough disk space: the export needs about {need:.1f} GB "
                             "({listed}), {free:.1f} GB are free", need=total / 1e9, listed=listed, free=free / 1e9),
                         where=str(probe), fix=msg("fix_export_disk", "free some space, pick fewer targets or smaller "
                                                   "GGUF types, or choose another --out"))
    per = {"fp32": 4, "bf16": 2, "fp16": 2}[dtype]
    ram = psutil.virtual_memory()
    # verification holds the tuned model (fp32) and one reloaded artefact at a time
    verify_ram = source.params * 4 * 2
    return {"source": source, "out": out, "targets": targets, "gguf_types": gguf_types, "dtype": dtype,
            "system": ollama_system,
            "sizes": need, "disk_free": free, "quantizer": quantizer, "ram_available": ram.available,
            "verify": verify_ram < ram.available * 0.9, "verify_ram": verify_ram,
            "largest_shard": min(source.params * per, 2 * 1024**3)}


# -- the export -------------------------------------------------------------------------------------------------
def _probe(tokenizer, rows=None):
    """Fixed prompts the logits are compared on: a chat prompt (and held-out rows when given)."""
    import torch

    from ..models.template import CHECK_TEXT

    texts = [tokenizer.apply_chat_template(CHECK_TEXT, tokenize=False, add_generation_prompt=True)]
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"][:64] for t in texts]
    if rows:
        ids += [r["input_ids"][:64] for r in rows[:2]]
    width = min(len(x) for x in ids)
    return torch.tensor([x[:width] for x in ids])


def _greedy(model, tokenizer, messages, n=24) -> list[int]:
    from ..infer import chat

    return chat.answer(model, tokenizer, messages, chat.Sampling(max_new_tokens=n)).token_ids


def reference_model(source: Source):
    """The tuned model the artefacts must reproduce: the 16-bit/fp32 base from disk with the adapter (for QLoRA too:
    the merge goes into the unquantised base), or the full model; in fp32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM

    from ..models import load as models

    models.quiet()
    model = AutoModelForCausalLM.from_pretrained(source.base_dir, dtype=torch.float32)
    if source.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(source.adapter))
    return model.eval()


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how each part was verified; ``danlu export --json`` prints :meth:`to_dict`."""

    export_dir: str
    run: str
    base_model: str
    method: str
    targets: list
    sizes: dict
    adapter_dir: str | None = None
    merged_dir: str | None = None
    merged_check: dict | None = None  # {max_abs_diff, top1_agreement, bound, ok}
    merged_logits_max_abs_diff: float | None = None
    gguf: list = field(default_factory=list)  # [{type, path, bytes, writer, verify}]
    ollama: dict | None = None
    hub: dict | None = None
    verified: bool = True
    notes: list = field(default_factory=list)
    seconds: float | None = None
    commands: str = ""  # shell commands that use what was written
    note: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def export(run_ref: str, out=None, *, targets=DEFAULT_TARGETS, gguf_types=("f16",), dtype: str | None = None,
           overwrite: bool = False, llama_quantize: str | None = None, llama_cpp: str | None = None,
           hub_repo: str | None = None, hub_private: bool = True, name: str | None = None, system: str | None = None,
           checkpoint: int | str | None = None, reference=None, progress=lambda stage, text: None,
           cancelled=lambda: False) -> ExportResult:
    """Export the run's tuned model; return what was written and how it was verified (see the module doc)."""
    from ..core import guard

    if name is not None:
        name = guard.safe_name(name, "--name")  # a file name stem and a Modelfile line: never a path, one line
    plan = preflight(run_ref, out, targets=targets, gguf_types=gguf_types, dtype=dtype, overwrite=overwrite,
                     llama_quantize=llama_quantize, llama_cpp=llama_cpp, hub_repo=hub_repo, system=system,
                     checkpoint=checkpoint)
    with atomic.reserved(plan["out"], "export"):  # one export per destination at a time
        result = _export(plan, overwrite=overwrite, hub_repo=hub_repo, hub_private=hub_private, name=name,
                         llama_cpp=llama_cpp, reference=reference, progress=progress, cancelled=cancelled)
    return ExportResult(**result)


def _export(plan: dict, *, overwrite, hub_repo, hub_private, name, llama_cpp, reference, progress, cancelled) -> dict:
    source, out, targets = plan["source"], plan["out"], plan["targets"]

    def step(stage, text):
        if cancelled():
            raise InterruptedError("export cancelled")
        progress(stage, text)

    from ..models import load as models, template

    step("load", msg("ex_load", "loading the tokenizer and the tuned model to verify against"))
    tokenizer = models.load_tokenizer(str(source.adapter or source.base_dir))
    if reference is None and plan["verify"]:
        reference = reference_model(source)
    result: dict = {"export_dir": str(out), "run": str(source.run), "base_model": source.base_ref,
                    "method": source.method, "targets": targets, "sizes": plan["sizes"], "adapter_dir": None,
                    "merged_dir": None, "merged_logits_max_abs_diff": None, "gguf": [], "ollama": None, "hub": None,
                    "verified": True, "notes": list(source.notes)}
    if not plan["verify"]:
        result["notes"].append(f"not verified: reloading needs about {plan['verify_ram'] / 1e9:.1f} GB of RAM, "
                               f"{plan['ram_available'] / 1e9:.1f} GB are free")
        result["verified"] = False
    ids = _probe(tokenizer) if reference is not None else None
    ref_logits = checks.logits(reference, ids) if reference is not None else None
    stops = template.end_of_turn_tokens(tokenizer)
    try:
        _write_all(plan, source, out, targets, tokenizer, reference, ids, ref_logits, stops, result, name, llama_cpp,
                   step, overwrite)
    except Exception as exc:  # noqa: BLE001 - a full disk, from Python or a library's own writer, in one line
        if not isinstance(exc, DanluError) and atomic.is_disk_full(exc):
            raise atomic.disk_full_error(exc, out, sum(plan["sizes"].values())) from None
        raise
    if "hub" in targets:
        from . import hub

        folder = Path(result["merged_dir"] or result["adapter_dir"])
        step("hub", msg("ex_hub", "pushing {folder} to {repo}", folder=folder.name, repo=hub_repo))
        result["hub"] = hub.push(folder, hub_repo, private=hub_private)
    result["commands"] = usage_commands(result)
    result["note"] = "; ".join(result["notes"]) or None
    return result


def _write_all(plan, source, out, targets, tokenizer, reference, ids, ref_logits, stops, result, name, llama_cpp,
               step, overwrite: bool = False) -> None:
    """Everything written under the staging folder, renamed to ``out`` only when all of it is there (over an
    existing folder only with --overwrite: a folder that appeared meanwhile is never replaced)."""
    t0 = time.time()
    with atomic.staged_dir(out, overwrite=overwrite) as tmp:
        card = model_card(source, result, tokenizer)
        if "adapter" in targets and source.adapter is not None:
            step("adapter", msg("ex_adapter", "writing the adapter"))
            _write_adapter(source, tmp / "adapter", tokenizer, card)
            result["adapter_dir"] = str(out / "adapter")
        need_merged = any(t in targets for t in ("merged", "gguf", "ollama")) or (
            "hub" in targets and source.adapter is None)
        if need_merged:
            step("merged", msg("ex_merging", "merging into the base model's {dtype} weights, shard by shard",
                                   dtype=plan["dtype"]))
            merged_tmp = tmp / "merged"
            _write_merged(source, merged_tmp, tokenizer, plan["dtype"], card,
                          progress=lambda text: step("merged", text))
            if reference is not None:
                step("verify", msg("ex_verify_merged", "reloading the merged model and comparing its logits"))
                result["merged_check"] = _check_merged(merged_tmp, ids, ref_logits, plan["dtype"])
                result["merged_logits_max_abs_diff"] = result["merged_check"]["max_abs_diff"]
                if not result["merged_check"]["ok"]:
                    raise DanluError(f"the merged model does not reproduce the tuned model: logits differ by "
                                     f"{result['merged_check']['max_abs_diff']:.3g} (bound "
                                     f"{result['merged_check']['bound']:g} in {plan['dtype']})",
                                     fix="nothing was written; report this with the run's config.yaml")
            if "merged" in targets:
                result["merged_dir"] = str(out / "merged")
        if "gguf" in targets:
            from . import gguf_verify

            gdir = tmp / "gguf"
            gdir.mkdir()
            base_name = name or _slug(source)
            messages = _held_out_prompt(source)
            merged_answer = _greedy(reference, tokenizer, messages) if reference is not None else None
            for q in plan["gguf_types"]:
                step("gguf", msg("ex_gguf", "writing {q}", q=q))
                path = gdir / f"{base_name}-{q}.gguf"
                info = _write_gguf(merged_tmp, path, q, plan, llama_cpp, gdir, base_name, source,
                                   progress=lambda text: step("gguf", msg("ex_of", "{q}: {text}", q=q, text=text)))
                check = gguf_verify.verify(path, tokenizer, merged_dir=merged_tmp, ids=ids, ref_logits=ref_logits,
                                           qtype=q, messages=messages, ref_answer=merged_answer, ref_model=reference,
                                           progress=lambda text: step("verify", msg("ex_of", "{q}: {text}", q=q, text=text)))
                entry = {"type": q, "path": str(out / "gguf" / path.name), "bytes": path.stat().st_size, **info,
                         "verify": check}
                result["gguf"].append(entry)
                if not check["ok"]:
                    raise DanluError(f"the {q} GGUF does not reproduce the merged model: {check['problem']}",
                                     fix="nothing was written; try --llama-cpp DIR (llama.cpp's converter), or "
                                         "report this with the model's architecture")
            if "ollama" in targets:
                step("ollama", msg("ex_ollama", "writing the Modelfile and checking its template with Go"))
                result["ollama"] = _write_ollama(gdir, result["gguf"], tokenizer, stops, source, out, plan["system"])
        if not result["merged_dir"] and (tmp / "merged").exists():
            shutil.rmtree(tmp / "merged")
        result["seconds"] = round(time.time() - t0, 1)
        atomic.write_text(tmp / "README.md", model_card(source, result, tokenizer))
        atomic.write_json(tmp / "danlu_export.json", _public(result))


def _public(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("commands",)}


def _slug(source: Source) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "-", source.run.name).strip("-")[:60] or "model"


def _held_out_prompt(source: Source) -> list[dict]:
    """A held-out question of the run (the one with the shortest reference answer, as the quickstart shows), or a
    general one."""
    from .. import data
    from ..plan import demo

    path = source.run / "data" / "eval.jsonl"
    if path.is_file():
        questions = demo.questions(data.conversations_in(path), 1)
        if questions:
            return questions[0]["messages"]
    return [{"role": "user", "content": "What is the capital of France?"}]


def _write_adapter(source: Source, dest: Path, tokenizer, card: str) -> None:
    shutil.copytree(source.adapter, dest)
    tokenizer.save_pretrained(dest)
    atomic.write_text(dest / "README.md", card)


def _generation_config(dest: Path, tokenizer) -> None:
    """generation_config.json with the end-of-turn ids, so that every runtime stops where the model learned to."""
    from ..models import template

    path = dest / "generation_config.json"
    gen = json.loads(path.read_text()) if path.is_file() else {}
    ids = template.end_of_turn_ids(tokenizer)
    gen.update(eos_token_id=ids if len(ids) > 1 else ids[0] if ids else tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    if tokenizer.bos_token_id is not None:
        gen["bos_token_id"] = tokenizer.bos_token_id
    gen.pop("transformers_version", None)
    atomic.write_json(path, gen)


def _write_merged(source: Source, dest: Path, tokenizer, dtype: str, card: str, progress) -> None:
    from . import merge

    if source.adapter is not None and source.adapter_kind == "lora":
        merge.merge_to(source.base_dir, dest, adapter=source.adapter, dtype=dtype, progress=progress)
    elif source.adapter is not None:  # DoRA and others: PEFT's own merge, in memory
        import torch

        ref = reference_model(source)
        save_merged_in_memory(ref, dest, getattr(torch, merge.DTYPES[dtype]))
        del ref
    else:
        merge.merge_to(source.base_dir, dest, dtype=dtype, progress=progress)
    tokenizer.save_pretrained(dest)
    _generation_config(dest, tokenizer)
    atomic.write_text(dest / "README.md", card)


def _check_merged(folder: Path, ids, ref_logits, dtype: str) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    got = checks.compare(checks.logits(reloaded, ids), ref_logits)
    del reloaded
    bound = checks.MERGED_BOUNDS[dtype]
    atomic.write_json(folder / "danlu_verify.json", {"max_abs_logit_diff": got["max_abs_diff"],
                                                      "top1_agreement": got["top1_agreement"], "bound": bound,
                                                      "probe_tokens": list(ids.shape)})
    return {**got, "bound": bound, "ok": got["max_abs_diff"] <= bound}


def _write_gguf(merged: Path, path: Path, qtype: str, plan: dict, llama_cpp, gdir: Path, base_name: str,
                source: Source, progress) -> dict:
    from . import gguf_export

    pre = _imported_pre(source)
    if qtype in gguf_export.KQUANT_TYPES:
        f16 = gdir / f".{base_name}-f16-for-{qtype}.gguf"
        if llama_cpp:
            _convert_with_llama_cpp(llama_cpp, merged, f16, "f16")
        else:
            gguf_export.write_gguf(merged, f16, qtype="f16", name=base_name, pre=pre, progress=progress)
        try:
            _kquant(plan["quantizer"], f16, path, qtype)
        finally:
            f16.unlink(missing_ok=True)
        return {"writer": "llama.cpp quantiser (" + plan["quantizer"][0] + ")"}
    if llama_cpp:
        if qtype not in ("f16", "bf16", "q8_0", "f32"):
            raise DanluError(f"llama.cpp's converter writes f16, bf16 and q8_0; {qtype} with --llama-cpp is not "
                             "possible", fix="drop --llama-cpp for q4_0/q4_1 (danlu's writer), or use a K-quant")
        _convert_with_llama_cpp(llama_cpp, merged, path, qtype)
        return {"writer": "llama.cpp convert_hf_to_gguf.py"}
    info = gguf_export.write_gguf(merged, path, qtype=qtype, name=base_name, pre=pre, progress=progress)
    return {"writer": "danlu", **{k: info[k] for k in ("architecture", "tokenizer_pre", "tensor_types")}}


def _imported_pre(source: Source) -> str | None:
    """The pre-tokenizer name recorded when the base model was imported from a GGUF (llama.cpp's own name)."""
    marker = source.base_dir / "danlu_import.json"
    try:
        return json.loads(marker.read_text()).get("tokenizer_pre")
    except (OSError, ValueError):
        return None


def _convert_with_llama_cpp(llama_cpp: str, merged: Path, out: Path, qtype: str) -> None:
    import subprocess
    import sys

    script = Path(llama_cpp).expanduser() / "convert_hf_to_gguf.py"
    proc = subprocess.run([sys.executable, str(script), str(merged), "--outtype", qtype, "--outfile", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
        raise DanluError(f"llama.cpp's convert_hf_to_gguf.py failed: {last}", where=str(script),
                         fix="check that the llama.cpp checkout's requirements are installed")


def _kquant(quantizer, src: Path, dst: Path, qtype: str) -> None:
    kind, binary = quantizer
    if kind == "binary":
        import subprocess

        proc = subprocess.run([binary, str(src), str(dst), qtype.upper()], capture_output=True, text=True)
        if proc.returncode != 0 or not dst.is_file():
            raise DanluError(f"llama-quantize failed: {(proc.stderr.strip().splitlines() or [''])[-1][:300]}",
                             where=binary)
        return
    import ctypes

    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype.upper()}", None)
    if ftype is None:
        raise DanluError(f"llama-cpp-python has no {qtype} quantisation", fix="pass --llama-quantize PATH")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise DanluError(f"llama.cpp's quantiser failed on {qtype} (code {rc})")


def _write_ollama(gdir: Path, ggufs: list[dict], tokenizer, stops: list[str], source: Source, out: Path,
                  system: str | None) -> dict:
    from ..infer import chat
    from . import ollama

    chosen = next((g for g in ggufs if g["type"] == "q8_0"), ggufs[0])
    gguf_name = Path(chosen["path"]).name
    derived, check, why = None, None, None
    try:
        derived = ollama.derive_template(tokenizer)
        if ollama.go_available():
            check = ollama.check_template(derived["go"], tokenizer)
            if not check["identical"]:
                why = msg("ex_template_differs", "the derived template renders differently from the chat "
                                                 "template (see danlu_export.json)")
        else:
            why = msg("ex_no_go", "Go is not installed, so the derived template could not be checked with "
                                  "text/template")
    except DanluError as exc:
        why = exc.what
    use_template = derived["go"] if derived and not why else None
    text = ollama.modelfile(gguf_name, stops, use_template, system,
                            {chat.OLLAMA_NAMES[k]: v for k, v in chat.CHAT_DEFAULTS.items()})
    atomic.write_text(gdir / "Modelfile", text)
    model_name = _slug(source).lower()
    return {"modelfile": str(out / "gguf" / "Modelfile"), "gguf": gguf_name, "stops": stops,
            "template": msg("ex_template_checked", "derived and checked with Go's text/template") if use_template
            else msg("ex_template_none", "none: relies on the GGUF's embedded chat template (Ollama 0.30 or newer) — "
                                         "{why}", why=why),
            "template_check": check, "system": system,
            "create": f"cd {out / 'gguf'} && ollama create {model_name} -f Modelfile && ollama run {model_name}"}


def _train_convs(source: Source) -> list:
    from .. import data

    path = source.run / "data" / "train.jsonl"
    return data.conversations_in(path) if path.is_file() else []


# -- model card -------------------------------------------------------------------------------------------------
def _run_facts(source: Source) -> dict:
    from ..core import events
    from ..runs import store as runs

    run = runs.RunDir(source.run)
    rows = run.events()
    steps = [e for e in rows if isinstance(e, events.Step)]
    evals = [e for e in rows if isinstance(e, events.Eval)]
    facts = {"steps": steps[-1].step if steps else None, "train_loss_first": steps[0].loss if steps else None,
             "train_loss_last": steps[-1].loss if steps else None,
             "eval_loss_first": evals[0].loss if evals else None, "eval_loss_last": evals[-1].loss if evals else None}
    for split in ("train", "eval"):
        path = run.data_dir / f"{split}.jsonl"
        facts[f"{split}_conversations"] = sum(1 for line in path.open(encoding="utf-8") if line.strip()) \
            if path.is_file() else None
    ev = run.path / "eval.json"
    if ev.is_file():
        try:
            facts["eval"] = json.loads(ev.read_text())
        except ValueError:
            pass
    return facts


def model_card(source: Source, result: dict, tokenizer) -> str:
    cfg = source.config
    f = _run_facts(source)
    hp = ""
    if cfg is not None:
        hp = (f"- method: {cfg.method}" + (f" ({cfg.adapter} r={cfg.lora_r}, alpha={cfg.lora_alpha}, dropout "
                                            f"{cfg.lora_dropout}, targets {cfg.lora_targets})" if cfg.method != "full"
                                            else "")
              + f"\n- learning rate {cfg.lr:g} ({cfg.lr_scheduler}, warm-up {cfg.warmup_ratio:g}), epochs {cfg.epochs:g}"
              + (f", max steps {cfg.max_steps}" if cfg.max_steps > 0 else "")
              + f"\n- max_seq_len {cfg.max_seq_len}, micro-batch {cfg.micro_batch} × accumulation {cfg.grad_accum}, "
                f"{cfg.precision}, optimizer {cfg.optimizer}, seed {cfg.seed}")
    losses = ""
    if f["train_loss_last"] is not None and f["train_loss_first"] is not None:
        losses = f"- train loss {f['train_loss_first']:.4f} → {f['train_loss_last']:.4f} over {f['steps']} steps"
    if f["eval_loss_last"] is not None and f["eval_loss_first"] is not None:
        losses += f"\n- eval loss {f['eval_loss_first']:.4f} → {f['eval_loss_last']:.4f} on held-out conversations"
    ev = f.get("eval") or {}
    eval_line = ""
    if ev.get("tuned"):
        t, b = ev["tuned"], ev.get("base") or {}
        eval_line = (f"\n## Evaluation\n\n{ev.get('verdict', '')}. Eval loss base {b.get('eval_loss', float('nan')):.3f}"
                     f" → tuned {t['eval_loss']:.3f}; ROUGE-L base {b.get('rouge_l', float('nan')):.3f} → tuned "
                     f"{t.get('rouge_l', float('nan')):.3f}; forgetting: {ev.get('forgetting', {}).get('verdict', '-')}."
                     "\n")
    data_hash = cfg.dataset_hash[:16] if cfg is not None and cfg.dataset_hash else "-"
    merged = result.get("merged_dir") or "<export>/merged"
    gguf = next((g["path"] for g in result.get("gguf", [])), "<export>/gguf/model-q8_0.gguf")
    return f"""---
base_model: {source.base_ref}
library_name: {'peft' if source.adapter is not None else 'transformers'}
tags: [danlu, {source.method}]
---

# {source.run.name}

Fine-tuned with danlu from `{source.base_ref}`.

## Training

{hp}
- data: {f['train_conversations']} training and {f['eval_conversations']} held-out conversations (sha256 of the
  training file: {data_hash}…)
{losses}
{eval_line}
## Use it

transformers (merged model):

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("{merged}")
tokenizer = AutoTokenizer.from_pretrained("{merged}")
messages = [{{"role": "user", "content": "Hello!"}}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
print(tokenizer.decode(model.generate(ids, max_new_tokens=128)[0][ids.shape[1]:], skip_special_tokens=True))
```

PEFT (adapter on the base model): `AutoPeftModelForCausalLM.from_pretrained("<export>/adapter")`.

llama.cpp: `llama-cli -m {gguf} -cnv` — Ollama: `ollama create {_slug(source).lower()} -f <export>/gguf/Modelfile`.

Generation stops at: {', '.join(f'`{s}`' for s in template_stops(tokenizer))}.
"""


def template_stops(tokenizer) -> list[str]:
    from ..models import template

    return template.end_of_turn_tokens(tokenizer)


def summary(r: ExportResult, *, relative: bool = False, commands: bool = True) -> str:
    """The export in plain words: what is where, and how each part was verified (:func:`summary_lines`)."""
    return "\n".join(summary_lines(r, relative=relative, commands=commands))


def summary_lines(r: ExportResult, *, relative: bool = False, commands: bool = True) -> list:
    """The summary's lines, each a text with its code (a viewer says them in its language).  ``relative``: paths
    inside the export folder as relative ones (a narrow screen that names the folder once); ``commands``: with the
    commands that use it (a screen that shows them in a copyable box leaves them out)."""
    def at(path) -> str:
        if not relative:
            return str(path)
        try:
            return str(Path(path).relative_to(r.export_dir)) + ("/" if Path(path).is_dir() else "")
        except ValueError:
            return str(path)

    run = Path(r.run).name
    lines = [msg("ex_sum_head", "exported {run}", run=run) if relative else
             msg("ex_sum_head_to", "exported {run} to {path}", run=run, path=r.export_dir)]
    if r.adapter_dir:
        lines.append(msg("ex_sum_adapter", "  adapter  {path}", path=at(r.adapter_dir)))
    if r.merged_dir:
        c = r.merged_check or {}
        lines.append(msg("ex_sum_merged_checked", "  merged   {path}  — reloaded, logits within {diff:.2e} of the tuned "
                                                  "model (bound {bound:g})", path=at(r.merged_dir),
                         diff=c["max_abs_diff"], bound=c["bound"]) if c else
                     msg("ex_sum_merged", "  merged   {path}", path=at(r.merged_dir)))
    for g in r.gguf:
        v = g["verify"]
        parts = []
        if "max_abs_diff" in (v.get("transformers") or {}):
            tf = v["transformers"]
            parts.append(msg("ex_part_tf", "transformers: logits within {diff:.3f}, same next token {top1:.0%}",
                             diff=tf["max_abs_diff"], top1=tf["top1_agreement"]))
        lc = v.get("llama_cpp") or {}
        if "max_abs_diff" in lc:
            parts.append(msg("ex_part_lc", "llama.cpp: logits within {diff:.3f}, same next token {top1:.0%}, tokenizer "
                                           "{tok}{greedy}", diff=lc["max_abs_diff"], top1=lc["top1_agreement"],
                             tok=msg("ex_same", "identical") if lc["tokenizer_identical"] else
                             msg("ex_different", "DIFFERENT"),
                             greedy=(msg("ex_greedy_same", ", greedy answer identical") if lc.get("greedy_identical")
                                     else msg("ex_greedy_differs", ", greedy answer differs"))
                             if "greedy_identical" in lc else ""))
        elif lc.get("skipped"):
            parts.append(msg("ex_part_lc_skipped", "llama.cpp not run ({why})", why=lc["skipped"]))
        rd = v["reader"]
        parts.append(msg("ex_part_template", "chat template {state}, end-of-turn token id {eot}",
                         state=msg("ex_embedded", "embedded") if rd["chat_template_identical"] else
                         msg("ex_different", "DIFFERENT"),
                         eot=rd["eot_token_id"] if rd["eot_token_id"] is not None else rd["eos_token_id"]))
        lines.append(msg("ex_sum_gguf", "  gguf     {path} ({mb:.0f} MB, {type}; {writer})", path=at(g["path"]),
                         mb=g["bytes"] / 1e6, type=g["type"], writer=g["writer"]))
        lines.append(Msg("           " + "; ".join(parts), "ex_sum_parts", parts=tuple(parts)))
    if r.ollama:
        o = r.ollama
        lines.append(msg("ex_sum_ollama", "  ollama   {path} — TEMPLATE: {template}; stop {stops}", path=at(o["modelfile"]),
                         template=o["template"], stops=", ".join(o["stops"])))
    if r.hub:
        lines.append(msg("ex_sum_hub", "  hub      {url}", url=r.hub["url"]))
    for note in r.notes:
        lines.append(msg("ex_sum_note", "  note: {note}", note=note))
    if r.commands and commands:
        lines.append(msg("ex_sum_use", "use it:"))
        lines += [f"  {c}" for c in r.commands.splitlines()]
    return lines


def usage_commands(result: dict) -> str:
    """Commands that use what was exported (shown by the CLI and the wizard)."""
    lines = []
    if result.get("merged_dir"):
        m = result["merged_dir"]
        lines += [f"danlu chat {m}",
                  f"python -c \"from transformers import pipeline; print(pipeline('text-generation', '{m}')"
                  f"([{{'role': 'user', 'content': 'hi'}}], max_new_tokens=64))\""]
    if result.get("adapter_dir"):
        lines.append(f"python -c \"from peft import AutoPeftModelForCausalLM; "
                     f"AutoPeftModelForCausalLM.from_pretrained('{result['adapter_dir']}')\"")
    for g in result.get("gguf") or []:
        lines.append(f"llama-cli -m {g['path']} -cnv")
        break
    if result.get("ollama"):
        lines.append(result["ollama"]["create"])
    if result.get("hub") and result["hub"].get("url"):
        lines.append(f"# on the Hub: {result['hub']['url']}")
    return "\n".join(lines)


def starting_point(run, progress=lambda stage, text: None) -> Path:
    """The model a next stage starts from after ``run`` (a preference stage after SFT): the run's merged model,
    exported into the run (``export/merged``, verified like any export) unless it is there already, or the run's
    final folder itself when it holds a whole model (a full fine-tune).  Chat, evaluation and export of the next
    run then load it as their base model, and its "base" side is this starting point: the reference model."""
    final = run.final_dir
    if (final / "config.json").is_file() and not (final / "adapter_config.json").is_file():
        return final
    merged = run.path / "export" / "merged"
    if (merged / "config.json").is_file():
        return merged
    if not (final / "adapter_config.json").is_file():
        raise DanluError(f"run {run.id} has no final model to start from (state: {run.effective_state()})",
                         fix="wait until it finishes, or start from its base model")
    export(str(run.path), targets=("merged",), progress=progress)
    return merged
