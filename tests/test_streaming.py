"""Streamed replies never show part of a character (issue 21): CJK and emoji split across byte-level tokens are
handed out whole, and a stop in the middle of one drops its first bytes instead of printing U+FFFD."""

from __future__ import annotations

import pytest

TEXT = "Sure — 好的，美丽的风景！🌄 Café 😀👍🏽 done."


@pytest.fixture(scope="module")
def tokenizer(smollm2):
    from danlu.engine.models import load as models

    return models.load_tokenizer(str(smollm2))


def _stream(tokenizer, ids, stop_after=None):
    import torch

    from danlu.engine.infer import chat

    streamer = chat.whole_characters_streamer(tokenizer)
    streamer.put(torch.tensor([[1, 2, 3]]))  # the prompt: skipped
    for i, token in enumerate(ids):
        if stop_after is not None and i == stop_after:
            break
        streamer.put(torch.tensor([[token]]))
    streamer.end()
    return list(streamer)


def test_cjk_and_emoji_split_across_tokens_stream_whole(tokenizer):
    ids = tokenizer.encode(TEXT, add_special_tokens=False)
    assert any("\ufffd" in tokenizer.decode([t]) for t in ids), "the test needs characters split across tokens"
    pieces = _stream(tokenizer, ids)
    assert "".join(pieces) == TEXT
    assert not any("\ufffd" in p for p in pieces)


def test_a_stop_inside_a_character_drops_its_first_bytes(tokenizer):
    ids = tokenizer.encode(TEXT, add_special_tokens=False)
    cuts = [i for i in range(1, len(ids)) if tokenizer.decode(ids[:i]).endswith("\ufffd")]
    assert cuts, "the test needs a cut inside a character"
    for cut in cuts:
        text = "".join(_stream(tokenizer, ids, stop_after=cut))
        assert "\ufffd" not in text and TEXT.startswith(text), (cut, text)
        # everything up to the cut character is there (a space in the same token as its first bytes goes with it)
        assert text.rstrip() == tokenizer.decode(ids[:cut]).rstrip("\ufffd").rstrip()
