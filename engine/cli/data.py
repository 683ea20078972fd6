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


def cmd_data(args):
    from .. import data

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
