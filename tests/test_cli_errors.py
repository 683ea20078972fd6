"""Bad input to every subcommand: one line that says what to do, exit code 2, no traceback."""

import pytest

from conftest import run_cli

CASES = {
    "plan unknown model": ["plan", "--model", "no/such-model-anywhere"],
    "plan no model": ["plan"],
    "plan bad method": ["plan", "--model", "demo:tiny", "--method", "bogus"],
    "plan missing folder": ["plan", "--model", "./missing-folder/"],
    "data missing file": ["data", "inspect", "missing.jsonl"],
    "data unknown format": ["data", "convert", "sample_data/README.md", "--to", "alpaca", "-o", "/tmp/x.json"],
    "data bad target": ["data", "convert", "sample_data/lab_consultant.messages.jsonl", "--to", "yaml", "-o", "x"],
    "train missing config": ["train", "missing.yaml"],
    "train not yaml": ["train", "sample_data/lab_consultant.csv"],
    "chat missing model": ["chat", "./no-such-model", "--prompt", "hi"],
    "eval missing data": ["eval", "demo:tiny", "--data", "missing.jsonl"],
    "export unknown run": ["export", "no-such-run"],
    "attach unknown run": ["attach", "no-such-run"],
    "stop unknown run": ["stop", "no-such-run"],
    "demo model bad size": ["demo-model", "build", "--size", "huge"],
    "quickstart bad method": ["quickstart", "--method", "bogus"],
    "quickstart missing data": ["quickstart", "--size", "tiny", "--data", "missing.jsonl"],
    "unknown command": ["frobnicate"],
    "unknown flag": ["runs", "--frob"],
}


@pytest.mark.parametrize("argv", CASES.values(), ids=CASES.keys())
def test_bad_input_gives_one_clear_line(argv):
    proc = run_cli(*argv)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("danlu: error:")
    assert " — " in lines[0], "the message must say how to fix it"


@pytest.mark.parametrize("body,words", [
    ("model: ./nope\ntrain_file: {data}\n", "model not found"),
    ("model: demo:tiny\ntrain_file: {data}\nmethod: dora\n", "unknown method"),
    ("model: demo:tiny\ntrain_file: {data}\nlr: fast\n", "lr must be a number"),
    ("model: demo:tiny\ntrain_file: missing.jsonl\n", "train_file not found"),
    ("model: demo:tiny\ntrain_file: {data}\nmicro_batch: 0\n", "micro_batch"),
    ("model: demo:tiny\ntrain_file: {data}\nbatch: 8\n", "unknown setting"),
    ("- just\n- a list\n", "not a mapping"),
])
def test_bad_training_config_is_refused_before_a_run_starts(tmp_path, body, words):
    from conftest import ROOT

    config = tmp_path / "config.yaml"
    config.write_text(body.format(data=ROOT / "sample_data" / "lab_consultant.messages.jsonl"))
    runs_dir = tmp_path / "runs"
    proc = run_cli("train", config, env={"DANLU_RUNS": str(runs_dir)})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and " — " in lines[0], proc.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir()), "no run directory for a refused config"
