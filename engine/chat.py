"""Chat: load a base model or a run's tuned model, stream replies as text chunks.

``stream_reply`` is a plain generator of text pieces (transformers'
``TextIteratorStreamer`` fed by ``generate`` in a thread), which is exactly what a
terminal or a Textual worker consumes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

from . import models
from .errors import DanluError


def locate(ref: str) -> tuple[str, str | None, str | None]:
    """Where a chat model comes from, without loading anything heavy.

    Returns ``(target, adapter_dir, method)``: the model to load (a folder, hub id or demo
    reference), the LoRA adapter folder to put on top of it (or None) and the training
    method of the run it came from (or None).  Raises DanluError for a bad reference.
    """
    import json

    from . import runs
    from .config import TrainConfig

    final, method = None, None
    p = Path(ref).expanduser()
    if (p / "adapter_config.json").exists() or (p / "config.json").exists():
        final = p
        if (p.parent / "config.yaml").exists():
            method = TrainConfig.load(p.parent / "config.yaml").method
    elif not ref.startswith("demo:"):
        try:
            run = runs.resolve(ref)
        except DanluError:
            run = None
        if run is not None:
            final = run.final_dir
            if not final.exists():
                raise DanluError(f"run {run.id} has no final model yet (state: {run.effective_state()})",
                                 fix="wait for it to finish, or chat with a checkpoint folder")
            if run.config_path.exists():
                method = TrainConfig.load(run.config_path).method
    if final is not None and (final / "adapter_config.json").exists():
        base_ref = json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"]
        return models.resolve_model(base_ref), str(final), method
    return models.resolve_model(str(final) if final is not None else ref), None, method


def load(ref: str, *, base: bool = False, trust_remote_code: bool = False):
    """(model, tokenizer) for a model reference or a run directory/id (its tuned model).

    For a LoRA/QLoRA run the adapter is loaded on top of the base model, which is loaded
    in 4-bit again for a QLoRA run so that the model is the one that was trained;
    ``base=True`` gives the base model alone, to compare.
    """
    target, adapter, method = locate(ref)
    model = models.load_base(target, trust_remote_code=trust_remote_code, quantize_4bit=method == "qlora")
    tok_source = adapter if adapter and (Path(adapter) / "tokenizer_config.json").exists() else target
    tokenizer = models.load_tokenizer(tok_source, trust_remote_code=trust_remote_code)
    if adapter and not base:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return model.eval(), tokenizer


def stream_reply(model, tokenizer, messages: list[dict], *, max_new_tokens: int = 128, temperature: float = 0.0,
                 top_p: float = 1.0, repetition_penalty: float = 1.0,
                 stop: threading.Event | None = None) -> Iterator[str]:
    """Yield the assistant's reply piece by piece. Greedy when ``temperature`` is 0; stops at the chat template's
    end-of-turn token."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    from . import template

    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    stop = stop or threading.Event()

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop.is_set()

    kwargs = dict(
        **enc,
        streamer=streamer,
        max_new_tokens=max_new_tokens,
        do_sample=temperature > 0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=template.end_of_turn_ids(tokenizer) or tokenizer.eos_token_id,
        repetition_penalty=repetition_penalty,
        stopping_criteria=StoppingCriteriaList([_Stop()]),
    )
    if temperature > 0:
        kwargs.update(temperature=temperature, top_p=top_p)
    errors: list[BaseException] = []

    def work():
        try:
            with torch.no_grad():
                model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            errors.append(exc)
            streamer.end()

    thread = threading.Thread(target=work, name="danlu-generate", daemon=True)
    thread.start()
    try:
        for piece in streamer:
            if piece:
                yield piece
    finally:
        stop.set()
        thread.join()
    if errors:
        raise DanluError(f"generation failed: {errors[0]}", fix="rerun with --debug for the traceback")


def reply(model, tokenizer, messages: list[dict], **kw) -> str:
    return "".join(stream_reply(model, tokenizer, messages, **kw))


def compare(model, tokenizer, questions: list[dict], *, base_ref: str | None = None, **gen) -> list[dict]:
    """Greedy answers of the base and the tuned model to each question (``{"messages", "reference"}``).

    For an adapter (LoRA/QLoRA) the base answers come from the same model with the adapter switched off;
    for a full fine-tune the base model ``base_ref`` is loaded beside it, then freed."""
    rows = [{"prompt": q["messages"][-1]["content"], "reference": q.get("reference"),
             "tuned": reply(model, tokenizer, q["messages"], **gen)} for q in questions]
    if hasattr(model, "disable_adapter"):
        with model.disable_adapter():
            for row, q in zip(rows, questions):
                row["base"] = reply(model, tokenizer, q["messages"], **gen)
    elif base_ref is not None:
        base = models.load_base(base_ref).eval()
        for row, q in zip(rows, questions):
            row["base"] = reply(base, tokenizer, q["messages"], **gen)
        del base
    return rows
