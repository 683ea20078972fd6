"""The ``danlu`` command: the engine's CLI, and the wizard when no subcommand is given.

The engine never imports the TUI (DESIGN.md §1); this entry point joins the two.  Textual is
imported only when the wizard opens, so ``danlu --help`` and every subcommand start fast.
"""

from __future__ import annotations

import sys


def _open_wizard(demo: bool = False, lang: str | None = None) -> None:
    from .app import run_app

    run_app(demo=demo, lang=lang)


def main(argv=None) -> int:
    from danlu.engine.cli import main as engine_main

    return engine_main(argv, open_wizard=_open_wizard)


if __name__ == "__main__":
    sys.exit(main())
