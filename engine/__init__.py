"""danlu's headless engine.

Importing this package is cheap: torch, transformers, peft, trl, datasets and
bitsandbytes are imported only inside the functions that need them, and Textual
never (DESIGN.md §1).
"""

__version__ = "0.1.0"

# The engine's public modules: what the wizard (danlu.tui) may import.  The others are internals of these (the
# memory model behind `plan`, tokenisation behind `data`, the GGUF writer and checks behind `export`, ...);
# tests/test_structure.py keeps the wizard to this list.
PUBLIC = ("errors", "texts", "events", "paths", "config", "presets", "tasks", "demo", "hardware", "plan", "models",
          "data", "prepare", "train", "runs", "chat", "evaluate", "export", "gguf_import", "cli")

