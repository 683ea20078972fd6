"""How fast are `danlu probe` and `danlu plan`, and what does one sampler sample cost?

Runs the real CLI in subprocesses (cold start included: python, argparse, the engine modules,
psutil, NVML) five times each and prints the median; then times SystemSampler.sample() in
process, with this machine's NVML (none here) and with a fake two-GPU pynvml (tests/fake_nvml.py)
so that the per-GPU path is exercised too.  Also checks that neither command imports torch or
transformers.

    python bench/probe_speed.py [--smoke] [--json out.json]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

COMMANDS = {
    "danlu probe --json": ["probe", "--json"],
    "danlu plan --model Qwen/Qwen2.5-7B-Instruct --gpu-mem 24 (preset)": ["plan", "--model", "Qwen/Qwen2.5-7B-Instruct",
                                                                           "--gpu-mem", "24", "--json"],
    "danlu plan --model <local config.json>": ["plan", "--model", "{config}", "--json"],
}
CHECK_HEAVY = "import sys; from danlu.engine.cli import main; main({argv!r}); " \
              "print('HEAVY', [m for m in ('torch', 'transformers') if m in sys.modules], file=sys.stderr)"


def main():
    import argparse

    from figures import add_args, work_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_args(ap)
    args = ap.parse_args()
    repeat, samples = (1, 50) if args.smoke else (5, 2000)
    figures, detail = [], {}

    with work_dir("probe", args.keep) as tmp:
        measure(args, tmp, repeat, samples, figures, detail)


def measure(args, tmp: Path, repeat: int, samples: int, figures: list, detail: dict) -> None:
    from danlu.engine.plan import hardware
    from danlu.engine.core import presets
    from figures import Figure, at_most, report

    cfg = dict(presets.model_config("Qwen/Qwen2.5-1.5B"))
    (tmp / "config.json").write_text(__import__("json").dumps(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name, argv in COMMANDS.items():
        argv = [a.replace("{config}", str(tmp)) for a in argv]
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "danlu.engine.cli", *argv], capture_output=True, env=env, check=True)
            times.append(time.perf_counter() - t)
        heavy = subprocess.run([sys.executable, "-c", CHECK_HEAVY.format(argv=argv)], capture_output=True,
                               text=True, env=env).stderr.strip().splitlines()[-1]
        print(f"{name:<70} median {statistics.median(times) * 1000:6.0f} ms  (max {max(times) * 1000:.0f}) {heavy}")
        detail[name] = {"times_s": times, "heavy": heavy}
        key = "probe.cli_s" if argv[0] == "probe" else "plan.cli_s" if "{config}" not in " ".join(COMMANDS[name]) \
            else "plan.local_config_cli_s"
        figures.append(Figure(key, f"`{name.split(' (')[0]}` wall time (fresh process)", statistics.median(times), "s",
                              goal="≤ 1 s", met=at_most(statistics.median(times), 1.0)))

    def per_sample(sampler, n=samples):
        sampler.open()
        t = time.perf_counter()
        for _ in range(n):
            sampler.sample()
        dt = (time.perf_counter() - t) / n
        sampler.stop()
        return dt

    here = per_sample(hardware.SystemSampler()) * 1e6
    print(f"SystemSampler.sample(), this machine: {here:.0f} µs")
    import fake_nvml

    sys.modules["pynvml"] = fake_nvml.make_module("two_rtx3090")
    fake = per_sample(hardware.SystemSampler()) * 1e6
    print(f"SystemSampler.sample(), fake 2 GPUs:  {fake:.0f} µs "
          "(fake NVML calls cost ~nothing; real NVML queries take tens of µs each)")
    # the trainer samples once a second: goal ≤ 1 ms, a thousandth of that second
    figures.append(Figure("probe.sampler_us", "system sampler, one sample (CPU, RAM, NVML)", here, "µs",
                          goal="≤ 1000 µs", met=at_most(here, 1000)))
    report("probe_speed", figures, args.json, smoke=args.smoke, detail={**detail, "sampler_fake_2gpu_us": fake})


if __name__ == "__main__":
    main()
