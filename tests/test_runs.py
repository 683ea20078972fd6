"""The run directory: events survive a torn last line, status is replaced atomically."""

import json
import os

import pytest

from engine import runs
from engine.errors import DanluError


def test_events_tolerate_a_torn_last_line(tmp_path):
    run = runs.create("t", tmp_path)
    run.event("step", step=1, loss=2.0)
    run.event("step", step=2, loss=1.5)
    with open(run.events_path, "a") as fh:
        fh.write('{"ts": 1, "type": "st')  # a writer killed mid-line
    assert [e["step"] for e in run.events()] == [1, 2]
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


def test_unknown_event_type_is_refused(tmp_path):
    with pytest.raises(ValueError):
        runs.create("t", tmp_path).event("bogus")


def test_a_viewer_attached_across_a_resume_keeps_no_stale_steps(tmp_path):
    """The dashboard's reader (the same EventReader as `danlu attach`) while a resume drops the steps after its
    checkpoint and writes them again: the chart holds each step once, with the resumed losses."""
    from tui.tail import Metrics

    run = runs.create("resume-view", tmp_path)
    for step in range(1, 9):
        run.event("step", step=step, total=8, loss=10.0 - step, lr=1e-3)
    reader, metrics = runs.EventReader(run.events_path), Metrics()
    for row in reader.read()[0]:
        metrics.add(row)
    assert [s for s, _ in metrics.losses] == list(range(1, 9))
    run.truncate_events_after(4)  # what a resume from checkpoint-4 does, then it trains steps 5.. again
    for step in range(5, 7):
        run.event("step", step=step, total=8, loss=100.0 + step, lr=1e-3)
    rows, replaced = reader.read()
    assert replaced
    metrics = Metrics()
    for row in rows:
        metrics.add(row)
    assert [s for s, _ in metrics.losses] == [1, 2, 3, 4, 5, 6]
    assert dict(metrics.losses)[5] == 105.0, "the resumed loss, not the dropped one"
