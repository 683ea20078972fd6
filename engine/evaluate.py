"""Evaluation: loss on held-out conversations (assistant tokens only), and side-by-side answers."""

from __future__ import annotations

import math

from .encode import IGNORE


def batches(rows: list[dict], size: int, pad_id: int):
    """Right-padded tensors (input_ids, attention_mask, labels) for ``rows`` in order."""
    import torch

    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        width = max(len(r["input_ids"]) for r in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        for j, r in enumerate(chunk):
            n = len(r["input_ids"])
            ids[j, :n] = torch.tensor(r["input_ids"])
            mask[j, :n] = 1
            labels[j, :n] = torch.tensor(r["labels"])
        yield ids, mask, labels


def eval_loss(model, rows: list[dict], *, pad_id: int, batch_size: int = 8) -> float:
    """Mean cross-entropy per assistant token over ``rows`` (token-weighted, not batch-weighted)."""
    import torch
    import torch.nn.functional as F

    from . import loss as loss_mod

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    sparse = loss_mod.supports(model)  # the LM head on assistant positions only: same loss, less work
    try:
        with torch.no_grad():
            for ids, mask, labels in batches(rows, batch_size, pad_id):
                if sparse:
                    part, n = loss_mod.loss_sum(model, {"input_ids": ids.to(device), "attention_mask": mask.to(device),
                                                        "labels": labels.to(device)})
                    total += float(part)
                    count += n
                    continue
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
                logits = logits[:, -ids.shape[1]:]  # prompt tuning prepends virtual tokens: score the real ones
                shift_logits = logits[:, :-1].reshape(-1, logits.size(-1))
                shift_labels = labels[:, 1:].reshape(-1).to(device)
                total += F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE, reduction="sum").item()
                count += int((shift_labels != IGNORE).sum())
    finally:
        model.train(was_training)
    return total / count if count else math.nan
