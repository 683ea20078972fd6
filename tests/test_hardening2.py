"""Hardening II (issue 19): no signal to a stranger's process, no write onto any input, one trainer per run.

Each numbered test is the regression test of one defect an adversarial user found; the table tests at the end go
over every command that writes (the output guard, engine.core.guard) and every command that consults a run's lock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import ROOT, run_cli
from test_hardening import DIRTY, SAMPLE, cli, config_file, copy_run, one_error, runs_root, trained  # noqa: F401


def small_data(tmp_path: Path, name: str = "small.jsonl", n: int = 30) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(SAMPLE.read_text(encoding="utf-8").splitlines()[:n]) + "\n", encoding="utf-8")
    return path


def tree(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes: to show that nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_signals(monkeypatch):
    """Record every os.kill with a real signal (0 only asks whether a process exists) instead of sending it."""
    sent = []
    real = os.kill

    def kill(pid, sig):
        if sig == 0:
            return real(pid, 0)
        sent.append((pid, sig))

    monkeypatch.setattr(os, "kill", kill)
    return sent


# -- 1. a pid is signalled only when it provably is the run's trainer -------------------------------------------
@pytest.mark.parametrize("pid", [-1, 0, 1, "self", "dead"])
def test_1_stop_never_signals_a_pid_that_status_json_merely_names(trained, runs_root, capsys, no_signals, pid):
    run = copy_run(trained, runs_root, "strange-pid")
    if pid == "self":
        pid = os.getpid()  # alive, but it does not hold the run's lock and did not record its start time
        extra = {"pid_start": "1"}
    elif pid == "dead":
        proc = subprocess.Popen(["true"])
        proc.wait()
        pid, extra = proc.pid, {}
    else:
        extra = {}
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": pid, **extra}))
    for args in (["stop", run.name], ["stop", run.name, "--checkpoint"]):
        rc, _, err = cli(capsys, *args)
        assert rc == 2 and "is not running (state: crashed)" in one_error(err)
    assert no_signals == []
    rc, out, _ = cli(capsys, "runs", "--json")
    assert {r["id"]: r["state"] for r in json.loads(out)}[run.name] == "crashed"


def test_1_a_reused_pid_is_not_the_trainer(trained, runs_root, capsys):
    run = copy_run(trained, runs_root, "reused-pid")
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (run / "status.json").write_text(json.dumps({"state": "running", "pid": stranger.pid, "pid_start": "12345"}))
        rc, _, err = cli(capsys, "stop", run.name)
        assert rc == 2 and "crashed" in err
        assert stranger.poll() is None, "the unrelated process was signalled"
        rc, _, err = cli(capsys, "resume", run.name, "--max-steps", "4")  # not blocked by the stranger
        assert rc == 0, err
        assert json.loads((run / "status.json").read_text())["state"] == "done"
    finally:
        stranger.kill()


# -- 2. export --name is one file name ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../victim/target", "/tmp/absolute", "evil\nSYSTEM pwned", "..", "a/b"])
def test_2_export_name_is_a_file_name_never_a_path(trained, runs_root, tmp_path, capsys, name):
    run = copy_run(trained, runs_root, "named")
    rc, _, err = cli(capsys, "export", run.name, "--to", "gguf", "--name", name, "--out", tmp_path / "out")
    assert rc == 2 and "cannot be a file name" in one_error(err)
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "victim").exists()


# -- 3. a torchrun run name is cleaned like any other ---------------------------------------------------------------
def test_3_a_run_name_under_torchrun_stays_inside_the_runs_folder(tmp_path, runs_root, capsys, monkeypatch, tiny_model):
    from danlu.engine.cli import train as cli_module

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "config.yaml").write_text("mine: true\n")
    seen = []
    monkeypatch.setattr(cli_module, "_train_in", lambda cfg, run, args, **kw: seen.append(run.path))
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    rc, _, err = cli(capsys, "train", config_file(tmp_path), "--run-name", f"../../{victim.relative_to(tmp_path)}")
    assert rc == 0, err
    assert (victim / "config.yaml").read_text() == "mine: true\n"
    assert seen and runs_root.resolve() in seen[0].resolve().parents


# -- 4. export never replaces a run or danlu's own folders ----------------------------------------------------------
@pytest.mark.parametrize("where", ["runs_root", "run", "home", "run_checkpoints", "other_run"])
def test_4_export_out_onto_danlu_folders_or_the_run_is_refused(trained, runs_root, capsys, danlu_home, where):
    run = copy_run(trained, runs_root, "exp")
    other = copy_run(trained, runs_root, "other")
    out = {"runs_root": runs_root, "run": run, "home": danlu_home, "run_checkpoints": run / "checkpoints",
           "other_run": other}[where]
    before = tree(runs_root)
    rc, _, err = cli(capsys, "export", run.name, "--out", out, "--overwrite")
    assert rc == 2, err
    assert tree(runs_root) == before


# -- 5. plan --save never writes onto the data ----------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--data", "--eval-data"])
def test_5_plan_save_onto_its_own_data_is_refused(tmp_path, capsys, flag, tiny_model):
    data = small_data(tmp_path, "own.jsonl")
    before = data.read_bytes()
    args = ["plan", "--model", "demo:tiny", "--save", data] + (
        ["--data", data] if flag == "--data" else ["--data", small_data(tmp_path, "t.jsonl"), "--eval-data", data])
    rc, _, err = cli(capsys, *args)
    assert rc == 2 and "would overwrite" in one_error(err)
    assert data.read_bytes() == before


# -- 6. model import --out never contains its source ----------------------------------------------------------------
def test_6_model_import_into_the_folder_of_its_source_is_refused(tmp_path, capsys, smollm2_gguf):
    gg = tmp_path / "gg"
    gg.mkdir()
    shutil.copy(smollm2_gguf, gg / "model.gguf")
    (gg / "notes.txt").write_text("keep me")
    rc, _, err = cli(capsys, "model", "import", gg / "model.gguf", "--out", gg, "--overwrite")
    assert rc == 2 and "holds the GGUF file" in one_error(err)
    assert sorted(p.name for p in gg.iterdir()) == ["model.gguf", "notes.txt"]


# -- 7. the --mix file is an input too -------------------------------------------------------------------------------
def test_7_data_commands_never_write_onto_their_mix_file(tmp_path, capsys):
    small, mix = small_data(tmp_path), small_data(tmp_path, "mix.jsonl", 10)
    before = mix.read_bytes()
    rc, _, err = cli(capsys, "data", "clean", small, "--mix", mix, "-o", mix)
    assert rc == 2 and "would overwrite the input file mix.jsonl" in one_error(err)
    out = tmp_path / "OUT"
    out.mkdir()
    shutil.copy(mix, out / "train.jsonl")
    rc, _, err = cli(capsys, "data", "split", small, "--mix", out / "train.jsonl", "--out-dir", out)
    assert rc == 2 and "would overwrite" in one_error(err)
    assert mix.read_bytes() == before and (out / "train.jsonl").read_bytes() == before


# -- 8. one export per destination; nothing appears-and-vanishes -----------------------------------------------------
def test_8_a_second_export_to_the_same_destination_is_refused(trained, runs_root, tmp_path, capsys):
    from danlu.engine.core import atomic

    run = copy_run(trained, runs_root, "twice")
    out = tmp_path / "out"
    with atomic.reserved(out, "export"):
        rc, _, err = cli(capsys, "export", run.name, "--to", "adapter", "--out", out)
    assert rc == 2 and "another export is writing" in one_error(err)
    assert not out.exists()
    # a lock left by a killed export (its owner gone) does not block the next one
    (tmp_path / ".out.export.lock").write_text(json.dumps({"pid": 999_999_999, "start": "1"}))
    rc, _, err = cli(capsys, "export", run.name, "--to", "adapter", "--out", out)
    assert rc == 0, err
    assert (out / "adapter").is_dir() and not (tmp_path / ".out.export.lock").exists()


def test_8_a_file_put_into_the_destination_meanwhile_is_kept(tmp_path):
    from danlu.engine.core import atomic
    from danlu.engine.core.errors import DanluError

    out = tmp_path / "out"
    with pytest.raises(DanluError, match="appeared at the destination"):
        with atomic.staged_dir(out) as tmp:
            (tmp / "model.bin").write_text("new")
            out.mkdir()
            (out / "users-file.txt").write_text("mine")
    assert (out / "users-file.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "the staging folder is gone"


# -- 9. a second stop does not lose the checkpoint; a stale request is not the next run's -----------------------
def test_9_a_second_stop_is_ignored_a_third_forces_and_stale_requests_are_dropped(tmp_path, capsys):
    from danlu.engine.runs import store as runs
    from danlu.engine.train import runner as train

    run = runs.create("ctl", tmp_path)
    (run.path / "control.json").write_text(json.dumps({"action": "stop", "ts": 1.0}))  # from an earlier process
    ctl = train.Control(run)
    ctl.install()
    try:
        assert not (run.path / "control.json").exists()
        ctl.poll()
        assert not ctl.stop
        os.kill(os.getpid(), signal.SIGTERM)
        assert ctl.stop
        os.kill(os.getpid(), signal.SIGTERM)  # the second: a message, no KeyboardInterrupt
        assert "already stopping" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
        # a request made after this process started is acted on, and consumed
        (run.path / "control.json").write_text(json.dumps({"action": "checkpoint", "ts": time.time()}))
        ctl.poll()
        assert ctl.checkpoint and not (run.path / "control.json").exists()
    finally:
        ctl.restore()


# -- 10. the import cache is keyed by content -------------------------------------------------------------------------
def test_10_two_gguf_files_with_one_name_and_size_get_two_cache_folders(tmp_path, danlu_home):
    from danlu.engine.models import gguf_import

    a, b = tmp_path / "a" / "model.gguf", tmp_path / "b" / "model.gguf"
    for path, fill in ((a, b"A"), (b, b"B")):
        path.parent.mkdir()
        path.write_bytes(b"GGUF" + fill * 4096)
    out_a = gguf_import.default_out(SimpleNamespace(path=str(a)), "bf16")
    out_b = gguf_import.default_out(SimpleNamespace(path=str(b)), "bf16")
    assert out_a != out_b
    marker = {"version": gguf_import.IMPORT_VERSION, "source": str(a), "source_size": a.stat().st_size,
              "source_sha256": gguf_import.source_hash(a), "dtype": "bf16"}
    out_a.mkdir(parents=True)
    (out_a / gguf_import.MARKER).write_text(json.dumps(marker))
    info_b = SimpleNamespace(path=str(b), size_bytes=b.stat().st_size)
    assert gguf_import.is_imported(out_a, SimpleNamespace(path=str(a), size_bytes=a.stat().st_size), "bf16")
    assert not gguf_import.is_imported(out_a, info_b, "bf16")
    b.write_bytes(b"GGUF" + b"C" * 4096)  # edited in place, same size: hashed again
    assert gguf_import.source_hash(b) != gguf_import.source_hash(a)


# -- 11. one trainer per run ------------------------------------------------------------------------------------------
def test_11_a_run_whose_lock_is_held_cannot_be_trained_by_a_second_process(trained, runs_root, capsys):
    from danlu.engine.runs import store as runs
    from danlu.engine.train import runner as train
    from danlu.engine.core.config import TrainConfig

    run = runs.RunDir(copy_run(trained, runs_root, "busy"))
    fd = run.take_lock()  # another trainer (this process stands in for it)
    try:
        assert run.is_training() and run.effective_state() == "done"  # the recorded state stays until it writes
        (run.path / "status.json").write_text(json.dumps({"state": "stopped"}))
        rc, _, err = cli(capsys, "resume", run.id, "--max-steps", "5")
        assert rc == 2 and "already being trained" in one_error(err)
        before = run.events_path.read_bytes()
        with pytest.raises(runs.RunBusy):
            train.run(TrainConfig.load(run.config_path), run, resume=True)
        assert run.events_path.read_bytes() == before and json.loads(run.status_path.read_text())["state"] == "stopped"
    finally:
        os.close(fd)
    assert not run.is_training()


def test_11_two_detached_resumes_started_together_train_once(trained, runs_root):
    run = copy_run(trained, runs_root, "race")
    env = dict(os.environ, PYTHONPATH=str(ROOT), DANLU_RUNS=str(runs_root))
    argv = [sys.executable, "-m", "danlu.engine.cli", "resume", run.name, "--max-steps", "6", "--detach", "--json"]
    procs = [subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    codes = [p.wait(timeout=120) for p in procs]
    assert 0 in codes
    deadline = time.time() + 300
    while time.time() < deadline:
        status = json.loads((run / "status.json").read_text())
        if status.get("state") in ("done", "failed", "stopped") and "trainer.lock" not in _held(run):
            break
        time.sleep(0.5)
    time.sleep(1.0)  # the loser, if it started at all, has given up by now
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "done" and "error" not in status, status
    rows = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows if r["type"] == "step"]
    assert steps == sorted(set(steps)) and steps[-1] == 6, steps


def _held(run: Path) -> str:
    from danlu.engine.runs import store as runs

    return "trainer.lock" if runs.RunDir(run).lock_holder() is not None else ""


# -- 12. resume trains on the data the run started with -----------------------------------------------------------
def test_12_resume_refuses_other_data_unless_allowed(trained, runs_root, tmp_path, capsys):
    run = copy_run(trained, runs_root, "otherdata")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["train_file"] = str(small_data(tmp_path, "other.jsonl", 12))
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    rc, _, err = cli(capsys, "resume", run.name, "--max-steps", "4")
    assert rc == 2 and "training data changed" in one_error(err) and "--allow-data-change" in err
    edited = copy_run(trained, runs_root, "editeddata")  # the run's own copy of its data, edited in place
    cfg = yaml.safe_load((edited / "config.yaml").read_text())
    cfg["train_file"] = str(edited / "data" / "train.jsonl")  # the copy's own data (same contents so far)
    (edited / "config.yaml").write_text(yaml.safe_dump(cfg))
    with open(edited / "data" / "train.jsonl", "a", encoding="utf-8") as fh:
        fh.write(SAMPLE.read_text(encoding="utf-8").splitlines()[-1] + "\n")
    rc, _, err = cli(capsys, "resume", edited.name, "--max-steps", "4")
    assert rc == 2 and "training data changed" in err
    proc = run_cli("resume", run.name, "--max-steps", "4", "--allow-data-change", "--json",
                   env={"DANLU_RUNS": str(runs_root)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["steps"] == 4


# -- 13. a YAML alias bomb is not expanded into the error ---------------------------------------------------------------
def test_13_a_yaml_alias_bomb_is_a_short_error(tmp_path):
    levels = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"  {c}: &{c} [{','.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    path = tmp_path / "bomb.yaml"
    path.write_text("model: demo:tiny\nlr:\n" + "\n".join(levels) + "\n")
    proc = run_cli("train", path, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr) < 1000, proc.stderr[:1000]
    assert "lr must be a number" in proc.stderr and "Traceback" not in proc.stderr
    many = tmp_path / "aliases.yaml"
    many.write_text("model: demo:tiny\nx: &x 1\nlr: [" + ",".join(["*x"] * 200) + "]\n")
    proc = run_cli("train", many, timeout=60)
    assert proc.returncode == 2 and "more than 100 aliases" in proc.stderr


# -- 14. one huge line is a problem with its line number, not a 4 GB read ---------------------------------------
def test_14_a_line_longer_than_a_record_may_be_is_reported_and_skipped(tmp_path):
    rows = SAMPLE.read_text(encoding="utf-8").splitlines()[:3]
    path = tmp_path / "huge.jsonl"
    huge = json.dumps({"messages": [{"role": "user", "content": "x" * (40 << 20)}, {"role": "assistant",
                                                                                   "content": "y"}]})
    path.write_text(rows[0] + "\n" + huge + "\n" + rows[1] + "\n", encoding="utf-8")
    proc = run_cli("data", "inspect", path, "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["kept"] == 2
    assert [(p["line"], p["kind"]) for p in report["problems"] if p["kind"] == "record_too_long"] == [
        (2, "record_too_long")]


def test_14_the_wizard_shows_the_start_of_a_huge_line_and_the_lines_after_it(tmp_path):
    from danlu.tui import dataview

    rows = SAMPLE.read_text(encoding="utf-8").splitlines()[:3]
    path = tmp_path / "huge.jsonl"
    path.write_text(rows[0] + "\n" + '{"messages": "' + "x" * (20 << 20) + '"}\n' + rows[1] + "\n", encoding="utf-8")
    shown = dataview.source_excerpt(str(path), 2, max_chars=240)
    assert shown.startswith('{"messages": "xxx') and len(shown) == 240
    assert dataview.source_excerpt(str(path), 3, max_chars=10_000) == rows[1]


# -- 15 and 28. FIFOs and devices are refused by name, never read ----------------------------------------------------
def test_15_runs_and_attach_do_not_hang_on_a_fifo(tmp_path, runs_root, capsys):
    fifo_run = runs_root / "20260101-000000-fifo"
    fifo_run.mkdir(parents=True)
    os.mkfifo(fifo_run / "status.json")
    os.mkfifo(fifo_run / "events.jsonl")
    proc = run_cli("runs", env={"DANLU_RUNS": str(runs_root)}, timeout=20)
    assert proc.returncode == 0 and "status.json is not a regular file" in proc.stdout
    proc = run_cli("attach", fifo_run.name, "--no-follow", env={"DANLU_RUNS": str(runs_root)}, timeout=20)
    assert proc.returncode == 0


@pytest.mark.parametrize("kind", ["fifo", "urandom", "link_to_zero", "process_substitution"])
def test_28_devices_and_fifos_are_not_datasets(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "data.jsonl"
        os.mkfifo(path)
    elif kind == "urandom":
        path = Path("/dev/urandom")
    elif kind == "link_to_zero":
        path = tmp_path / "zero.jsonl"
        path.symlink_to("/dev/zero")
    if kind == "process_substitution":
        proc = subprocess.run(["bash", "-c", f"PYTHONPATH={ROOT} {sys.executable} -m danlu.engine.cli data inspect "
                               f"<(cat {SAMPLE})"], capture_output=True, text=True, timeout=30)
    else:
        proc = run_cli("data", "inspect", path, timeout=30)
    assert proc.returncode == 2 and "not a regular file" in proc.stderr, proc.stderr
    if kind == "link_to_zero":
        cfg = tmp_path / "cfg.yaml"
        cfg.write_text(f"model: demo:tiny\ntrain_file: {path}\n")
        proc = run_cli("train", cfg, timeout=30)
        assert proc.returncode == 2 and "train_file is a device, not a regular file" in proc.stderr


# -- 16. temporaries of a killed process are swept --------------------------------------------------------------------
def test_16_temporaries_of_a_dead_process_are_swept_and_live_ones_kept(tmp_path, capsys):
    from danlu.engine.core import atomic

    dead_file = tmp_path / ".out.jsonl.danlu-999999999-1.abc123.tmp"
    dead_dir = tmp_path / ".export.danlu-999999999-1.xyz.partial"
    live = tmp_path / f".out.jsonl.danlu-{os.getpid()}-{atomic.proc_start(os.getpid())}.live.tmp"
    dead_file.write_text("half")
    dead_dir.mkdir()
    (dead_dir / "model.safetensors").write_bytes(b"0" * 1000)
    live.write_text("being written")
    rc, _, err = cli(capsys, "data", "convert", DIRTY, "--to", "messages", "-o", tmp_path / "out.jsonl")
    assert rc == 0, err
    assert not dead_file.exists() and not dead_dir.exists() and live.exists()
    # danlu's own temporaries carry their owner: a kill -9 leaves nothing that cannot be swept
    assert atomic.temp_prefix(tmp_path / "x").startswith(f".x.danlu-{os.getpid()}-")


# -- 17 and 22. --json is one document on every path; a closed pipe keeps the status ---------------------------------
def test_17_a_report_that_ends_in_an_error_is_one_json_document(tmp_path):
    bad = tmp_path / "manybad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n' * 3)  # records, none usable
    proc = run_cli("data", "inspect", bad, "--json")
    doc = json.loads(proc.stdout)  # one document, or this raises
    assert proc.returncode == 2 and doc["records"] == 3 and doc["error"]["exit_code"] == 2


def test_22_a_closed_pipe_keeps_the_commands_status(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"foo": 1}\n' * 5000)
    proc = subprocess.run(["bash", "-o", "pipefail", "-c",
                           f"PYTHONPATH={ROOT} {sys.executable} -m danlu.engine.cli data inspect {bad} --json | head -1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# -- 18. chat /save: never loses the session, keeps the file's permissions ----------------------------------------
def _session():
    from danlu.engine.infer.chat import ChatSession

    s = ChatSession.__new__(ChatSession)
    s.system, s.target = None, None
    s.turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello — 你好"}]
    return s


def test_18_chat_save_onto_a_binary_file_is_an_error_and_a_private_file_stays_private(tmp_path):
    from danlu.engine.core.errors import DanluError

    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(DanluError, match="not UTF-8"):
        _session().save(binary)
    assert binary.read_bytes() == b"\xff\xfe\x00junk"
    private = tmp_path / "fixes.jsonl"
    private.write_text('{"messages": []}\n')
    private.chmod(0o600)
    _session().save(private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and len(private.read_text().splitlines()) == 2


def test_18_convert_onto_a_private_file_keeps_it_private(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o600)
    rc, _, err = cli(capsys, "data", "convert", DIRTY, "--to", "messages", "-o", out)
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


# -- 19. unwritable outputs are a clear error before any work -----------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["data", "convert", DIRTY, "--to", "messages", "-o", "/proc/x.jsonl"],
    ["data", "split", DIRTY, "--out-dir", "/proc/xx"],
    ["plan", "--model", "demo:tiny", "--save", "/proc/cfg.yaml"],
    ["demo-model", "build", "--size", "tiny", "--out", "/proc/dm"],
])
def test_19_unwritable_outputs_are_a_clear_error(capsys, args, tiny_model):
    rc, _, err = cli(capsys, *args)
    assert rc == 2 and "cannot write" in one_error(err)


# -- 20, 27, 29. config values: names are words, seeds are numpy's, targets exist, keys are given once ---------------
@pytest.mark.parametrize("text, says", [
    ("model: demo:tiny\n1: x\n", "a setting's name must be a word"),
    ("model: demo:tiny\nlr: 1e-4\nlr: 2e-4\n", "given twice (lines 2 and 3)"),
    ("model: demo:tiny\nseed: 4294967296\n", "seed must be a whole number from 0 to 4294967295"),
])
def test_20_27_29_config_keys_and_ranges(tmp_path, runs_root, capsys, text, says):
    path = tmp_path / "cfg.yaml"
    path.write_text(text + f"train_file: {SAMPLE}\n")
    rc, _, err = cli(capsys, "train", path)
    assert rc == 2 and says in one_error(err)
    assert not runs_root.exists() or not any(runs_root.iterdir())


def test_27_lora_targets_that_name_no_module_are_refused_before_the_run(tmp_path, runs_root, capsys, tiny_model):
    rc, _, err = cli(capsys, "train", config_file(tmp_path, lora_targets="q_proj,nonsense_proj"))
    assert rc == 2 and "nonsense_proj" in one_error(err) and "q_proj" in err
    assert not runs_root.exists() or not any(runs_root.iterdir())


def test_29_train_without_arguments_names_what_is_missing(capsys):
    rc, _, err = cli(capsys, "train")
    assert rc == 2 and "required: config" in err and "KEY=VALUE" not in one_error(err)


# -- 21. output encodes whatever the stream accepts -----------------------------------------------------------------------
def test_21_a_latin1_terminal_gets_replacement_characters_not_a_crash():
    proc = run_cli("data", "inspect", ROOT / "sample_data" / "lab_consultant.sharegpt.jsonl",
                   env={"PYTHONIOENCODING": "latin-1"})
    assert proc.returncode == 0 and "UnicodeEncodeError" not in proc.stderr, proc.stderr[-1000:]


# -- 23. attach during a resume shows what the resume wrote --------------------------------------------------------
def test_23_follow_keeps_the_resumes_status_and_log_lines(tmp_path):
    from danlu.engine.core import events
    from danlu.engine.runs import store as runs

    run = runs.create("follow", tmp_path)
    run.set_status(state="running", pid=os.getpid())
    for step in range(1, 8):
        run.event(events.Step(step=step, total=10, loss=1.0, ts=float(step)))
    gen = run.follow(poll=0.01)
    first = [next(gen) for _ in range(7)]
    assert [e.step for e in first] == list(range(1, 8))
    # the resume: the file replaced by the prefix up to checkpoint 5, then its own lines, then steps 6..10
    kept = run.events_path.read_text().splitlines()[:5]
    new = tmp_path / "new.jsonl"
    new.write_text("\n".join(kept) + "\n")
    os.replace(new, run.events_path)
    run.event(events.Status(state="resumed", step=5, checkpoint="checkpoint-5", ts=20.0))
    run.event(events.log("loading", model="demo:tiny", method="lora"))
    for step in range(6, 11):
        run.event(events.Step(step=step, total=10, loss=0.5, ts=20.0 + step))
    run.set_status(state="done")
    rest = list(gen)
    assert [e.type for e in rest[:2]] == ["status", "log"]
    assert [e.step for e in rest if e.type == "step"] == [6, 7, 8, 9, 10]


# -- 24. a model folder is not read as a run because of a config.yaml beside it ---------------------------------------
def test_24_a_model_folder_beside_a_projects_config_yaml_is_a_model(tmp_path, tiny_model, capsys):
    from danlu.engine.infer import chat

    project = tmp_path / "project"
    shutil.copytree(tiny_model, project / "model")
    (project / "config.yaml").write_text("database: postgres\nmodel: demo:small\n")
    target = chat.locate(str(project / "model"))
    assert target.run is None and Path(target.base) == project / "model"


# -- 25. a run that is training is exported only from a checkpoint ----------------------------------------------------
def test_25_export_of_a_training_run_is_refused_without_a_checkpoint(trained, runs_root, capsys):
    from danlu.engine.export import pipeline as export
    from danlu.engine.runs import store as runs

    run = runs.RunDir(copy_run(trained, runs_root, "live"))
    fd = run.take_lock()
    try:
        rc, _, err = cli(capsys, "export", run.id, "--to", "adapter")
        assert rc == 2 and "still training" in one_error(err) and "--from-checkpoint 3" in err
        source = export.locate(run.id, checkpoint=2)
        assert source.adapter is not None and source.adapter.name == "checkpoint-2"
    finally:
        os.close(fd)


# -- 26. a system prompt with \"\"\" is refused before the GGUF work, with a way out --------------------------------
def test_26_a_system_prompt_a_modelfile_cannot_hold_is_refused_up_front(trained, runs_root, capsys, tmp_path):
    from danlu.engine.export import ollama
    from danlu.engine.core.errors import DanluError

    run = copy_run(trained, runs_root, "sys")
    rows = [json.loads(line) for line in (run / "data" / "train.jsonl").read_text().splitlines()]
    for row in rows:
        row["messages"] = [{"role": "system", "content": 'Answer like """this"""'}] + [
            m for m in row["messages"] if m["role"] != "system"]
    (run / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, _, err = cli(capsys, "export", run.name, "--to", "ollama", "--out", tmp_path / "o")
    assert rc == 2 and '"""' in one_error(err) and "--system" in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(DanluError):
        ollama.modelfile("m.gguf", [], None, 'x """ y')
    assert 'SYSTEM """Be brief."""' in ollama.modelfile("m.gguf", [], None, "Be brief.")


# -- 29. SIGHUP in the foreground stops cleanly, like SIGTERM --------------------------------------------------------
def test_29_sighup_stops_a_foreground_run_with_a_checkpoint(tmp_path, runs_root, tiny_model):
    cfg = config_file(tmp_path, max_steps=400, save_steps=1000)
    env = dict(os.environ, PYTHONPATH=str(ROOT), DANLU_RUNS=str(runs_root))
    proc = subprocess.Popen([sys.executable, "-m", "danlu.engine.cli", "train", str(cfg), "--run-name", "hup"], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = next(iter(runs_root.glob("*-hup")), None)
    deadline = time.time() + 120
    while time.time() < deadline:
        run = next(iter(runs_root.glob("*-hup")), None)
        if run and (run / "events.jsonl").exists() and '"type": "step"' in (run / "events.jsonl").read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=120)
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped", status
    assert list((run / "checkpoints").glob("checkpoint-*")), "stopping saves a checkpoint"


# -- the output guard, as a table over every command that writes ------------------------------------------------------
def _guard_cases(tmp: Path, run: Path, runs_root: Path, home: Path, gguf: Path):
    data = small_data(tmp, "data.jsonl")
    return [
        ("data convert onto its input", ["data", "convert", data, "--to", "messages", "-o", data], "would overwrite"),
        ("data clean into a run", ["data", "clean", data, "-o", run / "data" / "x.jsonl"], "lies inside"),
        ("data split into the runs folder", ["data", "split", data, "--out-dir", runs_root], "danlu's runs folder"),
        ("plan --save onto its data", ["plan", "--model", "demo:tiny", "--data", data, "--save", data],
         "would overwrite"),
        ("plan --save into a run", ["plan", "--model", "demo:tiny", "--save", run / "config.yaml"], "lies inside"),
        ("demo-model build over danlu's home", ["demo-model", "build", "--size", "tiny", "--out", home, "--force"],
         "would replace"),
        ("demo-model build over the runs folder", ["demo-model", "build", "--size", "tiny", "--out", runs_root,
                                                   "--force"], "would replace"),
        ("export into another run", ["export", run.name, "--out", runs_root / "other-run" / "x"], "lies inside"),
        ("export over its run", ["export", run.name, "--out", run, "--overwrite"], "would overwrite the run"),
        ("export over its checkpoints", ["export", run.name, "--out", run / "checkpoints", "--overwrite"],
         "lies inside the run"),
        ("model import into a run", ["model", "import", gguf, "--out", run / "imported"], "lies inside the run"),
        ("model import over the models cache", ["model", "import", gguf, "--out", home / "models", "--overwrite"],
         "would replace danlu's models cache"),
    ]


def test_output_guard_table_over_every_writer(trained, runs_root, tmp_path, capsys, danlu_home, tiny_model,
                                              smollm2_gguf):
    run = copy_run(trained, runs_root, "guard")
    copy_run(trained, runs_root, "other-run").rename(runs_root / "other-run")
    before = tree(runs_root)
    for name, args, says in _guard_cases(tmp_path, run, runs_root, danlu_home, smollm2_gguf):
        rc, _, err = cli(capsys, *args)
        assert rc == 2 and says in one_error(err), (name, err)
    from danlu.engine.core.errors import DanluError

    session = _session()  # chat's /save: the transcript never goes into the run it chats with
    session.target = SimpleNamespace(run=str(run), base=str(tiny_model))
    for dest, says in ((run / "fixes.jsonl", "lies inside the run"), (tiny_model / "x.jsonl", "lies inside")):
        with pytest.raises(DanluError, match=says):
            session.save(dest)
    assert tree(runs_root) == before


def test_output_guard_lets_the_usual_destinations_through(trained, runs_root, tmp_path):
    from danlu.engine.core import guard

    run = runs_root / "20260101-000000-ok"
    shutil.copytree(trained, run)
    inputs = [guard.Input(run, "the run", inside_ok=(run / "export",))]
    assert guard.check_destination(run / "export", inputs, replaces_folder=True, own_run=run)
    assert guard.check_destination(tmp_path / "new" / "out.jsonl", [guard.Input(SAMPLE, "data")])
    assert guard.check_destination(tmp_path / "data", [guard.Input(SAMPLE, "data")], replaces_folder=True)


# -- the run lock, as a table over the commands that consult it --------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["resume", "{run}", "--max-steps", "5"], "already being trained"),
    (["export", "{run}", "--to", "adapter"], "still training"),
    (["stop", "{run}"], None),
    (["runs", "--json"], None),
])
def test_run_lock_table(trained, runs_root, capsys, no_signals, args, says):
    from danlu.engine.runs import store as runs

    run = runs.RunDir(copy_run(trained, runs_root, "locked"))
    (run.path / "status.json").write_text(json.dumps({"state": "running", "pid": 999_999_999}))
    fd = run.take_lock()
    try:
        assert run.effective_state() == "running" and run.trainer_pid() == os.getpid()
        rc, out, err = cli(capsys, *[a.replace("{run}", run.id) for a in args])
        if says:
            assert rc == 2 and says in err, err
        elif args[0] == "stop":  # the lock holder, not status.json's pid, gets the signal
            assert rc == 0 and no_signals == [(os.getpid(), signal.SIGTERM)]
        else:
            assert {r["id"]: r["state"] for r in json.loads(out)}[run.id] == "running"
    finally:
        os.close(fd)
    assert run.effective_state() == "crashed"  # the holder is gone and status.json's pid is dead
