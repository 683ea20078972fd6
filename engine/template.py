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
