"""The training runner under faults: kill -9 and resume, a closed terminal, out of memory, packing.

Every test trains the tiny demo model for real, through the CLI in subprocesses where the fault
concerns a process (signals, detaching), and compares with an uninterrupted run of the same config.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli, run_json

SAMPLE = ROOT / "sample_data" / "lab_consultant.messages.jsonl"


def write_config(tmp_path: Path, name: str, **over) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    train, evals = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    if not train.exists():
        train.write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
        evals.write_text("\n".join(lines[-16:]) + "\n", encoding="utf-8")
    cfg = dict(model="demo:tiny", train_file=str(train), eval_file=str(evals), method="lora",
               max_seq_len=256, micro_batch=2, grad_accum=2, max_steps=12, lr=3e-3, lora_dropout=0.0,
               save_steps=3, logging_steps=1, pack_len=512)
    cfg.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def events(run_dir) -> list[dict]:
    """The run's events as the rows the reader parsed them into (typed records, back as dicts)."""
    from danlu.engine.runs import store as runs

    return [e.to_row() for e in runs.RunDir(Path(run_dir)).events()]


def step_losses(run_dir) -> dict[int, float]:
    steps = [e for e in events(run_dir) if e["type"] == "step"]
    numbers = [e["step"] for e in steps]
    assert numbers == sorted(set(numbers)), f"step events lost, duplicated or out of order: {numbers}"
    return {e["step"]: e["loss"] for e in steps}


def wait_for(predicate, timeout=300, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def state_of(run_dir) -> str:
    try:
        return json.loads((Path(run_dir) / "status.json").read_text()).get("state", "")
    except (FileNotFoundError, ValueError):
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model):
    """An uninterrupted run of the fault-test config."""
    tmp = tmp_path_factory.mktemp("ref")
    cfg = write_config(tmp, "cfg")
    out = run_json("train", cfg, "--run-name", "reference")
    return cfg, out, step_losses(out["run_dir"])


def test_kill_9_then_resume_matches_the_uninterrupted_run(reference):
    cfg, ref, ref_losses = reference
    assert len(ref_losses) == 12 and ref["state"] == "done"
    started = run_json("train", cfg, "--detach", "--run-name", "victim")
    run_dir, pid = Path(started["run_dir"]), started["pid"]
    # kill it hard once it has a checkpoint and is past it (mid-run)
    wait_for(lambda: (run_dir / "checkpoints" / "checkpoint-6").is_dir() and max(step_losses(run_dir), default=0) >= 7,
             what="step 7 of the detached run")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), timeout=30, what="the trainer to die")
    killed_at = max(step_losses(run_dir))
    assert killed_at < 12, "the run finished before it could be killed"
    listed = {r["id"]: r for r in run_json("runs")}
    assert listed[run_dir.name]["state"] == "crashed"

    resumed = run_json("resume", run_dir.name)
    assert resumed["state"] == "done"
    losses = step_losses(run_dir)  # also checks: no step lost or duplicated
    assert sorted(losses) == sorted(ref_losses)
    worst = max(abs(losses[s] - ref_losses[s]) for s in ref_losses)
    print(f"kill -9 after step {killed_at}; resumed; worst per-step loss difference "
          f"against the uninterrupted run: {worst:.2e} over {len(losses)} steps")
    assert worst <= 1e-4, f"loss after resume differs from the uninterrupted run by {worst}"
    rows = events(run_dir)
    assert [e["type"] for e in rows].count("done") == 1
    resumed_at = [e for e in rows if e["type"] == "status" and e.get("state") == "resumed"]
    assert len(resumed_at) == 1 and resumed_at[0]["step"] in (6, 9)
    # eval at step 0 kept once, final eval once
    assert [e["step"] for e in rows if e["type"] == "eval"] == [0, 12]


def test_a_finished_run_offers_more_epochs_and_a_changed_config_is_refused(reference, tmp_path):
    cfg, ref, _ = reference
    run_dir = Path(ref["run_dir"])
    proc = run_cli("resume", run_dir.name)
    assert proc.returncode == 2 and "--max-steps" in proc.stderr and "Traceback" not in proc.stderr
    # edit the run's config in a way that breaks resuming: a different learning rate
    saved = (run_dir / "config.yaml").read_text()
    try:
        changed = yaml.safe_load(saved)
        changed["lr"] = 1e-4
        (run_dir / "config.yaml").write_text(yaml.safe_dump(changed))
        proc = run_cli("resume", run_dir.name, "--max-steps", "15")
        assert proc.returncode == 2
        assert "lr: 0.003 → 0.0001" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        (run_dir / "config.yaml").write_text(saved)


def test_damaged_last_checkpoint_falls_back_to_the_one_before(reference, tmp_path):
    from danlu.engine.runs import store as runs
    from danlu.engine.train import runner as train

    _, ref, _ = reference
    run = runs.RunDir(Path(ref["run_dir"]))
    newest = train.latest_checkpoint(run)
    assert newest is not None and newest.name == "checkpoint-12"
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run.path, copy)
    damaged = copy / "checkpoints" / "checkpoint-12"
    weights = next(damaged.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    notes = []
    fallback = train.latest_checkpoint(runs.RunDir(copy), emit=notes.append)
    assert fallback.name == "checkpoint-9"
    assert notes[0].code == "damaged_checkpoint" and "damaged" in notes[0].message


def test_closing_the_terminal_leaves_a_detached_run_going(tmp_path, tiny_model):
    cfg = write_config(tmp_path, "hup", max_steps=10, eval_steps=5)
    # the "terminal": a shell in its own session that starts the run and then waits, like a login shell
    out = tmp_path / "started.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    shell = subprocess.Popen(
        ["bash", "-c", f'"{sys.executable}" -m danlu.engine.cli train "{cfg}" --detach --run-name hup --json > "{out}"; '
                       "sleep 600"],
        start_new_session=True, env=env, cwd=ROOT,
        # a terminal's shell dies of SIGHUP: undo an ignored SIGHUP inherited from whoever runs the tests (nohup),
        # which would also spare the trainer and make this test prove nothing
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )
    try:
        started = wait_for(lambda: out.exists() and out.read_text().strip() and json.loads(out.read_text()),
                           timeout=120, what="the run to start")
        run_dir, pid = Path(started["run_dir"]), started["pid"]
        wait_for(lambda: step_losses(run_dir), what="the first step")
        os.killpg(shell.pid, signal.SIGHUP)  # the terminal closes: its whole session is hung up
        os.kill(pid, signal.SIGHUP)  # and even if the hangup reached the trainer itself
        shell.wait(timeout=30)
        assert alive(pid), "the trainer died with its terminal"
        wait_for(lambda: state_of(run_dir) in ("done", "failed", "stopped", "crashed"), timeout=400,
                 what="the run to finish")
        assert state_of(run_dir) == "done", (run_dir / "train.log").read_text()[-2000:]
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)
    proc = run_cli("attach", run_dir.name, "--json")
    assert proc.returncode == 0
    history = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [e["step"] for e in history if e["type"] == "step"] == list(range(1, 11))
    assert [e["step"] for e in history if e["type"] == "eval"] == [0, 5, 10]
    assert history[-1]["type"] == "done"


def test_stop_finishes_the_step_saves_and_exits_stopped(tmp_path, tiny_model):
    cfg = write_config(tmp_path, "stop", max_steps=200, save_steps=500)
    started = run_json("train", cfg, "--detach", "--run-name", "stopme")
    run_dir = Path(started["run_dir"])
    wait_for(lambda: len(step_losses(run_dir)) >= 2, what="two steps")
    ckpt = run_json("stop", run_dir.name, "--checkpoint")
    assert ckpt["action"] == "checkpoint"
    wait_for(lambda: any(e["type"] == "checkpoint" for e in events(run_dir)), what="the requested checkpoint")
    assert state_of(run_dir) == "running"
    run_json("stop", run_dir.name)
    wait_for(lambda: state_of(run_dir) in ("stopped", "failed", "crashed"), timeout=120, what="the run to stop")
    assert state_of(run_dir) == "stopped"
    wait_for(lambda: not alive(started["pid"]), timeout=60, what="the trainer to exit")
    last = max(step_losses(run_dir))
    assert last < 200
    assert (run_dir / "checkpoints" / f"checkpoint-{last}" / "trainer_state.json").exists()
    proc = run_cli("stop", run_dir.name)
    assert proc.returncode == 2 and "not running" in proc.stderr


@pytest.mark.parametrize("packing", [False, True], ids=["per-sample", "packed"])
def test_injected_out_of_memory_backs_off_and_keeps_the_effective_batch(tmp_path, tiny_model, packing):
    over = dict(max_steps=8, save_steps=100, packing=packing, micro_batch=4, grad_accum=2, group_by_length=False)
    cfg = write_config(tmp_path, "oom", **over)
    plain = run_json("train", cfg, "--run-name", "no-oom")
    hit = run_json("train", cfg, "--run-name", "oom", env={"DANLU_INJECT_OOM_AT_STEP": "4"})
    assert hit["state"] == "done" and hit["steps"] == 8
    rows = events(hit["run_dir"])
    backoff = [e for e in rows if e["type"] == "backoff"]
    assert len(backoff) == 1 and backoff[0]["step"] == 4
    saved = yaml.safe_load((Path(hit["run_dir"]) / "config.yaml").read_text())
    assert {k: saved[k] for k in ("micro_batch", "grad_accum", "pack_len")} == \
        {"micro_batch": 4, "grad_accum": 2, "pack_len": 512}, "config.yaml stays what the user asked for"
    state = json.loads((Path(hit["run_dir"]) / "backoff.json").read_text())  # what a resume will use
    assert {k: state[k] for k in ("micro_batch", "grad_accum", "pack_len")} == \
        {k: backoff[0][k] for k in ("micro_batch", "grad_accum", "pack_len")}
    if packing:  # half the tokens per packed row, twice the rows per step
        assert backoff[0]["pack_len"] == 256
    else:  # half the samples per micro-batch, twice the micro-batches: the same samples per step
        assert (backoff[0]["micro_batch"], backoff[0]["grad_accum"]) == (2, 4)
    losses, ref = step_losses(hit["run_dir"]), step_losses(plain["run_dir"])
    assert sorted(losses) == list(range(1, 9))
    assert all(losses[s] == pytest.approx(ref[s], abs=1e-6) for s in range(1, 5))
    print(f"OOM injected at step 4 ({'packed' if packing else 'per-sample'}): {backoff[0]['old']} -> "
          f"{backoff[0]['new']}; worst loss difference vs no OOM: {max(abs(losses[s] - ref[s]) for s in ref):.2e}")
    if not packing:
        # the same samples in each optimizer step, split differently: the same curve
        assert max(abs(losses[s] - ref[s]) for s in ref) <= 1e-4
    else:
        # the same number of tokens per optimizer step, give or take the packing of the last row
        tokens = {e["step"]: e["tokens"] for e in rows if e["type"] == "step"}
        per_step = [tokens[s] - tokens[s - 1] for s in range(6, 9)]
        before = tokens[4] / 4
        assert all(abs(n - before) / before < 0.25 for n in per_step), (before, per_step)


def test_out_of_memory_at_the_floor_gives_up_with_remedies(tmp_path, tiny_model):
    from danlu.engine.train import runner as train

    geo = train.Geometry(1, 8, None)
    cfg = yaml.safe_load(write_config(tmp_path, "floor").read_text())
    from danlu.engine.core.config import TrainConfig

    with pytest.raises(Exception) as err:
        train._back_off(TrainConfig(**cfg), geo, None, None, None, RuntimeError("CUDA out of memory"))
    text = str(err.value) + getattr(err.value, "fix", "")
    assert "smallest batch" in text and "qlora" in text and "max_seq_len" in text


@pytest.mark.parametrize("impl", ["sdpa", "packed"])
def test_packed_rows_never_attend_across_samples(tiny_model, impl):
    """The logits of each sample inside a packed row equal its logits alone, with transformers' masked SDPA
    and with danlu's per-sample attention (engine.models.attention, what the runner uses when packing)."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from danlu.engine.models import attention, encode, load as models

    tok = models.load_tokenizer(str(tiny_model))
    model = models.load_base(str(tiny_model)).eval()
    if impl == "packed":
        assert attention.use_packed(model) == attention.NAME
    convs = [json.loads(line)["messages"] for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:4]]
    rows = encode.encode_all(tok, convs, 256)
    collate = DataCollatorForLanguageModeling(pad_token_id=tok.pad_token_id, padding_free=True)
    batch = collate([{"input_ids": r["input_ids"]} for r in rows])
    assert batch["input_ids"].shape[0] == 1 and "position_ids" in batch
    with torch.no_grad():
        # what SFTTrainer.compute_loss passes to the model (it sets use_cache=False; with a cache the model
        # would not see the packing in the position ids, and samples would attend to each other)
        inputs = dict({k: v for k, v in batch.items() if k != "labels"}, use_cache=False)
        packed = model(**inputs).logits[0]
        start = 0
        for r in rows:
            n = len(r["input_ids"])
            alone = model(input_ids=torch.tensor([r["input_ids"]])).logits[0]
            assert torch.allclose(packed[start:start + n], alone, atol=1e-4), "a sample attended to its neighbour"
            start += n
    assert start == batch["input_ids"].shape[1]


def test_two_process_ddp_on_cpu_writes_one_coherent_history(tmp_path, tiny_model):
    """`torchrun --nproc_per_node 2 -m danlu.engine.cli train CONFIG` (gloo on CPU) on a config planned for two
    devices with DDP: every rank trains, rank 0 writes."""
    cfg = write_config(tmp_path, "ddp", max_steps=4, save_steps=2, eval_steps=2, gpus=2, strategy="ddp")
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29531", "-m", "danlu.engine.cli",
                           "train", str(cfg), "--run-name", "ddp", "--json"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)  # one report, from rank 0
    assert out["state"] == "done" and out["steps"] == 4
    rows = events(out["run_dir"])
    assert [e["step"] for e in rows if e["type"] == "step"] == [1, 2, 3, 4]
    assert [e["step"] for e in rows if e["type"] == "eval"] == [0, 2, 4]
    assert [e["step"] for e in rows if e["type"] == "checkpoint" and not e.get("final")] == [2, 4]
    assert [e["type"] for e in rows].count("done") == 1
    assert [e["type"] for e in rows].count("status") == 1
    again = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29532", "-m", "danlu.engine.cli",
                            "train", str(cfg), "--run-name", "ddp"],
                           capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert again.returncode != 0 and "already exists" in again.stderr
    assert [e["type"] for e in events(out["run_dir"])].count("done") == 1


@pytest.mark.parametrize("adapter", ["prompt", "prefix"])
def test_prompt_and_prefix_tuning_train_evaluate_and_export_the_adapter(tmp_path, tiny_model, adapter):
    cfg = write_config(tmp_path, adapter, adapter=adapter, max_steps=6, lr=3e-2, num_virtual_tokens=8)
    out = run_json("train", cfg, "--run-name", adapter)
    assert out["state"] == "done"
    assert out["eval_loss_after"] < out["eval_loss_before"]  # the virtual tokens learned something
    rows = events(out["run_dir"])
    assert any("micro-batch 2 × accumulation 2" in e.get("message", "") for e in rows if e["type"] == "log"), \
        "virtual tokens go in front of each sample: no packing"
    tuned = run_json("eval", out["run_dir"], "--data", tmp_path / "eval.jsonl")
    assert tuned["eval_loss"] == pytest.approx(out["eval_loss_after"], rel=1e-3)  # reloaded: same model
    exported = run_json("export", out["run_dir"], "--out", tmp_path / "exp")
    assert exported["adapter_dir"] and exported["merged_dir"] is None and "cannot be merged" in exported["note"]
    proc = run_cli("export", out["run_dir"], "--out", tmp_path / "exp2", "--target", "merged")
    assert proc.returncode == 2 and "--to adapter" in proc.stderr and not (tmp_path / "exp2").exists()
