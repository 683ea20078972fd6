"""The run directory: events survive a torn last line, status is replaced atomically."""

import json
import os

import pytest

from danlu.engine.core import events
from danlu.engine.runs import store as runs
from danlu.engine.core.errors import DanluError


def test_events_tolerate_a_torn_last_line(tmp_path):
    run = runs.create("t", tmp_path)
    run.event(events.Step(step=1, loss=2.0))
    run.event(events.Step(step=2, loss=1.5))
    with open(run.events_path, "a") as fh:
        fh.write('{"ts": 1, "type": "st')  # a writer killed mid-line
    assert [e.step for e in run.events()] == [1, 2]
    rows, offset = runs.read_jsonl_tolerant(run.events_path)
    with open(run.events_path, "a") as fh:
        fh.write('ep", "step": 3}\n')
    more, _ = runs.read_jsonl_tolerant(run.events_path, offset)
    assert more == [{"ts": 1, "type": "step", "step": 3}]


def test_status_is_replaced_atomically_and_merged(tmp_path):
    run = runs.create("t", tmp_path)
    run.set_status(state="running", pid=os.getpid(), step=3)
    run.set_status(step=4)
    st = json.loads(run.status_path.read_text())
    assert st["state"] == "running" and st["step"] == 4 and st["pid"] == os.getpid()
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_dead_process_shows_as_crashed(tmp_path):
    run = runs.create("t", tmp_path)
    run.set_status(state="running", pid=2**22 + 12345)
    assert run.effective_state() == "crashed"


def test_resolve_by_id_part_path_and_latest(tmp_path):
    a = runs.create("alpha", tmp_path)
    b = runs.create("beta", tmp_path)
    assert runs.resolve("alpha", tmp_path).path == a.path
    assert runs.resolve(str(b.path), tmp_path).path == b.path
    assert runs.resolve("latest", tmp_path).path in (a.path, b.path)
    with pytest.raises(DanluError, match="danlu runs"):
        runs.resolve("gamma", tmp_path)


def test_only_event_records_are_written(tmp_path):
    run = runs.create("t", tmp_path)
    with pytest.raises(TypeError):
        run.event({"type": "step", "step": 1})
    with pytest.raises(TypeError):
        events.Step(step=1, lose=2.0)  # a misspelt field fails where it is written, not in a viewer


def test_event_rows_round_trip_and_damaged_fields_read_as_defaults(tmp_path):
    """Every record written is read back equal; a row with wrong types (hand-edited, another version) still reads,
    its bad fields as defaults, unknown fields kept; rows of unknown types are left out."""
    run = runs.create("t", tmp_path)
    written = [events.Step(step=1, total=4, loss=2.5, lr=1e-3, grad_norm=None, epoch=0.25, tokens=100,
                           tokens_per_s=50.0, elapsed_s=2.0),
               events.Eval(step=1, loss=2.4), events.System(cpu_pct=12.0, gpus=[{"index": 0, "util_pct": 99}]),
               events.Checkpoint(step=1, path="/r/checkpoint-1"), events.log("loading", model="m", method="lora"),
               events.Backoff(step=1, reason="OOM", old="a", new="b", micro_batch=1, grad_accum=8, pack_len=None),
               events.Status(state="resumed", step=1, checkpoint="/r/checkpoint-1"),
               events.Error(message="boom", hint="h", kind="RuntimeError"), events.Done(state="done", step=4)]
    for ev in written:
        run.event(ev)
    assert run.events() == written
    assert written[4].message == "loading m for lora training" and written[4].args == {"model": "m", "method": "lora"}
    with open(run.events_path, "a") as fh:
        fh.write(json.dumps({"ts": 5, "type": "step", "step": "seven", "loss": "nan?", "lr": True, "total": 8.0,
                             "new_field": [1]}) + "\n")
        fh.write(json.dumps({"ts": 6, "type": "telemetry", "x": 1}) + "\n")
        fh.write(json.dumps(["not", "an", "object"]) + "\n")
    last = run.events()[-1]
    assert isinstance(last, events.Step) and (last.step, last.loss, last.lr, last.total) == (0, None, None, 8)
    assert last.extra == {"new_field": [1]} and last.to_row()["new_field"] == [1]
    assert len(run.events()) == len(written) + 1


def test_a_viewer_attached_across_a_resume_keeps_no_stale_steps(tmp_path):
    """The dashboard's reader (the same EventReader as `danlu attach`) while a resume drops the steps after its
    checkpoint and writes them again: the chart holds each step once, with the resumed losses."""
    from danlu.tui.tail import Metrics

    run = runs.create("resume-view", tmp_path)
    for step in range(1, 9):
        run.event(events.Step(step=step, total=8, loss=10.0 - step, lr=1e-3))
    reader, metrics = runs.EventReader(run.events_path), Metrics()
    for row in reader.read()[0]:
        metrics.add(row)
    assert [s for s, _ in metrics.losses] == list(range(1, 9))
    run.truncate_events_after(4)  # what a resume from checkpoint-4 does, then it trains steps 5.. again
    for step in range(5, 7):
        run.event(events.Step(step=step, total=8, loss=100.0 + step, lr=1e-3))
    rows, replaced = reader.read()
    assert replaced
    metrics = Metrics()
    for row in rows:
        metrics.add(row)
    assert [s for s, _ in metrics.losses] == [1, 2, 3, 4, 5, 6]
    assert dict(metrics.losses)[5] == 105.0, "the resumed loss, not the dropped one"
