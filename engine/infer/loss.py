"""The training loss, computed only where it counts: the LM head on labelled positions alone.

Loss is on assistant tokens only (engine.models.encode), so most positions of a packed row carry the
label -100 and their logits are thrown away.  For a small model with a large vocabulary the LM
head is a big share of the work (SmolLM2-135M: 28 M of its 135 M parameters, and a 1024 × 49 152
logits tensor per row), so danlu runs the decoder, keeps the hidden states of the positions whose
next token has a label, and applies the LM head and cross-entropy to those rows only.  The
result is the same loss as the model's own (tests compare them); the saving is the LM head's
forward and backward on every unlabelled position, and the memory of their logits.

It is used where the LM head is a plain linear layer on the decoder's output (see
:func:`supports`); anything else (prompt/prefix tuning, logit soft-capping or scaling, a model
wrapped by DDP or sharded by FSDP) keeps TRL's own loss.
"""

from __future__ import annotations

from ..models.encode import IGNORE

# config attributes that change the logits after the LM head: those models keep their own forward
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


def _inner(model):
    """The transformers model under a PEFT wrapper (LoRA layers are injected into it in place)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def supports(model) -> bool:
    """Whether the labelled-positions loss gives this model's exact loss."""
    import torch

    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return False  # DDP's gradient sync hooks run in its own forward
    from torch.distributed.fsdp import FSDPModule

    if isinstance(_inner(model), FSDPModule) or isinstance(model, FSDPModule):
        return False  # FSDP2 gathers the weights in its root module's forward
    peft_config = getattr(model, "peft_config", None) or {}
    if any(getattr(c, "is_prompt_learning", False) for c in peft_config.values()):
        return False  # virtual tokens are added by the PEFT wrapper's forward
    inner = _inner(model)
    config = getattr(inner, "config", None)
    if config is None or any(getattr(config, a, None) not in (None, 1, 1.0) for a in _LOGIT_TRANSFORMS):
        return False
    head = getattr(inner, "lm_head", None)
    decoder = getattr(inner, "model", None)
    return isinstance(head, torch.nn.Linear) and head.bias is None and decoder is not None and \
        hasattr(decoder, "embed_tokens")


def loss_sum(model, inputs: dict, seen: dict | None = None):
    """(sum of the token losses, number of labelled tokens) for one batch, the LM head on labelled rows only.

    ``seen`` (sample key → mean loss): each sample's mean token loss the first time it is trained on is recorded
    there (the diagnosis looks for samples whose loss stands out: :func:`sample_key` names them)."""
    import torch.nn.functional as F

    inner = _inner(model)
    labels = inputs["labels"]
    forward = {k: v for k, v in inputs.items() if k not in ("labels", "num_items_in_batch")}
    forward["use_cache"] = False
    hidden = inner.model(**forward).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    rows = hidden[:, :-1][keep]
    if rows.shape[0] == 0:
        return hidden.sum() * 0.0, 0  # keeps the graph connected for a batch without labels
    logits = inner.lm_head(rows).float()
    if seen is None:
        return F.cross_entropy(logits, target[keep], reduction="sum"), int(keep.sum())
    tokens = F.cross_entropy(logits, target[keep], reduction="none")
    _record(inputs, keep, tokens.detach(), seen)
    return tokens.sum(), int(keep.sum())


def sample_key(input_ids) -> int:
    """A sample's name in :func:`loss_sum`'s record: a hash of its token ids (the same packed or alone)."""
    return hash(tuple(int(i) for i in input_ids))


def _record(inputs: dict, keep, tokens, seen: dict) -> None:
    """Each sample's mean token loss in this batch, for the samples not recorded yet.  A packed row holds several
    samples (position ids restart at 0 at each); an unpacked row is one sample (its attention mask says where)."""
    import torch

    ids = inputs["input_ids"]
    rows, length = ids.shape
    pos = inputs.get("position_ids")
    # where each kept position's token loss sits in ``tokens``: kept positions in row-major order
    index = torch.full(keep.shape, -1, dtype=torch.long, device=keep.device)
    index[keep] = torch.arange(int(keep.sum()), device=keep.device)
    for b in range(rows):
        if pos is not None:
            starts = (pos[b] == 0).nonzero().flatten().tolist() + [length]
        else:
            mask = inputs.get("attention_mask")
            used = int(mask[b].sum()) if mask is not None else length
            starts = [0, used]
        for s, e in zip(starts, starts[1:]):
            if e - s < 2:
                continue
            key = sample_key(ids[b, s:e].tolist())
            if key in seen:
                continue
            at = index[b, s:e - 1]
            at = at[at >= 0]
            if at.numel():
                seen[key] = float(tokens[at].mean())


def trainer_class():
    """TRL's SFTTrainer with the labelled-positions loss (its own compute_loss where that does not apply)."""
    import torch
    from trl import SFTTrainer

    class DanluSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs or not model.training or not supports(model):
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            total, count = loss_sum(model, inputs, getattr(self, "sample_losses", None))
            # like TRL and transformers: the accumulated steps' tokens are the denominator when they are known
            denominator = num_items_in_batch if num_items_in_batch is not None else count
            return total / torch.as_tensor(denominator, device=total.device).clamp(min=1)

        def _save_checkpoint(self, model, trial):
            """Each checkpoint is written under a temporary name and renamed when complete, so a crash or a
            full disk never leaves a ``checkpoint-N`` that looks usable; a failed one is removed."""
            import os
            import shutil

            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
            from transformers.trainer_utils import rotate_checkpoints

            real = self.args.output_dir
            name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            stage = os.path.join(real, f".{name}.partial")
            if self.args.should_save:
                shutil.rmtree(stage, ignore_errors=True)
            # several ranks write into the staged folder (their RNG states; an FSDP run its shards): none starts
            # before rank 0 has emptied it, and rank 0 renames it once all have finished
            self.accelerator.wait_for_everyone()
            self.args.output_dir = stage
            try:
                super()._save_checkpoint(model, trial)
                self.accelerator.wait_for_everyone()
            except BaseException:
                if self.args.should_save:
                    shutil.rmtree(stage, ignore_errors=True)
                raise
            finally:
                self.args.output_dir = real
            dest = os.path.join(real, name)
            if self.args.should_save:
                if os.path.isdir(dest):  # the same step saved again (a stop request right after a save)
                    shutil.rmtree(dest)
                os.replace(os.path.join(stage, name), dest)
                shutil.rmtree(stage, ignore_errors=True)
                rotate_checkpoints(output_dir=real, save_total_limit=self.args.save_total_limit,
                                   best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)

        def _load_optimizer_and_scheduler(self, checkpoint):
            """On resume, the optimizer's learning rate is the schedule's value at this step for the run's
            (possibly extended) length, not the last value of the old schedule (0 at the end of a cosine)."""
            super()._load_optimizer_and_scheduler(checkpoint)
            sched = getattr(self, "lr_scheduler", None)
            lambdas = getattr(sched, "lr_lambdas", None)
            if checkpoint is None or not lambdas or self.optimizer is None:
                return
            step = sched.last_epoch
            lrs = [base * fn(step) for base, fn in zip(sched.base_lrs, lambdas)]
            for group, lr in zip(self.optimizer.param_groups, lrs):
                group["lr"] = lr
            sched._last_lr = lrs

    return DanluSFTTrainer
