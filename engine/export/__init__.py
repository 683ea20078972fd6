"""Export: adapter, merged model, GGUF, Ollama and the Hub, each reloaded and checked.

:mod:`.pipeline` (plan, write, verify, rename), :mod:`.merge` (the adapter merged shard by shard),
:mod:`.gguf_export` (danlu's GGUF writer), :mod:`.gguf_verify` (reader, transformers and llama.cpp checks),
:mod:`.checks` (logit comparison), :mod:`.ollama` (Modelfile and Go template), :mod:`.hub` (push).
"""

from .pipeline import (DEFAULT_TARGETS, TARGETS, ExportResult, GGUFChoice, SourceInfo, export, gguf_choices,
                       preflight, source_info, summary, summary_lines)

__all__ = ["export", "ExportResult", "preflight", "summary", "summary_lines", "source_info", "gguf_choices",
           "SourceInfo", "GGUFChoice", "TARGETS", "DEFAULT_TARGETS"]
