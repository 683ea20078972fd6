"""danlu's headless engine.

Importing this package is cheap: torch, transformers, peft, trl, datasets and
bitsandbytes are imported only inside the functions that need them, and Textual
never (DESIGN.md §1).
"""

__version__ = "0.1.0"
