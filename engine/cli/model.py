"""``danlu model import|inspect`` (GGUF files) and ``danlu demo-model build``."""

from __future__ import annotations

from .common import out, stderr_console


# -- GGUF import, demo model ------------------------------------------------------------------
def cmd_demo_model(args):
    import json as _json
    import time

    from ..models import load as models

    t = time.time()
    path = models.build_demo_model(args.size, args.out, force=args.force)
    info = _json.loads((path / "danlu_demo.json").read_text())
    info.update(path=str(path), seconds=round(time.time() - t, 2))
    out(args, info, f"demo model {args.size} ({info['params']:,} parameters) at {path}")


def cmd_model(args):
    from ..models import gguf_import

    if args.model_cmd == "inspect":
        info = gguf_import.inspect(args.file)
        out(args, info.to_dict(), info.describe() + f"\n{'quantised' if info.quantised else 'not quantised'}; "
             f"tokenizer {info.tokenizer_model}; chat template {'yes' if info.has_chat_template else 'no'}; "
             f"context {info.context_length}\nimport it with: danlu model import {args.file}")
        return
    console = stderr_console()

    def progress(stage, text):
        if not args.json:
            console.print(f"[bold cyan]\\[{stage}][/bold cyan] {text}")

    res = gguf_import.import_gguf(args.file, args.out, dtype=args.dtype, overwrite=args.overwrite,
                                  verify=not args.no_verify, progress=progress,
                                  bars=console.is_terminal and not args.json)
    lines = [f"imported {res.name or args.file} ({res.architecture}, {res.params / 1e6:,.1f} M parameters, "
             f"{res.dtype}) to {res.out}" + (" (already there)" if res.reused else "")]
    if res.logits_max_abs_diff is not None:
        lines.append(f"check: logits vs the GGUF max |diff| {res.logits_max_abs_diff:.2e} over "
                     f"{res.probe_tokens} tokens; chat template renders "
                     + ("identically" if res.chat_template_identical else
                        "DIFFERENTLY" if res.chat_template_identical is False else "(no template)"))
    lines.append(f"stops at: {', '.join(res.eos_tokens) or '-'}")
    if res.quantised:
        lines.append("note: the weights were dequantised from a quantised file; they are not the original 16-bit "
                     "release (see the folder's README.md)")
    if res.warning:
        lines.append(f"warning: {res.warning}")
    lines.append(f"next: danlu plan --model {res.out}")
    out(args, res.to_dict(), "\n".join(lines))
