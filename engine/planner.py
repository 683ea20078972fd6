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


def memory_terms(shape: ModelShape, method: str, micro_batch: int, seq_len: int, *, precision: str,
                 grad_checkpointing: bool, optimizer: str, lora_r: int, lora_targets: str, gpu: bool) -> dict:
    """Bytes per named cause of memory use for one configuration."""
    wbytes = 4 if precision == "fp32" else 2
    eight_bit = "8bit" in optimizer
    tokens = micro_batch * seq_len
    t: dict[str, float] = {}
    if method == "qlora":
        t["weights"] = shape.linear_params * (0.5 + 0.127 / 8) + (shape.params - shape.linear_params) * wbytes
    else:
        t["weights"] = shape.params * wbytes
    if method == "full":
        trainable = shape.params
        t["master_weights"] = trainable * 4 if wbytes == 2 else 0
        t["gradients"] = trainable * 4
        t["optimizer"] = trainable * (2 if eight_bit else 8)
    else:
        trainable = shape.lora_params(lora_r, lora_targets)
        t["adapters"] = trainable * 4
        t["gradients"] = trainable * 4
        t["optimizer"] = trainable * (2 if eight_bit else 8)
    per_layer = (6 * shape.hidden + 3 * shape.intermediate) * wbytes * tokens
    if grad_checkpointing:
        t["activations"] = shape.layers * shape.hidden * wbytes * tokens + per_layer
    else:
        t["activations"] = shape.layers * per_layer
    t["logits"] = tokens * shape.vocab * (wbytes + 4 + 4)
    subtotal = sum(t.values())
    t["overhead"] = (CUDA_CONTEXT if gpu else 0.3 * GB) + FRAGMENTATION * subtotal
    return t


def plan(ref: str, *, gpu_mem_gb: float | None = None, probe: dict | None = None, seq_len: int = 1024,
         method: str | None = None, micro_batch: int | None = None, target_batch: int = 16, lora_r: int = 16,
         lora_targets: str = "all-linear", grad_checkpointing: bool | None = None, optimizer: str | None = None,
         precision: str | None = None, shape: ModelShape | None = None) -> Plan:
    """Choose method, micro-batch, accumulation, checkpointing, optimizer and precision that fit."""
    shape = shape or model_shape(ref)
    if method is not None and method not in METHODS:
        raise DanluError(f"unknown method {method!r}", fix="use full, lora or qlora")
    gpu = None
    if probe and probe.get("gpus"):
        sel = probe.get("selected_gpu")
        gpu = next((g for g in probe["gpus"] if g["index"] == sel), probe["gpus"][0])
    on_gpu = gpu is not None or gpu_mem_gb is not None
    if gpu_mem_gb is not None:
        budget = gpu_mem_gb * GB
        device = f"GPU ({gpu_mem_gb:g} GB given)"
    elif gpu is not None:
        budget = gpu["memory_free_gb"] * GB
        device = f"{gpu['name']} ({gpu['memory_free_gb']:g} of {gpu['memory_total_gb']:g} GB free)"
    else:
        ram = (probe or {}).get("host", {}).get("ram_available_gb") or 8.0
        budget = ram * GB
        device = f"CPU ({ram:g} GB RAM available)"
    if precision is None:
        precision = ("bf16" if (gpu is None or gpu.get("bf16", True)) else "fp16") if on_gpu else "fp32"
    usable = budget * (1 - MARGIN)
    methods = [method] if method else list(METHODS)
    if not on_gpu and not method:
        methods = [m for m in methods if m != "qlora"]  # 4-bit saves nothing worth its cost on the CPU
    batches = [micro_batch] if micro_batch else [b for b in (32, 16, 8, 4, 2, 1) if b <= target_batch]
    gcs = [grad_checkpointing] if grad_checkpointing is not None else [False, True]
    optimizers = [optimizer] if optimizer else (["adamw_torch", "adamw_bnb_8bit"] if on_gpu else ["adamw_torch"])

    candidates: list[Candidate] = []
    chosen = None
    for m in methods:
        best_for_method = None
        for opt in optimizers:
            for gc in gcs:
                for mb in batches:
                    terms = memory_terms(shape, m, mb, seq_len, precision=precision, grad_checkpointing=gc,
                                         optimizer=opt, lora_r=lora_r, lora_targets=lora_targets, gpu=on_gpu)
                    peak = sum(terms.values())
                    c = Candidate(m, mb, gc, opt, {k: round(v / GB, 3) for k, v in terms.items()},
                                  round(peak / GB, 2), peak <= usable)
                    if c.fits:
                        best_for_method = c
                        break  # largest micro-batch that fits with these settings
                if best_for_method:
                    break  # checkpointing only when it buys a fit
            if best_for_method:
                break  # 8-bit optimizer only when 32-bit does not fit
        if best_for_method is None:
            terms = memory_terms(shape, m, 1, seq_len, precision=precision, grad_checkpointing=gcs[-1],
                                 optimizer=optimizers[-1], lora_r=lora_r, lora_targets=lora_targets, gpu=on_gpu)
            peak = sum(terms.values())
            best_for_method = Candidate(m, 1, gcs[-1], optimizers[-1], {k: round(v / GB, 3) for k, v in terms.items()},
                                        round(peak / GB, 2), False)
            best_for_method.reason = f"does not fit: needs {peak / GB:.1f} GB at micro-batch 1, {usable / GB:.1f} GB usable"
        else:
            c = best_for_method
            best_for_method.reason = (f"fits at micro-batch {c.micro_batch}"
                                      f"{' with gradient checkpointing' if c.grad_checkpointing else ''}"
                                      f"{' and 8-bit Adam' if '8bit' in c.optimizer else ''}: {c.peak_gb:g} GB")
        candidates.append(best_for_method)
        if chosen is None and best_for_method.fits:
            chosen = best_for_method
    fits = chosen is not None
    pick = chosen or candidates[-1]
    grad_accum = max(1, math.ceil(target_batch / pick.micro_batch))
    trainable = shape.params if pick.method == "full" else shape.lora_params(lora_r, lora_targets)
    reasons = [
        f"{shape.name}: {shape.params / 1e6:,.1f} M parameters",
        f"memory budget: {device}, keeping {int(MARGIN * 100)} % free",
    ]
    if fits:
        better = [c.method for c in candidates if c.method != pick.method and METHODS.index(c.method) < METHODS.index(pick.method)]
        reasons.append(f"{pick.method}: {pick.reason}" + (f" ({', '.join(better)} would not fit)" if better else ""))
        reasons.append(f"micro-batch {pick.micro_batch} × accumulation {grad_accum} = effective batch "
                       f"{pick.micro_batch * grad_accum}")
    remedies = []
    if not fits:
        remedies = [f"shorten sequences (--seq-len {max(128, seq_len // 2)})", "use a smaller model"]
        if pick.method != "qlora" and on_gpu:
            remedies.append("use QLoRA (--method qlora)")
        if "8bit" not in pick.optimizer and on_gpu:
            remedies.append("use an 8-bit optimizer (--optimizer paged_adamw_8bit)")
    return Plan(
        model=shape.name, device=device, budget_gb=round(budget / GB, 2), method=pick.method,
        micro_batch=pick.micro_batch, grad_accum=grad_accum, grad_checkpointing=pick.grad_checkpointing,
        optimizer=pick.optimizer, precision=precision, max_seq_len=seq_len, predicted_peak_gb=pick.peak_gb,
        fits=fits, params=shape.params, trainable_params=trainable, terms=pick.terms, reasons=reasons,
        remedies=remedies, candidates=[asdict(c) for c in candidates],
    )
