"""Chat: load a model, a run's tuned model or one of its checkpoints, and talk to it.

* :func:`locate` says where a chat model comes from (a run, a checkpoint ``RUN@checkpoint-N``, a
  model folder, a hub id, a demo model) without loading anything heavy; :func:`load` loads it:
  the base model with the run's adapter on top (in 4-bit again for a QLoRA run), or a full model.
* :class:`Sampling` holds the sampling knobs (defaults from the model's own ``generation_config``)
  and validates ``/set``-style changes; the CLI REPL and the wizard's side panel both use it.
* :class:`ChatSession` keeps a conversation (system prompt, turns), streams replies as a plain
  generator of text pieces, cancels within one token, and answers as the *base* model from the
  same loaded model by switching the adapter off (no second copy in memory); for a full fine-tune
  it loads the base model beside the tuned one only when memory allows, and says so otherwise.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

from ..models import load as models
from ..core.errors import DanluError, debug_hint
from ..core.texts import msg


# -- where the model comes from ---------------------------------------------------------------------------------
@dataclass
class Target:
    base: str  # what from_pretrained loads: the base model (adapter runs) or the tuned full model
    adapter: str | None = None  # the LoRA (or prompt/prefix) adapter folder on top of ``base``
    method: str | None = None  # the run's training method
    precision: str = "fp32"
    run: str | None = None  # the run directory, when the reference was a run
    checkpoint: str | None = None  # the checkpoint folder, when one was asked for
    base_ref: str | None = None  # the run's base model reference (to load the base beside a full fine-tune)

    def describe(self) -> str:
        what = self.checkpoint or self.adapter or self.base
        if self.adapter:
            four = msg("tg_4bit", " (4-bit base, as trained)") if self.method == "qlora" else ""
            base = self.base_ref or self.base
            if self.checkpoint:
                return msg("tg_checkpoint", "{name} on {base}{four}", name=Path(what).name, base=base, four=four)
            return msg("tg_adapter", "tuned adapter on {base}{four}", base=base, four=four)
        return str(what)


def _split_checkpoint(ref: str) -> tuple[str, str | None]:
    """``RUN@checkpoint-12`` or ``RUN@12`` → (RUN, "checkpoint-12")."""
    if "@" not in ref:
        return ref, None
    head, tail = ref.rsplit("@", 1)
    tail = tail.strip()
    if tail.isdigit():
        tail = f"checkpoint-{tail}"
    if not tail.startswith("checkpoint-") or not tail[len("checkpoint-"):].isdigit():
        raise DanluError(f"not a checkpoint: {tail!r}", where=ref, fix="write RUN@checkpoint-N or RUN@N")
    return head, tail


def _checkpoints(run) -> list[Path]:
    """The run's checkpoint folders, oldest first (temporary ``.checkpoint-N.partial`` folders are not ones)."""
    found = [p for p in run.checkpoints_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def locate(ref: str, checkpoint: str | int | None = None) -> Target:
    """Where a chat model comes from, without loading anything heavy; raises DanluError for a bad reference."""
    from ..runs import store as runs
    from ..core.config import TrainConfig

    ref = (ref or "").strip()
    ref, at = _split_checkpoint(ref)
    if checkpoint is not None:
        at = f"checkpoint-{checkpoint}" if str(checkpoint).isdigit() else str(checkpoint)
    run = None
    folder = Path(ref).expanduser()
    if (folder / "adapter_config.json").exists() or (folder / "config.json").exists():
        final = folder
        # a run's final model or checkpoint reads its run's config; any other folder is a model on its own (a
        # project's unrelated config.yaml beside it is not danlu's)
        if folder.name == "final" and runs.is_run(folder.parent):
            run = runs.RunDir(folder.parent)
        elif folder.parent.name == "checkpoints" and runs.is_run(folder.parent.parent):
            run = runs.RunDir(folder.parent.parent)
    elif ref.startswith("demo:"):
        final = None
    else:
        try:
            run = runs.resolve(ref)
        except DanluError:
            run = None
        if run is None:
            final = None
        elif at:
            final = run.checkpoints_dir / at
            if not final.is_dir():
                have = [p.name for p in _checkpoints(run)]
                raise DanluError(msg("err_no_checkpoint", "run {run} has no {at}", run=run.id, at=at),
                                 fix=msg("fix_checkpoints", "use one of: {have}", have=", ".join(have))
                                 if have else msg("fix_none_saved", "none saved yet"))
        else:
            final = run.final_dir
            if not final.exists():
                have = _checkpoints(run)
                hint = (msg("fix_newest_checkpoint", "chat with its newest checkpoint: danlu chat {ref}",
                            ref=f"{run.id}@{have[-1].name}") if have else
                        msg("fix_wait_checkpoint", "wait until it saves a checkpoint or finishes"))
                raise DanluError(msg("err_no_final", "run {run} has no final model yet (state: {state})", run=run.id,
                                     state=run.effective_state()), fix=hint)
    if at and run is None:
        raise DanluError(msg("err_not_a_run", "{ref!r} is not a run, so it has no checkpoints", ref=ref),
                         fix=msg("fix_run_ref", "pass a run id or a run directory"))
    cfg = TrainConfig.load(run.config_path) if run is not None and run.config_path.exists() else None
    method = cfg.method if cfg else None
    precision = cfg.precision if cfg and models.device() != "cpu" else "fp32"
    if final is None:
        return Target(base=models.resolve_model(ref), precision=precision)
    checkpoint_dir = str(final) if final.parent.name == "checkpoints" else None
    if (final / "adapter_config.json").exists():
        saved = runs.read_json(final / "adapter_config.json", "the adapter's adapter_config.json").get(
            "base_model_name_or_path")
        # the run's own reference first: a demo model's cache folder may have moved with DANLU_HOME
        base_ref = cfg.model if cfg else saved
        return Target(base=models.resolve_model(base_ref), adapter=str(final), method=method, precision=precision,
                      run=str(run.path) if run else None, checkpoint=checkpoint_dir, base_ref=base_ref)
    return Target(base=models.resolve_model(str(final)), method=method, precision=precision,
                  run=str(run.path) if run else None, checkpoint=checkpoint_dir, base_ref=cfg.model if cfg else None)


def load(ref: str, *, base: bool = False, trust_remote_code: bool = False, checkpoint=None, target: Target | None = None):
    """(model, tokenizer) for a model reference or a run directory/id (its tuned model, or a checkpoint).

    For a LoRA/QLoRA run the adapter is loaded on top of the base model, which is loaded in 4-bit again for a
    QLoRA run so that the model is the one that was trained; ``base=True`` gives the base model alone."""
    target = target or locate(ref, checkpoint)
    if base and not target.adapter and target.base_ref:
        target = Target(base=models.resolve_model(target.base_ref), precision=target.precision)
    model = models.load_base(target.base, precision=target.precision, trust_remote_code=trust_remote_code,
                             quantize_4bit=target.method == "qlora" and bool(target.adapter))
    adapter = target.adapter
    tok_source = adapter if adapter and (Path(adapter) / "tokenizer_config.json").exists() else target.base
    tokenizer = models.load_tokenizer(tok_source, trust_remote_code=trust_remote_code)
    if adapter and not base:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    return model.eval(), tokenizer


# -- sampling ---------------------------------------------------------------------------------------------------
# Chat's sampling when the model recommends none (its generation_config does not sample): Ollama's defaults for
# top_k and the repeat penalty, with the temperature and top_p that the exported Modelfile states, so that a chat
# here sounds like the exported model in Ollama.  Evaluation stays greedy (Sampling()).
CHAT_DEFAULTS = {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1}
OLLAMA_NAMES = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k",
                "repetition_penalty": "repeat_penalty"}


@dataclass
class Sampling:
    """How replies are sampled.  ``temperature`` 0 is greedy decoding (top-p/top-k then do nothing)."""

    temperature: float = field(default=0.0, metadata={"label": "Temperature", "help": "0 = greedy (always the "
                                                      "likeliest token); 0.7 is a common creative setting",
                                                      "range": (0.0, 5.0)})
    top_p: float = field(default=1.0, metadata={"label": "Top-p (nucleus)", "help": "sample only from the "
                                                "likeliest tokens whose probabilities add up to p (1 = off)",
                                                "range": (0.01, 1.0)})
    top_k: int = field(default=0, metadata={"label": "Top-k", "help": "sample only from the k likeliest tokens "
                                            "(0 = off)", "range": (0, 100000)})
    repetition_penalty: float = field(default=1.0, metadata={"label": "Repetition penalty", "help": "above 1 makes "
                                                             "repeating earlier tokens less likely (1 = off)",
                                                             "range": (0.5, 3.0)})
    max_new_tokens: int = field(default=256, metadata={"label": "Max new tokens", "help": "the longest reply, "
                                                       "in tokens", "range": (1, 32768)})
    seed: int | None = field(default=None, metadata={"label": "Seed", "help": "fixes the random choices of "
                                                     "sampling (none = different each time)", "range": (0, 2**31)})
    # where the knobs came from: "greedy" (evaluation's default), "model" (its generation_config) or "danlu"
    # (CHAT_DEFAULTS); not a knob
    source: str = field(default="greedy", repr=False, compare=False, metadata={"knob": False})

    @classmethod
    def from_model(cls, model, **overrides) -> "Sampling":
        """Chat's starting point: the model's own generation_config when it samples (what its authors recommend),
        else :data:`CHAT_DEFAULTS`; then ``overrides``.  Greedy decoding is for evaluation: in a conversation it
        repeats itself (a small model loops on one sentence to the token limit)."""
        gen = getattr(model, "generation_config", None)
        s = cls(**CHAT_DEFAULTS)
        s.source = "danlu"
        if gen is not None and getattr(gen, "do_sample", False):
            s.temperature = float(gen.temperature or 1.0)
            s.top_p = float(gen.top_p if gen.top_p is not None else 1.0)
            s.top_k = int(gen.top_k or 0)
            s.source = "model"
            if getattr(gen, "repetition_penalty", None):
                s.repetition_penalty = float(gen.repetition_penalty)
        for name, value in overrides.items():
            if value is not None:
                s.set(name, value)
        return s

    @staticmethod
    def names() -> list[str]:
        return [f.name for f in fields(Sampling) if f.metadata.get("knob", True)]

    @staticmethod
    def label(name: str) -> str:
        return next(f.metadata["label"] for f in fields(Sampling) if f.name == name)

    @staticmethod
    def help(name: str) -> str:
        return next(f.metadata["help"] for f in fields(Sampling) if f.name == name)

    def set(self, name: str, value) -> None:
        """Set one knob from a user's text or number, checked; raises DanluError with the allowed range."""
        aliases = {"temp": "temperature", "t": "temperature", "p": "top_p", "topp": "top_p", "k": "top_k",
                   "topk": "top_k", "rep": "repetition_penalty", "repetition": "repetition_penalty",
                   "max": "max_new_tokens", "max_tokens": "max_new_tokens", "tokens": "max_new_tokens"}
        key = aliases.get(str(name).strip().lower().replace("-", "_"), str(name).strip().lower().replace("-", "_"))
        spec = next((f for f in fields(Sampling) if f.name == key), None)
        if spec is None:
            raise DanluError(f"unknown setting {name!r}", fix=f"use one of: {', '.join(self.names())}")
        lo, hi = spec.metadata["range"]
        if key == "seed" and str(value).strip().lower() in ("none", "off", "", "random"):
            self.seed = None
            return
        kind = int if key in ("top_k", "max_new_tokens", "seed") else float
        try:
            number = kind(float(value)) if kind is int else float(value)
        except (TypeError, ValueError):
            raise DanluError(msg("err_not_number", "{name} must be a number, got {got}", name=key, got=repr(value)),
                             fix=msg("fix_set_cmd", "e.g. /set {name} {example}", name=key,
                                     example=getattr(self, key))) from None
        if kind is int and float(value) != int(float(value)):
            raise DanluError(msg("err_not_whole", "{name} must be a whole number, got {got}", name=key,
                                 got=repr(value)),
                             fix=msg("fix_set_cmd", "e.g. /set {name} {example}", name=key, example=int(float(value))))
        if not lo <= number <= hi:
            raise DanluError(msg("err_between", "{name} must be between {lo:g} and {hi:g}, got {got}", name=key, lo=lo,
                                 hi=hi, got=value), fix=f"{self.label(key)}: {self.help(key)}")
        setattr(self, key, number)

    def describe(self) -> str:
        return ", ".join(f"{n} {getattr(self, n)}" for n in self.names())

    def origin(self) -> str:
        """Where the settings came from, in words."""
        return {"model": "the model's recommended settings",
                "danlu": "danlu's chat defaults: the model names none; temperature 0 is greedy, as in danlu eval"}.get(
            self.source, "greedy, as in danlu eval")

    def generate_kwargs(self) -> dict:
        kw: dict = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty}
        if self.temperature > 0:
            kw.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k or None)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kw

    def to_dict(self) -> dict:
        return asdict(self)


def shown(text: str, tokens: int | None = None) -> str:
    """A reply as it should be shown: never a blank screen for a whitespace-only answer."""
    if text.strip():
        return text
    n = f" — {tokens} tokens" if tokens is not None else ""
    return f"(the model answered only whitespace/newlines{n})" if text else f"(the model answered nothing{n})"


# -- generation -------------------------------------------------------------------------------------------------
@dataclass
class Reply:
    text: str = ""
    tokens: int = 0
    seconds: float = 0.0
    stopped: bool = False  # cancelled by the user
    finished_on: str = ""  # "end_of_turn", "max_new_tokens" or "stopped"
    token_ids: list = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


MAX_CHAR_TOKENS = 8  # tokens one character may take (byte-level BPE: at most 4 bytes, a byte a token)


def whole_characters_streamer(tokenizer):
    """transformers' TextIteratorStreamer that never hands out part of a character: a multi-byte character (CJK,
    emoji) split across tokens decodes as U+FFFD until its last byte arrives, so tokens whose text ends that way
    wait for the ones that complete it.  A stop in the middle of a character drops the incomplete bytes; bytes
    that never form a character (more than MAX_CHAR_TOKENS tokens) are let through without the U+FFFD."""
    import torch
    from transformers import TextIteratorStreamer

    class WholeCharacters(TextIteratorStreamer):
        def __init__(self):
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.pending: list[int] = []

        def put(self, value):
            if self.skip_prompt and self.next_tokens_are_prompt:
                return super().put(value)
            self.pending.extend((value[0] if len(value.shape) > 1 else value).tolist())
            text = self.tokenizer.decode(self.token_cache + self.pending, **self.decode_kwargs)
            if text.endswith("\ufffd") and len(self.pending) < MAX_CHAR_TOKENS:
                return  # the rest of the character is in the next token(s)
            ids, self.pending = self.pending, []
            super().put(torch.tensor(ids))

        def end(self):
            self.pending = []  # stopped inside a character: its first bytes are not text
            super().end()

        def on_finalized_text(self, text: str, stream_end: bool = False):
            super().on_finalized_text(text.replace("\ufffd", ""), stream_end)

    return WholeCharacters()


def stream(model, tokenizer, messages: list[dict], sampling: Sampling | None = None, *,
           stop: threading.Event | None = None, base: bool = False, reply: Reply | None = None) -> Iterator[str]:
    """Yield the assistant's reply to ``messages`` piece by piece (fills ``reply`` as it goes).

    Stops at the chat template's end-of-turn token, at ``max_new_tokens``, or within one token of ``stop``
    being set.  ``base=True`` answers with the adapter switched off (the base model, same weights in memory)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from ..models import template

    sampling = sampling or Sampling()
    reply = reply if reply is not None else Reply()
    stop = stop or threading.Event()
    enc = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    prompt_len = enc["input_ids"].shape[1]
    streamer = whole_characters_streamer(tokenizer)
    eot = template.end_of_turn_ids(tokenizer) or [tokenizer.eos_token_id]

    class _Watch(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            reply.token_ids = input_ids[0, prompt_len:].tolist()
            reply.tokens = len(reply.token_ids)
            return stop.is_set()

    kwargs = dict(**enc, streamer=streamer, pad_token_id=tokenizer.pad_token_id, eos_token_id=eot,
                  stopping_criteria=StoppingCriteriaList([_Watch()]), **sampling.generate_kwargs())
    errors: list[BaseException] = []
    adapter_off = getattr(model, "disable_adapter", None) if base else None
    if base and adapter_off is None:
        raise DanluError(msg("err_no_adapter", "this model has no adapter to switch off"),
                         fix=msg("fix_load_base", "load the base model itself to compare"))

    def work():
        try:
            with torch.no_grad(), (adapter_off() if adapter_off else contextlib.nullcontext()):
                if sampling.seed is not None:
                    torch.manual_seed(sampling.seed)
                model.generate(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            errors.append(exc)
            streamer.end()

    t0 = time.monotonic()
    thread = threading.Thread(target=work, name="danlu-generate", daemon=True)
    thread.start()
    completed = False
    try:
        for piece in streamer:
            if piece:
                reply.text += piece
                yield piece
        completed = True
    finally:
        if not completed:  # the consumer went away early (Ctrl-C, a closed generator): stop generating
            stop.set()
        thread.join()
        reply.seconds = time.monotonic() - t0
        reply.stopped = stop.is_set() and not errors
        ids = reply.token_ids
        reply.finished_on = ("stopped" if reply.stopped else "end_of_turn" if ids and ids[-1] in eot
                             else "max_new_tokens")
    if errors:
        raise DanluError(f"generation failed: {errors[0]}", fix=debug_hint())


def stream_reply(model, tokenizer, messages: list[dict], *, max_new_tokens: int = 128, temperature: float = 0.0,
                 top_p: float = 1.0, repetition_penalty: float = 1.0,
                 stop: threading.Event | None = None) -> Iterator[str]:
    """Yield the assistant's reply piece by piece (greedy when ``temperature`` is 0)."""
    sampling = Sampling(temperature=temperature, top_p=top_p, repetition_penalty=repetition_penalty,
                        max_new_tokens=max_new_tokens)
    yield from stream(model, tokenizer, messages, sampling, stop=stop)


def reply(model, tokenizer, messages: list[dict], **kw) -> str:
    return "".join(stream_reply(model, tokenizer, messages, **kw))


def answer(model, tokenizer, messages: list[dict], sampling: Sampling, *, base: bool = False) -> Reply:
    """The whole reply at once (for evaluation)."""
    r = Reply()
    for _ in stream(model, tokenizer, messages, sampling, base=base, reply=r):
        pass
    return r


EVAL_BATCH = 8  # conversations answered in one generate call by answers()
# evaluation's greedy answers repeat a little less (1 = off): without it a small model's greedy answer loops on one
# sentence to the token limit, which measures the loop (the same value the forgetting guard's replay answers use)
EVAL_REPETITION_PENALTY = 1.1


TOKEN_PROGRESS_S = 3.0  # a batch being generated says its token count at most this often


def answers(model, tokenizer, conversations: list[list[dict]], sampling: Sampling, *, base: bool = False,
            batch: int = EVAL_BATCH, progress=lambda done, total: None, tokens=None) -> list[Reply]:
    """Whole replies to several conversations, ``batch`` at a time (left-padded: one generate call answers them
    together, several times faster than one by one on a CPU).  Greedy decoding gives each the reply that
    :func:`answer` gives it alone, up to the rounding of padded matrix products; a seeded sampling is reproducible
    for the same batch.  ``progress(done, total)`` hears of each batch; ``tokens(k, of)``, when given, of the
    tokens generated so far in the batch (every TOKEN_PROGRESS_S: a batch of long answers takes minutes)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Heartbeat(StoppingCriteria):  # never stops anything: it counts the steps of generate
        def __init__(self):
            self.k, self.said = 0, time.monotonic()

        def __call__(self, input_ids, scores, **kwargs):
            self.k += 1
            if tokens is not None and time.monotonic() - self.said >= TOKEN_PROGRESS_S:
                self.said = time.monotonic()
                tokens(self.k, sampling.max_new_tokens)
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    from ..models import template

    eot = template.end_of_turn_ids(tokenizer) or [tokenizer.eos_token_id]
    adapter_off = getattr(model, "disable_adapter", None) if base else None
    if base and adapter_off is None:
        raise DanluError(msg("err_no_adapter", "this model has no adapter to switch off"),
                         fix=msg("fix_load_base", "load the base model itself to compare"))
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eot[0]
    out: list[Reply] = []
    for start in range(0, len(conversations), batch):
        progress(start, len(conversations))
        prompts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=True, return_dict=True)
                   ["input_ids"] for m in conversations[start:start + batch]]
        width = max(len(x) for x in prompts)
        ids = torch.tensor([[pad] * (width - len(x)) + list(x) for x in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompts], device=device)
        t0 = time.monotonic()
        with torch.no_grad(), (adapter_off() if adapter_off else contextlib.nullcontext()):
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            gen = model.generate(input_ids=ids, attention_mask=mask, pad_token_id=pad, eos_token_id=eot,
                                 stopping_criteria=StoppingCriteriaList([Heartbeat()]), **sampling.generate_kwargs())
        seconds = (time.monotonic() - t0) / len(prompts)
        for row in gen[:, width:].tolist():
            end = next((i + 1 for i, tok in enumerate(row) if tok in eot), None)
            kept = row[:end] if end else row  # a row that did not end ran to max_new_tokens: no padding in it
            text = tokenizer.decode(kept, skip_special_tokens=True).replace("\ufffd", "")
            out.append(Reply(text=text, tokens=len(kept), seconds=seconds, token_ids=kept,
                             finished_on="end_of_turn" if end else "max_new_tokens"))
    progress(len(conversations), len(conversations))
    return out


def compare(model, tokenizer, questions: list[dict], *, base_ref: str | None = None, **gen) -> list[dict]:
    """Greedy answers of the base and the tuned model to each question (``{"messages", "reference"}``).

    For an adapter (LoRA/QLoRA) the base answers come from the same model with the adapter switched off;
    for a full fine-tune the base model ``base_ref`` is loaded beside it, then freed."""
    sampling = Sampling(max_new_tokens=gen.get("max_new_tokens", 64),
                        repetition_penalty=gen.get("repetition_penalty", 1.0))
    rows = [{"prompt": q["messages"][-1]["content"], "reference": q.get("reference"),
             "tuned": answer(model, tokenizer, q["messages"], sampling).text} for q in questions]
    if hasattr(model, "disable_adapter"):
        for row, q in zip(rows, questions):
            row["base"] = answer(model, tokenizer, q["messages"], sampling, base=True).text
    elif base_ref is not None:
        base = models.load_base(base_ref).eval()
        for row, q in zip(rows, questions):
            row["base"] = answer(base, tokenizer, q["messages"], sampling).text
        del base
    return rows


# -- a conversation ---------------------------------------------------------------------------------------------
def model_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


class ChatSession:
    """One conversation with a loaded model: system prompt, turns, sampling, base-vs-tuned, transcript."""

    def __init__(self, model, tokenizer, *, target: Target | None = None, system: str | None = None,
                 sampling: Sampling | None = None):
        self.model, self.tokenizer, self.target = model, tokenizer, target
        self.system = system or None
        self.sampling = sampling or Sampling.from_model(model)
        self.turns: list[dict] = []  # user/assistant messages, without the system prompt
        self._shared = {"base_model": None}  # a full fine-tune's base model, loaded beside it on demand; forks share it
        self.last: Reply | None = None

    @property
    def base_model(self):
        return self._shared["base_model"]

    @base_model.setter
    def base_model(self, model) -> None:
        self._shared["base_model"] = model

    def fork(self) -> "ChatSession":
        """A second conversation over the same loaded models: a copy of this one's turns to go on from, the same
        system prompt and sampling (one object: a change applies to both), its own history from now on.  The
        wizard's side-by-side view gives each pane one, so that each side is sent exactly the history it shows."""
        other = object.__new__(ChatSession)
        other.__dict__.update(self.__dict__)
        other.turns = [dict(m) for m in self.turns]
        other.last = None
        return other

    # the conversation the model sees
    def messages(self, prompt: str | None = None) -> list[dict]:
        msgs = ([{"role": "system", "content": self.system}] if self.system else []) + [dict(m) for m in self.turns]
        if prompt is not None:
            msgs.append({"role": "user", "content": prompt})
        return msgs

    @property
    def has_adapter(self) -> bool:
        return hasattr(self.model, "disable_adapter")

    def can_compare(self) -> tuple[bool, str]:
        """Whether a base answer is available, and in words how (or why not)."""
        if self.has_adapter:
            return True, msg("cmp_adapter", "base = the same model with the adapter switched off (no second copy in "
                                            "memory)")
        if self.base_model is not None:
            return True, msg("cmp_loaded", "base = the base model, loaded beside the fully fine-tuned one")
        base_ref = self.target.base_ref if self.target else None
        if not base_ref:
            return False, msg("cmp_no_base", "this is not a fine-tuned run: there is no base model to compare with")
        need = model_bytes(self.model)
        import psutil

        free = psutil.virtual_memory().available
        if need * 1.3 > free:
            return False, msg("cmp_no_room", "a full fine-tune: loading its base model beside it needs about "
                                             "{need:.1f} GB, {free:.1f} GB are free", need=need / 1e9, free=free / 1e9)
        return True, msg("cmp_will_load", "a full fine-tune: the base model will be loaded beside it ({need:.1f} GB)",
                         need=need / 1e9)

    def _base_side(self):
        """(model, base flag) that answers as the base model."""
        if self.has_adapter:
            return self.model, True
        ok, why = self.can_compare()
        if not ok:
            raise DanluError(f"no base model to compare with: {why}")
        if self.base_model is None:
            self.base_model = models.load_base(models.resolve_model(self.target.base_ref),
                                               precision=self.target.precision).eval()
        return self.base_model, False

    def stream(self, prompt: str, *, side: str = "tuned", stop: threading.Event | None = None,
               commit: bool = True) -> Iterator[str]:
        """Stream the reply to ``prompt`` from the ``tuned`` (default) or ``base`` side; with ``commit`` the
        exchange is added to the conversation when it ends (also when stopped)."""
        model, base = (self.model, False) if side == "tuned" else self._base_side()
        self.last = Reply()
        yield from stream(model, self.tokenizer, self.messages(prompt), self.sampling, stop=stop, base=base,
                          reply=self.last)
        if commit:
            self.add_exchange(prompt, self.last.text)

    def add_exchange(self, prompt: str, answer: str) -> None:
        """Add a finished exchange to the conversation (after comparing sides, the tuned side's answer)."""
        self.turns += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]

    def retry(self) -> str:
        """Drop the last exchange and return its prompt (to be streamed again)."""
        for i in range(len(self.turns) - 1, -1, -1):
            if self.turns[i]["role"] == "user":
                prompt = self.turns[i]["content"]
                del self.turns[i:]
                return prompt
        raise DanluError(msg("err_nothing_to_retry", "nothing to retry yet"),
                         fix=msg("fix_send_first", "send a message first"))

    def reset(self) -> None:
        self.turns.clear()

    def save(self, path) -> Path:
        """Append the conversation as one training-format JSONL line ({"messages": [...]}), written atomically,
        so that a corrected answer can go straight into the next training round."""
        from ..core import atomic

        if not any(m["role"] == "assistant" for m in self.turns):
            raise DanluError("nothing to save yet", fix="have at least one exchange first")
        from ..core import guard

        path = Path(path).expanduser()
        if path.is_dir() or str(path).endswith("/"):
            raise DanluError("the transcript path is a folder", where=str(path), fix="give a file name such as fixes.jsonl")
        t = self.target
        inputs = guard.inputs_of((t.run if t else None, "the run being chatted with"),
                                 (t.base if t and Path(t.base).is_dir() else None, "the model's folder"))
        guard.check_destination(path, inputs, what="the transcript")
        if path.exists() and not path.is_file():
            raise DanluError("the transcript path is not a regular file", where=str(path),
                             fix="give a file name such as fixes.jsonl")
        try:
            old = path.read_bytes().decode("utf-8") if path.is_file() else ""
        except UnicodeDecodeError as exc:
            raise DanluError(f"the file is not UTF-8 text (byte {exc.start}), so a conversation cannot be appended",
                             where=str(path), fix="/save to another file; this one is left as it is") from None
        if old and not old.endswith("\n"):
            old += "\n"
        line = json.dumps({"messages": self.messages()}, ensure_ascii=False) + "\n"
        return atomic.write_text(path, old + line)
