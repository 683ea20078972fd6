"""The memory planner against published peak-memory measurements (presets/memory_measurements.yaml).

Each usable point's ``planner:`` fields give the configuration as published (and the assumptions made where a
source left a field out); points the planner cannot represent carry ``exclude:`` with the reason.  Runs in well
under a second: no torch, no transformers.
"""

import statistics

import pytest
import yaml

from danlu.engine.core import paths
from danlu.engine.plan import memory as planner

TABLE = yaml.safe_load((paths.presets_dir() / "memory_measurements.yaml").read_text(encoding="utf-8"))
MAX_MEDIAN_ERROR = 0.15


def _usable(point):
    p = point.get("planner") or {}
    return bool(p) and "exclude" not in p and point.get("peak_gb") is not None and point["confidence"] in ("high", "medium")


def _rows():
    rows = []
    for m in TABLE["measurements"]:
        if _usable(m):
            pred = planner.predict_peak(m["planner"])
            rows.append((m["id"], m["planner"]["method"], m["planner"].get("metric", "device"), pred, m["peak_gb"],
                         pred / m["peak_gb"] - 1))
    return rows


def _table(rows):
    lines = [f"{'point':<46} {'method':<6} {'metric':<9} {'predicted':>9} {'published':>9} {'error':>7}"]
    lines += [f"{i:<46} {meth:<6} {met:<9} {p:>9.2f} {g:>9.2f} {e:>+7.1%}" for i, meth, met, p, g, e in rows]
    return "\n".join(lines)


def test_every_point_is_normalised_or_excluded_with_a_reason():
    for m in TABLE["measurements"] + TABLE["oom"]:
        p = m.get("planner")
        assert p, f"{m['id']} has no planner: fields"
        if "exclude" in p:
            assert len(p["exclude"]) > 10, m["id"]
        else:
            assert {"model", "method", "micro_batch", "seq_len"} <= set(p), m["id"]


def test_median_relative_error_against_published_measurements():
    rows = _rows()
    assert len(rows) >= 30, _table(rows)
    median = statistics.median(abs(r[-1]) for r in rows)
    print(_table(rows))
    print(f"median |error| {median:.1%} over {len(rows)} points")
    assert median <= MAX_MEDIAN_ERROR, f"median error {median:.1%}\n" + _table(rows)


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_no_method_is_systematically_off(method):
    errs = [abs(r[-1]) for r in _rows() if r[1] == method]
    assert errs and statistics.median(errs) <= 0.2, _table([r for r in _rows() if r[1] == method])


OOM = [m for m in TABLE["oom"] if "exclude" not in (m.get("planner") or {})]


@pytest.mark.parametrize("entry", OOM, ids=[m["id"] for m in OOM])
def test_plan_never_fits_a_published_oom(entry):
    p = entry["planner"]
    knobs = {k: p[k] for k in planner.TERM_KNOBS if k in p and k != "grad_accum"}
    result = planner.plan(
        p["model"], gpu_mem_gb=entry["gpu_mem_gb"] * 1e9 / planner.GB, seq_len=p["seq_len"], method=p["method"],
        micro_batch=p["micro_batch"], lora_r=p.get("lora_r", 16), lora_targets=p.get("lora_targets", "all-linear"),
        lora_dropout=p.get("lora_dropout", 0.05), grad_checkpointing=p.get("grad_checkpointing"),
        optimizer=p.get("optimizer", "adamw_torch"), precision=p.get("precision", "bf16"), grad_accum=p.get("grad_accum", 1),
        knobs=knobs)
    assert not result.fits, f"{entry['id']}: plan says it fits ({result.predicted_peak_gb} GB on {entry['gpu_mem_gb']} GB)"
