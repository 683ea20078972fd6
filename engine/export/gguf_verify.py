"""Read an exported GGUF back and check that it gives the merged model, in every runtime that is here.

1. the ``gguf`` reader: architecture, tensors, the embedded chat template (byte-identical to the
   tokenizer's), BOS/EOS/EOT ids (EOS or EOT must be a token the chat template ends turns with);
2. transformers' GGUF loader (dequantised): logits on fixed prompts against the merged model's, and
   the share of positions where both pick the same next token;
3. llama.cpp through llama-cpp-python, when installed (the runtime Ollama and LM Studio use): the same
   logits comparison, its tokenizer against the model's (ids of several texts, special tokens
   included), and its greedy answer to a held-out prompt against the merged model's.

Logits of a quantised file differ from the merged model's by design; the bounds per type
(engine.export.checks.GGUF_BOUNDS) catch a wrong conversion (a permutation, a tokenizer, a norm), not rounding.
"""

from __future__ import annotations

from pathlib import Path

from ..core.texts import msg

TOKENIZER_TEXTS = ["Hello world! The year 2024 had 12345 samples.", "  two spaces, tabs\tand\nnew lines",
                   "émigré naïve café — 你好，世界。 <|im_end|> x**2", "def f(x):\n    return x // 2  # done"]


def _meta(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    try:
        return f.contents()
    except Exception:  # noqa: BLE001
        return None


def read_back(path: Path, tokenizer) -> dict:
    import gguf

    from ..models import template

    reader = gguf.GGUFReader(str(path))
    arch = _meta(reader, "general.architecture")
    eos, eot = _meta(reader, "tokenizer.ggml.eos_token_id"), _meta(reader, "tokenizer.ggml.eot_token_id")
    stops = template.end_of_turn_ids(tokenizer)
    out = {"architecture": arch, "tensors": len(reader.tensors),
           "chat_template_identical": _meta(reader, "tokenizer.chat_template") == tokenizer.chat_template,
           "eos_token_id": eos, "eot_token_id": eot, "end_of_turn_ids": stops,
           "stops_at_end_of_turn": (eot in stops) or (eos in stops),
           "tokenizer_pre": _meta(reader, "tokenizer.ggml.pre"), "add_bos": _meta(reader, "tokenizer.ggml.add_bos_token"),
           "tokens": len(_meta(reader, "tokenizer.ggml.tokens") or [])}
    return out


def _transformers(path: Path, ids, ref_logits, tokenizer=None, messages=None, ref_answer=None, ref_model=None,
                  margin_bound: float = 0.5) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from . import checks
    from ..models import gguf_import, load as models

    models.quiet()
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    shown = getattr(gguf_utils, "tqdm", None)
    if shown is not None:
        gguf_utils.tqdm = lambda items, **kw: items
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32,
                                                     config=gguf_import._config(str(path.parent), path.name,
                                                                                gguf_import.inspect(path))).eval()
    finally:
        if shown is not None:
            gguf_utils.tqdm = shown
    got = checks.compare(checks.logits(model, ids), ref_logits)
    if messages is not None and ref_answer is not None:
        got.update(_transformers_greedy(model, tokenizer, messages, ref_answer, ref_model, margin_bound))
    del model
    return got


def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def _llama(path: Path, n_ctx: int = 512):
    import llama_cpp

    return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=None,
                           seed=0)


def _llama_logits(llm, rows) -> "object":
    import numpy as np
    import torch

    out = []
    for row in rows:
        llm.reset()
        llm.eval(list(map(int, row)))
        out.append(np.array(llm.scores[: len(row)], dtype=np.float32))
    return torch.tensor(np.stack(out))


def _llama_greedy(llm, prompt_ids: list[int], stops: list[int], n: int) -> list[int]:
    import numpy as np

    llm.reset()
    llm.eval(prompt_ids)
    out: list[int] = []
    for _ in range(n):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        out.append(nxt)
        if nxt in stops:
            break
        llm.eval([nxt])
    return out


def greedy_check(answer: list[int], ref_answer: list[int], ref_model, prompt: list[int], margin_bound: float) -> dict:
    """Did the runtime give the merged model's greedy answer?  Where it did not, the merged model's margin between
    its own next token and the runtime's at the first difference: below ``margin_bound`` (the type's rounding of
    logits) the two tokens are a near tie that the file's precision cannot decide."""
    out = {"greedy_identical": list(answer) == list(ref_answer)}
    if out["greedy_identical"] or ref_model is None:
        return out
    i = next((k for k, (a, b) in enumerate(zip(answer, ref_answer)) if a != b), min(len(answer), len(ref_answer)))
    out["greedy_first_difference"] = i
    if i < min(len(answer), len(ref_answer)):
        import torch

        with torch.no_grad():
            device = next(ref_model.parameters()).device
            logits = ref_model(input_ids=torch.tensor([prompt + list(ref_answer[:i])], device=device)).logits[0, -1]
        margin = float(logits[ref_answer[i]] - logits[answer[i]])
        out["greedy_margin"] = margin
        out["greedy_near_tie"] = margin < margin_bound
    else:
        out["greedy_near_tie"] = False
    return out


def _transformers_greedy(model, tokenizer, messages, ref_answer, ref_model, margin_bound) -> dict:
    from ..infer import chat

    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    answer = chat.answer(model, tokenizer, messages, chat.Sampling(max_new_tokens=len(ref_answer) or 24)).token_ids
    return {**greedy_check(answer, ref_answer, ref_model, list(prompt), margin_bound),
            "greedy_answer": tokenizer.decode(answer, skip_special_tokens=True)}


def _llama_cpp(path: Path, tokenizer, ids, ref_logits, messages, ref_answer, ref_model=None,
               margin_bound: float = 0.5) -> dict:
    from . import checks
    from ..models import template

    llm = _llama(path)
    try:
        got = checks.compare(_llama_logits(llm, ids.tolist()), ref_logits)
        same_tokens = []
        for text in TOKENIZER_TEXTS:
            want = tokenizer(text, add_special_tokens=False)["input_ids"]
            have = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            same_tokens.append(want == have)
        got["tokenizer_identical"] = all(same_tokens)
        if messages is not None and ref_answer is not None:
            prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
            answer = _llama_greedy(llm, list(prompt), template.end_of_turn_ids(tokenizer), len(ref_answer) or 24)
            got.update(greedy_check(answer, ref_answer, ref_model, list(prompt), margin_bound))
            got["greedy_llama_cpp"] = tokenizer.decode(answer, skip_special_tokens=True)
            got["greedy_merged"] = tokenizer.decode(ref_answer, skip_special_tokens=True)
    finally:
        llm.close() if hasattr(llm, "close") else None
        del llm
    return got


def verify(path: Path, tokenizer, *, merged_dir: Path, ids, ref_logits, qtype: str, messages=None, ref_answer=None,
           ref_model=None, progress=lambda text: None) -> dict:
    """Every check of the GGUF that the runtimes here allow; ``ok`` False with ``problem`` saying what failed."""
    from . import checks
    from ..models import gguf_import

    path = Path(path)
    bound = checks.GGUF_BOUNDS.get(qtype, checks.KQUANT_BOUND)
    top1_min = checks.TOP1_MIN.get(qtype, 0.6)
    margin = checks.NEAR_TIE.get(qtype, 2.0)
    progress(msg("ex_read_back", "reading it back with the gguf reader"))
    res: dict = {"bound": bound, "top1_min": top1_min, "reader": read_back(path, tokenizer)}
    problems = []
    r = res["reader"]
    if not r["chat_template_identical"]:
        problems.append("the embedded chat template differs from the tokenizer's")
    if not r["stops_at_end_of_turn"]:
        problems.append(f"neither its EOS ({r['eos_token_id']}) nor EOT ({r['eot_token_id']}) is the chat template's "
                        f"end-of-turn token ({r['end_of_turn_ids']})")
    if ref_logits is not None:
        if r["architecture"] in gguf_import.supported_architectures():
            progress(msg("ex_load_gguf", "loading it with transformers' GGUF loader"))
            try:
                res["transformers"] = _transformers(path, ids, ref_logits, tokenizer, messages, ref_answer, ref_model,
                                                    margin)
            except Exception as exc:  # noqa: BLE001 - the loader's trouble is a finding, not a crash
                res["transformers"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        else:
            res["transformers"] = {"skipped": f"transformers' GGUF loader does not read {r['architecture']}"}
        t = res["transformers"]
        if "greedy_identical" in t and not (t["greedy_identical"] or t.get("greedy_near_tie")):
            problems.append(f"transformers: the greedy answer differs from the merged model's at token "
                            f"{t.get('greedy_first_difference')} by more than a near tie")
        if "max_abs_diff" in t and (t["max_abs_diff"] > bound or t["top1_agreement"] < top1_min):
            problems.append(f"transformers: logits differ by {t['max_abs_diff']:.3g} (bound {bound:g}), same next "
                            f"token at {t['top1_agreement']:.0%} of positions")
        if llama_cpp_available():
            progress(msg("ex_llama_cpp", "running it in llama.cpp (llama-cpp-python)"))
            res["llama_cpp"] = _llama_cpp(path, tokenizer, ids, ref_logits, messages, ref_answer, ref_model, margin)
            lc = res["llama_cpp"]
            if lc["max_abs_diff"] > bound or lc["top1_agreement"] < top1_min:
                problems.append(f"llama.cpp: logits differ by {lc['max_abs_diff']:.3g} (bound {bound:g}), same next "
                                f"token at {lc['top1_agreement']:.0%} of positions")
            if "greedy_identical" in lc and not (lc["greedy_identical"] or lc.get("greedy_near_tie")):
                problems.append(f"llama.cpp's greedy answer differs from the merged model's at token "
                                f"{lc.get('greedy_first_difference')} by more than a near tie "
                                f"(margin {lc.get('greedy_margin', float('nan')):.2f})")
            if not lc["tokenizer_identical"]:
                problems.append("llama.cpp splits text into different tokens than the model's tokenizer "
                                "(tokenizer.ggml.pre or the vocabulary is wrong)")
        else:
            res["llama_cpp"] = {"skipped": "llama-cpp-python is not installed (pip install 'danlu[llamacpp]')"}
    res["ok"] = not problems
    res["problem"] = "; ".join(problems) or None
    return res
