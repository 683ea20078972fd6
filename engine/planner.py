"""The memory planner: count parameters from a config, predict peak memory per method, choose.

Every term of the memory model is named, in bytes, so the plan can show why it
chose what it chose.  Sources of the formulas:

* parameter count: the Llama/Qwen/Mistral decoder layout (embedding, attention with
  grouped KV heads, gated MLP, RMSNorms, optional untied head) read from config.json;
* weights: 2 bytes/param in bf16/fp16, 4 in fp32; NF4 (QLoRA, Dettmers et al. 2023)
  stores linear weights in 4 bits plus absmax constants (0.127 bit/param with double
  quantisation), while embeddings, norms and the head stay in 16 bits;
* training state (Rajbhandari et al., ZeRO, 2020): full fine-tuning in mixed precision
  keeps fp32 master weights, fp32 gradients and two fp32 Adam moments, 16 bytes/param;
  8-bit Adam (bitsandbytes) stores the moments in 2 bytes/param;
* activations (Korthikanti et al. 2022, "Reducing Activation Recomputation"): with
  flash/SDPA attention a decoder layer keeps about (6h + 3i) values per token; gradient
  checkpointing keeps only each layer's input (h values per token) plus one layer;
* logits: the output layer's logits in the compute dtype, their fp32 copy for the loss
  and its gradient: tokens × vocab × (2 + 4 + 4) bytes — the largest term at 150 k vocab;
* overhead: the CUDA context (~0.6 GB) and allocator fragmentation (~8 %).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import DanluError

GB = 1024**3
CUDA_CONTEXT = 0.6 * GB
FRAGMENTATION = 0.08
MARGIN = 0.10  # keep 10 % of the memory free
METHODS = ("full", "lora", "qlora")


@dataclass
class ModelShape:
    name: str
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool
    attn_bias: bool = False
    qk_norm: bool = False  # per-head RMSNorm on queries and keys (Qwen3, Gemma 3)

    @classmethod
    def from_config(cls, cfg: dict, name: str = "model") -> "ModelShape":
        cfg = cfg.get("text_config", cfg)
        try:
            hidden = int(cfg["hidden_size"])
            heads = int(cfg["num_attention_heads"])
            return cls(
                name=name,
                vocab=int(cfg["vocab_size"]),
                hidden=hidden,
                intermediate=int(cfg["intermediate_size"]),
                layers=int(cfg["num_hidden_layers"]),
                heads=heads,
                kv_heads=int(cfg.get("num_key_value_heads") or heads),
                head_dim=int(cfg.get("head_dim") or hidden // heads),
                tied=bool(cfg.get("tie_word_embeddings", False)),
                attn_bias=bool(cfg.get("attention_bias", False)) or cfg.get("model_type") == "qwen2",
                qk_norm=cfg.get("model_type") in ("qwen3", "gemma3", "gemma3_text"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DanluError(
                f"config.json lacks a field the planner needs ({exc})",
                where=name,
                fix="pass a decoder-only causal LM (Llama, Qwen, Mistral, Gemma, Phi) or --gpu-mem with --method",
            ) from None

    # parameter counts ------------------------------------------------------------------------
    @property
    def attn_params(self) -> int:
        q = self.hidden * self.heads * self.head_dim
        kv = 2 * self.hidden * self.kv_heads * self.head_dim
        o = self.heads * self.head_dim * self.hidden
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.attn_bias else 0
        return q + kv + o + bias

    @property
    def mlp_params(self) -> int:
        return 3 * self.hidden * self.intermediate

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder's linear layers (what NF4 quantises and LoRA targets)."""
        return self.layers * (self.attn_params + self.mlp_params)

    @property
    def embed_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def params(self) -> int:
        norms = self.layers * (2 * self.hidden + (2 * self.head_dim if self.qk_norm else 0)) + self.hidden
        return self.linear_params + self.embed_params + norms

    def lora_params(self, r: int, targets: str = "all-linear") -> int:
        h, i, a, kv = self.hidden, self.intermediate, self.heads * self.head_dim, self.kv_heads * self.head_dim
        shapes = {"q_proj": (h, a), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (a, h),
                  "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        names = list(shapes) if targets == "all-linear" else [t.strip() for t in targets.split(",")]
        return self.layers * sum(r * sum(shapes[n]) for n in names if n in shapes)


def model_shape(ref: str, *, trust_remote_code: bool = False) -> ModelShape:
    """A model's shape from its config alone: demo sizes, a local folder, a preset or the HF cache."""
    from . import models, presets

    if ref.startswith("demo:"):
        size = ref.split(":", 1)[1]
        if size not in models.DEMO_SIZES:
            raise DanluError(f"unknown demo model {ref!r}", fix="use demo:tiny or demo:small")
        cfg = dict(models.DEMO_SIZES[size], vocab_size=models.DEMO_VOCAB, tie_word_embeddings=True)
        return ModelShape.from_config(cfg, ref)
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DanluError("this folder is not a model (no config.json in it)", where=str(path),
                             fix="pass a folder saved by save_pretrained, a Hugging Face id, or demo:small")
        return ModelShape.from_config(json.loads((path / "config.json").read_text()), str(path))
    if path.suffix == ".json" and path.is_file():
        return ModelShape.from_config(json.loads(path.read_text()), str(path))
    preset = presets.model_config(ref)
    if preset is not None:
        return ModelShape.from_config(preset, ref)
    cached = _hf_cache_config(ref)
    if cached is not None:
        return ModelShape.from_config(cached, ref)
    online = _hub_config(ref, trust_remote_code)
    if online is not None:
        return ModelShape.from_config(online, ref)
    raise DanluError(
        f"no config known for model {ref!r} offline",
        fix="pass a local model folder or its config.json, one of the presets (`danlu plan --list-models`), "
        "or download the model first",
    )


def _hub_config(ref: str, trust_remote_code: bool) -> dict | None:
    """config.json from the Hugging Face Hub when there is a network (only config.json is fetched)."""
    from . import models

    if "/" not in ref or not models.hub_reachable():
        return None
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
        path = hf_hub_download(ref, "config.json", etag_timeout=5)
    except Exception:  # noqa: BLE001 - unknown id or gated: the caller explains
        return None
    return json.loads(Path(path).read_text())


def _hf_cache_config(ref: str) -> dict | None:
    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    folder = hub.expanduser() / ("models--" + ref.replace("/", "--")) / "snapshots"
    for cfg in sorted(folder.glob("*/config.json")) if folder.is_dir() else []:
        return json.loads(cfg.read_text())
    return None


@dataclass
class Candidate:
    method: str
    micro_batch: int
    grad_checkpointing: bool
    optimizer: str
    terms: dict
    peak_gb: float
    fits: bool
    reason: str = ""


@dataclass
class Plan:
    model: str
    device: str
    budget_gb: float
    method: str
    micro_batch: int
    grad_accum: int
    grad_checkpointing: bool
    optimizer: str
    precision: str
    max_seq_len: int
    predicted_peak_gb: float
    fits: bool
    params: int
    trainable_params: int
    terms: dict
    reasons: list = field(default_factory=list)
    remedies: list = field(default_factory=list)
    candidates: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _targets(spec: str) -> set[str]:
    if not spec or spec == "all-linear":
        return set(LORA_MODULES)
    return {t.strip() for t in spec.split(",") if t.strip()}


def activation_elems_per_token_layer(shape: ModelShape, method: str, lora_targets: str, lora_dropout: float,
                                     attention: str, seq_len: int) -> tuple[float, float]:
    """Values one decoder layer keeps for backward, per token: (in the compute dtype, in 1-byte masks).

    Counted from what autograd saves in a Llama-style layer (Korthikanti et al. 2022 counted the
    same for GPT layers): always the RMSNorm inputs (2h), the attention's q/k/v and output
    (h + 2·kv + h, flash/SDPA keeps no score matrix) and the gated MLP's gate, SiLU and up outputs
    (3i); the inputs of linear layers whose weights get gradients — the normed hidden states (h each
    for attention and MLP) and the down projection's input (i); with LoRA dropout, each adapted
    layer's dropped-out input and its mask.  Eager attention adds the score and softmax matrices.
    """
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_heads * shape.head_dim
    elems = 2 * h + (shape.heads * shape.head_dim + 2 * kv + h) + 3 * i
    masks = 0.0
    trained = set(LORA_MODULES) if method == "full" else _targets(lora_targets)
    if trained & {"q_proj", "k_proj", "v_proj"}:
        elems += h
    if trained & {"gate_proj", "up_proj"}:
        elems += h
    if "down_proj" in trained:
        elems += i
    if method != "full" and lora_dropout > 0:
        inputs = {"q_proj": h, "k_proj": h, "v_proj": h, "o_proj": shape.heads * shape.head_dim,
                  "gate_proj": h, "up_proj": h, "down_proj": i}
        extra = sum(inputs[m] for m in trained if m in inputs)
        elems += extra
        masks += extra
    if attention == "eager":
        elems += 2 * shape.heads * seq_len
    return elems, masks


def memory_terms(shape: ModelShape, method: str, micro_batch: int, seq_len: int, *, precision: str,
                 grad_checkpointing: bool, optimizer: str, lora_r: int, lora_targets: str, gpu: bool,
                 lora_dropout: float = 0.05, attention: str = "sdpa", master_weights: bool = False,
                 upcast_non_quantized: bool = False, eval_batch: int | None = None) -> dict:
    """Bytes per named cause of memory use for one training configuration.

    ``precision`` is the dtype the weights are held in (bf16/fp16 on GPUs, fp32 on the CPU);
    ``master_weights`` models mixed precision with fp32 weights (Trainer with an fp32 model and
    ``bf16=True``); danlu itself loads 16-bit weights and trains them in place.
    """
    wbytes = 4 if precision == "fp32" else 2
    opt_bytes = 2 if "8bit" in optimizer else (4 if precision != "fp32" and method == "full" else 8)
    tokens = micro_batch * seq_len
    embed = shape.embed_params
    other = shape.params - shape.linear_params - embed  # norms
    t: dict[str, float] = {}
    if method == "qlora":
        # NF4: 4 bits per weight + absmax per 64-block, itself 8-bit quantised per 256 (double quant)
        t["weights"] = shape.linear_params * 0.5 + (embed + other) * (4 if upcast_non_quantized else wbytes)
        t["quant_constants"] = shape.linear_params * (1 / 64 + 4 / (64 * 256))
    else:
        t["weights"] = shape.params * (4 if master_weights else wbytes)
    if method == "full":
        t["gradients"] = shape.params * (4 if master_weights else wbytes)
        t["optimizer"] = shape.params * (2 if "8bit" in optimizer else 8 if master_weights else opt_bytes)
    else:
        trainable = shape.lora_params(lora_r, lora_targets)
        adapter_bytes = 2 if (method == "qlora" and precision != "fp32") else 4  # TRL keeps QLoRA adapters in bf16
        t["adapters"] = trainable * adapter_bytes
        t["gradients"] = trainable * adapter_bytes
        t["optimizer"] = trainable * (2 if "8bit" in optimizer else 8)
    act_bytes = 2 if (precision != "fp32" or master_weights) else 4
    per_tok, per_tok_masks = activation_elems_per_token_layer(shape, method, lora_targets, lora_dropout, attention,
                                                              seq_len)
    layer = tokens * (per_tok * act_bytes + per_tok_masks)
    if grad_checkpointing:
        # each layer's input is kept; one layer is recomputed at a time during backward
        t["activations"] = shape.layers * tokens * shape.hidden * act_bytes + layer
    else:
        t["activations"] = shape.layers * layer
    # logits in the compute dtype, their fp32 upcast, log-softmax and its gradient (≈ 12 bytes a value)
    t["logits"] = tokens * shape.vocab * 12
    if eval_batch:
        eval_peak = eval_batch * seq_len * (shape.vocab * (act_bytes + 4) + 4 * shape.hidden * act_bytes)
        t["eval"] = max(0.0, eval_peak - t["activations"] - t["logits"])
    if method == "qlora":
        # one linear layer at a time is dequantised to 16 bits for its matmul (forward and backward)
        t["dequant_workspace"] = 2 * max(shape.intermediate, shape.hidden) * shape.hidden * wbytes
    allocated = sum(t.values())
    t["allocator"] = FRAGMENTATION * allocated  # reserved-but-free blocks of the caching allocator
    t["cuda_context"] = CUDA_CONTEXT if gpu else 0.3 * GB  # CUDA context + kernels (CPU: libraries' arenas)
    return t


ALLOCATED_EXCLUDES = ("allocator", "cuda_context")


def metric_gb(terms: dict, metric: str) -> float:
    """Predicted peak in the metric a measurement reports: allocated, reserved, or device total (nvidia-smi)."""
    if metric == "allocated":
        return sum(v for k, v in terms.items() if k not in ALLOCATED_EXCLUDES) / GB
    if metric == "reserved":
        return sum(v for k, v in terms.items() if k != "cuda_context") / GB
    return sum(terms.values()) / GB


def plan(ref: str, *, gpu_mem_gb: float | None = None, probe: dict | None = None, seq_len: int = 1024,
         method: str | None = None, micro_batch: int | None = None, target_batch: int = 16, lora_r: int = 16,
         lora_targets: str = "all-linear", lora_dropout: float = 0.05, grad_checkpointing: bool | None = None,
         optimizer: str | None = None, precision: str | None = None, shape: ModelShape | None = None) -> Plan:
    """Choose method, micro-batch, accumulation, checkpointing, optimizer and precision that fit.

    The highest-fidelity method that fits with the margin wins (full → LoRA → QLoRA); for it, the
    largest micro-batch (up to the target effective batch), gradient checkpointing only when it buys
    a fit or a bigger micro-batch, an 8-bit optimizer only when 32-bit states do not fit.  Forced
    choices (any argument that is not None) are kept as given.
    """
    shape = shape or model_shape(ref)
    if method is not None and method not in METHODS:
        raise DanluError(f"unknown method {method!r}", fix="use full, lora or qlora")
    if seq_len < 1 or (micro_batch is not None and micro_batch < 1) or target_batch < 1:
        raise DanluError("sequence length, micro-batch and target batch must be 1 or more",
                         fix="e.g. --seq-len 1024 --micro-batch 4")
    gpu = None
    if probe and probe.get("gpus"):
        sel = probe.get("selected_gpu")
        gpu = next((g for g in probe["gpus"] if g["index"] == sel), probe["gpus"][0])
    on_gpu = gpu is not None or gpu_mem_gb is not None
    accel = (probe or {}).get("accelerator", "cpu")
    if gpu_mem_gb is not None:
        budget = gpu_mem_gb * GB
        device = f"GPU ({gpu_mem_gb:g} GB given)"
    elif gpu is not None:
        free = gpu.get("usable_gb", gpu["memory_free_gb"])
        budget = free * GB
        device = f"{gpu['name']} ({free:g} of {gpu['memory_total_gb']:g} GB free)"
    else:
        ram = (probe or {}).get("host", {}).get("ram_available_gb") or 8.0
        share = 0.6 if accel == "mps" else 0.8
        budget = ram * share * GB
        device = f"{'Apple MPS' if accel == 'mps' else 'CPU'} ({ram:g} GB RAM available, planning with {int(share * 100)} %)"
    if precision is None:
        if not on_gpu:
            precision = "fp32"
        else:
            precision = "bf16" if (gpu is None or gpu.get("bf16", True)) else "fp16"
    attention = "sdpa" if (gpu is None or gpu.get("sdpa_efficient", True)) else "eager"
    usable = budget * (1 - MARGIN)
    methods = [method] if method else list(METHODS)
    if not on_gpu and not method:
        methods = [m for m in methods if m != "qlora"]  # bitsandbytes 4-bit saves nothing worth its cost here
    batches = [micro_batch] if micro_batch else [b for b in (32, 16, 8, 4, 2, 1) if b <= target_batch] or [1]
    gcs = [grad_checkpointing] if grad_checkpointing is not None else [False, True]
    optimizers = [optimizer] if optimizer else (["adamw_torch", "adamw_bnb_8bit"] if on_gpu else ["adamw_torch"])

    def terms_for(m, mb, gc, opt):
        return memory_terms(shape, m, mb, seq_len, precision=precision, grad_checkpointing=gc, optimizer=opt,
                            lora_r=lora_r, lora_targets=lora_targets, gpu=on_gpu, lora_dropout=lora_dropout,
                            attention=attention, eval_batch=mb)

    candidates: list[Candidate] = []
    chosen = None
    for m in methods:
        best = None
        for opt in optimizers:
            for gc in gcs:
                mb = next((b for b in batches if sum(terms_for(m, b, gc, opt).values()) <= usable), None)
                if mb is None:
                    continue
                if best is None or mb > best.micro_batch:
                    terms = terms_for(m, mb, gc, opt)
                    best = Candidate(m, mb, gc, opt, {k: round(v / GB, 3) for k, v in terms.items()},
                                     round(sum(terms.values()) / GB, 2), True)
                if mb == batches[0]:
                    break  # no checkpointing needed for the largest micro-batch
            if best:
                break  # the 8-bit optimizer only when 32-bit states do not fit
        if best is None:
            gc, opt = gcs[-1], optimizers[-1]
            terms = terms_for(m, batches[-1], gc, opt)
            peak = sum(terms.values())
            best = Candidate(m, batches[-1], gc, opt, {k: round(v / GB, 3) for k, v in terms.items()},
                             round(peak / GB, 2), False,
                             f"does not fit: needs {peak / GB:.1f} GB at micro-batch {batches[-1]}, "
                             f"{usable / GB:.1f} GB usable")
        else:
            best.reason = (f"fits at micro-batch {best.micro_batch}"
                           f"{' with gradient checkpointing' if best.grad_checkpointing else ''}"
                           f"{' and an 8-bit optimizer' if '8bit' in best.optimizer else ''}: {best.peak_gb:g} GB")
        candidates.append(best)
        if chosen is None and best.fits:
            chosen = best
    fits = chosen is not None
    pick = chosen or candidates[-1]
    grad_accum = max(1, math.ceil(target_batch / pick.micro_batch))
    trainable = shape.params if pick.method == "full" else shape.lora_params(lora_r, lora_targets)
    reasons = [
        f"{shape.name}: {shape.params / 1e6:,.1f} M parameters, vocabulary {shape.vocab:,}",
        f"memory budget: {device}, keeping {int(MARGIN * 100)} % free",
    ]
    if fits:
        worse = [c.method for c in candidates if METHODS.index(c.method) < METHODS.index(pick.method)]
        reasons.append(f"{pick.method}: {pick.reason}" + (f" ({', '.join(worse)} would not fit)" if worse else ""))
        reasons.append(f"micro-batch {pick.micro_batch} × accumulation {grad_accum} = effective batch "
                       f"{pick.micro_batch * grad_accum}")
        reasons.append(f"precision {precision}" + (" (this GPU has no bf16)" if precision == "fp16" else ""))
    remedies = []
    if not fits:
        big = max(pick.terms, key=pick.terms.get)
        remedies.append(f"the largest term is {big} ({pick.terms[big]:.1f} GB)")
        if seq_len > 256:
            remedies.append(f"shorten sequences (--seq-len {max(256, seq_len // 2)})")
        if pick.method != "qlora" and on_gpu:
            remedies.append("use QLoRA (--method qlora)")
        if "8bit" not in pick.optimizer and on_gpu:
            remedies.append("use an 8-bit optimizer (--optimizer paged_adamw_8bit)")
        if not pick.grad_checkpointing:
            remedies.append("turn on gradient checkpointing (--grad-checkpointing on)")
        remedies.append("use a smaller model")
    return Plan(
        model=shape.name, device=device, budget_gb=round(budget / GB, 2), method=pick.method,
        micro_batch=pick.micro_batch, grad_accum=grad_accum, grad_checkpointing=pick.grad_checkpointing,
        optimizer=pick.optimizer, precision=precision, max_seq_len=seq_len, predicted_peak_gb=pick.peak_gb,
        fits=fits, params=shape.params, trainable_params=trainable, terms=pick.terms, reasons=reasons,
        remedies=remedies, candidates=[asdict(c) for c in candidates],
    )
