"""Training on several ranks for real (torchrun, gloo on the CPU): DDP and FSDP2 give one process's losses and
model at the same effective batch; two simulated machines train, lose a rank to kill -9, and resume.

Every run is `danlu train CONFIG` as a user types it: danlu starts the ranks itself (one machine), or prints the
command each machine runs (several)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli, run_json

SAMPLE = ROOT / "sample_data" / "lab_consultant.messages.jsonl"


@pytest.fixture(scope="module")
def small_model(danlu_home):
    from danlu.engine.models import load as models

    return models.build_demo_model("small")


def _config(tmp_path: Path, name: str, **over) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    train, evals = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    if not train.exists():
        train.write_text("\n".join(lines[:64]) + "\n", encoding="utf-8")
        evals.write_text("\n".join(lines[-8:]) + "\n", encoding="utf-8")
    # no packing: a micro-batch is whole samples, so one process's batch of 4 is exactly two ranks' batches of 2
    cfg = dict(model="demo:small", train_file=str(train), eval_file=str(evals), max_seq_len=256, grad_accum=1,
               lora_dropout=0.0, packing=False, group_by_length=False, logging_steps=1, eval_steps=0,
               early_stopping_patience=0, seed=0)
    cfg.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (Path(run_dir) / "events.jsonl").read_text().splitlines()]


def _losses(run_dir) -> list[float]:
    return [r["loss"] for r in _rows(run_dir) if r["type"] == "step"]


def _logits(run_dir):
    import torch

    from danlu.engine.infer import chat

    model, _ = chat.load(str(run_dir))[:2]
    with torch.no_grad():
        return model(input_ids=torch.tensor([[5, 17, 300, 42, 99, 1000, 7, 3, 64, 2]])).logits.float()


@pytest.mark.parametrize("method", ["full", pytest.param("lora", marks=pytest.mark.slow)])  # CI: full; test-all: both
def test_ddp_and_fsdp2_on_two_ranks_train_as_one_process_at_the_same_batch(tmp_path, small_model, method):
    """Steps of 4 samples: one process with micro-batch 4, and 2 ranks with micro-batch 2 each, as DDP replicas and
    as FSDP2 shards.  The losses agree within 1e-5 relative (float32 sums in another order), and the final model
    that the FSDP run consolidated from its shards answers as the one-process model does."""
    lr = 1e-3 if method == "lora" else 1e-4
    runs = {}
    for name, over in {"one": dict(micro_batch=4), "ddp": dict(micro_batch=2, gpus=2, strategy="ddp"),
                       "fsdp": dict(micro_batch=2, gpus=2, strategy="fsdp")}.items():
        cfg = _config(tmp_path, f"{method}-{name}", method=method, lr=lr, max_steps=3, save_steps=2, **over)
        proc = run_cli("train", cfg, "--run-name", f"{method}-{name}", "--json", timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout[proc.stdout.index("{"):])
        assert out["state"] == "done" and out["steps"] == 3
        if name != "one":
            assert f"starting 2 ranks ({name})" in proc.stderr
        runs[name] = out
    base = _losses(runs["one"]["run_dir"])
    assert len(base) == 3 and base[-1] < base[0]
    for name in ("ddp", "fsdp"):
        assert _losses(runs[name]["run_dir"]) == pytest.approx(base, rel=1e-5), name
        assert runs[name]["eval_loss_after"] == pytest.approx(runs["one"]["eval_loss_after"], rel=1e-5)
    # FSDP's checkpoints are each rank's shards (torch.distributed.checkpoint); its final model is whole
    fsdp = Path(runs["fsdp"]["run_dir"])
    shards = sorted(p.name for p in (fsdp / "checkpoints" / "checkpoint-2" / "pytorch_model_fsdp_0").glob("*.distcp"))
    assert len(shards) == 2, shards
    assert not list((fsdp / "final").glob("*.distcp"))
    one = _logits(runs["one"]["run_dir"])
    for name in ("ddp", "fsdp"):
        diff = (_logits(runs[name]["run_dir"]) - one).abs().max().item()
        assert diff <= 1e-5 * one.abs().max().item(), (name, diff)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_pids(launcher: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(launcher).children(recursive=True)]


def test_two_machines_train_lose_a_rank_to_kill_9_and_resume(tmp_path, small_model):
    """A plan for 2 machines of 1 device: `danlu train` prints the command each machine runs; both are started here
    (127.0.0.1 as the first machine's address), the second machine's rank is killed with SIGKILL after the first
    checkpoint, the survivor ends within the collective time-out, and the same command with `resume` on both
    machines finishes the run: every step once in the history, the resumed steps after the checkpoint."""
    cfg = _config(tmp_path, "nodes", method="full", lr=1e-4, micro_batch=2, max_steps=8, save_steps=2, gpus=1,
                  nodes=2, strategy="fsdp")
    told = run_cli("train", cfg)
    assert told.returncode == 2, told.stderr
    flat = " ".join(told.stderr.split())
    command = re.search(r"(torchrun --nproc-per-node 1 --nnodes 2 .*?--run-name \S+)", flat).group(1)
    name = command.rsplit(" ", 1)[1]
    port = str(_free_port())
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    torchrun = str(Path(sys.executable).with_name("torchrun"))

    def machines(tail: str | None = None) -> list[subprocess.Popen]:
        procs = []
        for node in (0, 1):
            argv = command.replace("NODE_RANK", str(node)).replace("HOST", "127.0.0.1").replace("29500", port).split()
            argv[0] = torchrun
            if tail:  # the resume: the same launch, `danlu resume RUN` in each rank
                argv = argv[:argv.index("-m") + 2] + tail.split()
            log = open(tmp_path / f"node{node}{'-resume' if tail else ''}.log", "w")
            procs.append(subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True))
        return procs

    run_dir = Path(os.environ["DANLU_HOME"]) / "runs" / name
    first = machines()
    try:
        deadline = time.time() + 300
        while not (run_dir / "checkpoints" / "checkpoint-2").is_dir():
            assert time.time() < deadline and all(p.poll() is None for p in first), \
                (tmp_path / "node0.log").read_text()[-3000:]
            time.sleep(0.2)
        victim = _worker_pids(first[1].pid)
        assert victim
        for pid in victim:
            os.kill(pid, signal.SIGKILL)
        for p in first:
            p.wait(timeout=120)  # gloo sees the peer's socket close: well within the plan's time-out
    finally:
        for p in first:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert first[0].returncode != 0 and first[1].returncode != 0
    said = " ".join((tmp_path / "node0.log").read_text().split())
    assert "another rank of this run stopped or hung, so rank 0 of 2 ended too" in said, said[-3000:]
    assert "danlu resume" in said
    done_before = [r["step"] for r in _rows(run_dir) if r["type"] == "step"]
    assert done_before and done_before[-1] < 8
    second = machines(f"resume {name}")
    for p in second:
        p.wait(timeout=600)
    assert [p.returncode for p in second] == [0, 0], (tmp_path / "node0-resume.log").read_text()[-3000:]
    rows = _rows(run_dir)
    steps = [r["step"] for r in rows if r["type"] == "step"]
    assert steps == list(range(1, 9)), steps
    resumed = [r for r in rows if r["type"] == "status" and r.get("state") == "resumed"]
    assert len(resumed) == 1 and resumed[0]["step"] >= 2
    assert [r["type"] for r in rows].count("done") == 1
    out = run_json("chat", str(run_dir), "--prompt", "Hello!", "--max-new-tokens", "4")  # whole: no ranks needed
    assert out["answer"] is not None


def test_a_stop_reaches_every_rank_and_resume_starts_them_again(tmp_path, small_model):
    """`danlu stop` signals the run's process (rank 0) or writes control.json: both ranks stop after the same
    step with a checkpoint (a rank that went on would wait in a collective); `danlu resume` starts 2 ranks again
    from it and finishes the run."""
    cfg = _config(tmp_path, "stop", method="lora", lr=1e-3, micro_batch=2, max_steps=400, save_steps=50, gpus=2,
                  strategy="ddp")
    started = run_json("train", cfg, "--run-name", "stop2", "--detach")
    run_dir = Path(started["run_dir"])
    deadline = time.time() + 300
    while not (run_dir / "events.jsonl").exists() or not any(r["type"] == "step" for r in _rows(run_dir)):
        assert time.time() < deadline, (run_dir / "train.log").read_text()[-3000:]
        time.sleep(0.2)
    run_json("stop", "stop2")
    while _state(run_dir) in ("pending", "running"):
        assert time.time() < deadline, (run_dir / "train.log").read_text()[-3000:]
        time.sleep(0.5)
    import psutil

    try:  # the launcher ends when both ranks have: cleanly, or it reports the rank that failed
        psutil.Process(started["pid"]).wait(timeout=120)
    except psutil.NoSuchProcess:
        pass
    log = (run_dir / "train.log").read_text()
    assert "FAILED" not in log and "Traceback" not in log, log[-3000:]
    rows = _rows(run_dir)
    assert _state(run_dir) == "stopped", log[-3000:]
    samples = [r for r in rows if r["type"] == "system" and r.get("ranks")]
    assert samples and {x["rank"] for x in samples[-1]["ranks"]} == {0, 1}  # each rank's process, from rank 0
    assert all(x["rss_gb"] > 0 for x in samples[-1]["ranks"])
    last = [r["step"] for r in rows if r["type"] == "step"][-1]
    saved = [r["step"] for r in rows if r["type"] == "checkpoint" and not r.get("final")]
    assert last < 400 and saved and saved[-1] == last
    proc = run_cli("resume", "stop2", "--max-steps", str(last + 2), "--json", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "starting 2 ranks (ddp)" in proc.stderr
    steps = [r["step"] for r in _rows(run_dir) if r["type"] == "step"]
    assert steps == list(range(1, last + 3)), steps


def _state(run_dir: Path) -> str:
    from danlu.engine.runs import store as runs

    return runs.RunDir(run_dir).effective_state()


def test_ranks_whose_data_differs_are_refused_before_training(tmp_path, small_model):
    """Two simulated machines, the second with an edited copy of the training file: every rank refuses before a
    step, naming the rank and what differs."""
    cfg = _config(tmp_path, "a", method="lora", lr=1e-3, micro_batch=2, max_steps=2, gpus=1, nodes=2,
                  strategy="ddp")
    other = tmp_path / "machine2"
    other.mkdir()
    lines = (tmp_path / "train.jsonl").read_text(encoding="utf-8").splitlines()
    (other / "train.jsonl").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # one record fewer
    (other / "eval.jsonl").write_text((tmp_path / "eval.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    cfg2 = _config(other, "a", method="lora", lr=1e-3, micro_batch=2, max_steps=2, gpus=1, nodes=2, strategy="ddp")
    port = str(_free_port())
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    procs = [subprocess.Popen([torchrun, "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", str(node),
                               "--master-addr", "127.0.0.1", "--master-port", port, "-m", "danlu.engine.cli", "train",
                               str(c), "--run-name", "differ"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for node, c in ((0, cfg), (1, cfg2))]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode != 0 for p in procs)
    for out in outs:
        flat = " ".join(out.split())
        assert "the ranks of this run differ: data" in flat and "on rank 1" in flat, flat[-2000:]
    run_dir = Path(os.environ["DANLU_HOME"]) / "runs" / "differ"
    assert not any(r["type"] == "step" for r in _rows(run_dir)) if (run_dir / "events.jsonl").exists() else True


def test_one_rank_out_of_memory_starts_every_rank_again_at_the_smaller_batch(tmp_path, small_model):
    """Rank 1 alone runs out of memory (injected) after step 3: it records half the micro-batch with twice the
    accumulation in the run and ends; danlu's launcher starts both ranks again from checkpoint-2, each at that
    geometry, and the run finishes with every step once."""
    from danlu.engine.train.runner import INJECT_OOM_ENV

    cfg = _config(tmp_path, "oom", method="lora", lr=1e-3, micro_batch=2, max_steps=6, save_steps=2, gpus=2,
                  strategy="ddp")
    proc = run_cli("train", cfg, "--run-name", "oom2", "--json", env={INJECT_OOM_ENV: "3@1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    flat = " ".join(proc.stderr.split())
    assert "rank 1 ran out of memory at step 4" in flat, flat[-3000:]
    assert "a rank ran out of memory: every rank continues at micro-batch 1 × accumulation 2" in flat, flat[-3000:]
    out = json.loads(proc.stdout[proc.stdout.rindex('{\n  "run_dir"'):])
    assert out["state"] == "done" and out["steps"] == 6
    run_dir = Path(out["run_dir"])
    backoff = json.loads((run_dir / "backoff.json").read_text())
    assert (backoff["micro_batch"], backoff["grad_accum"], backoff["rank"]) == (1, 2, 1)
    rows = _rows(run_dir)
    assert [r["step"] for r in rows if r["type"] == "step"] == [1, 2, 3, 4, 5, 6]
    resumed = [r for r in rows if r["type"] == "status" and r.get("state") == "resumed"]
    assert [r["step"] for r in resumed] == [2]
    geometry = [r for r in rows if r["type"] == "log" and r.get("code") == "parameters"]
    assert geometry[-1]["args"]["micro_batch"] == 1 and geometry[-1]["args"]["grad_accum"] == 2, geometry[-1]


def test_two_ranks_on_a_fresh_home_build_the_demo_model_once(tmp_path):
    """The first run in a new DANLU_HOME: both ranks ask for demo:tiny at once. One builds it while the other
    waits (it loaded a half-written folder before: "Unrecognized model … no config.json"), and the run trains."""
    home = tmp_path / "home"
    cfg = _config(tmp_path, "fresh", model="demo:tiny", method="lora", lr=1e-3, micro_batch=2, max_steps=2,
                  save_steps=2, gpus=2, strategy="ddp")
    proc = run_cli("train", cfg, "--run-name", "fresh", "--json", env={"DANLU_HOME": str(home)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.rindex('{\n  "run_dir"'):])
    assert out["state"] == "done" and out["steps"] == 2
    built = [p for p in (home / "models").iterdir() if p.is_dir() and p.name.startswith("demo-tiny")]
    assert len(built) == 1 and (built[0] / "config.json").is_file()


RANK_BUILDS = r'''
import json, os, sys
import torch.distributed as dist
from danlu.engine.core.errors import DanluError
from danlu.engine.models import load as models

dist.init_process_group("gloo")
out = sys.argv[1]
if dist.get_rank() == 1:  # the rank that is not the first makes the model cache after the ranks have joined
    try:
        models.build_demo_model("tiny", out)
        print(json.dumps({"built": True}))
    except DanluError as exc:
        print(json.dumps({"built": False, "error": exc.one_line()}))
dist.barrier()
dist.destroy_process_group()
'''


def test_a_model_cache_made_on_another_rank_is_refused_not_marked_finished(tmp_path):
    """transformers' save_pretrained writes nothing on a rank other than 0 of a process group: a demo model built
    there was marked finished without config.json or weights, and every later load failed ("Unrecognized model").
    The builder checks what was written: an error, and no folder that looks finished."""
    script, out = tmp_path / "build.py", tmp_path / "demo-tiny"
    script.write_text(RANK_BUILDS, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert said["built"] is False and "were not written" in said["error"], said
    assert not (out / "danlu_demo.json").exists()


RANK_SHARES = r'''
import json, sys
import torch.distributed as dist
from danlu.engine.core.errors import DanluError
from danlu.engine.train import sharding

dist.init_process_group("gloo")
me = dist.get_rank()
made = []
got = sharding.from_main(lambda: made.append(me) or {"made_by": me, "answer": f"sampled on rank {me}"})
said = {"rank": me, "got": got, "made_here": made}
def fail():
    raise DanluError("the base model could not answer", where="replay")
try:
    sharding.from_main(fail)
except DanluError as exc:
    said["error"] = exc.one_line()
print(json.dumps(said), flush=True)
dist.destroy_process_group()
'''


def test_the_replay_answers_are_made_on_rank_0_and_every_rank_trains_on_them(tmp_path):
    """Sampled answers could differ from rank to rank (and one rank's extra rows would leave the others waiting at
    a step it never takes): rank 0 makes them and every rank gets its list; rank 0's error ends every rank."""
    script = tmp_path / "share.py"
    script.write_text(RANK_SHARES, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = sorted((json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")),
                  key=lambda s: s["rank"])
    assert [s["got"] for s in said] == [{"made_by": 0, "answer": "sampled on rank 0"}] * 2
    assert [s["made_here"] for s in said] == [[0], []]  # made once, on rank 0
    assert "the base model could not answer" in said[0]["error"]
    assert "rank 0 could not make the data every rank trains on" in said[1]["error"]
