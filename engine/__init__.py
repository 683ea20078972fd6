"""danlu's headless engine.

Importing this package is cheap: torch, transformers, peft, trl, datasets and
bitsandbytes are imported only inside the functions that need them, and Textual
never (DESIGN.md §1).
"""

__version__ = "0.1.0"

# The engine in stage packages, one level deep, lowest first: a package imports only the ones before it (never one
# after, so there is no cycle), and its __init__ is its public surface (__all__).  The wizard (danlu.tui) imports
# only these surfaces; tests/test_structure.py keeps both rules.
STAGES = ("core", "runs", "models", "data", "plan", "infer", "train", "export", "cli")
