"""``danlu data inspect|convert|clean|split``: engine.data's steps and their report."""

from __future__ import annotations

from .common import out


# -- data -------------------------------------------------------------------------------------
def _report_text(report, removed=None) -> str:
    r = report if isinstance(report, dict) else report.to_dict()
    lines = [f"{r['file']}: {r['format']} (confidence {r['confidence']:.0%}) — {r['evidence']}",
             f"{r['records']} records, {r['kept']} usable" + (f" ({r['fixed']} fixed)" if r.get("fixed") else "")
             + f", {len(r['problems'])} problem(s); encoding {r['encoding']}"]
    if r.get("mapping_source") == "proposed":
        flag = ",".join(f"{k}={v}" for k, v in r["mapping"].items())
        lines.append(f"proposed column mapping: {flag} — confirm or edit it with --mapping '{flag}'")
    for p in r["problems"][:50]:
        extra = f" [{p['action']}]" if p.get("action") not in (None, "kept") else ""
        rec = f" (record {p['record']})" if p.get("record") not in (None, p["line"]) else ""
        lines.append(f"  line {p['line']}{rec}: {p['field']}: {p['what']}{extra} — {p['fix']}")
    if len(r["problems"]) > 50:
        lines.append(f"  … {len(r['problems']) - 50} more (use --json for all)")
    if r.get("problem_counts"):
        lines.append("by kind: " + ", ".join(f"{k} {v}" for k, v in r["problem_counts"].items()))
    removed = removed if removed is not None else r.get("removed")
    if removed:
        lines.append("rules: " + ", ".join(f"{k} {v}" for k, v in removed.items()))
    stats = r.get("stats") or {}
    if stats.get("chars", {}).get("count"):
        c = stats["chars"]
        lines.append(f"characters per conversation: min {c['min']}, median {c['median']}, p95 {c['p95']}, "
                     f"p99 {c['p99']}, max {c['max']}")
    for ex in stats.get("near_duplicate_examples") or []:
        lines.append(f"  near-duplicate pair (similarity {ex['similarity']:.2f}): line {ex['line']} {ex['text']!r}"
                     f"  ~  line {ex['duplicate_of']} {ex['other']!r}")
    t = stats.get("tokens")
    if t and t.get("count"):
        lines.append(f"tokens ({t['model']} chat template): min {t['min']}, median {t['median']}, p95 {t['p95']}, "
                     f"p99 {t['p99']}, max {t['max']}"
                     + (f"; {t['truncated']} of {t['count']} longer than --max-seq-len {t['max_seq_len']}"
                        if "truncated" in t else ""))
        peak = max(b["count"] for b in t["histogram"]) or 1
        for b in t["histogram"]:
            lines.append(f"  {b['from']:>7}–{b['to']:<7} {'#' * max(1 if b['count'] else 0, 40 * b['count'] // peak)}"
                         f" {b['count']}")
    return "\n".join(lines)


def _pref_text(d) -> str:
    r = d.to_dict()
    lines = [f"{r['file']}: preference data, {r['format']} — feeds stage(s) {', '.join(r['stages'])}",
             f"{r['records']} records, {r['kept']} usable {'pairs' if r['kind'] == 'preference' else 'answers'}, "
             f"{len(r['problems'])} problem(s)"]
    st = r["stats"]
    if "pairs" in st:
        lines.append(f"{st['prompts']} distinct prompts; the chosen answer is the longer one in "
                     f"{st['chosen_longer']:.0%} of pairs (median {st['chosen_chars']} vs {st['rejected_chars']} "
                     "characters)")
    if "desirable" in st:
        lines.append(f"{st['desirable']:.0%} of the answers are labelled good")
    lines += [f"! {w}" for w in r["warnings"]]
    for p in r["problems"][:50]:
        lines.append(f"  line {p['line']}: {p['what']} [{p['action']}]")
    if len(r["problems"]) > 50:
        lines.append(f"  … {len(r['problems']) - 50} more (use --json for all)")
    return "\n".join(lines)


def _cmd_preference(args) -> None:
    """``danlu data inspect|convert|split`` on preference data (engine.data.preference)."""
    from pathlib import Path

    from ..core import guard
    from ..core.errors import DanluError
    from .. import data
    from ..data import preference as pf

    d = pf.load(args.file)
    if args.data_cmd == "inspect":
        out(args, d.to_dict(), _pref_text(d))
        if not (d.pairs or d.unpaired):
            raise DanluError("no usable preference pair", where=args.file, fix="see the problems above, by line")
        return
    if args.data_cmd == "clean":
        raise DanluError("`danlu data clean` is for SFT conversations; preference data is checked and cleaned "
                         "as it is read", where=args.file,
                         fix="use `danlu data inspect` to see its problems and `danlu data split` or `convert` to "
                             "write the usable pairs")
    to = args.to or "preference"
    if args.data_cmd == "convert":
        guard.check_destination(args.output, guard.inputs_of((args.file, "the input file")), what="--output")
        if to in pf.TARGETS:
            rows = pf.records(d, pf.TARGETS[to])
        else:  # an SFT form: the chosen answers (or the answers labelled good) as conversations
            convs = pf.conversations(d.pairs) or [u.prompt + [{"role": "assistant", "content": u.completion}]
                                                  for u in d.unpaired if u.label]
            path = data.write_conversations(Path(args.output), convs, to)
            out(args, {"output": str(path), "records": len(convs), "to": to, **d.to_dict()},
                _pref_text(d) + f"\nwrote {len(convs)} {to} conversations (the chosen answers) to {path}")
            return
        path = pf.write(rows, args.output)
        out(args, {"output": str(path), "records": len(rows), "to": to, **d.to_dict()},
            _pref_text(d) + f"\nwrote {len(rows)} {to} records to {path}")
        return
    # split
    if to not in pf.TARGETS:
        raise DanluError(f"--to {to} is an SFT form; a preference split keeps the pairs", where="--to",
                         fix=f"use one of {', '.join(pf.TARGETS)}")
    items = d.pairs or d.unpaired
    train, held = pf.split(items, args.eval_ratio, args.seed)
    folder = Path(args.out_dir)
    paths = {}
    for name, part in (("train", train), ("eval", held)):
        dest = folder / f"{name}.jsonl"
        guard.check_destination(dest, guard.inputs_of((args.file, "the input file")), what="--out-dir")
        sub = pf.PreferenceData(d.path, d.format, len(part), pairs=[i for i in part if isinstance(i, pf.Pair)],
                                unpaired=[i for i in part if not isinstance(i, pf.Pair)])
        paths[name] = str(pf.write(pf.records(sub, pf.TARGETS[to]), dest))
    leak = pf.leakage(train, held)
    res = {"train": paths["train"], "eval": paths["eval"], "train_records": len(train), "eval_records": len(held),
           "leakage": {"prompts": leak}, **d.to_dict()}
    out(args, res, _pref_text(d) + f"\nwrote {len(train)} train pairs to {paths['train']} and {len(held)} eval pairs "
                                   f"to {paths['eval']}\nleakage: {leak} held-out prompt(s) also in train")


def cmd_data(args):
    from .. import data
    from ..data import preference

    if preference.looks_like(args.file):
        _cmd_preference(args)
        return
    if getattr(args, "to", None) in preference.TARGETS:
        from ..core.errors import DanluError

        raise DanluError(f"--to {args.to} writes preference pairs, but this file has no chosen/rejected answers",
                         where=args.file, fix="give a file of pairs (prompt, chosen, rejected), or use --to messages, "
                                              "alpaca or sharegpt")
    if args.data_cmd in ("clean", "split"):
        args.to = args.to or "messages"
    common = dict(mapping=args.mapping, on_error=args.on_error)
    if args.data_cmd == "inspect":
        report = data.steps.inspect(args.file, max_chars=args.max_chars, near_dup_threshold=args.near_dup_threshold,
                                    model=args.model, max_seq_len=args.max_seq_len, **common)
        out(args, report.to_dict(), _report_text(report))
        if not report.kept:
            raise data.no_usable(report)
    elif args.data_cmd == "convert":
        res = data.steps.convert(args.file, args.to, args.output, **common)
        out(args, res, _report_text(res["report"]) + f"\nwrote {res['records']} {args.to} records to {res['output']}"
             + (f" (LLaMA-Factory entry in {res['dataset_info']})" if res["dataset_info"] else "")
             + "".join(f"\nnote: {n}" for n in res["roundtrip"]))
    elif args.data_cmd == "clean":
        res = data.steps.clean(args.file, args.output, to=args.to, max_chars=args.max_chars,
                               near_dup_threshold=args.near_dup_threshold, normalize_mode=args.normalize,
                               mix=args.mix, mix_ratio=args.mix_ratio, seed=args.seed, **common)
        mix = f"; mixed in {res['mix']['added']} from {res['mix']['file']}" if res["mix"] else ""
        out(args, res, _report_text(res["report"], res["removed"])
             + f"\nwrote {res['kept']} records to {res['output']}{mix}"
             + (f"; {res['normalized']} normalised" if args.normalize else ""))
    elif args.data_cmd == "split":
        res = data.steps.split(args.file, args.out_dir, to=args.to, eval_ratio=args.eval_ratio, seed=args.seed,
                               by=args.by, near_dup_threshold=args.near_dup_threshold, mix=args.mix,
                               mix_ratio=args.mix_ratio, **common)
        leak = res["leakage"]
        text = (f"wrote {res['train_records']} train records to {res['train']} and {res['eval_records']} eval "
                f"records to {res['eval']}" + (f" (split by {args.by})" if args.by else "")
                + f"\nleakage: {leak['pairs']} near-duplicate pair(s) across train and eval"
                + (f" ({leak['eval_records_leaked']} eval records) — run `danlu data clean` first" if leak["pairs"] else ""))
        for ex in leak["examples"]:
            text += f"\n  train line {ex['train_line']} ~ eval line {ex['eval_line']} ({ex['similarity']:.2f}): {ex['eval']!r}"
        if res["mix"]:
            text += f"\nmixed {res['mix']['added']} conversations from {res['mix']['file']} into train"
        out(args, res, text)
