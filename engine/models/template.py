"""Facts about a tokenizer's chat template that several steps need: which tokens end a turn.

Generation must stop at the token the template puts after an assistant answer (``<|im_end|>``
for ChatML, ``<|eot_id|>`` for Llama 3, ``<end_of_turn>`` for Gemma, ``</s>`` for Mistral...),
which is not always the tokenizer's ``eos_token``.  Importing a GGUF writes these ids into
``generation_config.json``; chat stops on them; an Ollama export lists them as ``stop``.
"""

from __future__ import annotations

_MARK = "DANLU-ANSWER-7Q"  # a string no template adds by itself


def _render(tokenizer, msgs: list[dict]) -> str | None:
    try:
        return tokenizer.apply_chat_template(msgs, tokenize=False)
    except Exception:  # noqa: BLE001 - templates raise their own errors for shapes they refuse
        return None


def end_of_turn_text(tokenizer) -> str:
    """What the chat template writes right after an assistant answer ('' when it writes nothing)."""
    for msgs in ([{"role": "user", "content": "ping"}, {"role": "assistant", "content": _MARK}],
                 [{"role": "system", "content": "s"}, {"role": "user", "content": "ping"},
                  {"role": "assistant", "content": _MARK}]):
        text = _render(tokenizer, msgs)
        if text and _MARK in text:
            return text[text.rindex(_MARK) + len(_MARK):]
    return ""


def end_of_turn_tokens(tokenizer) -> list[str]:
    """The special tokens that end an assistant turn, first the template's own, then the tokenizer's EOS."""
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    special |= {str(t) for t in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).values()}
    found: list[str] = []
    tail = end_of_turn_text(tokenizer).strip()
    if tail:
        ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
        for tok_id in ids:
            piece = tokenizer.convert_ids_to_tokens(tok_id)
            if piece in special:
                found.append(piece)
                break  # the first special token after the answer ends the turn
            if piece.strip():
                break  # plain text after the answer (a template without an end marker)
    eos = getattr(tokenizer, "eos_token", None)
    if eos and eos not in found:
        found.append(eos)
    return found


def end_of_turn_ids(tokenizer) -> list[int]:
    ids = []
    for tok in end_of_turn_tokens(tokenizer):
        tok_id = tokenizer.convert_tokens_to_ids(tok)
        if isinstance(tok_id, int) and tok_id >= 0 and tok_id not in ids:
            ids.append(tok_id)
    return ids


def check(tokenizer, conversation: list[dict] | None = None, max_len: int = 4096) -> dict:
    """Is what the model sees at chat time exactly what it was trained on, and does it learn to stop?

    For the conversation's last assistant turn: the chat-time prompt (the turns before it, with the generation
    prompt) must be a byte-identical prefix of the training text, and its tokens a prefix of the training
    tokens; the last trained token (end of the answer) must be one that generation stops at.  The export
    checks its artefacts (GGUF, Ollama) against the same facts."""
    from . import encode

    conv = conversation or [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
        {"role": "assistant", "content": "Rome."},
    ]
    last = max(i for i, m in enumerate(conv) if m["role"] == "assistant")
    training_text, spans = encode.assistant_spans(tokenizer, conv)
    prompt = tokenizer.apply_chat_template(conv[:last], tokenize=False, add_generation_prompt=True)
    row = encode.encode(tokenizer, conv, max_len)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    labelled = [t for t in row["labels"] if t != encode.IGNORE]
    stops = end_of_turn_ids(tokenizer)
    trained_end = labelled[-1] if labelled else None
    result = {
        "prompt_identical": training_text.startswith(prompt) and bool(spans) and spans[-1][0] == len(prompt),
        "tokens_identical": row["input_ids"][:len(prompt_ids)] == prompt_ids,
        "end_of_turn": end_of_turn_tokens(tokenizer),
        "trained_end": tokenizer.convert_ids_to_tokens(trained_end) if trained_end is not None else None,
        "stops_on_trained_end": trained_end in stops,
        "prompt": prompt,
    }
    result["ok"] = bool(result["prompt_identical"] and result["tokens_identical"] and result["stops_on_trained_end"])
    return result


# a short conversation whose chat-time prompt the exports are compared on
CHECK_TEXT = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence: what does a testing laboratory do?"},
]
