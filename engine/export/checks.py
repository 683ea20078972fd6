"""Checking an exported model against the tuned one: its logits on the same token ids, and the bounds per precision.

``danlu export`` compares the merged model and every GGUF file with the tuned model in memory (engine.export,
engine.export.gguf_verify); both read the bounds here.
"""

from __future__ import annotations

# largest logit difference accepted against the merged model, per GGUF type (measured on SmolLM2-135M; logits
# there span about ±25): quantisation changes logits, the bound catches a wrong conversion, not rounding
GGUF_BOUNDS = {"f32": 1e-3, "f16": 0.25, "bf16": 1.0, "q8_0": 3.0, "q4_0": 8.0, "q4_1": 8.0}
KQUANT_BOUND = 8.0
TOP1_MIN = {"f32": 0.99, "f16": 0.95, "bf16": 0.9, "q8_0": 0.9}
# a greedy answer may leave the merged model's where its two best tokens are closer than the type's rounding of
# logits (a near tie the file's precision cannot decide); further apart, a different answer is a defect
NEAR_TIE = {"f32": 1e-3, "f16": 0.1, "bf16": 0.5, "q8_0": 1.0, "q4_0": 3.0, "q4_1": 3.0}
MERGED_BOUNDS = {"fp32": 1e-3, "fp16": 0.25, "bf16": 1.0}


def logits(model, ids):
    import torch

    device = next(model.parameters()).device
    with torch.no_grad():
        return model(input_ids=ids.to(device)).logits.float().cpu()


def compare(a, b) -> dict:
    return {"max_abs_diff": float((a - b).abs().max()), "top1_agreement": float((a.argmax(-1) == b.argmax(-1))
                                                                                   .float().mean())}
