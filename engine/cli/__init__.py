"""``danlu``: the command line.  Every wizard action is also a subcommand here.

A thin layer: a module per command group (plan, data, train, infer, export, model, quickstart) renders what the
engine decides.  Only argparse and the light engine modules are imported at start-up; each command imports what it
needs (torch, transformers, ...) when it runs, so ``danlu --help`` is instant.  A :class:`DanluError` becomes one
line on stderr and exit code 2.
"""

from .dispatch import main
from .parser import build_parser

__all__ = ["main", "build_parser"]
