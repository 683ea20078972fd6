"""Data doctor benchmark (issue #4): convert + validate 100 k ShareGPT conversations, MinHash near-dup over 100 k.

    .venv/bin/python bench/bench_data.py [--records 100000] [--threads 2]

The input is generated in a temporary folder from sample_data (the sample conversations, each made unique, with
a few near copies mixed in), so no big file is committed.  Prints records/s for convert+validate, seconds for
MinHash + LSH, and the ratio against ``datasets.load_dataset("json", ...)`` on the same file (a fresh cache, so it
really parses).  Targets: >= 50 k records/s; MinHash <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from figures import Figure, add_args, at_least, at_most, report  # noqa: E402


def make_file(path: Path, n: int, seed: int = 0) -> int:
    """n ShareGPT conversations shaped like the sample data (same turn structure and lengths, words reshuffled so
    that each is distinct), 2 % of them near copies of an earlier one (an extra space and a changed word)."""
    rng = random.Random(seed)
    base = [json.loads(line) for line in (ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl").open(encoding="utf-8")]
    words = [w for row in base for t in row["conversations"] for w in t["value"].split()]
    written = []
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            if written and rng.random() < 0.02:
                row = json.loads(written[rng.randrange(len(written))])
                turn = row["conversations"][-1]
                turn["value"] = turn["value"].replace(" ", "  ", 1) + " ok"
            else:
                row = json.loads(json.dumps(rng.choice(base)))
                for t in row["conversations"]:
                    if t["from"] != "system":
                        k = max(3, len(t["value"].split()))
                        t["value"] = " ".join(rng.choice(words) for _ in range(k))
                row["id"] = i
            line = json.dumps(row, ensure_ascii=False)
            if len(written) < 5000:
                written.append(line)
            fh.write(line + "\n")
    return path.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2, help="threads for MinHash (default 2, the cores of the box)")
    ap.add_argument("--skip-datasets", action="store_true", help="do not time datasets.load_dataset")
    add_args(ap)
    args = ap.parse_args()
    if args.smoke:
        args.records = 2000
    figures: list[Figure] = []

    from danlu.engine.data import dedup, steps
    from danlu.engine.data.pipeline import iter_conversations
    from danlu.engine.data.model import DataReport

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "sharegpt.jsonl"
        size = make_file(src, args.records)
        print(f"input: {args.records:,} ShareGPT conversations, {size / 1e6:.1f} MB ({os.cpu_count()} CPUs)")

        t = time.perf_counter()
        res = steps.convert(src, "messages", tmp / "out.jsonl")
        convert_s = time.perf_counter() - t
        rate = res["records"] / convert_s
        print(f"convert + validate (read, detect, check, write messages JSONL atomically): {res['records']:,} records "
              f"in {convert_s:.2f} s = {rate:,.0f} records/s  [target >= 50,000]")

        convs = list(iter_conversations(src, report=DataReport(file=str(src), format="?", evidence="")))
        t = time.perf_counter()
        texts = [dedup.dedup_text(m) for m in convs]
        sigs = dedup.signatures(texts, threads=args.threads)
        t_sig = time.perf_counter() - t
        pairs = dedup.near_duplicates(sigs, dedup.DEFAULT_THRESHOLD)
        minhash_s = time.perf_counter() - t
        print(f"MinHash near-dup ({dedup.NUM_PERM} permutations, 5-gram shingles, LSH at {dedup.DEFAULT_THRESHOLD}, "
              f"{args.threads} threads): {len(texts):,} records in {minhash_s:.1f} s (signatures {t_sig:.1f} s), "
              f"{len(pairs):,} near duplicates  [target <= 60 s]")

        hf_rate = None
        if not args.skip_datasets:
            import datasets

            datasets.disable_progress_bars()
            t = time.perf_counter()
            ds = datasets.load_dataset("json", data_files=str(src), split="train", cache_dir=str(tmp / "hf_cache"))
            hf_s = time.perf_counter() - t
            print(f"datasets.load_dataset('json') on the same file (fresh cache, parse only, no validation): "
                  f"{len(ds):,} rows in {hf_s:.2f} s = {len(ds) / hf_s:,.0f} rows/s")
            print(f"ratio: danlu convert+validate takes {convert_s / hf_s:.2f}x the time of datasets.load_dataset "
                  f"({rate / (len(ds) / hf_s):.2f}x its rows/s)")
            hf_rate = len(ds) / hf_s
    figures.append(Figure("data.convert_records_per_s", f"data doctor convert + validate ({args.records:,} ShareGPT records)",
                          rate, "records/s", hf_rate, "datasets.load_dataset('json'), parse only" if hf_rate else "",
                          "≥ 50,000 records/s", at_least(rate, 50_000)))
    figures.append(Figure("data.minhash_s", f"MinHash near-duplicates ({args.records:,} records, {args.threads} threads)",
                          minhash_s, "s", goal="≤ 60 s at 100,000 records",
                          met=at_most(minhash_s * 100_000 / args.records, 60)))
    report("bench_data", figures, args.json, smoke=args.smoke,
           detail={"records": args.records, "convert_s": convert_s, "minhash_s": minhash_s, "signatures_s": t_sig,
                   "near_duplicates": len(pairs)})


if __name__ == "__main__":
    main()
