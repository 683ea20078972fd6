"""Datasets: read a file, detect its format, convert to conversations, validate, clean, split — the data doctor.

Internally every sample is a *conversation*: a list of ``{"role", "content"}`` messages (roles ``system``,
``user``, ``assistant``, ``tool``), the OpenAI/TRL ``messages`` shape, that remembers the file and line it came
from so that every problem points at the line.  No heavy imports here.

Modules: :mod:`.read` (files, encodings, folders, streaming), :mod:`.formats` (detect, map, convert, validate),
:mod:`.pipeline` (read → detect → convert → validate, streamed or loaded), :mod:`.textnorm` (whitespace and
character width), :mod:`.analysis` (one pass: duplicates, overlong rows, lengths), :mod:`.dedup` (exact and MinHash
near duplicates), :mod:`.transform` (in-memory clean, split, leakage, mix), :mod:`.write` (atomic output files,
dataset_info.json), :mod:`.select` (which rows a demo run keeps), :mod:`.steps` (the four ``danlu data`` commands).
"""

from __future__ import annotations

import hashlib
from typing import Iterator

from . import dedup, formats, preference, steps
from .analysis import CLEAN_RULES, DEFAULT_MAX_CHARS, analyse, length_stats
from .pipeline import ON_ERROR, iter_conversations, load, no_usable
from .textnorm import normalize, normalize_text
from .transform import clean, leakage, mix_in, split, split_counts
from .write import AtomicWriter, convertible, write_conversations, write_copy
from .read import open_source
from ..models.encode import assistant_spans, token_lengths
from .formats import FORMATS, SHAREGPT_ROLES, TARGETS, TO_SHAREGPT, Spec, from_messages
from .model import SURE_MAPPING, Conversation, CopyResult, DataReport, Problem
from .dedup import DEFAULT_THRESHOLD as NEAR_DUP_THRESHOLD, conversation_key

__all__ = [
    "FORMATS", "SURE_MAPPING", "TARGETS", "CLEAN_RULES", "NEAR_DUP_THRESHOLD", "convertible", "write_copy", "open_source",
    "token_lengths", "assistant_spans", "SHAREGPT_ROLES", "TO_SHAREGPT", "ON_ERROR", "DEFAULT_MAX_CHARS", "Conversation",
    "DataReport", "Problem", "CopyResult", "Spec", "AtomicWriter", "load_conversations", "load", "iter_conversations", "analyse",
    "clean", "split", "split_counts", "leakage", "mix_in", "no_usable", "normalize", "normalize_text", "length_stats", "write_conversations",
    "from_messages", "to_messages", "check_conversation", "detect_format", "conversation_key", "file_hash",
    "iter_messages_file", "steps", "formats", "dedup", "preference", "conversations_in",
]


def load_conversations(path, **kwargs) -> tuple[list[Conversation], DataReport]:
    """Read, detect, convert and validate: the good conversations and a report of the rest.

    Keyword arguments: ``mapping`` (dict or 'instruction=问题,output=回答'), ``on_error`` (fix|skip|stop),
    ``confirm_mapping`` (refuse a proposed column mapping instead of using it)."""
    return load(path, **kwargs)


def conversations_in(path) -> list:
    """A run's data file as conversations to prompt a model with: its SFT conversations, or for preference data
    each prompt with its chosen answer (what export checks and reports use from a run of any stage)."""
    from . import preference

    if preference.looks_like(path):
        return preference.conversations(preference.load(path).pairs)
    return load_conversations(path)[0]


def detect_format(rows: list) -> tuple[str, str]:
    """The format of most records (raw dicts or objects with ``.data``) and the evidence for it."""
    spec, _, evidence = formats.detect([getattr(r, "data", r) for r in rows])
    if spec is None:
        from ..core.errors import DanluError

        raise DanluError("could not recognise the dataset format",
                         fix="use Alpaca (instruction/input/output), ShareGPT (conversations), messages, or prompt/completion")
    return spec.format, evidence


def to_messages(row, fmt: str) -> list[dict]:
    """One record as a conversation. Raises ValueError('field|what') for a record that cannot be used."""
    if fmt not in FORMATS:
        raise ValueError(f"-|unknown format {fmt}")
    spec, _ = formats._spec_for(fmt, [row])
    issues: list = []
    try:
        msgs, _meta = formats.to_conversation(row, spec, issues)
    except formats.RecordError as exc:
        raise ValueError(f"{exc.field}|{exc.what}") from None
    if issues:
        raise ValueError(f"{issues[0].field}|{issues[0].what}")
    return msgs


def check_conversation(msgs: list[dict]) -> str | None:
    """Why a conversation cannot be trained on ('field|what'), or None."""
    issues: list = []
    formats.check(msgs, issues)
    return f"{issues[0].field}|{issues[0].what}" if issues else None


def file_hash(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def iter_messages_file(path) -> Iterator[list[dict]]:
    yield from iter_conversations(path)
