"""``danlu export``."""

from __future__ import annotations

from .common import out, stderr_console


def cmd_export(args):
    from ..export import pipeline as export

    console = stderr_console()

    def progress(stage, text):
        if not args.json or console.is_terminal:
            console.print(f"[bold cyan]\\[{stage}][/bold cyan] {text}")

    res = export.export(args.run, args.out, targets=args.to or args.target or export.DEFAULT_TARGETS,
                        gguf_types=args.gguf, dtype=args.dtype, overwrite=args.overwrite,
                        llama_quantize=args.llama_quantize, llama_cpp=args.llama_cpp, hub_repo=args.hub_repo,
                        hub_private=not args.public, name=args.name, system=args.system,
                        checkpoint=args.from_checkpoint, progress=progress)
    if args.json:
        out(args, res.to_dict())
        return
    print(export.summary(res))
