"""How long the whole job takes as a user runs it: `danlu quickstart`, then `danlu eval` on its run, then
`danlu export` to each target, each a fresh `danlu` process timed from start to exit (imports included).

    python bench/job_times.py [--model demo:smollm2] [--targets adapter,merged,gguf,gguf:q8_0,ollama]
    python bench/job_times.py --smoke          # demo:tiny, 2 steps: seconds

The quickstart's run is kept (its path is printed and in the JSON's detail) so that another bench can use it
(bench/run_all.py hands it to bench/chat_latency.py); --keep-run keeps it when this script runs alone too.
Goals: quickstart ≤ 8 min on a 2-core CPU (the README says about 6), the default evaluation report ≤ 2 min.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from figures import Figure, add_args, at_most, report, work_dir  # noqa: E402

TARGETS = "adapter,merged,gguf,gguf:q8_0,ollama"


def danlu(*argv: str, env: dict) -> tuple[float, dict]:
    """Run one danlu command with --json; its wall time and its JSON document."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "danlu.engine.cli", *argv, "--json"], capture_output=True, text=True,
                         env=env, cwd=ROOT)
    seconds = time.perf_counter() - t
    if out.returncode != 0:
        sys.exit(f"danlu {' '.join(argv)} failed (exit {out.returncode}):\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}")
    return seconds, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo:smollm2", help="model the quickstart trains (default demo:smollm2)")
    ap.add_argument("--max-steps", type=int, help="stop the quickstart's training after N steps")
    ap.add_argument("--targets", default=TARGETS,
                    help=f"export targets, each timed on its own; gguf:TYPE for a GGUF type (default {TARGETS})")
    ap.add_argument("--keep-run", action="store_true", help="keep the quickstart's run (and its DANLU_HOME)")
    add_args(ap)
    args = ap.parse_args()
    eval_args: list[str] = []
    if args.smoke:  # every command once, on the smallest work: the report with 2 short answers, one export
        args.model, args.max_steps, args.targets = "demo:tiny", 2, "gguf"
        eval_args = ["--samples", "2", "--stability", "2", "--max-new-tokens", "8"]
    figures: list[Figure] = []
    detail: dict = {"model": args.model, "max_steps": args.max_steps}
    with work_dir("job", args.keep or args.keep_run) as work:
        measure(args, work, eval_args, figures, detail)
    report("job_times", figures, args.json, smoke=args.smoke, detail=detail)


def measure(args, work: Path, eval_args: list[str], figures: list[Figure], detail: dict) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), DANLU_RUNS=str(work / "runs"))
    env.setdefault("DANLU_HOME", str(work / "home"))
    try:
        argv = ["quickstart", "--model", args.model] + (["--max-steps", str(args.max_steps)] if args.max_steps else [])
        print(f"danlu {' '.join(argv)} …", flush=True)
        qs_s, qs = danlu(*argv, env=env)
        run = qs["run_dir"]
        detail.update(run=run, quickstart_s=qs_s, danlu_home=env["DANLU_HOME"])
        print(f"  {qs_s:.1f} s; run {run}", flush=True)
        figures.append(Figure("job.quickstart_s", f"quickstart, the whole job ({args.model}"
                              + (f", {args.max_steps} steps)" if args.max_steps else ")"), qs_s, "s",
                              goal="≤ 480 s", met=at_most(qs_s, 480)))

        print(f"danlu eval {run} …", flush=True)
        ev_s, ev = danlu("eval", run, *eval_args, env=env)
        detail["eval"] = {"seconds": ev_s, "own_seconds": ev.get("seconds"), "verdict": ev.get("verdict")}
        print(f"  {ev_s:.1f} s", flush=True)
        figures.append(Figure("job.eval_report_s", "evaluation report (danlu eval RUN, defaults)", ev_s, "s",
                              goal="≤ 120 s", met=at_most(ev_s, 120)))

        detail["export"] = {}
        for target in args.targets.split(","):
            to, _, gguf = target.partition(":")
            extra = ["--gguf", gguf] if gguf else []
            out_dir = work / "export" / target.replace(":", "-")
            print(f"danlu export {run} --to {to} {' '.join(extra)} …", flush=True)
            ex_s, ex = danlu("export", run, "--to", to, "--out", str(out_dir), *extra, env=env)
            detail["export"][target] = {"seconds": ex_s, "verified": ex.get("verified"), "sizes": ex.get("sizes")}
            print(f"  {ex_s:.1f} s, verified: {ex.get('verified')}", flush=True)
            figures.append(Figure(f"job.export_s.{target}", f"export --to {to}{' ' + gguf if gguf else ''} "
                                  "(written and verified)", ex_s, "s"))
    finally:
        shutil.rmtree(work / "export", ignore_errors=True)


if __name__ == "__main__":
    main()
