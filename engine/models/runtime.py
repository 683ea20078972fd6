"""The ML libraries' runtime settings danlu needs everywhere: quiet logs, and the torch dtype of a precision name.

A module of its own so that model loading (engine.models) and GGUF import (engine.models.gguf_import) share them without
importing each other.
"""

from __future__ import annotations

import os


def quiet() -> None:
    """Silence transformers' progress bars and info logs (danlu shows its own progress)."""

    import logging as std_logging
    import warnings

    # library deprecation notices are for danlu's developers, not its users
    warnings.filterwarnings("ignore", category=FutureWarning)
    # PEFT prompt/prefix tuning drops position ids on purpose (the virtual tokens shift them)
    warnings.filterwarnings("ignore", message="Position ids are not supported for parameter efficient tuning")

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # bitsandbytes' CPU backend warns on import that an optional kernels package is missing
    std_logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(std_logging.ERROR)
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()  # "Packing train dataset" and friends: milliseconds here


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
