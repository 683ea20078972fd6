"""The memory planner: count parameters from a config, predict peak memory per method, choose.

Every term of the memory model is named, in bytes, so the plan can show why it
chose what it chose.  Sources of the formulas:

* parameter count: the Llama/Qwen/Mistral decoder layout (embedding, attention with
  grouped KV heads, gated MLP, RMSNorms, optional untied head) read from config.json;
* weights: 2 bytes/param in bf16/fp16, 4 in fp32; NF4 (QLoRA, Dettmers et al. 2023)
  stores linear weights in 4 bits plus absmax constants (0.127 bit/param with double
  quantisation), while embeddings, norms and the head stay in 16 bits;
* training state (Rajbhandari et al., ZeRO, 2020): full fine-tuning in mixed precision
  keeps fp32 master weights and two fp32 Adam moments plus gradients; 8-bit Adam (bitsandbytes)
  stores the moments in 2 bytes/param;
* activations (Korthikanti et al. 2022, "Reducing Activation Recomputation"): with
  flash/SDPA attention a decoder layer keeps about (6h + 3i) values per token; gradient
  checkpointing keeps only each layer's input (h values per token) plus one layer;
* logits: the output layer's logits in the compute dtype, their fp32 copy for the loss
  and its gradient: tokens × vocab × (2 + 4 + 4) bytes — the largest term at 150 k vocab;
* peak phase: forward/backward (activations, logits) or the optimizer step (all gradients + AdamW's foreach
  temporary), whichever is larger — fms-acceleration's Mistral-7B full runs peak identically at batch 4 and 8;
* overhead: the CUDA context (~0.6 GB) and the caching allocator's free blocks: 30 % of the dynamic terms
  (activations, logits, step temporaries) plus 2 % of the static ones, fitted to the four fms-acceleration runs
  that publish both torch allocated and nvidia-smi peaks (reserved/allocated 1.18-1.24 there).
Pure 16-bit training keeps gradients and AdamW moments in 16 bits (4 bytes/param of state); mixed precision
(``master_weights``) keeps fp32 masters, 8-byte moments and autocast's 16-bit weight copies.
Calibration: tests/test_planner_calibration.py (published runs), bench/plan_calibration.py (CPU RSS).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.config import METHODS
from ..core.errors import DanluError
from ..core.texts import msg
from .hardware import Probe

GB = 1024**3
CUDA_CONTEXT = 0.6 * GB
CPU_RUNTIME = 0.3 * GB
ALLOCATOR_DYNAMIC = 0.30
ALLOCATOR_STATIC = 0.02
CPU_ATTENTION = "sdpa"
MARGIN = 0.10  # keep 10 % of the memory free


# Architectures whose decoder layout the planner counts (others: pass --gpu-mem with --method, or expect errors).
# MoE (Mixtral, Qwen-MoE), Falcon and BLOOM (fused, ALiBi, different layouts) are not represented.
UNSUPPORTED_TYPES = ("mixtral", "qwen2_moe", "qwen3_moe", "falcon", "bloom", "dbrx", "deepseek_v2", "deepseek_v3")


@dataclass
class ModelShape:
    """A decoder-only LM's shape, enough to count its parameters and activations.

    Llama-style (Llama, Qwen2/3, Mistral, Gemma, Phi-3) layers: RMSNorms, q/k/v/o projections with grouped KV
    heads, a gated MLP (gate, up, down).  Older layouts differ in ways that matter for the count: Phi-1/1.5/2
    (``phi``) uses one LayerNorm per layer (attention and MLP in parallel), a plain fc1→GELU→fc2 MLP and biases
    everywhere, including the LM head; GPT-NeoX/StableLM-alpha (``gpt_neox``) has two LayerNorms, a plain MLP
    and biases; Gemma 2/3 have four norms per layer and tie their embeddings by default; Qwen-1 (``qwen``,
    remote code) states twice its MLP width in ``intermediate_size``.
    """

    name: str
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool
    attn_bias: bool = False  # bias on q, k, v
    qk_norm: bool = False  # per-head RMSNorm on queries and keys (Qwen3, Gemma 3)
    mlp_gated: bool = True  # gate·up → down (SwiGLU/GeGLU) rather than fc1 → act → fc2
    mlp_bias: bool = False
    o_bias: bool = False  # bias on the attention output projection
    layer_norm: bool = False  # LayerNorm (weight and bias) rather than RMSNorm (weight)
    norms_per_layer: int = 2
    head_bias: bool = False  # bias on the LM head (Phi-1.5)

    @classmethod
    def from_config(cls, cfg: dict, name: str = "model") -> "ModelShape":
        cfg = cfg.get("text_config", cfg)
        mt = cfg.get("model_type", "")
        if mt in UNSUPPORTED_TYPES:
            raise DanluError(f"the planner does not model the {mt!r} architecture", where=name,
                             fix="pass --gpu-mem with --method and --micro-batch, and check the first steps' memory")
        try:
            hidden = int(cfg["hidden_size"])
            heads = int(cfg.get("num_attention_heads") or cfg["n_head"])
            inter = int(cfg.get("intermediate_size") or 4 * hidden)
            layers = int(cfg["num_hidden_layers"])
            kw: dict = {}
            if mt == "phi":
                kw = dict(attn_bias=True, mlp_gated=False, mlp_bias=True, o_bias=True, layer_norm=True,
                          norms_per_layer=1, head_bias=True)
            elif mt == "gpt_neox":
                kw = dict(attn_bias=True, mlp_gated=False, mlp_bias=True, o_bias=True, layer_norm=True)
            elif mt in ("gemma2", "gemma3", "gemma3_text"):
                kw = dict(norms_per_layer=4)
            elif mt == "qwen":  # Qwen-1: c_attn with bias, MLP width is intermediate_size // 2, no other biases
                inter //= 2
                kw = dict(attn_bias=True)
            tied_default = mt.startswith("gemma")
            return cls(
                name=name,
                vocab=int(cfg["vocab_size"]),
                hidden=hidden,
                intermediate=inter,
                layers=layers,
                heads=heads,
                kv_heads=int(cfg.get("num_key_value_heads") or heads),
                head_dim=int(cfg.get("head_dim") or cfg.get("kv_channels") or hidden // heads),
                tied=bool(cfg.get("tie_word_embeddings", tied_default)),
                qk_norm=mt in ("qwen3", "gemma3", "gemma3_text") or bool(cfg.get("qk_layernorm")),
                **{"attn_bias": bool(cfg.get("attention_bias", False)) or mt == "qwen2", **kw},
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
        return q + kv + o + bias + (self.hidden if self.o_bias else 0)

    @property
    def mlp_params(self) -> int:
        n = 3 if self.mlp_gated else 2
        bias = (self.intermediate * (n - 1) + self.hidden) if self.mlp_bias else 0
        return n * self.hidden * self.intermediate + bias

    @property
    def linear_params(self) -> int:
        """Parameters in the decoder's linear layers (what NF4 quantises and LoRA targets)."""
        return self.layers * (self.attn_params + self.mlp_params)

    @property
    def embed_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2) + (self.vocab if self.head_bias else 0)

    @property
    def norm_params(self) -> int:
        per_norm = 2 * self.hidden if self.layer_norm else self.hidden
        qk = 2 * self.head_dim if self.qk_norm else 0
        return self.layers * (self.norms_per_layer * per_norm + qk) + per_norm

    @property
    def params(self) -> int:
        return self.linear_params + self.embed_params + self.norm_params

    def lora_params(self, r: int, targets: str = "all-linear") -> int:
        h, i, a, kv = self.hidden, self.intermediate, self.heads * self.head_dim, self.kv_heads * self.head_dim
        shapes = {"q_proj": (h, a), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (a, h),
                  "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        if not self.mlp_gated:
            shapes.pop("gate_proj")
        names = list(shapes) if targets == "all-linear" else [t.strip() for t in targets.split(",")]
        return self.layers * sum(r * sum(shapes[n]) for n in names if n in shapes)


def model_shape(ref: str, *, trust_remote_code: bool = False) -> ModelShape:
    """A model's shape from its config alone: demo sizes, a local folder, a preset or the HF cache."""
    from ..models import load as models
    from ..core import presets

    if ref.startswith("demo:"):
        size = ref.split(":", 1)[1]
        if size in models.DEMO_SIZES:
            cfg = dict(models.DEMO_SIZES[size], vocab_size=models.DEMO_VOCAB, tie_word_embeddings=True)
            return ModelShape.from_config(cfg, ref)
        if size not in models.REAL_DEMOS:
            raise DanluError(f"unknown demo model {ref!r}", fix=f"use one of {', '.join(models.DEMO_REFS)}")
        # a real demo model: its shape is in presets/models.yaml (no import needed to plan)
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
    cached = models.hf_cache_config(ref)
    if cached is not None:
        return ModelShape.from_config(cached, ref)
    online = _hub_config(ref, trust_remote_code)
    if online is not None:
        return ModelShape.from_config(online, ref)
    if str(ref).startswith(("./", "../", "/", "~")) or str(ref).lower().endswith(".gguf"):
        raise DanluError(msg("err_model_path_missing", "no such model folder or file: {ref}", ref=ref),
                         fix=msg("fix_model_kinds", "pass a model folder (with config.json), a .gguf file, a "
                                 "Hugging Face id such as Qwen/Qwen2.5-0.5B-Instruct, or demo:smollm2"))
    raise DanluError(
        msg("err_no_config_offline", "no config known for model {ref!r} offline", ref=ref),
        fix=msg("fix_no_config_offline", "pass a model folder (with config.json), a .gguf file, demo:smollm2 or one of "
                "the presets (`danlu plan --list-models`), or download the model first"),
    )


def _hub_config(ref: str, trust_remote_code: bool) -> dict | None:
    """config.json from the Hugging Face Hub when there is a network (only config.json is fetched)."""
    from ..models import load as models

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
                                     attention: str, seq_len: int, precision: str = "bf16") -> tuple[float, float]:
    """Bytes one decoder layer keeps for backward, per token, in units of the compute dtype: (units, 1-byte masks).

    Counted from what autograd saves in a Hugging Face Llama-style layer (Korthikanti et al. 2022, "Reducing
    Activation Recomputation in Large Transformer Models", counted the same for GPT layers):

    * each norm upcasts its input to fp32 and keeps it: 2 units of h per norm in 16-bit (1 unit in fp32);
    * attention keeps q, k, v after RoPE and its output (flash/SDPA kernels keep no score matrix); HF's SDPA path
      repeats grouped KV heads before the kernel (``repeat_kv``), FlashAttention-2 does not;
    * the gated MLP keeps gate, act(gate) and up (3i); a plain MLP keeps the activation's input (i);
    * the input of every linear layer whose weight is trained (full: all; LoRA: the adapted ones) is kept,
      and full fine-tuning also keeps each norm's normalised output for the norm weight's gradient;
    * LoRA dropout (PEFT: one nn.Dropout per adapted layer) keeps a dropped-out copy of the input and its
      1-byte mask per adapted layer; without dropout the adapters share the layer input;
    * eager attention keeps the softmax output in fp32 and its 16-bit copy per head and key: 3·heads·s units in
      16-bit, 1·heads·s in fp32 (what PyTorch's math SDPA path also keeps: measured on the CPU by
      ``bench/plan_calibration.py``, see ``cpu_attention``).
    """
    h, i = shape.hidden, shape.intermediate
    a, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    fp32 = precision == "fp32"
    norm_units = 1 if fp32 else 2
    kv_kept = kv if attention == "flash" else a
    elems = shape.norms_per_layer * norm_units * h + (a + 2 * kv_kept) + a
    elems += 3 * i if shape.mlp_gated else i
    masks = 0.0
    trained = set(LORA_MODULES) if method == "full" else _targets(lora_targets)
    if method == "full":
        elems += shape.norms_per_layer * h
    inputs = {"q_proj": h, "k_proj": h, "v_proj": h, "o_proj": a, "gate_proj": h, "up_proj": h, "down_proj": i}
    if method == "full" or lora_dropout <= 0:
        # q/k/v share one input tensor, so do gate/up
        groups = [("q_proj", "k_proj", "v_proj"), ("o_proj",), ("gate_proj", "up_proj"), ("down_proj",)]
        elems += sum(inputs[g[0]] for g in groups if trained & set(g))
    else:
        extra = sum(inputs[m] for m in trained if m in inputs)
        elems += extra
        masks += extra
    if attention == "eager":
        elems += (1 if fp32 else 3) * shape.heads * seq_len
    return elems, masks


def optimizer_state_bytes(optimizer: str, param_bytes: int, master_weights: bool = False) -> float:
    """Bytes of optimizer state per trained parameter.

    AdamW keeps two moments (Kingma & Ba 2015) in the parameter's dtype: 8 bytes/param for fp32 parameters
    (and for mixed precision, whose parameters are fp32 masters), 4 for parameters trained in place in bf16
    (PyTorch's AdamW allocates ``zeros_like(param)``: torchtune, litgpt bf16-true, Trainer on a bf16 model).
    bitsandbytes 8-bit AdamW (Dettmers et al. 2022) keeps both in 1 byte plus a per-block (2048) fp32 scale.
    SGD with momentum keeps one moment, plain SGD none.
    """
    opt = optimizer.lower()
    if "8bit" in opt:
        return 2 + 8 / 2048
    per = 4 if master_weights else param_bytes
    if "sgd" in opt:
        return per if "momentum" in opt else 0
    if "adafactor" in opt:
        return 0.05 * per  # factored second moment: rows + columns
    return 2 * per


def memory_terms(shape: ModelShape, method: str, micro_batch: int, seq_len: int, *, precision: str,
                 grad_checkpointing: bool, optimizer: str, lora_r: int, lora_targets: str, gpu: bool,
                 lora_dropout: float = 0.05, attention: str = "sdpa", master_weights: bool = False,
                 upcast_non_quantized: bool = False, eval_batch: int | None = None, grad_accum: int = 1,
                 optimizer_in_backward: bool = False, loss: str = "fp32", double_quant: bool = True,
                 quant_saves_input: bool = False, adapter_dtype: str | None = None, sequences: int = 1,
                 reference_copy: bool = False) -> dict:
    """Bytes per named cause of memory use at the peak of one training configuration.

    Knobs (each a documented behaviour of the training stacks, none a per-source factor):

    * ``precision``: the dtype weights are held and trained in (bf16/fp16 on GPUs, fp32 on the CPU). Pure
      16-bit training (danlu, torchtune, litgpt ``bf16-true``, Trainer on a bf16 model) keeps weights, gradients
      and AdamW moments in 16 bits; ``master_weights=True`` is mixed precision (fp32 weights and states,
      ``bf16-mixed``/``fp16=True`` on an fp32 model): autocast also keeps a 16-bit copy of each weight that a
      matmul saves for backward (``autocast_copies``);
    * ``optimizer``: transformers ``optim`` names: ``adamw_torch`` (foreach: the step makes one temporary the
      size of the trained parameters), ``adamw_torch_fused`` (no temporary), ``*8bit`` (bitsandbytes, 2
      bytes/param), ``paged_*`` (states in CUDA unified memory: not seen by PyTorch's allocator, and evicted to
      host memory under pressure, so they count only in the device total); ``optimizer_in_backward`` (torchtune)
      steps each parameter as soon as its gradient is ready, so gradients never exist all at once;
    * ``grad_accum``: with accumulation, gradients live through the next micro-batches' forward and backward;
    * ``loss``: ``fp32`` (transformers upcasts logits to fp32 before the cross-entropy: the 16-bit logits, the
      fp32 log-softmax kept for backward and its gradient, 12 bytes a value in all), ``native`` (loss in the
      logits' dtype, litgpt: 8 bytes), ``chunked`` (torchtune's chunked cross-entropy: 16-bit logits plus each
      chunk's fp32 log-softmax, the gradient one chunk at a time: 7 bytes);
    * ``attention``: ``sdpa`` / ``flash`` (no score matrix) or ``eager``;
    * ``sequences``: sequences per sample in one forward pass (2 for a preference pair: the chosen and the rejected
      answer run together, TRL's concatenated forward), multiplying activations and logits;
    * ``reference_copy``: a frozen second copy of the weights, the reference model of a full-fine-tune DPO or KTO
      (with an adapter the reference is the same weights with the adapter switched off: no copy).

    The peak is either during forward/backward (weights, optimizer states, activations, logits and — with
    accumulation or LoRA — gradients) or during the optimizer step (weights, states, all gradients and the
    step's temporary); only the larger phase's terms are non-zero.
    """
    fp32 = precision == "fp32"
    wbytes = 4 if fp32 else 2
    tokens = micro_batch * seq_len * sequences
    embed = shape.embed_params
    other = shape.params - shape.linear_params - embed  # norms
    opt = optimizer.lower()
    t: dict[str, float] = {}
    if method == "qlora":
        # NF4: 4 bits per weight + an fp32 absmax per 64-block; double quantisation stores the absmax in 8 bits
        # with an fp32 constant per 256 of them (Dettmers et al. 2023, 0.127 bit/param)
        t["weights"] = shape.linear_params * 0.5 + (embed + other) * (4 if upcast_non_quantized else wbytes)
        t["quant_constants"] = shape.linear_params * ((1 / 64 + 4 / (64 * 256)) if double_quant else 4 / 64)
    else:
        t["weights"] = shape.params * (4 if master_weights else wbytes)
    if reference_copy and method == "full":
        t["reference"] = shape.params * wbytes
    trained = shape.params if method == "full" else shape.lora_params(lora_r, lora_targets)
    if method == "full":
        pbytes = 4 if master_weights else wbytes
    else:
        # adapters follow the model's dtype unless the stack keeps them in fp32 (PEFT's autocast_adapter_dtype,
        # prepare_model_for_kbit_training): adapter_dtype="fp32"
        pbytes = 4 if (fp32 or master_weights or adapter_dtype == "fp32") else 2
        t["adapters"] = trained * pbytes
    if master_weights and not fp32:
        # autocast's 16-bit weight copies, saved by each matmul for backward
        t["autocast_copies"] = (shape.linear_params + (shape.vocab * shape.hidden)) * 2
    states = trained * optimizer_state_bytes(opt, pbytes, master_weights)
    t["optimizer_paged" if "paged" in opt else "optimizer"] = states
    grads = 0.0 if optimizer_in_backward else trained * pbytes
    step_temp = 0.0 if (optimizer_in_backward or "fused" in opt or "8bit" in opt or "sgd" in opt) else trained * pbytes

    act_bytes = 4 if fp32 else 2
    per_tok, per_tok_masks = activation_elems_per_token_layer(shape, method, lora_targets, lora_dropout, attention,
                                                              seq_len, precision)
    if method == "qlora" and quant_saves_input:
        # bitsandbytes < 0.42: MatMul4Bit saved each quantised layer's input (q/k/v and gate/up share theirs)
        h, i, a = shape.hidden, shape.intermediate, shape.heads * shape.head_dim
        per_tok += 2 * h + a + i
    # dropout masks: 1 byte on CUDA (fused kernel), the input's dtype on the CPU (ATen's bernoulli_ noise tensor,
    # confirmed by bench/plan_calibration.py)
    layer = tokens * (per_tok * act_bytes + per_tok_masks * (1 if gpu else act_bytes))
    head = tokens * shape.hidden * act_bytes * 3  # final norm (fp32 input) and the LM head's input
    if grad_checkpointing:
        # each layer's input is kept; one layer is recomputed at a time during backward
        activations = shape.layers * tokens * shape.hidden * act_bytes + layer + head
    else:
        activations = shape.layers * layer + head
    logit_bytes = {"fp32": 12, "native": 4 * act_bytes, "chunked": 7}.get(loss, 12)
    if fp32:
        logit_bytes = 12  # fp32 logits, log-softmax and gradient
    logits = tokens * shape.vocab * logit_bytes
    grads_in_fwd = grads if (method != "full" or grad_accum > 1) else 0.0
    fwd = activations + logits + grads_in_fwd
    step = grads + step_temp
    if fwd >= step:
        t["gradients"] = grads_in_fwd
        t["activations"] = activations
        t["logits"] = logits
        t["optimizer_step"] = 0.0
    else:
        t["gradients"] = grads
        t["activations"] = 0.0
        t["logits"] = 0.0
        t["optimizer_step"] = step_temp
    if eval_batch:
        eval_peak = eval_batch * seq_len * sequences * (shape.vocab * (act_bytes + 4) + 4 * shape.hidden * act_bytes)
        t["eval"] = max(0.0, eval_peak - t["activations"] - t["logits"] - t["optimizer_step"])
    if method == "qlora":
        t["dequant_workspace"] = 2 * max(shape.intermediate, shape.hidden) * shape.hidden * wbytes
    dynamic = sum(t.get(k, 0.0) for k in ("activations", "logits", "eval", "optimizer_step", "dequant_workspace"))
    static = sum(v for k, v in t.items() if k != "optimizer_paged") - dynamic
    t["allocator"] = ALLOCATOR_DYNAMIC * dynamic + ALLOCATOR_STATIC * static
    if gpu:
        t["cuda_context"] = CUDA_CONTEXT
    else:
        t["runtime"] = CPU_RUNTIME  # the Python process, torch and the libraries it loads
    return t


ALLOCATED_EXCLUDES = ("allocator", "cuda_context", "runtime", "optimizer_paged")


def metric_gb(terms: dict, metric: str, unit: float = GB) -> float:
    """Predicted peak in the metric a measurement reports.

    ``allocated`` (torch.cuda.max_memory_allocated): tensors only; ``reserved`` (max_memory_reserved): plus
    the caching allocator's free blocks; anything else (``device``: nvidia-smi, the card's total): plus the CUDA
    context and paged optimizer states resident on the card.  In GiB unless ``unit`` says otherwise.
    """
    if metric == "allocated":
        return sum(v for k, v in terms.items() if k not in ALLOCATED_EXCLUDES) / unit
    if metric == "reserved":
        return sum(v for k, v in terms.items() if k not in ("cuda_context", "runtime", "optimizer_paged")) / unit
    return sum(terms.values()) / unit


def plan(ref: str, *, gpu_mem_gb: float | None = None, probe: Probe | None = None, seq_len: int = 1024,
         method: str | None = None, micro_batch: int | None = None, target_batch: int = 16, lora_r: int = 16,
         lora_targets: str = "all-linear", lora_dropout: float = 0.05, grad_checkpointing: bool | None = None,
         optimizer: str | None = None, precision: str | None = None, shape: ModelShape | None = None,
         grad_accum: int | None = None, knobs: dict | None = None, prefer: str | None = None) -> Plan:
    """Choose method, micro-batch, accumulation, checkpointing, optimizer and precision that fit.

    The highest-fidelity method that fits with the margin wins (full → LoRA → QLoRA), starting at ``prefer`` when
    given (the recipe's choice: every method's figure is still computed, for the Plan screen); for it, the
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
    if probe and probe.gpus:
        gpu = probe.selected() or probe.gpus[0]
    on_gpu = gpu is not None or gpu_mem_gb is not None
    accel = probe.accelerator if probe else "cpu"
    if gpu_mem_gb is not None:
        budget = gpu_mem_gb * GB
        device = msg("dev_given", "GPU ({gb:g} GB given)", gb=gpu_mem_gb)
    elif gpu is not None:
        free = gpu.usable_gb
        budget = free * GB
        device = msg("dev_gpu", "{name} ({free:g} of {total:g} GB free)", name=gpu.name, free=free,
                     total=gpu.memory_total_gb)
    else:
        ram = (probe.host.ram_available_gb if probe else None) or 8.0
        share = 0.6 if accel == "mps" else 0.8
        budget = ram * share * GB
        device = msg("dev_host", "{host} ({ram:g} GB RAM available, planning with {pct} %)",
                     host="Apple MPS" if accel == "mps" else "CPU", ram=ram, pct=int(share * 100))
    if precision is None:
        if not on_gpu:
            precision = "fp32"
        else:
            precision = "bf16" if (gpu is None or gpu.bf16) else "fp16"
    if on_gpu:
        attention = "sdpa" if (gpu is None or gpu.sdpa_efficient) else "eager"
    else:
        attention = CPU_ATTENTION
    usable = budget * (1 - MARGIN)
    methods = [method] if method else list(METHODS)
    if not on_gpu and not method:
        methods = [m for m in methods if m != "qlora"]  # bitsandbytes 4-bit saves nothing worth its cost here
    batches = [micro_batch] if micro_batch else [b for b in (32, 16, 8, 4, 2, 1) if b <= target_batch] or [1]
    gcs = [grad_checkpointing] if grad_checkpointing is not None else [False, True]
    optimizers = [optimizer] if optimizer else (["adamw_torch", "adamw_bnb_8bit"] if on_gpu else ["adamw_torch"])

    extra = {"attention": attention, **(knobs or {})}

    def terms_for(m, mb, gc, opt):
        accum = grad_accum or max(1, math.ceil(target_batch / mb))
        return memory_terms(shape, m, mb, seq_len, precision=precision, grad_checkpointing=gc, optimizer=opt,
                            lora_r=lora_r, lora_targets=lora_targets, gpu=on_gpu, lora_dropout=lora_dropout,
                            eval_batch=mb, grad_accum=accum, **extra)

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
                if mb == batches[0] or not on_gpu:
                    # no checkpointing needed for the largest micro-batch; on a CPU a bigger micro-batch is not
                    # faster (the cores are busy either way), so recomputing activations would only cost time
                    break
            if best:
                break  # the 8-bit optimizer only when 32-bit states do not fit
        if best is None:
            gc, opt = gcs[-1], optimizers[-1]
            terms = terms_for(m, batches[-1], gc, opt)
            peak = sum(terms.values())
            best = Candidate(m, batches[-1], gc, opt, {k: round(v / GB, 3) for k, v in terms.items()},
                             round(peak / GB, 2), False,
                             msg("no_fit", "does not fit: needs {need:.1f} GB at micro-batch {mb}, {usable:.1f} GB usable",
                                 need=peak / GB, mb=batches[-1], usable=usable / GB))
        else:
            gc_text = " with gradient checkpointing" if best.grad_checkpointing else ""
            opt_text = " and an 8-bit optimizer" if "8bit" in best.optimizer else ""
            best.reason = msg("fits", "fits at micro-batch {mb}" + gc_text + opt_text + ": {gb:g} GB", mb=best.micro_batch,
                              gb=best.peak_gb, gc=best.grad_checkpointing, opt8="8bit" in best.optimizer)
        candidates.append(best)
        if chosen is None and best.fits and (prefer is None or METHODS.index(m) >= METHODS.index(prefer)):
            chosen = best
    fits = chosen is not None
    pick = chosen or candidates[-1]
    grad_accum = grad_accum or max(1, math.ceil(target_batch / pick.micro_batch))
    trainable = shape.params if pick.method == "full" else shape.lora_params(lora_r, lora_targets)
    reasons = [
        msg("model_size", "{model}: {m:,.1f} M parameters, vocabulary {vocab:,}", model=shape.name,
            m=shape.params / 1e6, vocab=shape.vocab),
        msg("budget", "memory budget: {device}, keeping {pct} % free", device=device, pct=int(MARGIN * 100)),
    ]
    if fits:
        worse = [c.method for c in candidates if METHODS.index(c.method) < METHODS.index(pick.method) and not c.fits]
        if worse:
            reasons.append(msg("pick_over", "{method}: {reason} ({worse} would not fit)", method=pick.method,
                               reason=pick.reason, worse=", ".join(worse)))
        else:
            reasons.append(msg("pick", "{method}: {reason}", method=pick.method, reason=pick.reason))
        reasons.append(msg("batch", "micro-batch {mb} × accumulation {ga} = effective batch {eff}",
                           mb=pick.micro_batch, ga=grad_accum, eff=pick.micro_batch * grad_accum))
        reasons.append(msg("precision_fp16", "precision {precision} (this GPU has no bf16)", precision=precision)
                       if precision == "fp16" else msg("precision", "precision {precision}", precision=precision))
    remedies = []
    if not fits:
        big = max(pick.terms, key=pick.terms.get)
        remedies.append(msg("largest_term", "the largest term is {term} ({gb:.1f} GB)", term=big, gb=pick.terms[big]))
        if seq_len > 256:
            remedies.append(msg("shorter_seq", "shorten sequences (--seq-len {n})", n=max(256, seq_len // 2)))
        if pick.method != "qlora" and on_gpu:
            remedies.append(msg("use_qlora", "use QLoRA (--method qlora)"))
        if "8bit" not in pick.optimizer and on_gpu:
            remedies.append(msg("use_8bit", "use an 8-bit optimizer (--optimizer paged_adamw_8bit)"))
        if not pick.grad_checkpointing:
            remedies.append(msg("use_gc", "turn on gradient checkpointing (--grad-checkpointing on)"))
        remedies.append(msg("smaller_model", "use a smaller model"))
    return Plan(
        model=shape.name, device=device, budget_gb=round(budget / GB, 2), method=pick.method,
        micro_batch=pick.micro_batch, grad_accum=grad_accum, grad_checkpointing=pick.grad_checkpointing,
        optimizer=pick.optimizer, precision=precision, max_seq_len=seq_len, predicted_peak_gb=pick.peak_gb,
        fits=fits, params=shape.params, trainable_params=trainable, terms=pick.terms, reasons=reasons,
        remedies=remedies, candidates=[asdict(c) for c in candidates],
    )


TERM_KNOBS = ("attention", "master_weights", "upcast_non_quantized", "optimizer_in_backward", "loss", "double_quant",
              "quant_saves_input", "adapter_dtype", "grad_accum")


def predict_peak(point: dict, unit: float = 1e9) -> float:
    """Predicted peak of a published run, in the metric it reports (decimal GB by default).

    ``point`` holds the ``planner:`` fields of an entry of ``presets/memory_measurements.yaml``: the model (a
    preset id), method, micro_batch, seq_len, grad_checkpointing, precision, optimizer, LoRA rank/targets/dropout,
    the stack's knobs (see :func:`memory_terms`) and the metric (allocated, reserved or device).
    """
    shape = model_shape(point["model"])
    precision = point.get("precision", "bf16")
    terms = memory_terms(
        shape, point["method"], int(point["micro_batch"]), int(point["seq_len"]), precision=precision,
        grad_checkpointing=bool(point.get("grad_checkpointing", False)), optimizer=point.get("optimizer", "adamw_torch"),
        lora_r=int(point.get("lora_r") or 16), lora_targets=point.get("lora_targets") or "all-linear", gpu=True,
        lora_dropout=float(point.get("lora_dropout", 0.05)),
        **{k: point[k] for k in TERM_KNOBS if k in point})
    return metric_gb(terms, point.get("metric", "device"), unit)
