"""Every bench still runs and still prints its figures (`make bench` on its smallest inputs), so that no figure in
the README goes stale with the next refactor.  The values of a smoke run mean nothing and are not checked."""

from __future__ import annotations

import ast
import json
import os
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# the figures each bench must report (a bench may report more)
EXPECTED = {
    "train_speed": {"train.lora.tokens_per_s", "train.lora.tokens_per_s_vs_bare", "train.lora.eval_loss",
                    "train.lora.peak_rss_mb"},
    "job_times": {"job.quickstart_s", "job.eval_report_s", "job.export_s.gguf"},
    "chat_latency": {"chat.key_latency_ms", "chat.key_latency_max_ms"},
    "dashboard_overhead": {"dashboard.tokens_per_s"},
    "wizard_startup": {"wizard.cold_start_s"},
    "probe_speed": {"probe.cli_s", "plan.cli_s", "probe.sampler_us"},
    "bench_data": {"data.convert_records_per_s", "data.minhash_s"},
    "plan_calibration": {"plan.memory_error", "plan.memory_ratio_min"},
    "plan_calibration_runner": {"plan.runner_ratio_min", "plan.runner_ratio_max"},
    "preference": {"pref.dpo.accuracy_gain", "pref.dpo.margin", "pref.dpo.forgetting_vs_sft",
                   "pref.chain.accuracy_gain", "pref.chain.wall_s"},
    "recipe": {"recipe.support.loss_vs_grid_best", "recipe.support.loss_vs_lf", "recipe.support.loss_vs_trl",
               "recipe.support.wall_vs_lf", "recipe.extract.rouge_vs_lf", "recipe.extract.forgetting_vs_lf"},
    "distributed": {"dist.ddp.memory_ratio", "dist.fsdp.memory_ratio", "dist.ddp.rank_memory_gb",
                    "dist.fsdp.rank_memory_gb"},
}


def bench_table() -> list[tuple[str, str, bool]]:
    """(script, id, gpu_only) of every entry in bench/run_all.py's BENCHES, read from its source."""
    tree = ast.parse((BENCH / "run_all.py").read_text(encoding="utf-8"))
    rows = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Bench":
            kw = {k.arg: k.value for k in node.keywords}
            name = node.args[0].value
            label = kw["label"].value if "label" in kw else name
            rows.append((name, label, "gpu_only" in kw and kw["gpu_only"].value))
    return rows


def test_every_bench_script_is_in_make_bench_and_takes_smoke():
    scripts = {p.stem for p in BENCH.glob("*.py")} - {"figures", "run_all"}
    listed = {name for name, _, _ in bench_table()}
    assert scripts == listed, f"bench scripts not run by `make bench`: {scripts - listed}; gone: {listed - scripts}"
    for name in sorted(scripts):
        help_text = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--help"], capture_output=True,
                                   text=True, cwd=ROOT, timeout=60).stdout
        assert "--smoke" in help_text and "--json" in help_text and "--keep" in help_text, name


def test_make_bench_smoke_prints_every_figure(tmp_path):
    scratch = tmp_path / "tmp"  # the benches' temporary folders: all gone afterwards (full fine-tunes fill disks)
    scratch.mkdir()
    out = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--smoke", "--out", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env=dict(os.environ, TMPDIR=str(scratch)))
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    left = sorted(p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_"))  # torch's own cache
    assert not left, f"benches left behind: {left}"
    doc = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert doc["smoke"] and doc["machine"]["cores"] and doc["machine"]["versions"]["torch"]
    by_id = {b["bench"]: b for b in doc["benches"]}
    wanted = {label for _, label, gpu_only in bench_table() if not gpu_only}
    assert set(by_id) == wanted
    for bench, keys in EXPECTED.items():
        entry = by_id[bench]
        assert entry["ok"], bench
        figures = {f["key"]: f for f in entry["figures"]}
        assert keys <= set(figures), f"{bench} no longer reports {keys - set(figures)}"
        for f in figures.values():
            assert isinstance(f["value"], (int, float)) and math.isfinite(f["value"]), (bench, f)
            assert f["what"].replace("|", "\\|") in md, f"{f['what']} missing from results.md"
        assert f"figures ({bench.removesuffix('_runner')}" in out.stdout  # each bench printed its figures too
    # a ratio is there exactly where a baseline was measured
    for entry in doc["benches"]:
        for f in entry["figures"]:
            assert (f["ratio"] is not None) == (f["baseline"] not in (None, 0)), f


@pytest.mark.parametrize("line", ["| quickstart, the whole job", "Bench wall times:"])
def test_results_table_is_committed_and_quoted_in_the_readme(line):
    """The measured table lives in bench/results.md and the README quotes it (regenerated by `make bench`)."""
    table = (BENCH / "results.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert line in table
    assert "make bench" in readme
    rows = [r for r in table.splitlines() if r.startswith("| ") and "---" not in r and not r.startswith("| figure")]
    assert rows and all(r in readme for r in rows), "the README's performance table differs from bench/results.md"
