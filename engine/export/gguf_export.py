"""Write a Hugging Face model folder as a GGUF file (llama.cpp, Ollama, LM Studio), on top of the `gguf` package.

danlu's own writer for the architectures it knows (``ARCHS``: Llama and Mistral as llama.cpp's
``llama``, Qwen2, Qwen3, Gemma, Gemma 2), tensor by tensor from the safetensors shards, so a model
larger than RAM converts shard by shard:

* weights: 2-D tensors in the chosen type (f16, bf16, q8_0, q4_0, q4_1: the ones the `gguf` package
  quantises in Python; rows that do not divide into blocks stay f16), 1-D tensors (norms, biases)
  in f32; Llama's q/k projections are permuted to the rotary layout llama.cpp's ``llama`` kernel
  expects; Gemma's norm weights get the +1 its RMSNorm applies;
* metadata: the architecture's hyper-parameters, and the tokenizer: tokens, token types, merges,
  ``tokenizer.ggml.pre`` (recognised from the tokenizer's pre-tokenizer, or carried over from the
  GGUF a model was imported from), BOS/EOS/EOT/pad ids, the add-BOS flag and the chat template.

K-quants (q4_k_m ...) are made from an f16 file by llama.cpp (``llama-quantize``, or the
quantiser inside llama-cpp-python); other architectures or tokenizers can go through llama.cpp's
own ``convert_hf_to_gguf.py`` when the user points at a llama.cpp checkout (engine.export).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import DanluError
from ..core.texts import msg

# the types the gguf package writes itself; K-quants need llama.cpp
PYTHON_TYPES = ("f16", "bf16", "q8_0", "q4_0", "q4_1")
KQUANT_TYPES = ("q2_k", "q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m", "q6_k")
ALL_TYPES = PYTHON_TYPES + KQUANT_TYPES

# bytes per weight of each type (for the sizes shown before exporting)
BYTES_PER_WEIGHT = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "q4_1": 20 / 32,
                    "q2_k": 0.33, "q3_k_s": 0.43, "q3_k_m": 0.49, "q3_k_l": 0.53, "q4_k_s": 0.57, "q4_k_m": 0.61,
                    "q5_k_s": 0.69, "q5_k_m": 0.71, "q6_k": 0.82}


@dataclass(frozen=True)
class Arch:
    gguf: str  # llama.cpp's architecture name
    permute_qk: bool = False  # Llama-style rotary halves -> llama.cpp's interleaved layout
    norm_plus_one: bool = False  # Gemma's RMSNorm scales by (1 + weight)


ARCHS = {
    "llama": Arch("llama", permute_qk=True),
    "mistral": Arch("llama", permute_qk=True),
    "qwen2": Arch("qwen2"),
    "qwen3": Arch("qwen3"),
    "gemma": Arch("gemma", norm_plus_one=True),
    "gemma2": Arch("gemma2", norm_plus_one=True),
}

# HF parameter name (per layer, after "model.layers.N.") -> GGUF tensor name (after "blk.N.")
_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
# Gemma 2 has four norms a layer: post_attention_layernorm is after attention, pre_feedforward before the MLP
_GEMMA2_LAYER = dict(_LAYER, **{"post_attention_layernorm.weight": "post_attention_norm.weight",
                                "pre_feedforward_layernorm.weight": "ffn_norm.weight",
                                "post_feedforward_layernorm.weight": "post_ffw_norm.weight"})
_GLOBAL = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}

# tokenizer.ggml.pre, recognised from the tokenizer.json pre-tokenizer (the regexes llama.cpp's vocab uses for
# these names); anything else: llama.cpp's converter knows more tokenizers
_QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def _norm_regex(pattern: str) -> str:
    return re.sub(r"\s+", "", pattern or "")


def pre_tokenizer_name(tokenizer_json: dict) -> str | None:
    """llama.cpp's name for a byte-level BPE tokenizer's pre-tokenizer, or None when it is not one danlu knows."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    kinds = [s.get("type") for s in steps]
    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return "gpt-2"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits") and steps[1].get("use_regex", True):
        return "smollm"
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        pattern = _norm_regex((steps[0].get("pattern") or {}).get("Regex", ""))
        if pattern == _norm_regex(_QWEN2_SPLIT):
            return "qwen2"
        if pattern == _norm_regex(_LLAMA3_SPLIT):
            return "llama-bpe"
    return None


def check_supported(folder: Path) -> tuple[dict, str]:
    """(config, reason) if danlu's writer can convert ``folder``; raises DanluError saying what to do if not."""
    config = json.loads((folder / "config.json").read_text())
    model_type = config.get("model_type")
    if model_type not in ARCHS:
        raise DanluError(f"danlu's GGUF writer does not know the {model_type!r} architecture",
                         fix=f"it writes {', '.join(sorted(ARCHS))}; for others pass --llama-cpp DIR (a llama.cpp "
                             "checkout: its convert_hf_to_gguf.py knows more)")
    tok = folder / "tokenizer.json"
    if not tok.is_file():
        raise DanluError("the model has no tokenizer.json (a fast tokenizer)", where=str(folder),
                         fix="pass --llama-cpp DIR to convert with llama.cpp's converter (it reads sentencepiece files)")
    model = json.loads(tok.read_text(encoding="utf-8")).get("model", {})
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise DanluError(f"danlu's GGUF writer handles byte-level BPE tokenizers; this one is "
                         f"{model.get('type')}{' with byte fallback (sentencepiece-style)' if model.get('byte_fallback') else ''}",
                         fix="pass --llama-cpp DIR to convert with llama.cpp's converter")
    if any(config.get(k) for k in ("rope_scaling",)) and (config.get("rope_scaling") or {}).get("rope_type", "default") \
            not in ("default", "linear", None):
        raise DanluError(f"rope scaling {config['rope_scaling'].get('rope_type')!r} is not written by danlu's writer",
                         fix="pass --llama-cpp DIR to convert with llama.cpp's converter")
    return config, model_type


def _tokenizer_meta(folder: Path, tokenizer, pre: str | None) -> dict:
    """Everything llama.cpp needs to tokenize like the model's own tokenizer."""
    from ..models import template

    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab: dict = dict(data["model"]["vocab"])
    added = {t["id"]: t for t in data.get("added_tokens", [])}
    for tid, t in added.items():
        vocab[t["content"]] = tid
    size = max(vocab.values()) + 1
    tokens = [f"[PAD{i}]" for i in range(size)]
    types = [5] * size  # UNUSED
    for text, tid in vocab.items():
        tokens[tid] = text
        types[tid] = 1  # NORMAL
    for tid, t in added.items():
        types[tid] = 3 if t.get("special") else 4  # CONTROL | USER_DEFINED
    merges = data["model"].get("merges") or []
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    pre = pre or pre_tokenizer_name(data)
    if pre is None:
        raise DanluError("the tokenizer's pre-tokenizer is not one danlu's GGUF writer recognises (GPT-2, SmolLM, "
                         "Qwen2, Llama 3)", fix="pass --llama-cpp DIR to convert with llama.cpp's converter")
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    eot = template.end_of_turn_ids(tokenizer)
    return {"tokens": tokens, "types": types, "merges": merges, "pre": pre,
            "bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "unk": tokenizer.unk_token_id,
            "pad": tokenizer.pad_token_id, "eot": eot[0] if eot else None,
            "add_bos": bool(tokenizer.bos_token_id is not None and probe and probe[0] == tokenizer.bos_token_id),
            "chat_template": tokenizer.chat_template}


def _gguf_type(name: str, shape: tuple, want: str):
    """The GGML type a tensor is written in: 1-D in F32, 2-D in the asked type (F16 where rows do not fit blocks)."""
    import gguf

    Q = gguf.GGMLQuantizationType
    if len(shape) < 2:
        return Q.F32
    qtype = {"f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "q4_1": Q.Q4_1, "f32": Q.F32}[want]
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if shape[-1] % block:
        return Q.F16
    return qtype


def _file_type(want: str) -> int:
    import gguf

    F = gguf.LlamaFileType
    return {"f32": F.ALL_F32, "f16": F.MOSTLY_F16, "bf16": F.MOSTLY_BF16, "q8_0": F.MOSTLY_Q8_0,
            "q4_0": F.MOSTLY_Q4_0, "q4_1": F.MOSTLY_Q4_1}[want]


def _convert_tensor(hf_name: str, tensor, arch: Arch, config: dict):
    """The HF tensor as llama.cpp wants it (float32 numpy)."""
    import numpy as np

    w = tensor.float().numpy()
    if arch.norm_plus_one and hf_name.endswith("norm.weight"):
        w = w + 1.0
    if arch.permute_qk and (hf_name.endswith("q_proj.weight") or hf_name.endswith("k_proj.weight")):
        heads = config["num_attention_heads"] if "q_proj" in hf_name else config.get("num_key_value_heads",
                                                                                     config["num_attention_heads"])
        w = w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    return np.ascontiguousarray(w, dtype=np.float32)


def _name_map(config: dict, model_type: str) -> dict:
    layer = _GEMMA2_LAYER if model_type == "gemma2" else _LAYER
    names = dict(_GLOBAL)
    for i in range(config["num_hidden_layers"]):
        for hf, gg in layer.items():
            names[f"model.layers.{i}.{hf}"] = f"blk.{i}.{gg}"
    return names


def _hparams(w, config: dict, model_type: str, arch: Arch) -> None:
    a = arch.gguf
    heads = config["num_attention_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    w.add_context_length(int(config.get("max_position_embeddings", 2048)))
    w.add_embedding_length(config["hidden_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(config.get("num_key_value_heads", heads))
    w.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    rope = config.get("rope_parameters") or {}
    w.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(config["vocab_size"])
    if head_dim != config["hidden_size"] // heads or a in ("gemma", "gemma2", "qwen3"):
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type") == "linear" and scaling.get("factor"):
        import gguf

        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(scaling["factor"]))
    if model_type == "gemma2":
        if config.get("attn_logit_softcapping"):
            w.add_attn_logit_softcapping(float(config["attn_logit_softcapping"]))
        if config.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(float(config["final_logit_softcapping"]))
        if config.get("sliding_window"):
            w.add_sliding_window(int(config["sliding_window"]))


def write_gguf(folder: str | os.PathLike, out: str | os.PathLike, *, qtype: str = "f16", name: str | None = None,
               pre: str | None = None, progress=lambda text: None) -> dict:
    """Convert the model folder (safetensors + tokenizer.json) to ``out`` in ``qtype``; tensor by tensor."""
    import gguf
    import numpy as np
    from safetensors import safe_open
    from transformers import AutoTokenizer

    folder, out = Path(folder), Path(out)
    if qtype not in PYTHON_TYPES:
        raise DanluError(f"danlu writes {', '.join(PYTHON_TYPES)} itself; {qtype} needs llama.cpp's quantiser",
                         fix="see `danlu export --help` (--llama-quantize)")
    config, model_type = check_supported(folder)
    arch = ARCHS[model_type]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tok = _tokenizer_meta(folder, tokenizer, pre)
    if len(tok["tokens"]) > config["vocab_size"]:
        raise DanluError(f"the tokenizer has {len(tok['tokens'])} tokens but the model only {config['vocab_size']} "
                         "embeddings", where=str(folder), fix="resize the model's embeddings to the tokenizer")
    pad = config["vocab_size"] - len(tok["tokens"])
    tok["tokens"] += [f"[PAD{len(tok['tokens']) + i}]" for i in range(pad)]
    tok["types"] += [5] * pad

    shards = sorted(folder.glob("*.safetensors"))
    if not shards:
        raise DanluError("no safetensors weights in the folder", where=str(folder), fix="export the merged model first")
    names = _name_map(config, model_type)
    plan = []  # (gguf name, shard, hf name, shape, ggml type)
    for shard in shards:
        with safe_open(str(shard), framework="pt") as fh:
            for key in fh.keys():
                if key not in names:
                    if key.endswith("rotary_emb.inv_freq"):
                        continue
                    raise DanluError(f"tensor {key} has no GGUF name in danlu's {model_type} writer", where=str(shard),
                                     fix="pass --llama-cpp DIR to convert with llama.cpp's converter")
                if key == "lm_head.weight" and config.get("tie_word_embeddings"):
                    continue
                shape = tuple(fh.get_slice(key).get_shape())
                plan.append((names[key], shard, key, shape, _gguf_type(key, shape, qtype)))
    order = {n: i for i, n in enumerate(names.values())}
    plan.sort(key=lambda p: order[p[0]])

    w = gguf.GGUFWriter(str(out), arch.gguf)
    w.add_name(name or folder.name)
    w.add_file_type(_file_type(qtype))
    if qtype not in ("f16", "bf16", "f32"):
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _hparams(w, config, model_type, arch)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(tok["pre"])
    w.add_token_list(tok["tokens"])
    w.add_token_types(tok["types"])
    w.add_token_merges(tok["merges"])
    for key, adder in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id), ("unk", w.add_unk_token_id),
                       ("pad", w.add_pad_token_id), ("eot", w.add_eot_token_id)):
        if tok[key] is not None:
            adder(int(tok[key]))
    w.add_add_bos_token(tok["add_bos"])
    w.add_add_eos_token(False)
    if tok["chat_template"]:
        w.add_chat_template(tok["chat_template"])
    for gname, _, _, shape, gt in plan:
        if gt in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            dtype = np.float32 if gt == gguf.GGMLQuantizationType.F32 else np.float16
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            w.add_tensor_info(gname, shape, np.dtype(dtype), nbytes)
        else:
            byte_shape = gguf.quant_shape_to_byte_shape(shape, gt)
            w.add_tensor_info(gname, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), raw_dtype=gt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    counts: dict = {}
    handles = {}
    try:
        for i, (gname, shard, key, shape, gt) in enumerate(plan, 1):
            if shard not in handles:
                handles[shard] = safe_open(str(shard), framework="pt")
            data = _convert_tensor(key, handles[shard].get_tensor(key), arch, config)
            if gt == gguf.GGMLQuantizationType.F16:
                data = data.astype(np.float16)
            elif gt != gguf.GGMLQuantizationType.F32:
                data = gguf.quants.quantize(data, gt)
            w.write_tensor_data(data)
            counts[gt.name] = counts.get(gt.name, 0) + 1
            if i % 20 == 0 or i == len(plan):
                progress(msg("ex_tensors", "{i}/{n} tensors written", i=i, n=len(plan)))
    finally:
        w.close()
    return {"path": str(out), "type": qtype, "architecture": arch.gguf, "tensors": len(plan), "tensor_types": counts,
            "bytes": out.stat().st_size, "tokenizer_pre": tok["pre"], "eos_token_id": tok["eos"],
            "eot_token_id": tok["eot"], "bos_token_id": tok["bos"], "add_bos": tok["add_bos"]}


def estimate_bytes(params: int, qtype: str) -> int:
    return int(params * BYTES_PER_WEIGHT.get(qtype, 2.0))
