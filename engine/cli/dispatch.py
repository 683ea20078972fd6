"""``main``: parse, run the command, turn a DanluError into one line (and --json's error key)."""

from __future__ import annotations

import os
import sys

from ..core.errors import DanluError
from .common import ERROR, RESULT, emit, json_error, silence_stdout, tolerant_streams
from .parser import build_parser


def main(argv=None, open_wizard=None) -> int:
    """Run the CLI.  With no subcommand, ``open_wizard(demo=…, lang=…)`` opens the wizard; the
    ``danlu`` command (tui/entry.py) passes it, so the engine itself never imports the TUI."""
    argv = list(sys.argv[1:] if argv is None else argv)
    RESULT.clear()
    ERROR.clear()
    tolerant_streams()
    return emit(_main(argv, open_wizard))


def _main(argv: list, open_wizard) -> int:
    debug = "--debug" in argv or os.environ.get("DANLU_DEBUG") == "1"  # the ranks a launcher starts inherit it
    as_json = "--json" in argv
    if debug:
        os.environ["DANLU_DEBUG"] = "1"  # hints then point at the traceback printed, not at --debug
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # KEY=VALUE settings may sit between flags (`--seq-len 256 lr=1e-4 --method lora epochs=2`): argparse takes
        # only the first run of them for the positional list, the others are the command's overrides too
        if extra and isinstance(getattr(args, "overrides", None), list) and all(
                "=" in x and not x.startswith("-") for x in extra):
            args.overrides += extra
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if not getattr(args, "func", None):
            if args.cmd is None and open_wizard is not None:
                args.func = lambda a: open_wizard(demo=a.demo, lang=a.lang)
            elif args.cmd is None:
                parser.print_help()
                return 0
            else:
                parser.parse_args([args.cmd, "--help"])
        args.func(args)
        return 0
    except DanluError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"danlu: error: {exc.one_line()}", file=sys.stderr)
        if as_json:  # a script reading stdout gets an answer too
            json_error(exc.what, exc.where, exc.fix, exc.exit_code)
        return exc.exit_code
    except KeyboardInterrupt:
        print("danlu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away mid-output: the command did not finish (as if killed by SIGPIPE)
        silence_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - last resort: one line unless --debug
        if debug:
            raise
        from ..core import atomic

        if atomic.is_disk_full(exc):  # a full disk is the user's to fix, not an internal error
            err = atomic.disk_full_error(exc, getattr(exc, "filename", None) or ".")
            print(f"danlu: error: {err.one_line()}", file=sys.stderr)
            if as_json:
                json_error(err.what, err.where, err.fix, 2)
            return 2
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"danlu: internal error: {type(exc).__name__}: {first} (rerun with --debug for the traceback)",
              file=sys.stderr)
        if as_json:
            json_error(f"internal error: {type(exc).__name__}: {first}", None, "rerun with --debug for the traceback", 1)
        return 1
