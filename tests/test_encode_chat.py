"""Loss masks cover exactly the assistant turns; chat streams and stops."""

from danlu.engine.infer import chat
from danlu.engine.models import encode, load as models


def test_labels_cover_only_assistant_text(tiny_model):
    tok = models.load_tokenizer(str(tiny_model))
    msgs = [
        {"role": "system", "content": "You are a lab consultant."},
        {"role": "user", "content": "How much water?"},
        {"role": "assistant", "content": "500 mL in a clean bottle."},
        {"role": "user", "content": "多久出报告？"},
        {"role": "assistant", "content": "5 个工作日。"},
    ]
    row = encode.encode(tok, msgs, 512)
    trained = [i for i, lbl in zip(row["input_ids"], row["labels"]) if lbl != encode.IGNORE]
    text = tok.decode(trained)
    assert text == "500 mL in a clean bottle.<|im_end|>5 个工作日。<|im_end|>"
    assert "How much water" not in text and "consultant" not in text


def test_truncation_and_empty_label_rows_are_dropped(tiny_model):
    tok = models.load_tokenizer(str(tiny_model))
    msgs = [{"role": "user", "content": "question " * 50}, {"role": "assistant", "content": "answer"}]
    assert len(encode.encode(tok, msgs, 16)["input_ids"]) == 16
    assert encode.encode_all(tok, [msgs], 16) == []


def test_stream_reply_yields_text_pieces(tiny_model):
    model, tok = chat.load(str(tiny_model))
    pieces = list(chat.stream_reply(model, tok, [{"role": "user", "content": "hello"}], max_new_tokens=8))
    assert pieces and all(isinstance(p, str) for p in pieces)
    n_tokens = len(tok("".join(pieces), add_special_tokens=False)["input_ids"])
    assert n_tokens <= 8 + 2
