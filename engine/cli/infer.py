"""``danlu chat`` and ``danlu eval``."""

from __future__ import annotations

from ..core.errors import DanluError
from .common import out, stderr_console


# -- chat / eval ------------------------------------------------------------------------------
def _sampling_args(args, model):
    from ..infer.chat import Sampling

    return Sampling.from_model(model, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                               repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens,
                               seed=args.seed)


def cmd_chat(args):
    from ..infer import chat

    target = chat.locate(args.model, args.checkpoint)  # a bad reference fails here, before anything loads
    console = stderr_console()
    console.print(f"[dim]loading {target.describe()}{' — the base model alone' if args.base else ''}…[/dim]")
    model, tokenizer = chat.load(args.model, base=args.base, trust_remote_code=args.trust_remote_code, target=target)
    session = chat.ChatSession(model, tokenizer, target=None if args.base else target, system=args.system)
    session.sampling = _sampling_args(args, model)
    if args.prompt is not None:
        answers = {}
        sides = ["tuned", "base"] if args.compare else ["tuned"]
        for side in sides:
            text = ""
            if not args.json and args.compare:
                print(f"{'base' if side == 'base' else 'tuned'}> ", end="", flush=True)
            for piece in session.stream(args.prompt, side=side, commit=False):
                text += piece
                if not args.json:
                    print(piece, end="", flush=True)
            r = session.last
            if not args.json:
                print(chat.shown(text, r.tokens) if not text.strip() else "")
            answers[side] = {"answer": text, "tokens": r.tokens, "tokens_per_s": round(r.tokens_per_s, 2),
                             "finished_on": r.finished_on}
        if args.json:
            res = {"prompt": args.prompt, "system": args.system, "sampling": session.sampling.to_dict(),
                   **answers["tuned"]}
            if "base" in answers:
                res["base"] = answers["base"]
            out(args, res)
        return
    from ..infer.repl import Repl

    Repl(session, label_tuned="base" if args.base else "tuned").loop()


def _eval_progress(args):
    console = stderr_console()

    def progress(stage, text):
        if not args.json or console.is_terminal:
            console.print(f"[bold cyan]\\[{stage}][/bold cyan] {text}")

    return progress


def cmd_eval(args):
    from ..infer import evaluate

    if args.loss_only:
        from ..infer import chat
        from .. import data
        from ..models import encode

        target = chat.locate(args.model, args.checkpoint)
        if not args.data:
            raise DanluError("--loss-only needs --data FILE", fix="pass the held-out conversations to score")
        convs, _ = data.load_conversations(args.data)
        model, tokenizer = chat.load(args.model, base=args.base, target=target)
        rows = encode.encode_all(tokenizer, convs, args.max_seq_len)
        loss = evaluate.eval_loss(model, rows, pad_id=tokenizer.pad_token_id)
        import math

        res = {"model": args.model, "data": args.data, "samples": len(rows), "eval_loss": loss,
               "perplexity": math.exp(loss) if loss < 50 else None}
        out(args, res, f"{args.model} on {args.data}: eval loss {loss:.4f} over {len(rows)} samples "
             f"(perplexity {res['perplexity'] or float('inf'):.2f})")
        return
    size = dict(evaluate.FULL if args.full else evaluate.DEFAULT)
    size.update({k: v for k, v in (("samples", args.samples), ("max_new_tokens", args.max_new_tokens)) if v is not None})
    res = evaluate.report(args.model, args.data, stability_runs=args.stability, temperature=args.temperature,
                          probe=not args.no_probe, progress=_eval_progress(args), checkpoint=args.checkpoint, **size)
    if args.json:
        out(args, res)
        return
    print(evaluate.markdown(res))
    if res.get("files"):
        print(f"written: {', '.join(res['files'])}")
