"""Hardening: nothing lost, nothing half-written, every bad input refused before work starts (issue 14).

Each numbered test is the regression test of one defect found by a careful user who makes mistakes; the
fuzz tests at the end go over the config schema and over damaged run directories."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli, run_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SAMPLE = ROOT / "sample_data" / "lab_consultant.messages.jsonl"
DIRTY = ROOT / "sample_data" / "lab_consultant.dirty.jsonl"


def cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in this process (fast): exit code, stdout, stderr."""
    from danlu.engine.cli import main

    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("danlu: error:")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    return lines[0]


def config_file(tmp_path: Path, name: str = "cfg", **over) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    train, evals = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    if not train.exists():
        train.write_text("\n".join(lines[:40]) + "\n", encoding="utf-8")
        evals.write_text("\n".join(lines[-8:]) + "\n", encoding="utf-8")
    cfg = dict(model="demo:tiny", train_file=str(train), eval_file=str(evals), method="lora", max_seq_len=256,
               micro_batch=2, grad_accum=1, max_steps=3, lr=3e-3, lora_dropout=0.0, save_steps=1, pack_len=512)
    cfg.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("DANLU_RUNS", str(root))
    return root


def run_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model):
    """A finished 3-step LoRA run on demo:tiny (a checkpoint at every step), copied by the tests that damage it."""
    tmp = tmp_path_factory.mktemp("trained")
    root = tmp / "runs"
    out = run_json("train", config_file(tmp), "--run-name", "base", env={"DANLU_RUNS": str(root)})
    assert out["state"] == "done" and out["steps"] == 3
    return Path(out["run_dir"])


def copy_run(trained: Path, root: Path, name: str) -> Path:
    dest = root / f"20260101-000000-{name}"
    shutil.copytree(trained, dest)
    return dest


# -- 1. a command never overwrites its own input ------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["clean", "convert", "split"])
def test_1_data_commands_refuse_to_overwrite_their_input(tmp_path, capsys, cmd):
    src = tmp_path / ("train.jsonl" if cmd == "split" else "data.jsonl")
    shutil.copy(DIRTY, src)
    before = src.read_bytes()
    args = {"clean": ["clean", src, "-o", src], "convert": ["convert", src, "--to", "messages", "-o", src],
            "split": ["split", src, "--out-dir", tmp_path]}[cmd]
    rc, _, err = cli(capsys, "data", *args)
    assert rc == 2 and "would overwrite the input" in one_error(err)
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name], "nothing else written"


# -- 2. resume --max-steps is the total ------------------------------------------------------------------------------
def test_2_resume_max_steps_is_the_total_and_extending_trains_with_a_live_learning_rate(trained, runs_root):
    from safetensors.torch import load_file

    run = copy_run(trained, runs_root, "extend")
    env = {"DANLU_RUNS": str(runs_root)}
    for bad, says in (("3", "already trained 3 steps"), ("2", "already trained 3 steps"), ("0", "total number"),
                      ("-4", "total number")):
        proc = run_cli("resume", run.name, "--max-steps", bad, env=env)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = run_cli("resume", run.name, "--epochs", "-1", env=env)
    assert proc.returncode == 2 and "total number of epochs" in proc.stderr
    assert json.loads((run / "status.json").read_text())["state"] == "done", "refusals change nothing"
    before = load_file(str(run / "final" / "adapter_model.safetensors"))
    out = run_json("resume", run.name, "--max-steps", "5", env=env)
    assert out["state"] == "done" and out["steps"] == 5
    steps = {e["step"]: e for e in map(json.loads, (run / "events.jsonl").read_text().splitlines())
             if e["type"] == "step"}
    assert sorted(steps) == [1, 2, 3, 4, 5]
    after = load_file(str(run / "final" / "adapter_model.safetensors"))
    assert any((before[k] - after[k]).abs().max() > 0 for k in before), "the extra steps changed the weights"
    summary = run_json("runs", env=env)
    assert [(r["step"], r["total"]) for r in summary if r["id"] == run.name] == [(5, 5)]


# -- 3. a damaged status.json never restarts a finished run ---------------------------------------------------------
@pytest.mark.parametrize("damage", [b"{not json", b"", b"[1, 2]", b"\x00\xff\xfe"])
def test_3_a_damaged_status_does_not_restart_a_finished_run(trained, runs_root, capsys, damage):
    run = copy_run(trained, runs_root, "st")
    (run / "status.json").write_bytes(damage)
    events_before = (run / "events.jsonl").read_bytes()
    rc, _, err = cli(capsys, "resume", run.name)
    assert rc == 2 and "is finished" in one_error(err)
    assert (run / "events.jsonl").read_bytes() == events_before


# -- 4. every config field is checked for type and range --------------------------------------------------------
@pytest.mark.parametrize("over, says", [
    ({"packing": "yes please"}, "packing must be true or false"),
    ({"epochs": 0, "max_steps": -1}, "epochs must be more than 0"),
    ({"warmup_ratio": 5}, "warmup_ratio must be a fraction"),
    ({"max_steps": -5}, "max_steps must be -1"),
    ({"max_seq_len": 1000000000}, "max_seq_len must be at most"),
    ({"max_seq_len": 4096}, "longer than the model's context (2048"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"micro_batch": 2.5}, "micro_batch must be a whole number"),
    ({"lora_dropout": 1.5}, "lora_dropout must be a fraction"),
    ({"early_stopping_patience": 2}, "early_stopping_patience needs evaluations"),
])
def test_4_bad_values_are_refused_before_a_run_directory_exists(tmp_path, runs_root, capsys, over, says):
    rc, _, err = cli(capsys, "train", config_file(tmp_path, **over))
    assert rc == 2 and says in one_error(err)
    assert run_dirs(runs_root) == []


@pytest.mark.parametrize("field, inside, outside", [
    ("replay", 0.5, 0.51),          # "a share from 0 to 0.5": 0.5 itself is a share it names
    ("warmup_ratio", 0.99, 1.0),    # "a fraction from 0 to below 1"
    ("lora_dropout", 0.0, 1.0),
])
def test_4_the_range_an_error_states_is_the_range_accepted(field, inside, outside):
    """A refusal's message names the range; a value at the end it names is accepted, one past it refused with it."""
    from danlu.engine.core.config import TrainConfig
    from danlu.engine.core.errors import DanluError

    TrainConfig(train_file="x", **{field: inside}).validate()
    with pytest.raises(DanluError) as refused:
        TrainConfig(train_file="x", **{field: outside}).validate()
    said = str(refused.value)
    assert f"{field} must be" in said and f"got {outside:g}" in said
    stated = said.split(" must be ", 1)[1]
    if "below" not in stated:  # a closed range: its stated upper end is accepted
        high = float(stated.split(" to ", 1)[1].split()[0])
        TrainConfig(train_file="x", **{field: high}).validate()


def test_4_quoted_booleans_and_numbers_mean_what_they_say():
    from danlu.engine.core.config import TrainConfig

    cfg = TrainConfig.from_dict({"packing": "false", "grad_checkpointing": "yes", "micro_batch": "8",
                                 "lr": "1e-4", "train_file": "x"}).validate()
    assert (cfg.packing, cfg.grad_checkpointing, cfg.micro_batch, cfg.lr) == (False, True, 8, 1e-4)
    assert TrainConfig.from_dict(yaml.safe_load(cfg.to_yaml())).packing is False  # what is saved is a real bool


# -- 5. -o DIR/ writes into the folder ---------------------------------------------------------------------------
def test_5_an_output_ending_in_a_slash_is_a_folder(tmp_path, capsys):
    rc, out, err = cli(capsys, "data", "convert", SAMPLE, "--to", "sharegpt", "-o", f"{tmp_path / 'newdir'}/", "--json")
    assert rc == 0, err
    written = Path(json.loads(out)["output"])
    assert written.parent == tmp_path / "newdir" and written.is_file() and written.suffix == ".jsonl"
    assert not (tmp_path / "newdir").is_file()


# -- 6 and 8. a full disk: clear message, nothing complete-looking, the previous good state intact -----------------
@pytest.fixture
def small_disk(tmp_path):
    def mount(size: str) -> Path:
        mnt = tmp_path / f"disk-{size}"
        mnt.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
        if proc.returncode:
            pytest.skip(f"mounting a small tmpfs is not permitted here: {proc.stderr.decode().strip()}")
        mounted.append(mnt)
        return mnt

    mounted: list[Path] = []
    yield mount
    for mnt in mounted:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_8_convert_and_split_on_a_full_disk(small_disk, capsys):
    disk = small_disk("96k")  # the converted file (~270 kB) cannot fit
    rc, _, err = cli(capsys, "data", "convert", DIRTY, "--to", "messages", "-o", disk / "out.jsonl")
    assert rc == 2 and "no space left while writing" in one_error(err) and str(disk) in err
    assert list(disk.iterdir()) == []
    rc, _, err = cli(capsys, "data", "split", DIRTY, "--out-dir", disk / "split")
    assert rc == 2 and "no space left while writing" in one_error(err)
    assert list(disk.iterdir()) == [], "no empty --out-dir left behind"


def test_6_a_full_disk_during_training_leaves_the_earlier_checkpoint_and_records_the_failure(tmp_path, small_disk):
    disk = small_disk("7m")  # a full fine-tune of demo:tiny: the first checkpoint fits, the second does not
    env = {"DANLU_RUNS": str(disk / "runs")}
    proc = run_cli("train", config_file(tmp_path, method="full", max_steps=6, save_steps=2, lr=1e-3), "--run-name",
                   "full-disk", env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = one_error(proc.stderr)
    assert "no space left while writing" in line and "danlu resume" in line
    run = next((disk / "runs").iterdir())
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and "no space left" in status["error"]
    ckpts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-2"], f"only complete checkpoints, no partial ones: {ckpts}"
    from danlu.engine.train import runner as train

    assert train.valid_checkpoint(run / "checkpoints" / "checkpoint-2")
    assert not (run / "final").exists()


# -- 7. a damaged run never hides the healthy ones ---------------------------------------------------------------
def test_7_a_run_whose_status_is_a_list_is_listed_as_damaged_and_the_others_still_work(trained, runs_root, capsys):
    good = copy_run(trained, runs_root, "good")
    bad = copy_run(trained, runs_root, "bad")
    (bad / "status.json").write_text("[1, 2, 3]")
    rc, out, err = cli(capsys, "runs", "--json")
    assert rc == 0, err
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows[good.name]["state"] == "done" and rows[bad.name]["state"] == "damaged"
    assert "JSON list" in rows[bad.name]["damage"]
    rc, out, _ = cli(capsys, "runs")
    assert "damaged" in out and "(status.json holds a JSON list" in out
    rc, out, err = cli(capsys, "attach", good.name, "--no-follow", "--json")
    assert rc == 0 and any(json.loads(line)["type"] == "done" for line in out.splitlines())
    rc, _, err = cli(capsys, "resume", good.name)
    assert rc == 2 and "is finished" in one_error(err)


def test_attach_without_a_run_follows_the_one_training_now_else_the_latest(trained, runs_root, capsys):
    import os

    from danlu.engine.core import atomic

    older, newer = copy_run(trained, runs_root, "older"), copy_run(trained, runs_root, "newer")
    for run, created in ((older, 1000.0), (newer, 2000.0)):
        st = json.loads((run / "status.json").read_text())
        (run / "status.json").write_text(json.dumps(dict(st, created=created)))

    def attached() -> str:
        rc, out, err = cli(capsys, "attach", "--no-follow", "--json")
        assert rc == 0, err
        return err.splitlines()[0]

    assert newer.name in attached()  # nothing trains: the latest run
    st = json.loads((older / "status.json").read_text())
    (older / "status.json").write_text(json.dumps(dict(st, state="running", pid=os.getpid(),
                                                       pid_start=atomic.proc_start(os.getpid()))))
    assert older.name in attached()  # a run that trains now comes first, however old


# -- 9. binary junk in events.jsonl ----------------------------------------------------------------------------------
def test_9_binary_junk_in_the_event_log_is_tolerated(trained, runs_root, capsys):
    run = copy_run(trained, runs_root, "junk")
    with open(run / "events.jsonl", "ab") as fh:
        fh.write(b"\x00\xff\xfe garbage \x80\x81\n\xc3\x28{\"type\": 7}\n")
    rc, _, err = cli(capsys, "resume", run.name)
    assert rc == 2 and "is finished" in one_error(err)
    assert json.loads((run / "status.json").read_text())["state"] == "done", "a done run stays done"
    rc, out, err = cli(capsys, "attach", run.name, "--no-follow")
    assert rc == 0 and "done" in out
    from danlu.engine.runs import store as runs

    assert runs.RunDir(run).truncate_events_after(2) >= 2  # the junk and the later steps are dropped, no error
    assert all(isinstance(json.loads(line), dict) for line in (run / "events.jsonl").read_text().splitlines())


# -- 10. bad names and inputs fail before a run directory or a model load ----------------------------------------
@pytest.mark.parametrize("over, says", [
    ({"lr_scheduler": "cosin"}, "unknown lr_scheduler 'cosin'"),
    ({"optimizer": "adam"}, "unknown optimizer 'adam'"),
    ({"model": "no-such-owner/no-such-model-xyz"}, "not in the local Hugging Face cache"),
    ({"model": "/etc/passwd"}, "this is a file, not a model folder"),
    ({"model": "demo:huge"}, "unknown demo model"),
])
def test_10_bad_names_fail_up_front(tmp_path, runs_root, capsys, monkeypatch, over, says):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc, _, err = cli(capsys, "train", config_file(tmp_path, **over))
    assert rc == 2 and says in one_error(err)
    assert run_dirs(runs_root) == []


@pytest.mark.parametrize("content, says", [(b"", "train_file is empty"),
                                           (b"\x00\x01\x02\xff\xfe" * 200, ""),
                                           (b"hello\nworld\n", "")])
def test_10_empty_or_binary_train_files_fail_up_front(tmp_path, runs_root, capsys, content, says):
    cfg = config_file(tmp_path)
    (tmp_path / "train.jsonl").write_bytes(content)
    rc, _, err = cli(capsys, "train", cfg)
    assert rc == 2 and says in one_error(err)
    assert run_dirs(runs_root) == []


# -- 11. messages --------------------------------------------------------------------------------------------------
def test_11_messages(tmp_path, runs_root, capsys, trained):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    rc, _, err = cli(capsys, "train", empty)
    assert rc == 2 and "the config file is empty" in one_error(err) and "plan" in err
    # --json errors answer on stdout too
    rc, out, err = cli(capsys, "train", empty, "--json")
    assert rc == 2 and json.loads(out)["error"]["what"] == "the config file is empty"
    # the hint names an option that exists
    rc, _, err = cli(capsys, "train", tmp_path / "missing.yaml")
    assert rc == 2 and "danlu plan" in err and "--save" in err
    # an exact run name wins over a longer one that contains it
    a, b = copy_run(trained, runs_root, "secret"), copy_run(trained, runs_root, "secretd")
    from danlu.engine.runs import store as runs

    assert runs.resolve("secret").path == a and runs.resolve("secretd").path == b
    assert runs.resolve(a.name).path == a
    # a corrupted status.json shows as damaged, not pending
    (b / "status.json").write_text("{oops")
    assert runs.RunDir(b).summary().state == "damaged"


def test_11_a_unicode_run_name_is_kept(tmp_path, runs_root):
    from danlu.engine.runs import store as runs

    run = runs.create("微调-测试", runs_root)
    assert run.id.endswith("微调-测试")


def test_11_debug_output_does_not_tell_you_to_run_with_debug(tmp_path, tiny_model):
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_model, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # loads its config and tokenizer, not its weights
    cfg = config_file(tmp_path, model=str(broken), max_steps=1)
    plain = run_cli("train", cfg, "--run-name", "plain")
    assert plain.returncode == 2 and "rerun with --debug" in one_error(plain.stderr)
    debug = run_cli("--debug", "train", cfg, "--run-name", "dbg")
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert "rerun with --debug" not in debug.stderr and "printed above" in debug.stderr


# -- 12. permissions follow the umask --------------------------------------------------------------------------------
def test_12_files_for_the_user_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        rc, _, err = cli(capsys, "data", "split", SAMPLE, "--out-dir", tmp_path / "split")
        assert rc == 0, err
    finally:
        os.umask(old)
    for p in (tmp_path / "split").iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    assert stat.S_IMODE((tmp_path / "split").stat().st_mode) == 0o755


# -- beyond the list: fuzzing the config schema and damaged run directories ---------------------------------------
def _field_values():
    from danlu.engine.core.config import TrainConfig
    import dataclasses

    names = [f.name for f in dataclasses.fields(TrainConfig)]
    junk = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                     st.text(max_size=12), st.lists(st.integers(), max_size=3),
                     st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                     st.sampled_from(["true", "no", "1e-4", "-1", "0", " 12 ", "nan", "inf", "1_000"]))
    return st.dictionaries(st.sampled_from(names + ["unknown_key", "lr ", "Method"]), junk, min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_field_values())
def test_fuzz_config_schema_always_a_clear_error_or_a_valid_config(data):
    from danlu.engine.core.config import TrainConfig
    from danlu.engine.core.errors import DanluError

    data = dict(data)
    data.setdefault("train_file", "train.jsonl")
    try:
        cfg = TrainConfig.from_dict(data).validate()
    except DanluError as exc:
        assert exc.what and exc.fix, exc
        return
    again = TrainConfig.from_dict(yaml.safe_load(cfg.to_yaml())).validate()  # what validates round-trips
    assert again == cfg


DAMAGES = {
    "missing": None, "empty": b"", "truncated": "half", "binary": b"\x00\xff\xfe\x80binary\x00",
    "wrong type": b"[1, 2, 3]\n", "string": b"\"text\"\n",
}
FILES = ["status.json", "events.jsonl", "config.yaml", "final/adapter_config.json",
         "checkpoints/checkpoint-3/trainer_state.json"]


@pytest.mark.parametrize("name", FILES)
def test_fuzz_damaged_run_directories_never_break_a_command_or_a_healthy_run(trained, runs_root, capsys, name):
    good = copy_run(trained, runs_root, "healthy")
    for kind, damage in DAMAGES.items():
        run = copy_run(trained, runs_root, f"dmg-{name.replace('/', '_')}-{kind.replace(' ', '_')}")
        path = run / name
        if damage is None:
            path.unlink()
        elif damage == "half":
            path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
        else:
            path.write_bytes(damage)
        for args in (["runs"], ["runs", "--json"], ["attach", run.name, "--no-follow"], ["resume", run.name],
                     ["export", run.name, "--to", "adapter", "--out", run / "exp"], ["eval", run.name, "--loss-only"]):
            rc, out, err = cli(capsys, *args)
            assert rc in (0, 2), f"{name} {kind}: {args}: rc {rc}: {err[-800:]}"
            assert "Traceback" not in err and "internal error" not in err, f"{name} {kind}: {args}: {err[-800:]}"
            if rc == 2:
                one_error(err)
        rc, out, _ = cli(capsys, "runs", "--json")
        healthy = [r for r in json.loads(out) if r["id"] == good.name]
        assert healthy and healthy[0]["state"] == "done" and healthy[0]["damage"] is None
        shutil.rmtree(run)


def test_the_names_a_config_accepts_are_known_to_transformers():
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    from danlu.engine.core.config import OPTIMIZERS, SCHEDULERS

    assert set(SCHEDULERS) <= {s.value for s in SchedulerType}
    assert set(OPTIMIZERS) <= {o.value for o in OptimizerNames}


@pytest.mark.parametrize("args, says", [
    (["data", "clean", SAMPLE, "-o", "x.jsonl", "--max-chars", "-1"], "--max-chars: -1 is out of range"),
    (["chat", "demo:tiny", "--prompt", "hi", "--top-p", "0"], "--top-p: 0 is out of range"),
    (["plan", "--model", "demo:tiny", "--seq-len", "abc"], "--seq-len: 'abc' is not a whole number"),
    (["plan", "--model", "demo:tiny", "--gpu-mem", "-8"], "--gpu-mem: -8 is out of range"),
    (["resume", "latest"], "there are no runs yet"),
])
def test_bad_numbers_on_the_command_line_are_refused_by_range(tmp_path, runs_root, capsys, args, says):
    rc, _, err = cli(capsys, *args)
    assert rc == 2 and says in one_error(err)


@pytest.mark.parametrize("columns", [80, 160])
def test_runs_fits_the_terminal_and_keeps_each_run_id_whole(trained, runs_root, capsys, monkeypatch, columns):
    long = copy_run(trained, runs_root, "quickstart-lora-demo-smollm2-with-a-long-name")
    monkeypatch.setenv("COLUMNS", str(columns))
    rc, out, _ = cli(capsys, "runs")
    assert rc == 0 and all(len(line) <= columns for line in out.splitlines()), out
    assert long.name in out.split(), "the id is what every other command takes: never cut"
    assert ("\n  done" in out) == (columns == 80), out  # narrow: each id on its own line, its figures below
