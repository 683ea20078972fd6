"""Import a GGUF file as an ordinary Hugging Face model folder (``danlu model import``).

GGUF files (llama.cpp, Ollama, LM Studio) are often the only copy of a model people have, and
many are quantised.  Training needs plain weights, so this reads the file with transformers'
GGUF loader, which dequantises every tensor, and writes a normal folder: safetensors weights, the
tokenizer with its chat template, ``generation_config.json`` that stops at the template's
end-of-turn token, and a README saying that the weights were dequantised (so they are not the
original 16-bit release).  Then it loads the folder back and compares its logits with the model
loaded from the GGUF, and renders a two-turn conversation with both tokenizers.

Everything is checked before the slow part: the file's magic and header, that it is complete,
that transformers supports its architecture and that every tensor type can be dequantised.  The
folder is written to a temporary name and renamed when complete (DESIGN.md §4).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core import atomic, paths
from . import cache
from ..core.errors import DanluError

IMPORT_VERSION = 2  # 2: the marker records tokenizer.ggml.pre
MARKER = "danlu_import.json"
DTYPES = ("bf16", "fp32")
# the two-turn conversation whose rendering must be byte-identical before and after the import
CHECK_CONVERSATION = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "And of Italy?"},
]
# gguf names some architectures differently from transformers' GGUF loader
_ARCH_ALIASES = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss", "minimax-m2": "minimax_m2"}
# file types that mean "not quantised" (general.file_type: 0 = F32, 1 = F16, 32 = BF16)
_PLAIN_TYPES = {"F32", "F16", "BF16"}


@dataclass
class GGUFInfo:
    path: str
    size_bytes: int
    architecture: str
    name: str
    tensors: int
    params: int
    tensor_types: dict = field(default_factory=dict)  # GGML type name -> tensor count
    context_length: int | None = None
    tokenizer_model: str | None = None
    tokenizer_pre: str | None = None
    has_chat_template: bool = False

    @property
    def quantised(self) -> bool:
        return any(t not in _PLAIN_TYPES for t in self.tensor_types)

    def describe(self) -> str:
        types = ", ".join(f"{n}×{k}" for k, n in sorted(self.tensor_types.items(), key=lambda kv: -kv[1]))
        return (f"{self.name or Path(self.path).stem}: {self.architecture}, {self.params / 1e6:,.1f} M parameters, "
                f"{self.tensors} tensors ({types})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["quantised"] = self.quantised
        return d


def supported_architectures() -> set[str]:
    """Architectures transformers' GGUF loader reads (its legacy table and its newer per-architecture path)."""
    archs: set[str] = set()
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

        archs |= set(GGUF_SUPPORTED_ARCHITECTURES)
    except ImportError:
        pass
    try:
        from transformers.integrations.gguf.gguf_conversion_mapping import GGUF_ARCHS

        archs |= set(GGUF_ARCHS)
    except ImportError:
        pass
    archs.discard("general")
    archs.discard("tokenizer")
    return archs


def _dequantisable(type_name: str) -> bool:
    import gguf

    if type_name in ("F32", "F16"):
        return True
    try:
        qtype = gguf.GGMLQuantizationType[type_name]
    except KeyError:
        return False
    traits = getattr(gguf.quants, "_type_traits", None)
    if traits is None:  # a gguf version without the table: try one block
        try:
            block, size = gguf.GGML_QUANT_SIZES[qtype]
            import numpy as np

            gguf.quants.dequantize(np.zeros(size, dtype=np.uint8), qtype)
            return True
        except Exception:  # noqa: BLE001 - not dequantisable
            return False
    return qtype in traits


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    try:
        return f.contents()
    except Exception:  # noqa: BLE001 - a damaged field reads as missing
        return default


def inspect(path: str | os.PathLike) -> GGUFInfo:
    """Read a GGUF file's header and check that danlu can import it; raise DanluError if not."""
    path = Path(path).expanduser().absolute()
    fix_file = "pass a complete .gguf file (download it again if it was cut short)"
    if not path.exists():
        raise DanluError("GGUF file not found", where=str(path), fix="check the path")
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        hint = f"pass the file itself, e.g. {ggufs[0]}" if ggufs else "pass a .gguf file, not a folder"
        raise DanluError("this is a folder, not a GGUF file", where=str(path), fix=hint)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"GGUF":
        what = "the file is empty" if size == 0 else f"it starts with {magic!r}, not the GGUF magic b'GGUF'"
        raise DanluError(f"not a GGUF file ({what})", where=str(path),
                         fix="pass a .gguf file (llama.cpp / Ollama format); for safetensors use the model folder")
    try:
        import gguf
    except ImportError:
        raise DanluError("reading GGUF files needs the `gguf` package", fix="pip install gguf") from None
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a damaged file
        raise DanluError(f"the GGUF header cannot be read, the file is damaged or truncated "
                         f"({type(exc).__name__}: {str(exc)[:120]})", where=str(path), fix=fix_file) from None
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise DanluError(f"the file is truncated: its tensors need {end:,} bytes, it has {size:,}", where=str(path),
                         fix=fix_file)
    if not reader.tensors:
        raise DanluError("the GGUF file holds no tensors (a vocabulary-only file?)", where=str(path),
                         fix="pass a model file with weights")
    arch = str(_field(reader, "general.architecture", "") or "")
    info = GGUFInfo(
        path=str(path), size_bytes=size, architecture=arch, name=str(_field(reader, "general.name", "") or ""),
        tensors=len(reader.tensors), params=sum(int(t.n_elements) for t in reader.tensors),
        tensor_types=dict(Counter(t.tensor_type.name for t in reader.tensors)),
        context_length=_field(reader, f"{arch}.context_length"),
        tokenizer_model=_field(reader, "tokenizer.ggml.model"),
        tokenizer_pre=_field(reader, "tokenizer.ggml.pre"),
        has_chat_template=bool(_field(reader, "tokenizer.chat_template")),
    )
    supported = supported_architectures()
    if not arch:
        raise DanluError("the GGUF file does not say its architecture (general.architecture)", where=str(path),
                         fix=fix_file)
    if supported and arch not in supported and _ARCH_ALIASES.get(arch) not in supported:
        raise DanluError(
            f"architecture {arch!r} is not supported by transformers' GGUF loader",
            where=str(path),
            fix=f"use the original (safetensors) model instead: its Hugging Face id or folder; GGUF import works for "
                f"{', '.join(sorted(a for a in supported if a in _COMMON))} and more",
        )
    bad = sorted(t for t in info.tensor_types if not _dequantisable(t))
    if bad:
        raise DanluError(
            f"quantisation type(s) {', '.join(bad)} cannot be dequantised by the installed gguf package",
            where=str(path),
            fix="use a GGUF with a common type (F16, BF16, Q8_0, Q4_K_M, Q4_0 ...), upgrade gguf (pip install -U gguf), "
                "or the original safetensors model",
        )
    if not info.tokenizer_model:
        raise DanluError("the GGUF file has no tokenizer (tokenizer.ggml.model is missing)", where=str(path),
                         fix="use a GGUF converted with its tokenizer, or the original model folder")
    return info


_COMMON = ("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "stablelm", "starcoder2", "falcon")


def default_out(info: GGUFInfo, dtype: str) -> Path:
    """The cache folder of this file's import: named by the file's content (two files with the same name and size
    but other weights never share one)."""
    return paths.models_cache() / f"gguf-{Path(info.path).stem}-{source_hash(info.path)[:12]}-{dtype}"


def source_hash(path) -> str:
    """The file's sha256, streamed; remembered in the models cache by path, size, mtime and inode, so that an
    unchanged file is hashed once and a changed one (same name and size, other contents) again."""
    import hashlib

    p = Path(path).resolve()
    st = p.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    memo_path = paths.models_cache() / ".gguf-sha256.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
        memo = memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(str(p))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    memo[str(p)] = {"stamp": stamp, "sha256": digest.hexdigest()}
    try:
        atomic.write_json(memo_path, memo)
    except OSError:
        pass  # a read-only cache: hashed again next time
    return digest.hexdigest()


def is_imported(folder: Path, info: GGUFInfo | None = None, dtype: str | None = None) -> bool:
    """Whether ``folder`` is a complete import (of this file, in this dtype, when given)."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("version") != IMPORT_VERSION:
        return False
    if info is not None and (marker.get("source_size") != info.size_bytes
                             or marker.get("source_sha256") != source_hash(info.path)):
        return False
    return dtype is None or marker.get("dtype") == dtype


def _preflight(info: GGUFInfo, out: Path, dtype: str) -> dict:
    """Disk and RAM needed, checked before anything is loaded."""
    import psutil

    per = 2 if dtype == "bf16" else 4
    disk_need = info.params * per
    # transformers dequantises to fp32, the copy for saving adds one more set, the check a third
    ram_need = info.params * 4 * 2 + info.params * per
    probe_dir = out.parent
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    free = shutil.disk_usage(probe_dir).free
    if disk_need * 1.05 > free:
        raise DanluError(f"not enough disk space: the {dtype} weights need about {disk_need / 1e9:.1f} GB, "
                         f"{free / 1e9:.1f} GB are free", where=str(probe_dir),
                         fix="free some space, choose another --out, or --dtype bf16 (half of fp32)")
    mem = psutil.virtual_memory()
    if ram_need > mem.total + psutil.swap_memory().total:
        raise DanluError(f"not enough memory: importing needs about {ram_need / 1e9:.1f} GB of RAM, this machine has "
                         f"{mem.total / 1e9:.1f} GB", fix="import on a machine with more RAM, or use the original "
                                                          "safetensors model")
    return {"disk_needed_gb": round(disk_need / 1e9, 2), "ram_needed_gb": round(ram_need / 1e9, 2),
            "ram_available_gb": round(mem.available / 1e9, 2)}


def _model_card(info: GGUFInfo, dtype: str, eos: list[str]) -> str:
    types = ", ".join(f"{k} ({n} tensors)" for k, n in sorted(info.tensor_types.items(), key=lambda kv: -kv[1]))
    quant_note = (
        "The weights were **dequantised from a quantised GGUF file**: every value is what the quantised file "
        "stores, so this folder is *not* identical to the original 16-bit release. Fine-tuning it works, but the "
        "original safetensors model is the better starting point when you can get it."
        if info.quantised else
        "The GGUF file was not quantised, so the weights are the file's own values.")
    return f"""# {info.name or Path(info.path).stem}

Imported by danlu (`danlu model import`) from `{Path(info.path).name}`.

- architecture: {info.architecture}, {info.params / 1e6:,.1f} M parameters
- tensor types in the file: {types}
- saved as: {dtype} safetensors
- end-of-turn tokens (generation stops at them): {', '.join(eos) or 'none found'}

{quant_note}

Load it like any Hugging Face model folder:

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("<this folder>")
tokenizer = AutoTokenizer.from_pretrained("<this folder>")
```

or fine-tune it: `danlu plan --model <this folder>`, then `danlu quickstart --model <this folder>`.
"""


def _config(folder: str, name: str, info: GGUFInfo):
    """transformers' config for the file, with what its GGUF table leaves out taken from the header.

    The attention head size is stored as ``<arch>.attention.key_length``; transformers' mapping does not read it
    for every architecture (Qwen3, Gemma), and then the config's default head size is used, which fits the
    published checkpoints but not every file."""
    import gguf
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    reader = gguf.GGUFReader(info.path)
    key_length = _field(reader, f"{info.architecture}.attention.key_length")
    if key_length and hasattr(config, "head_dim") and config.head_dim != int(key_length):
        config.head_dim = int(key_length)
    return config


def _probe_ids(tokenizer):
    import torch

    try:
        text = tokenizer.apply_chat_template(CHECK_CONVERSATION, tokenize=False, add_generation_prompt=True)
    except Exception:  # noqa: BLE001 - no usable template: plain text
        text = "The capital of France is Paris. The capital of Italy is"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:96]
    return torch.tensor([ids])


@dataclass(frozen=True)
class ImportResult:
    """A GGUF file imported as a model folder: where, what it is, and how it was checked against the file.
    ``danlu model import --json`` prints :meth:`to_dict`; the folder's danlu_import.json keeps the same record."""

    out: str
    reused: bool  # the folder was already imported from the same file (content hash) and was kept
    seconds: float
    name: str | None
    architecture: str
    model_type: str | None
    params: int
    dtype: str
    quantised: bool
    eos_tokens: list
    eos_token_ids: list
    has_chat_template: bool
    tokenizer_pre: str | None = None
    tensor_types: dict = field(default_factory=dict)
    source: str | None = None
    source_size: int | None = None
    source_sha256: str | None = None
    version: int | None = None
    disk_needed_gb: float | None = None
    ram_needed_gb: float | None = None
    ram_available_gb: float | None = None
    logits_max_abs_diff: float | None = None  # None: not verified (--no-verify)
    top1_agreement: float | None = None
    probe_tokens: int | None = None
    chat_template_identical: bool | None = None
    tokenizer_identical: bool | None = None
    warning: str | None = None

    @classmethod
    def of(cls, record: dict) -> "ImportResult":
        """From a record (an older danlu_import.json may lack some keys or hold others)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)


def import_gguf(path: str | os.PathLike, out: str | os.PathLike | None = None, *, dtype: str = "bf16",
                overwrite: bool = False, verify: bool = True, progress=lambda stage, text: None,
                bars: bool = False) -> ImportResult:
    """Import ``path`` into ``out`` (default: the models cache); return what was done and checked.

    ``bars`` shows transformers' per-tensor progress bar while dequantising (a terminal wants it, a log not)."""
    if dtype not in DTYPES:
        raise DanluError(f"unknown dtype {dtype!r}", fix=f"use one of {', '.join(DTYPES)}")
    t0 = time.time()
    progress("read", f"reading the GGUF header of {path}")
    info = inspect(path)
    progress("read", info.describe())
    cached = out is None
    out = Path(out).expanduser() if out is not None else default_out(info, dtype)
    if out.exists() and not out.is_dir():
        raise DanluError("the output path is a file", where=str(out), fix="choose a folder for --out")
    from ..core import guard

    guard.check_destination(out, [guard.Input(Path(path), "the GGUF file being imported")], replaces_folder=True,
                            what="--out")
    if cached and is_imported(out, info, dtype):
        progress("done", f"already imported: {out}")
        marker = json.loads((out / MARKER).read_text())
        return ImportResult.of(dict(marker, out=str(out), reused=True, seconds=round(time.time() - t0, 2)))
    if out.exists() and any(out.iterdir()) and not (overwrite or cached):
        raise DanluError("the output folder already exists and is not empty", where=str(out),
                         fix="choose another --out, or pass --overwrite")
    need = _preflight(info, out, dtype)
    progress("load", f"dequantising {info.tensors} tensors ({need['ram_needed_gb']:.1f} GB of RAM at most)")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import runtime, template

    runtime.quiet()
    folder, name = str(Path(info.path).parent), Path(info.path).name
    kwargs = {}
    try:
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=name, dequantize=True)
    except ImportError:
        pass
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    shown_bar = getattr(gguf_utils, "tqdm", None)
    if not bars and shown_bar is not None:
        gguf_utils.tqdm = lambda items, **kw: items  # its per-tensor bar ignores transformers' progress settings
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        config = _config(folder, name, info)
        source = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32, config=config,
                                                      **kwargs)
    except DanluError:
        raise
    except Exception as exc:  # noqa: BLE001 - the loader's own refusal, in one line
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DanluError(f"transformers could not load this GGUF file: {text}", where=info.path,
                         fix="use the original safetensors model, or report the file's architecture "
                             f"({info.architecture}) and tensor types to danlu") from None
    finally:
        if shown_bar is not None:
            gguf_utils.tqdm = shown_bar
    source.eval()
    config = source.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        config.pop(key, None)
    config_cls = type(source.config)
    eos_tokens = template.end_of_turn_tokens(tokenizer) if getattr(tokenizer, "chat_template", None) else (
        [tokenizer.eos_token] if tokenizer.eos_token else [])
    eos_ids = [tokenizer.convert_tokens_to_ids(t) for t in eos_tokens]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config["eos_token_id"] = eos_ids[0] if len(eos_ids) == 1 else eos_ids or config.get("eos_token_id")
    if tokenizer.pad_token_id is not None:
        config["pad_token_id"] = tokenizer.pad_token_id
    target_dtype = runtime.torch_dtype(dtype)

    progress("write", f"writing {dtype} safetensors to {out}")
    state = {k: (v.detach().to(target_dtype) if v.is_floating_point() else v.detach())
             for k, v in source.state_dict().items()}
    fresh_config = config_cls.from_dict(config)
    with torch.device("meta"):
        fresh = AutoModelForCausalLM.from_config(fresh_config, dtype=target_dtype)
    missing, unexpected = fresh.load_state_dict(state, strict=False, assign=True)
    tied = {"lm_head.weight"} if getattr(fresh_config, "tie_word_embeddings", False) else set()
    if unexpected or set(missing) - tied:
        raise DanluError(f"the GGUF tensors do not match a plain {info.architecture} model (missing "
                         f"{sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]})", where=info.path,
                         fix="use the original safetensors model")
    if tied:
        fresh.tie_weights()
    from transformers import GenerationConfig

    fresh.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos_ids if len(eos_ids) > 1 else (eos_ids or [None])[0],
        pad_token_id=tokenizer.pad_token_id)
    result: dict = {
        "version": IMPORT_VERSION, "source": info.path, "source_size": info.size_bytes,
        "source_sha256": source_hash(info.path), "architecture":
        info.architecture, "model_type": config.get("model_type"), "name": info.name, "params": info.params,
        "tensor_types": info.tensor_types, "quantised": info.quantised, "dtype": dtype,
        "eos_tokens": eos_tokens, "eos_token_ids": eos_ids, "has_chat_template": bool(tokenizer.chat_template),
        "tokenizer_pre": info.tokenizer_pre,  # llama.cpp's pre-tokenizer name, for a GGUF export later
        **need,
    }
    with atomic.staged_dir(out, overwrite=True) as tmp:
        cache.save_whole(fresh, tokenizer, tmp)
        atomic.write_text(tmp / "README.md", _model_card(info, dtype, eos_tokens))
        if verify:
            progress("verify", "loading the folder back and comparing logits and the chat template with the GGUF")
            result.update(_verify(tmp, source, tokenizer))
            _check(result, info.path)
        atomic.write_json(tmp / MARKER, result)
    del source, fresh, state
    result.update(out=str(out), reused=False, seconds=round(time.time() - t0, 2))
    if not result["has_chat_template"]:
        result["warning"] = ("the GGUF has no chat template: danlu needs one to train a chat model; add "
                             "chat_template to tokenizer_config.json, or use an instruct model")
    progress("done", f"imported to {out} in {result['seconds']:.0f} s")
    return ImportResult.of(result)


def _verify(folder: Path, source, tokenizer) -> dict:
    """Logits of the saved folder vs the model loaded from the GGUF; the two-turn template rendering."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    saved = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    saved_tok = AutoTokenizer.from_pretrained(folder)
    ids = _probe_ids(tokenizer)
    with torch.no_grad():
        a, b = saved(input_ids=ids).logits.float(), source(input_ids=ids).logits.float()
    diff = (a - b).abs().max().item()
    top1 = (a.argmax(-1) == b.argmax(-1)).float().mean().item()
    identical = None
    if tokenizer.chat_template:
        render = [t.apply_chat_template(CHECK_CONVERSATION, tokenize=False, add_generation_prompt=True)
                  for t in (tokenizer, saved_tok)]
        identical = render[0] == render[1]
    same_ids = saved_tok(_text_sample(), add_special_tokens=False)["input_ids"] == \
        tokenizer(_text_sample(), add_special_tokens=False)["input_ids"]
    del saved
    return {"logits_max_abs_diff": diff, "top1_agreement": top1, "probe_tokens": int(ids.shape[1]),
            "chat_template_identical": identical, "tokenizer_identical": same_ids}


# the largest logit difference an import may show against the GGUF it came from: fp32 keeps every dequantised
# value exactly; bf16 rounds each weight to 8 bits of mantissa (measured on SmolLM2-135M: 0.23 on logits of ~±20)
LOGIT_BOUND = {"fp32": 1e-4, "bf16": 1.0}


def _check(result: dict, path: str) -> None:
    """Refuse an import whose folder does not give the GGUF's model (nothing is left behind)."""
    bound = LOGIT_BOUND[result["dtype"]]
    problems = []
    if result.get("logits_max_abs_diff", 0) > bound:
        problems.append(f"logits differ by {result['logits_max_abs_diff']:.3g} (bound {bound:g} in {result['dtype']})")
    if result.get("top1_agreement", 1.0) < 0.9:
        problems.append(f"only {result['top1_agreement']:.0%} of the next-token choices agree")
    if result.get("chat_template_identical") is False:
        problems.append("the saved chat template renders a conversation differently")
    if result.get("tokenizer_identical") is False:
        problems.append("the saved tokenizer splits text differently")
    if problems:
        raise DanluError("the imported folder does not reproduce the GGUF model: " + "; ".join(problems), where=path,
                         fix="report this with the file's architecture; nothing was written")


def _text_sample() -> str:
    return "Hello world! Numbers 12345, émigré, naïve — 你好，世界。 <tag> def f(x): return x**2\n\tdone."
