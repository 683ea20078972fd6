"""The forgetting guard: general conversations made offline from the base model itself (self-distilled replay).

Fine-tuning on a narrow set moves a model away from how it answered everything else; the guides' remedy is to mix
10-20 % general data into the training set.  danlu needs no download for it: before training, the base model
answers built-in general prompts (presets/replay_prompts.yaml) in the training data's languages, sampled from its
own distribution (``SAMPLING``), and those conversations train beside the user's, so that the tuned model is held
close to how it answered there.
The share is the config's ``replay`` (the plan states it; on for the task presets that ask for general data).

The conversations are written once into the run (``data/replay.jsonl``) and a resumed run reads them back.
"""

from __future__ import annotations

import json
import random

from ..core import atomic
from ..data.replay import count, languages, prompts

MAX_NEW_TOKENS = 160
BATCH = 8
# The answers are drawn from the base model's own distribution, as it is: cross-entropy on samples from it is, in
# expectation, KL(base ‖ tuned) on these prompts, the divergence the evaluation's forgetting probe measures.  Greedy
# answers (its mode, with a repetition penalty) teach it to put all of its weight there instead, and moved it
# further: bench/recipe.md, round six.
SAMPLING = {"do_sample": True, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0}


def make(model, tokenizer, share: float, train_convs: list, seed: int = 42, progress=lambda done, total: None) -> list:
    """The base model's own answers to general prompts, as conversations: ``share`` of the mixed set, the
    languages in proportion to the training data's.  An answer cut off by the token limit keeps its whole sentences
    (it must not teach the model to stop mid-sentence)."""
    import torch

    langs = languages(train_convs)
    n = count(share, len(train_convs), langs)
    if n == 0:
        return []
    rng = random.Random(seed)
    per_lang = {lang: [] for lang in langs}
    for lang in langs:
        pool = list(prompts().get(lang, []))
        rng.shuffle(pool)
        per_lang[lang] = pool
    weights = {lang: sum(1 for c in train_convs if _lang(c) == lang) for lang in langs}
    chosen = []
    for lang in langs:
        k = max(1, round(n * weights[lang] / max(1, sum(weights.values()))))
        chosen += per_lang[lang][:k]
    chosen = chosen[:n]
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    out: list = []
    device = next(model.parameters()).device
    try:
        for start in range(0, len(chosen), BATCH):
            batch = chosen[start:start + BATCH]
            texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                   add_generation_prompt=True) for p in batch]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                torch.manual_seed(seed + start)  # the same answers for the same seed; training's own RNG untouched
                gen = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, pad_token_id=tokenizer.pad_token_id,
                                     **SAMPLING)
            ends = {tokenizer.eos_token_id, *_end_ids(tokenizer)}
            for prompt, row in zip(batch, gen[:, enc["input_ids"].shape[1]:].tolist()):
                stop = next((i for i, t in enumerate(row) if t in ends), None)
                text = tokenizer.decode(row[:stop], skip_special_tokens=True).strip()
                if stop is None:  # cut off by the limit: kept up to its last whole sentence
                    text = _whole_sentences(text)
                if text:
                    out.append([{"role": "user", "content": prompt}, {"role": "assistant", "content": text}])
            progress(min(start + BATCH, len(chosen)), len(chosen))
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return out


def _whole_sentences(text: str, least: int = 40) -> str:
    """``text`` up to its last sentence end (empty when that leaves less than ``least`` characters)."""
    cut = max(text.rfind(ch) for ch in ".!?。！？\n")
    return text[:cut + 1].strip() if cut + 1 >= least else ""


def _lang(conv) -> str:
    from ..data.select import language

    return language(conv)


def _end_ids(tokenizer) -> set:
    ids = set()
    for tok in ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"):
        i = tokenizer.convert_tokens_to_ids(tok)
        if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id:
            ids.add(i)
    return ids


def load_or_make(path, model, tokenizer, share: float, train_convs: list, seed: int, progress=lambda d, t: None):
    """The run's replay conversations: read back from ``path`` (a resume), else made now and written there."""
    try:
        return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError, KeyError):
        pass
    convs = make(model, tokenizer, share, train_convs, seed, progress)
    atomic.write_text(path, "".join(json.dumps({"messages": c}, ensure_ascii=False) + "\n" for c in convs))
    return convs
