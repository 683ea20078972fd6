"""The whole job, through the real CLI, on the tiny demo model: full, LoRA and QLoRA."""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import run_cli, run_json


_RESULTS = {}


def quickstart(method):
    """`danlu quickstart --json` on the tiny demo model, once per method for this module."""
    if method not in _RESULTS:
        _RESULTS[method] = run_json("quickstart", "--size", "tiny", "--method", method)
    return _RESULTS[method]


@pytest.fixture(params=["lora", "qlora", "full"])
def quick(request, tiny_model):
    return quickstart(request.param)


def test_quickstart_learns_and_exports_a_matching_merged_model(quick):
    for key in ("run_dir", "method", "train_loss_first", "train_loss_last", "eval_loss_before",
                "eval_loss_after", "export_dir", "merged_logits_max_abs_diff", "seconds"):
        assert key in quick
    assert quick["train_loss_last"] < quick["train_loss_first"]
    assert quick["eval_loss_after"] < quick["eval_loss_before"]
    assert quick["merged_logits_max_abs_diff"] <= 1e-4
    assert isinstance(quick["chat_answer"], str)


def test_quickstart_writes_the_run_directory_contract(quick):
    run = Path(quick["run_dir"])
    for name in ("config.yaml", "events.jsonl", "status.json", "final", "data/train.jsonl", "data/eval.jsonl"):
        assert (run / name).exists(), name
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done" and status["step"] == quick["steps"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert all("ts" in e and "type" in e for e in events)
    steps = [e for e in events if e["type"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, quick["steps"] + 1))
    assert steps[0]["loss"] == pytest.approx(quick["train_loss_first"])
    assert events[-1]["type"] == "done"
    merged = Path(quick["export_dir"]) / "merged"
    assert list(merged.glob("*.safetensors")) and not list(merged.glob("*.bin"))
    if quick["method"] == "full":
        assert quick["adapter_dir"] is None
    else:
        assert (Path(quick["adapter_dir"]) / "adapter_config.json").exists()


def test_config_yaml_reproduces_the_run(tiny_model):
    quick = quickstart("lora")
    again = run_json("train", Path(quick["run_dir"]) / "config.yaml")
    assert again["run_dir"] != quick["run_dir"]
    assert again["train_loss_first"] == pytest.approx(quick["train_loss_first"], abs=1e-5)
    assert again["train_loss_last"] == pytest.approx(quick["train_loss_last"], abs=1e-5)


def test_chat_eval_export_runs_and_attach_on_the_run(tiny_model, tmp_path):
    quick = quickstart("qlora")
    run = quick["run_dir"]
    answer = run_json("chat", run, "--prompt", "水样怎么送检？", "--max-new-tokens", "6")
    assert isinstance(answer["answer"], str)
    tuned = run_json("eval", run, "--loss-only", "--data", Path(run) / "data" / "eval.jsonl")
    base = run_json("eval", run, "--loss-only", "--base", "--data", Path(run) / "data" / "eval.jsonl")
    assert tuned["eval_loss"] == pytest.approx(quick["eval_loss_after"], rel=1e-3)
    assert base["eval_loss"] == pytest.approx(quick["eval_loss_before"], rel=1e-3)
    exported = run_json("export", run, "--out", tmp_path / "exp")
    assert exported["merged_logits_max_abs_diff"] <= 1e-4
    listed = run_json("runs")
    assert any(r["path"] == run and r["state"] == "done" for r in listed)
    proc = run_cli("attach", Path(run).name, "--no-follow", "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["type"] == "done"


def test_detached_training_runs_in_its_own_session(tiny_model):
    quick = quickstart("full")
    started = run_json("train", Path(quick["run_dir"]) / "config.yaml", "--detach")
    pid = started["pid"]
    assert os.getsid(pid) != os.getsid(0), "the trainer must not share the terminal's session"
    status_path = Path(started["run_dir"]) / "status.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        state = json.loads(status_path.read_text()).get("state")
        if state in ("done", "failed", "stopped"):
            break
        time.sleep(1)
    assert state == "done", (Path(started["run_dir"]) / "train.log").read_text()[-2000:]
    assert (Path(started["run_dir"]) / "final" / "model.safetensors").exists()
