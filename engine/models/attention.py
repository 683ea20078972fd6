"""Padding-free attention for packed rows, without flash-attn.

A packed row holds several samples back to back.  transformers' ``sdpa`` path keeps them apart
with a block-diagonal mask, which is correct but computes (and masks) attention over the whole
row: with 1024-token rows of ~260-token samples that is about four times the attention work, and
an explicit mask keeps SDPA off its fused causal kernels.  ``packed_sdpa`` instead runs causal
SDPA on each sample's slice of the row, using the sample boundaries (``cu_seq_lens_q``) that TRL's
padding-free collator passes along, which is what flash-attn's varlen kernel does on GPUs that
have it.  Any other call (evaluation batches with padding, generation with a cache, sliding
windows, soft-capping) goes to transformers' own ``sdpa`` unchanged.
"""

from __future__ import annotations

NAME = "danlu_packed_sdpa"
_registered = False


def packed_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    bounds = kwargs.get("cu_seq_lens_q")
    length = query.shape[2]
    plain = (bounds is None or query.shape[0] != 1 or key.shape[2] != length or dropout
             or kwargs.get("softcap") is not None or kwargs.get("position_bias") is not None
             or getattr(module, "sliding_window", None) or int(bounds[-1]) != length)
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    cuts = bounds.tolist()
    parts = [
        torch.nn.functional.scaled_dot_product_attention(
            query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True, scale=scaling)
        for a, b in zip(cuts[:-1], cuts[1:]) if b > a
    ]
    out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Make ``attn_implementation=NAME`` available to every transformers model; return the name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

        AttentionInterface.register(NAME, packed_sdpa)
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)  # padded batches still get their mask
        _registered = True
    return NAME


def use_packed(model) -> str | None:
    """Switch ``model`` (a transformers model, before PEFT wraps it) to packed attention when it runs SDPA.

    Returns the implementation now in use, or None when the model keeps its own (flash-attn, eager-only
    architectures)."""
    current = getattr(model.config, "_attn_implementation", None)
    if current != "sdpa":
        return None
    try:
        model.set_attn_implementation(register())
    except (ValueError, AttributeError, NotImplementedError):
        return None
    return NAME
