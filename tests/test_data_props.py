"""Property-based round trips and a fuzz of malformed inputs for the data doctor (issue #4 acceptance)."""

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, run_cli
from danlu.engine.data import steps
from danlu.engine.core.errors import DanluError

SAMPLES = ROOT / "sample_data"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# any Unicode text a JSON file can hold (no lone surrogates); turns that are trained on must not be blank
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
solid = text.filter(lambda s: s.strip())
json_value = st.recursive(st.none() | st.booleans() | st.integers() | text,
                          lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3), max_leaves=6)
extras = st.dictionaries(st.sampled_from(["id", "lang", "source", "meta", "score", "tools"]), json_value, max_size=3)


@st.composite
def alpaca_records(draw):
    row = {"instruction": draw(text), "input": draw(text), "output": draw(solid)}
    if not (row["instruction"] + "\n" + row["input"] if row["input"] else row["instruction"]).strip():
        row["instruction"] = draw(solid)
    if draw(st.booleans()):
        row["system"] = draw(text.filter(bool))
    history = draw(st.lists(st.tuples(solid, solid).map(list), max_size=3))
    if history:
        row["history"] = history
    row.update(draw(extras))
    return row


@st.composite
def messages_records(draw):
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(text)})
    for _ in range(draw(st.integers(1, 3))):
        msgs.append({"role": "user", "content": draw(solid)})
        if draw(st.integers(0, 3)) == 0:  # a tool call and its result before the answer
            call = {"id": draw(text), "type": "function",
                    "function": {"name": draw(solid), "arguments": json.dumps(draw(json_value), ensure_ascii=False)}}
            msgs.append({"role": "assistant", "content": draw(st.sampled_from([None, "", "let me look"])),
                         "tool_calls": [call]})
            msgs.append({"role": "tool", "content": draw(text), "tool_call_id": call["id"]})
        turn = {"role": "assistant", "content": draw(solid)}
        if draw(st.integers(0, 4)) == 0:
            turn["weight"] = draw(st.sampled_from([0, 1]))
        msgs.append(turn)
    row = {"messages": msgs}
    row.update(draw(extras))
    return row


def _roundtrip(tmp: Path, rows: list, src_name: str, there: str, back: str) -> list:
    src = tmp / src_name
    if src_name.endswith(".json"):
        src.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    else:
        src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    mid = tmp / f"mid.{there}.jsonl"
    out = tmp / f"out.{back}{'.json' if back == 'alpaca' else '.jsonl'}"
    steps.convert(src, there, mid)
    steps.convert(mid, back, out)
    t = out.read_text(encoding="utf-8")
    return json.loads(t) if out.suffix == ".json" else [json.loads(line) for line in t.split("\n") if line]


@SETTINGS
@given(rows=st.lists(alpaca_records(), min_size=1, max_size=5))
def test_alpaca_sharegpt_alpaca_round_trip(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("rt")
    assert _roundtrip(tmp, rows, "in.json", "sharegpt", "alpaca") == rows
    assert _roundtrip(tmp, rows, "in.json", "messages", "alpaca") == rows


@SETTINGS
@given(rows=st.lists(messages_records(), min_size=1, max_size=5))
def test_messages_sharegpt_messages_round_trip(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("rt")
    assert _roundtrip(tmp, rows, "in.jsonl", "sharegpt", "messages") == rows


# -- fuzz: malformed inputs --------------------------------------------------------------------------------------
def _fuzz_cases() -> list:
    rng = random.Random(20261123)
    cases = []
    samples = {n: (SAMPLES / n).read_bytes() for n in ("lab_consultant.sharegpt.jsonl", "lab_consultant.alpaca.json",
                                                       "lab_consultant.messages.jsonl", "lab_consultant.csv",
                                                       "lab_consultant_zh_headers.csv")}
    for suffix in (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt", ".arrow", ".ndjson"):
        cases.append((f"empty{suffix}", b"", suffix))
        cases.append((f"blank{suffix}", b" \n\n\t \r\n", suffix))
    for i in range(40):  # binary junk under every name
        junk = bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 7, 100, 3000])))
        cases.append((f"junk{i}", junk, rng.choice([".json", ".jsonl", ".csv", ".tsv", ".parquet", ".arrow", ".txt", ".dat"])))
    for name, raw in samples.items():  # truncated at random places, also inside multi-byte characters
        suffix = Path(name).suffix
        for i in range(14):
            cases.append((f"trunc-{name}-{i}", raw[: rng.randrange(1, min(len(raw), 40000))], suffix))
    wrong = [b"42", b'"text"', b"null", b"true", b"[1, 2, 3]", b"[[[]]]", b'{"a": 1}', b'[{"conversations": "x"}]',
             b'[{"conversations": [1, 2]}]', b'[{"messages": [{"role": 5, "content": "x"}]}]',
             b'{"instruction": 1, "output": []}', b'[{"instruction": null, "output": null}]',
             b'[{"messages": []}]', b'[{"conversations": [{"from": "alien", "value": "hi"}]}]',
             b'[{"prompt": {"x": 1}, "completion": 3}]', b'{"data": 5}', b'{"a": [1], "b": [2]}',
             b'[{"instruction": "q", "output": "a"},]', b"[{'instruction': 'q', 'output': 'a'}]",
             b'[{"instruction": "q", "output": NaN}]', b'// comment\n{"instruction": "q", "output": "a"}',
             b'[{"messages": [{"role": "user", "content": {"nested": true}}]}]', b"{}", b"[]", b"[{}]",
             b'{"instruction": "q", "output": "a"}{"instruction": "q2", "output": "a2"}',
             b'[{"instruction": "q", "output": "a"}] trailing', b'[{"text": "plain"}]', b'{"file_name": "x.json"}']
    for i, raw in enumerate(wrong):
        for suffix in (".json", ".jsonl"):
            cases.append((f"wrong{i}", raw, suffix))
    records = [json.loads(line) for line in samples["lab_consultant.sharegpt.jsonl"].splitlines()[:30]]
    for i in range(30):  # one field of a real record replaced by a value of the wrong type
        r = json.loads(json.dumps(records[i]))
        t = rng.choice(r["conversations"])
        t[rng.choice(["from", "value"])] = rng.choice([None, 1, 2.5, True, [], {}, ["a", 1], {"x": "y"}])
        cases.append((f"type{i}", json.dumps(r).encode() + b"\n", ".jsonl"))
    cases += [
        ("huge-line", b'{"instruction": "q", "output": "' + b"x" * 5_000_000 + b'"}\n', ".jsonl"),
        ("huge-cell", b"instruction,output\nq," + b"y" * 2_000_000 + b"\n", ".csv"),
        ("deep-array", b"[" * 100000, ".json"),
        ("deep-object", b'{"a":' * 50000, ".jsonl"),
        ("deep-line", b"[" * 100000 + b"\n", ".jsonl"),
        ("bom-junk", b"\xef\xbb\xbf\xff\xfe\x00junk", ".json"),
        ("utf16-junk", b"\xff\xfe" + bytes(range(256)), ".csv"),
        ("gb-cut", "问题,回答\n你好,世界".encode("gb18030")[:-1], ".csv"),
        ("bad-utf8-lines", b'{"instruction": "\xc3\x28", "output": "a"}\n' * 3, ".jsonl"),
        ("csv-unbalanced", b'instruction,output\n"q,a\nq2,a2\n', ".csv"),
        ("csv-header-only", b"instruction,output\n", ".csv"),
        ("csv-no-header", b",\n,\n", ".csv"),
        ("csv-wide-row", b"instruction,output\nq,a,extra,more\n", ".csv"),
        ("csv-nul", b"instruction,output\nq\x00,a\n", ".csv"),
        ("crlf-only", b"\r\n\r\n", ".jsonl"),
        ("json-in-txt", b'{"instruction": "q", "output": "a"}\n', ".txt"),
    ]
    parquet = _parquet_bytes()
    for i, cut in enumerate((4, 50, len(parquet) // 2, len(parquet) - 9, len(parquet) - 1)):
        cases.append((f"parquet-cut{i}", parquet[:cut], ".parquet"))
    cases.append(("parquet-flipped", parquet[:100] + bytes(b ^ 0xFF for b in parquet[100:300]) + parquet[300:], ".parquet"))
    return cases


def _parquet_bytes() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"instruction": ["q"] * 50, "output": ["a"] * 50}), buf)
    return buf.getvalue()


CASES = _fuzz_cases()


def test_there_are_at_least_200_malformed_inputs():
    assert len(CASES) >= 200


def _no_leftovers(folder: Path, out: Path, ok: bool):
    left = sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".partial"))
    assert not left, left
    if not ok:
        assert not out.exists(), "a failed conversion left an output file"


@pytest.mark.parametrize("name,raw,suffix", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gives_a_clear_error_or_a_reported_skip(tmp_path, name, raw, suffix):
    src = tmp_path / f"input{suffix}"
    src.write_bytes(raw)
    out = tmp_path / "out" / "converted.jsonl"
    (tmp_path / "out").mkdir()
    try:
        res = steps.convert(src, "sharegpt", out, mapping=None, confirm_mapping=False)
    except DanluError as exc:
        assert exc.what and exc.fix, "an error must say how to fix it"
        _no_leftovers(tmp_path / "out", out, ok=False)
        return
    # it worked: every skipped record is in the report, and the output holds exactly the rest
    _no_leftovers(tmp_path / "out", out, ok=True)
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert len(written) == res["records"] > 0
    rep = res["report"]
    skipped = {(p["file"], p["line"]) for p in rep["problems"] if p["action"] == "skipped"}
    assert rep["kept"] + len(skipped) >= rep["records"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400) | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
       suffix=st.sampled_from([".json", ".jsonl", ".csv", ".tsv"]))
def test_random_bytes_never_crash(tmp_path_factory, raw, suffix):
    tmp = tmp_path_factory.mktemp("fz")
    src = tmp / f"in{suffix}"
    src.write_bytes(raw)
    out = tmp / "out.jsonl"
    try:
        steps.inspect(src)
        steps.convert(src, "messages", out, confirm_mapping=False)
    except DanluError:
        assert not out.exists()


@pytest.mark.parametrize("raw,suffix", [(b"", ".jsonl"), (b"\x00\x01\x02binary", ".json"), (b"[" * 100000, ".json"),
                                        (b'{"conversations": [1]}\n', ".jsonl"), (b"a,b\n", ".csv"),
                                        (b"x" * 300, ".parquet")])
def test_cli_on_malformed_input_is_one_line_exit_2_and_no_output(tmp_path, raw, suffix):
    src = tmp_path / f"in{suffix}"
    src.write_bytes(raw)
    out = tmp_path / "out.jsonl"
    proc = run_cli("data", "convert", src, "--to", "alpaca", "-o", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("danlu: error:") and " — " in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))
