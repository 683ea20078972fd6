"""`make bench`: every bench at its real size, one after the other, gathered into bench/results.md and
bench/results.json: each figure with its value, the baseline measured in the same run, their ratio, the goal,
and the machine (CPU, cores, RAM, GPU, library versions) and date.

    python bench/run_all.py                     # the whole table, about 50 minutes on a 2-core CPU
    python bench/run_all.py --only train_speed,job_times   # rerun these; the table keeps the others
    python bench/run_all.py --smoke --out /tmp/b  # every bench on its smallest input (the test suite runs this)

Each bench runs as its own process (`python bench/NAME.py … --json FILE`); one that fails is reported in the
table with its exit status and the rest go on.  The run of the real model that `job_times` makes (quickstart)
is handed to `chat_latency`, so the chat is timed on a run a user would have.  When NVIDIA GPUs are visible
(NVML), the table also gets the GPU figures: tokens/s and peak VRAM of LoRA and QLoRA on demo:smollm2 against
TRL's defaults (train_speed on the GPU).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]
from figures import fmt  # noqa: E402


@dataclass
class Bench:
    name: str  # the script, bench/<name>.py
    args: list[str]  # at real size
    smoke: list[str] = field(default_factory=lambda: ["--smoke"])
    gpu_only: bool = False
    label: str = ""  # when one script runs twice

    @property
    def id(self) -> str:
        return self.label or self.name


# in this order: the training figures first (on a machine that has not warmed up for long), the slow job after
BENCHES = [
    Bench("train_speed", ["--model", "demo:smollm2", "--samples", "64", "--repeat", "3"]),
    Bench("train_speed", ["--model", "demo:smollm2", "--samples", "64", "--sides", "danlu,baseline"],
          ["--smoke"], gpu_only=True, label="train_speed_gpu_lora"),
    Bench("train_speed", ["--model", "demo:smollm2", "--samples", "64", "--method", "qlora", "--sides",
                          "danlu,baseline"], ["--smoke", "--method", "qlora"], gpu_only=True, label="train_speed_gpu_qlora"),
    Bench("job_times", ["--keep-run"], ["--smoke", "--keep-run"]),
    Bench("chat_latency", []),  # --run: job_times' run
    Bench("dashboard_overhead", ["--pairs", "2", "--max-steps", "40"]),
    Bench("wizard_startup", ["--runs", "7"]),
    Bench("probe_speed", []),
    Bench("bench_data", []),
    Bench("plan_calibration", []),
    Bench("plan_calibration", ["--model", "demo:smollm2"], ["--smoke", "--model", "demo:tiny"], label="plan_calibration_runner"),
    Bench("preference", []),  # DPO on the real model, from the base and after SFT
    Bench("distributed", []),  # DDP and FSDP2 on 2 CPU ranks: predicted vs measured memory per rank
    Bench("recipe", []),  # the longest: the real model trained 22 times (two datasets × auto, 8 grid points, LF, TRL)
]


def machine() -> dict:
    from danlu.engine.plan import hardware

    p = hardware.probe()
    versions = {}
    for dist in ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "textual", "llama_cpp_python"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    gpus = [f"{g.name} ({g.memory_total_gb} GB)" for g in p.gpus]
    return {"cpu": p.host.cpu, "cores": p.host.cores, "ram_gb": p.host.ram_total_gb,
            "gpus": gpus, "accelerator": p.accelerator, "python": platform.python_version(),
            "versions": versions, "date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def run_bench(b: Bench, smoke: bool, work: Path, extra: list[str], quiet: bool = False) -> dict:
    """One bench in its own process; with ``quiet`` (benches side by side) its output is printed when it ends."""
    out = work / f"{b.id}.json"
    argv = [sys.executable, str(HERE / f"{b.name}.py"), *(b.smoke if smoke else b.args), *extra, "--json", str(out)]
    head = f"\n=== {b.id}: {' '.join(argv[1:])}"
    if not quiet:
        print(head, flush=True)
    t = time.time()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if quiet:  # side by side on few cores: one thread each, or torch's thread pools fight over the cores
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run(argv, cwd=ROOT, env=env, text=True,
                          **({"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT} if quiet else {}))
    seconds = time.time() - t
    if quiet:
        print(f"{head}\n{proc.stdout}", end="", flush=True)
    when = dt.datetime.now().astimezone().isoformat(timespec="minutes")[:16]
    if proc.returncode != 0 or not out.exists():
        return {"bench": b.id, "ok": False, "exit": proc.returncode, "seconds": seconds, "figures": [], "date": when}
    doc = json.loads(out.read_text(encoding="utf-8"))
    return {**doc, "bench": b.id, "ok": True, "exit": 0, "seconds": seconds, "date": when}


def table(results: list[dict], info: dict, smoke: bool) -> str:
    v = info["versions"]
    lines = [
        "# danlu performance figures" + (" (smoke run: the numbers mean nothing)" if smoke else ""),
        "",
        ("Measured (each bench's date at the end)" if any(r.get("rerun") for r in results) else
         f"Measured {info['date'][:16].replace('T', ' ')}")
        + f" by `make bench` (bench/run_all.py) on {info['cpu']}, {info['cores']} cores, "
        f"{info['ram_gb']:.0f} GB RAM, " + (f"GPU: {', '.join(info['gpus'])}" if info["gpus"] else "no GPU")
        + f"; Python {info['python']}, " + ", ".join(f"{k} {x}" for k, x in v.items() if x) + ".",
        "Every baseline was measured in the same run, except where its name says *recorded*. Ratio = danlu / "
        "baseline.",
        "",
        "| figure | danlu | baseline | ratio | goal | met |",
        "| --- | ---: | --- | ---: | --- | :---: |",
    ]
    for r in results:
        if not r["ok"]:
            lines.append(f"| **{r['bench']} failed** (exit {r['exit']}; its output is above this table in the log) "
                         "| | | | | ✗ |")
            continue
        for f in r["figures"]:
            unit = f" {f['unit']}" if f["unit"] not in ("", "×") else f["unit"]
            base = f"{fmt(f['baseline'])}{unit} ({f['baseline_name']})" if f["baseline"] is not None else ""
            ratio = f"{f['ratio']:.2f}×" if f["ratio"] is not None else ""
            met = {True: "✓", False: "✗", None: ""}[f["met"]]
            cells = [f["what"], f"{fmt(f['value'])}{unit}", base, ratio, f["goal"], met]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    rerun = any(r.get("rerun") for r in results)  # then say when each was measured
    lines += ["", "Bench wall times: " + ", ".join(
        f"{r['bench']} {r['seconds']:.0f} s" + (f" (measured {r['date'].replace('T', ' ')})"
                                               if rerun else "") for r in results) + ".", ""]
    return "\n".join(lines)


BEGIN, END = "<!-- bench/results.md: begin (make bench writes this part) -->", "<!-- bench/results.md: end -->"


def quote_in_readme(md: str) -> None:
    """The README's performance section quotes the whole table, between its two markers."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        print(f"README.md has no {BEGIN} … {END} markers: the table was not quoted there")
        return
    body = "\n".join(md.splitlines()[2:]).strip()  # without the title
    head, rest = text.split(BEGIN, 1)
    readme.write_text(f"{head}{BEGIN}\n{body}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--smoke", action="store_true", help="every bench on its smallest input (seconds each)")
    ap.add_argument("--only", help="comma list of bench ids to run (default: all)")
    ap.add_argument("--out", type=Path, default=HERE, help="folder for results.md and results.json (default bench/)")
    ap.add_argument("--jobs", type=int, help="benches side by side (default 1; 2 with --smoke, where timings do not "
                                             "matter)")
    args = ap.parse_args()
    jobs = args.jobs or (2 if args.smoke else 1)
    info = machine()
    gpu = bool(info["gpus"])
    chosen = [b for b in BENCHES if (gpu or not b.gpu_only) and (not args.only or b.id in args.only.split(","))]
    work = Path(tempfile.mkdtemp(prefix="danlu-bench-all-"))
    os.environ.setdefault("DANLU_HOME", str(work / "home"))  # one model import for every bench
    results: dict[str, dict] = {}
    t0 = time.time()

    def one(b: Bench) -> dict:
        extra = []
        if b.name == "chat_latency":  # chat with the quickstart's run (job_times runs before it)
            jt = done_job_times.result() if done_job_times else None
            run = jt.get("detail", {}).get("run") if jt and jt["ok"] else None
            extra = ["--run", run] if run else (["--model", "demo:tiny"] if args.smoke else [])
        results[b.id] = run_bench(b, args.smoke, work, extra, quiet=jobs > 1)
        return results[b.id]

    # side by side, chat_latency goes last so that no lane waits for job_times' run
    order = sorted(chosen, key=lambda b: b.name == "chat_latency") if jobs > 1 else chosen
    done_job_times = None
    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for b in order:
                fut = pool.submit(one, b)
                if b.name == "job_times":
                    done_job_times = fut
    finally:
        shutil.rmtree(work, ignore_errors=True)
        results = [results[b.id] for b in chosen if b.id in results]
        for r in results:  # job_times kept its run for chat_latency: its work folder goes now
            run = r.get("detail", {}).get("run") if r["bench"] == "job_times" else None
            if run and "danlu-job-bench-" in run:
                shutil.rmtree(Path(run).parents[1], ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    previous = args.out / "results.json"
    if args.only and not args.smoke and previous.exists():  # rerun some: the others stay as measured before
        old = json.loads(previous.read_text(encoding="utf-8"))
        if old.get("machine", {}).get("cpu") == info["cpu"] and not old.get("smoke"):
            fresh = {r["bench"]: {**r, "rerun": True} for r in results}
            order = [b.id for b in BENCHES]
            kept = {r["bench"]: {**r, "date": r.get("date") or old["machine"]["date"][:16]}
                    for r in old["benches"] if r["bench"] not in fresh}
            merged = {**kept, **fresh}
            results = [merged[i] for i in order if i in merged]
    doc = {"machine": info, "smoke": args.smoke, "seconds": time.time() - t0, "benches": results}
    (args.out / "results.json").write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    md = table(results, info, args.smoke)
    (args.out / "results.md").write_text(md, encoding="utf-8")
    print("\n" + md)
    if not args.smoke and args.out.resolve() == HERE:
        quote_in_readme(md)
    print(f"written: {args.out / 'results.md'}, {args.out / 'results.json'} ({time.time() - t0:.0f} s in all)")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
