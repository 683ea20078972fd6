"""Turn conversations into token ids and labels with the model's own chat template.

Loss is on assistant tokens only: the conversation is rendered once with the chat
template, the character spans of each assistant turn are found by rendering the
prefix before it (with the generation prompt) and the conversation up to and
including it, and tokens whose characters fall in those spans keep their label;
all others get -100.  This works for any chat template that renders prefixes
consistently, which is what chat models are trained with.
"""

from __future__ import annotations

IGNORE = -100


def assistant_spans(tokenizer, msgs: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the [start, end) character spans of assistant turns."""
    full = tokenizer.apply_chat_template(msgs, tokenize=False)
    spans = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(msgs[:i], tokenize=False, add_generation_prompt=True) if i else ""
        upto = tokenizer.apply_chat_template(msgs[: i + 1], tokenize=False)
        if not full.startswith(upto) or not upto.startswith(before):
            # template does not render prefixes consistently: fall back to locating the answer text
            start = full.find(m["content"], spans[-1][1] if spans else 0)
            if start < 0:
                continue
            spans.append((start, start + len(m["content"])))
            continue
        # the turn's end marker (e.g. <|im_end|>) is part of what the model must learn to emit
        end = len(upto.rstrip())
        spans.append((len(before), end))
    return full, spans


def encode(tokenizer, msgs: list[dict], max_len: int) -> dict:
    """``input_ids`` and ``labels`` for one conversation, truncated to ``max_len`` tokens."""
    text, spans = assistant_spans(tokenizer, msgs)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = []
    j = 0
    for tok_id, (s, e) in zip(ids, offsets):
        while j < len(spans) and spans[j][1] <= s:
            j += 1
        inside = j < len(spans) and spans[j][0] <= s < spans[j][1] and e > s
        labels.append(tok_id if inside else IGNORE)
    ids, labels = ids[:max_len], labels[:max_len]
    return {"input_ids": ids, "labels": labels}


def encode_all(tokenizer, convs: list[list[dict]], max_len: int) -> list[dict]:
    """Encode every conversation; drop those with no assistant token left after truncation."""
    out = []
    for msgs in convs:
        row = encode(tokenizer, msgs, max_len)
        if any(lbl != IGNORE for lbl in row["labels"]):
            out.append(row)
    return out


def token_lengths(tokenizer, convs: list) -> list:
    """Tokens per conversation with the chat template applied; None for a conversation the template rejects (e.g.
    a role it does not know).  The one token counter: the plan, the data doctor and the wizard's Data screen."""
    texts: list = []
    for msgs in convs:
        try:
            texts.append(tokenizer.apply_chat_template(list(msgs), tokenize=False))
        except Exception:  # noqa: BLE001 - a template may reject roles it does not know (e.g. tool)
            texts.append(None)
    good = [x for x in texts if x is not None]
    ids = iter(tokenizer(good, add_special_tokens=False)["input_ids"]) if good else iter(())
    return [None if x is None else len(next(ids)) for x in texts]
