"""Models: references (demo:…, folders, Hub ids), loading for training and chat, the random-init demo models,
GGUF import, chat templates and the one tokenisation of a conversation.

:mod:`.load` (references, load, demo build), :mod:`.gguf_import` (a GGUF file as a model folder), :mod:`.template`
(chat templates and their end-of-turn tokens), :mod:`.encode` (a conversation as token ids and labels),
:mod:`.attention` and :mod:`.runtime` (their helpers).
"""

from .gguf_import import GGUFInfo, ImportResult, import_gguf, inspect as inspect_gguf
from .load import (DEMO_REFS, REAL_DEMOS, check_model_ref, context_length, is_random_init, load_tokenizer,
                   preview_tokenizer, resolve_model)

__all__ = ["check_model_ref", "resolve_model", "is_random_init", "context_length", "load_tokenizer",
           "preview_tokenizer", "import_gguf", "inspect_gguf", "ImportResult", "GGUFInfo", "DEMO_REFS", "REAL_DEMOS"]
