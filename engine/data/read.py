"""Read records from whatever a user has: JSON, JSONL, CSV/TSV, Parquet, a `datasets` folder, a folder of files,
a LLaMA-Factory ``dataset_info.json`` entry, or a Hugging Face dataset id.

Everything streams: files are read in chunks or lines, never whole (except a JSON *object* holding the records,
which is parsed whole up to a size limit).  Each record keeps the line it starts on.  A line that cannot be read
(broken JSON, invalid UTF-8) becomes a :class:`Problem` passed to ``sink`` and reading goes on; only a file that
cannot be read at all raises :class:`DanluError`.
"""

from __future__ import annotations

import ast
import codecs
import csv
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..core.errors import DanluError
from ..core.texts import msg
from ..core import paths, texts
from . import jsonio
from .model import Problem

TEXT_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".txt")
READABLE = TEXT_SUFFIXES + (".parquet", ".arrow")
CHUNK = 1 << 20
MAX_RECORD_BYTES = 16 << 20  # one JSONL/CSV line: a conversation of 16 MB is millions of tokens, never a sample
MAX_JSON_OBJECT = 512 << 20  # a JSON object (not an array) is parsed whole; beyond this, ask for JSONL
_WS = re.compile(r"[ \t\n\r]*")

Sink = Callable[[Problem], None]


@dataclass
class Record:
    data: object
    line: int  # 1-based line the record starts on (row number for Parquet/Arrow)
    file: str
    record: int  # 1-based position of the record in its file
    repaired: str | None = None  # how a broken line was repaired (only when reading with repair=True)


@dataclass
class Source:
    """What was read and how: filled in while reading, shown in the report."""

    path: str
    encoding: str = "utf-8"
    layout: str = ""  # "jsonl", "json array", "json object key 'data'", "csv (delimiter ',')", ...
    spec: dict | None = None  # a LLaMA-Factory dataset_info.json entry that says how to map the records
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- encodings ---------------------------------------------------------------------------------------------------
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def sniff_encoding(path: Path) -> tuple[str, int]:
    """(encoding, BOM length) from the first 64 KiB: BOM, else UTF-8, else GB18030; binary files are refused."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return enc, len(bom)
    if b"\x00" in head:
        raise DanluError(msg("err_binary", "this is a binary file, not text (it contains NUL bytes)"), where=str(path),
                         fix=msg("fix_binary", "pass a .json/.jsonl/.csv/.tsv/.parquet dataset, or re-save it as UTF-8 "
                                 "text"))
    for enc in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)().decode(head, final=False)
            return enc, 0
        except UnicodeDecodeError:
            continue
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    if bad > max(8, len(text) // 20):
        raise DanluError(msg("err_not_text_file", "this is not a text file (it is neither UTF-8 nor GB18030/GBK)"),
                         where=str(path), fix=msg("fix_utf8_or_parquet", "re-save it as UTF-8 text (or pass a "
                                                  ".parquet file)"))
    return "utf-8", 0  # mostly UTF-8: the bad lines are reported one by one


def _lines(path: Path, encoding: str, bom: int, sink: Sink, repair: bool) -> Iterator[tuple[int, str | None]]:
    """(line number, text) for each line; a line that does not decode is reported and yields None (or is repaired)."""
    if encoding.startswith(("utf-16", "utf-32")):
        with open(path, encoding=encoding, errors="replace", newline="") as fh:
            fh.read(1) if bom else None
            for n, line in enumerate(fh, start=1):
                yield n, line
        return
    with open(path, "rb") as fh:
        if bom:
            fh.read(bom)
        yield from decode_lines(bounded_lines(fh, str(path), sink), str(path), encoding, sink, repair)


def bounded_lines(fh, file: str, sink: Sink) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) for each line, reading at most MAX_RECORD_BYTES of a line into memory: a longer one
    is skipped (read past in chunks) and reported with its line number, not read whole (a 100 MB line took
    gigabytes on its way through the parser and the checks)."""
    n = 0
    while True:
        raw = fh.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            size = len(raw)
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(CHUNK)
                size += len(raw)
            sink(Problem(file, n, "-", texts.msg("record_too_long", "{mb:.0f} MB line: over the {limit} MB limit, "
                                                 "not read",
                                                 mb=size / 2**20, limit=MAX_RECORD_BYTES >> 20),
                         texts.msg("fix_record_too_long", "one conversation per line: split it into records of "
                                                          "normal size"),
                         kind="record_too_long", action="skipped"))
            continue
        yield n, raw


def decode_lines(raw_lines, file: str, encoding: str, sink: Sink, repair: bool) -> Iterator[tuple[int, str | None]]:
    for n, raw in raw_lines:
        try:
            yield n, raw.decode(encoding)
        except UnicodeDecodeError as exc:
            name = "UTF-8" if encoding == "utf-8" else encoding.upper()
            sink(Problem(file, n, "-", texts.msg("bad_bytes", "invalid {encoding} at byte {byte} of the line",
                                                 encoding=name, byte=exc.start + 1),
                         texts.msg("fix_bad_bytes", "re-save the file as UTF-8 (or use --on-error fix to replace the "
                                                    "bad bytes)"),
                         kind="invalid_utf8", action="fixed" if repair else "skipped"))
            yield n, (raw.decode(encoding, errors="replace") if repair else None)


def _chunks(path: Path, encoding: str, bom: int) -> Iterator[str]:
    """Decoded text in ~1 MiB chunks; a decoding error names its line."""
    dec = codecs.getincrementaldecoder(encoding)()
    line = 1
    with open(path, "rb") as fh:
        if bom:
            fh.read(bom)
        while True:
            raw = fh.read(CHUNK)
            try:
                text = dec.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                line += raw[: exc.start].count(b"\n")
                raise DanluError(msg("err_bad_bytes", "invalid {encoding} bytes in the file",
                                     encoding=encoding.upper()), where=f"{path}:{line}",
                                 fix=msg("fix_utf8", "re-save the file as UTF-8 text")) from None
            line += raw.count(b"\n")
            if text:
                yield text
            if not raw:
                return


# -- JSON --------------------------------------------------------------------------------------------------------
def _lenient_json(text: str):
    """Parse JSON the way people break it: trailing commas, Python dict literals. Returns (value, how) or raises."""
    stripped = re.sub(r",\s*([}\]])", r"\1", text)
    if stripped != text:
        try:
            return json.loads(stripped), "removed a trailing comma"
        except ValueError:
            pass
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ValueError("not repairable") from None
    if isinstance(value, (dict, list)):
        return json.loads(json.dumps(value)), "read a Python literal (single quotes / None / True)"
    raise ValueError("not repairable")


def _json_error(exc: Exception, text: str | None = None) -> str:
    msg = re.sub(r"\s+at$", "", (getattr(exc, "msg", None) or str(exc)).strip())  # the parser's own "... at"
    col = getattr(exc, "colno", None)
    if text is not None and _ends_inside_string(text):
        return f"the line ends inside a quoted string: it looks cut off (parser: {msg})"
    return f"{msg} at column {col}" if col else msg


def _ends_inside_string(text: str) -> bool:
    """Whether a JSON text stops in the middle of a string (a truncated line), by its unescaped quotes."""
    inside, escaped = False, False
    for ch in text.rstrip("\r\n"):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = inside
        elif ch == '"':
            inside = not inside
    return inside


def iter_jsonl(path: Path, encoding: str, bom: int, sink: Sink, repair: bool = False) -> Iterator[Record]:
    if encoding != "utf-8":
        yield from jsonl_records(_lines(path, encoding, bom, sink, repair), str(path), sink, repair)
        return
    # UTF-8: parse the bytes directly (the JSON parser checks the encoding); decode only lines that fail
    file, n_rec = str(path), 0
    with open(path, "rb") as fh:
        if bom:
            fh.read(bom)
        for n, raw in bounded_lines(fh, file, sink):
            if not raw.strip():
                sink(Problem(file, n, "-", texts.msg("blank_line", "blank line"),
                             texts.msg("fix_blank_line", "nothing to do (blank lines are ignored)"),
                             kind="blank_line", severity="info", action="kept"))
                continue
            try:
                value = jsonio.loads(raw)
            except (ValueError, RecursionError):
                # the slow path explains the failure: bad bytes, a line of Unicode spaces, or broken JSON
                if raw.decode(encoding, errors="replace").strip():
                    n_rec += 1
                yield from jsonl_records(decode_lines([(n, raw)], file, encoding, sink, repair), file, sink, repair,
                                         start_rec=n_rec - 1)
                continue
            n_rec += 1
            yield Record(value, n, file, n_rec)


def jsonl_records(lines, path: str, sink: Sink, repair: bool = False, start_rec: int = 0) -> Iterator[Record]:
    """Records from (line number, text) pairs: blank lines are noted, broken ones reported (or repaired)."""
    n_rec = start_rec
    for n, line in lines:
        if line is None:
            n_rec += 1
            continue
        if not line.strip():
            sink(Problem(str(path), n, "-", texts.msg("blank_line", "blank line"),
                         texts.msg("fix_blank_line", "nothing to do (blank lines are ignored)"),
                         kind="blank_line", severity="info", action="kept"))
            continue
        n_rec += 1
        try:
            yield Record(jsonio.loads(line), n, str(path), n_rec)
        except (ValueError, RecursionError) as exc:
            how = None
            if repair:
                try:
                    value, how = _lenient_json(line)
                except (ValueError, RecursionError):
                    how = None
                if how:
                    yield Record(value, n, str(path), n_rec, repaired=how)
                    continue
            sink(Problem(str(path), n, "-", texts.msg("broken_json_line", "broken JSON line ({detail})",
                                                      detail=_json_error(exc, line)),
                         texts.msg("fix_broken_json_line", "fix the JSON on this line (one object per line) or delete it"),
                         kind="malformed_json"))


def iter_json(path: Path, encoding: str, bom: int, sink: Sink, src: Source) -> Iterator[Record]:
    """A JSON array of records, streamed element by element; or an object that holds the list of records."""
    chunks = _chunks(path, encoding, bom)
    buf, pos, line, eof = "", 0, 1, False

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        nxt = next(chunks, None)
        if nxt is None:
            eof = True
            return False
        buf, pos = buf[pos:] + nxt, 0
        return True

    def skip_ws():
        nonlocal pos, line
        while True:
            end = _WS.match(buf, pos).end()
            line += buf.count("\n", pos, end)
            pos = end
            if pos < len(buf) or not more():
                return

    skip_ws()
    if pos >= len(buf):
        raise DanluError(msg("err_empty_file", "the file is empty"), where=str(path),
                         fix=msg("fix_one_record", "pass a file with at least one record"))
    if buf[pos] == "{":
        yield from _json_object(path, encoding, bom, src)
        return
    if buf[pos] != "[":
        raise DanluError(msg("err_not_json_doc", "the file is neither a JSON array nor a JSON object"),
                         where=f"{path}:{line}", fix=msg("fix_json_array", "make it a JSON array of records, or save "
                                                          "one JSON object per line as .jsonl"))
    src.layout = "json array"
    pos += 1
    decoder = json.JSONDecoder()
    index = 0
    while True:
        skip_ws()
        if pos >= len(buf):
            sink(Problem(str(path), line, "-", texts.msg("array_cut", "the JSON array is cut off (no closing ']')"),
                         texts.msg("fix_array_cut", "the file looks truncated: re-export it; the records before this "
                                                    "line were read"),
                         kind="malformed_json"))
            return
        if buf[pos] == "]":
            pos += 1
            skip_ws()
            if pos < len(buf):
                sink(Problem(str(path), line, "-", texts.msg("after_array", "extra text after the end of the JSON array"),
                             texts.msg("fix_after_array", "delete everything after the closing ']'"),
                             kind="malformed_json"))
            return
        start_line = line
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                if end < len(buf) or eof:
                    break
            except json.JSONDecodeError as exc:
                if eof:
                    err_line = start_line + buf.count("\n", pos, exc.pos)
                    sink(Problem(str(path), err_line, "-",
                                 texts.msg("broken_record", "broken JSON in record {n} ({detail})", n=index + 1,
                                           detail=_json_error(exc)),
                                 texts.msg("fix_broken_record", "fix the JSON there (the records before it were read; "
                                                                "the rest of the file cannot be read past this point)"),
                                 kind="malformed_json", record=index + 1))
                    return
            except RecursionError:
                sink(Problem(str(path), start_line, "-",
                             texts.msg("too_deep", "record {n} is nested too deeply to read", n=index + 1),
                             texts.msg("fix_too_deep", "flatten the record"), kind="malformed_json", record=index + 1))
                return
            if not more():
                continue
        index += 1
        line += buf.count("\n", pos, end)
        pos = end
        yield Record(value, start_line, str(path), index)
        skip_ws()
        if pos < len(buf) and buf[pos] == ",":
            pos += 1
        elif pos < len(buf) and buf[pos] != "]":
            sink(Problem(str(path), line, "-", texts.msg("no_comma", "expected ',' or ']' after record {n}, found {found}",
                                                      n=index, found=repr(buf[pos])),
                         texts.msg("fix_no_comma", "add the missing comma between records (the rest of the file was "
                                                   "not read)"),
                         kind="malformed_json"))
            return


def _json_object(path: Path, encoding: str, bom: int, src: Source) -> Iterator[Record]:
    if path.stat().st_size > MAX_JSON_OBJECT:
        raise DanluError("this JSON object is too large to read whole", where=str(path),
                         fix="save the records as a JSON array or as JSONL (one object per line)")
    with open(path, "rb") as fh:
        raw = fh.read()[bom:]
    try:
        text = raw.decode(encoding)
        obj = json.loads(text)
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise DanluError(msg("err_bad_bytes", "invalid {encoding} bytes in the file", encoding=encoding.upper()),
                         where=f"{path}:{bad_line}", fix=msg("fix_utf8", "re-save the file as UTF-8 text")) from None
    except (ValueError, RecursionError) as exc:
        raise DanluError(msg("err_bad_json", "not valid JSON ({detail})", detail=_json_error(exc)),
                         where=f"{path}:{getattr(exc, 'lineno', 1)}",
                         fix=msg("fix_bad_json", "fix the JSON there, or save one record per line as .jsonl")) from None
    if _looks_like_dataset_info(obj):
        raise DanluError(msg("err_dataset_info", "this is a LLaMA-Factory dataset_info.json, not a dataset"),
                         where=str(path), fix=msg("fix_dataset_info", "pass {file}#NAME to read the entry NAME "
                                                  "({names})", file=path.name, names=", ".join(list(obj)[:5])))
    from .formats import row_format

    if row_format(obj):
        src.layout = "json object (one record)"
        yield Record(obj, 1, str(path), 1)
        return
    lists = {k: v for k, v in obj.items() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v[:50])}
    key = next((k for k in ("train", "data", "records", "examples", "rows") if k in lists), None)
    if key is None and len(lists) == 1:
        key = next(iter(lists))
    if key is None:
        raise DanluError(
            "a JSON object must hold the records in one list" + (f" (found lists {', '.join(lists)})" if lists else ""),
            where=str(path), fix="make the file a JSON array of records, or keep one list of records in it")
    src.layout = f"json object, records under key {key!r}"
    m = re.search(r"(^|[{,])\s*" + re.escape(json.dumps(key)) + r"\s*:\s*\[", text)
    base = text.count("\n", 0, m.end()) + 1 if m else 0
    lines = _element_lines(text, m.end()) if m else []
    for i, value in enumerate(obj[key]):
        line = lines[i] if i < len(lines) else (base or i + 1)
        yield Record(value, line, str(path), i + 1)


def _element_lines(text: str, start: int) -> list[int]:
    """Line numbers where each element of the array starting at ``text[start:]`` begins."""
    decoder, out, pos = json.JSONDecoder(), [], start
    line = text.count("\n", 0, start) + 1
    while True:
        end = _WS.match(text, pos).end()
        line += text.count("\n", pos, end)
        pos = end
        if pos >= len(text) or text[pos] == "]":
            return out
        out.append(line)
        try:
            _, end = decoder.raw_decode(text, pos)
        except ValueError:
            return out
        line += text.count("\n", pos, end)
        pos = _WS.match(text, end).end()
        line += text.count("\n", end, pos)
        if pos < len(text) and text[pos] == ",":
            pos += 1


def _looks_like_dataset_info(obj) -> bool:
    return (isinstance(obj, dict) and bool(obj) and all(isinstance(v, dict) for v in obj.values())
            and any(k in v for v in obj.values() for k in ("file_name", "hf_hub_url", "ms_hub_url", "script_url")))


# -- CSV / TSV ---------------------------------------------------------------------------------------------------
def _delimiter(header: str, path: Path) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    counts = {d: header.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def iter_csv(path: Path, encoding: str, bom: int, sink: Sink, src: Source, repair: bool = False) -> Iterator[Record]:
    csv.field_size_limit(2**31 - 1)
    lines = _lines(path, encoding, bom, sink, True)  # a bad byte in a quoted cell must not shift the rows
    first = next(lines, None)
    while first is not None and not first[1].strip():
        first = next(lines, None)
    if first is None:
        raise DanluError(msg("err_csv_empty", "the CSV file is empty"), where=str(path),
                         fix=msg("fix_csv_rows", "add a header row and at least one row"))
    delim = _delimiter(first[1], path)
    src.layout = f"csv (delimiter {delim!r})"
    state = {"line": first[0]}

    def feed():
        yield first[1]
        for n, text in lines:
            state["line"] = n
            yield text

    reader = csv.reader(feed(), delimiter=delim, quotechar='"', doublequote=True, strict=False)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise DanluError(f"the CSV header cannot be read ({exc})", where=f"{path}:{first[0]}",
                         fix="check the quotes in the first line") from None
    header = [h.strip() for h in header]
    if not any(header):
        raise DanluError(msg("err_csv_header", "the CSV has no header row"), where=f"{path}:{first[0]}",
                         fix=msg("fix_csv_header", "add a header such as instruction,output as the first line"))
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        name = h or f"column{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        header[i] = name
    n_rec = 0
    start = state["line"] + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            n_rec += 1
            sink(Problem(str(path), start, "-", texts.msg("csv_row", "this CSV row cannot be read ({detail})",
                                                       detail=str(exc)),
                         texts.msg("fix_csv_row", "check the quotes on this row"), kind="csv_shape", record=n_rec))
            start = state["line"] + 1
            continue
        line, start = start, state["line"] + 1
        if not row or not any(c.strip() for c in row):
            sink(Problem(str(path), line, "-", texts.msg("blank_row", "blank row"),
                         texts.msg("fix_blank_row", "nothing to do (blank rows are ignored)"),
                         kind="blank_line", severity="info", action="kept"))
            continue
        n_rec += 1
        if len(row) != len(header):
            extra = row[len(header):]
            if len(row) > len(header) and not any(c.strip() for c in extra):
                row = row[: len(header)]
            else:
                if len(row) > len(header):
                    what = texts.msg("csv_cells_more", "row has {n} cells but the header has {header} (an unquoted "
                                                       "delimiter or line break in a cell?)", n=len(row), header=len(header))
                else:
                    what = texts.msg("csv_cells", "row has {n} cells but the header has {header}", n=len(row),
                                     header=len(header))
                if not repair or len(row) > len(header):
                    sink(Problem(str(path), line, "-", what,
                                 texts.msg("fix_csv_cells", "quote cells that contain the delimiter or line breaks"),
                                 kind="csv_shape", record=n_rec))
                    continue
                row = row + [""] * (len(header) - len(row))
                yield Record(dict(zip(header, row)), line, str(path), n_rec, repaired="filled missing cells with ''")
                continue
        yield Record(dict(zip(header, row)), line, str(path), n_rec)


# -- plain text, Parquet, Arrow ----------------------------------------------------------------------------------
def iter_txt(path: Path, encoding: str, bom: int, sink: Sink) -> Iterator[Record]:
    n_rec = 0
    for n, line in _lines(path, encoding, bom, sink, False):
        if line is None or not line.strip():
            continue
        n_rec += 1
        yield Record({"text": line.rstrip("\r\n")}, n, str(path), n_rec)


def _arrow_rows(batches, path: Path) -> Iterator[Record]:
    n = 0
    try:
        for batch in batches:
            for row in batch.to_pylist():
                n += 1
                yield Record(row, n, str(path), n)
    except (DanluError, GeneratorExit):
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DanluError(f"the file is damaged after row {n} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
                         where=str(path), fix="re-export the file") from None


def iter_parquet(path: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=2048)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise DanluError(f"not a readable Parquet file ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})",
                         where=str(path), fix="re-export the file, or convert it to JSONL") from None
    yield from _arrow_rows(batches, path)


def iter_arrow(path: Path) -> Iterator[Record]:
    import pyarrow as pa

    try:
        source = pa.memory_map(str(path))
        try:
            batches = iter(pa.ipc.open_stream(source))
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    except Exception as exc:  # noqa: BLE001
        raise DanluError(f"not a readable Arrow file ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})",
                         where=str(path), fix="pass the folder written by `datasets` save_to_disk, or a JSONL file") from None
    yield from _arrow_rows(batches, path)


# -- dispatch ----------------------------------------------------------------------------------------------------
def _split_ref(ref: str) -> tuple[str, str | None]:
    """'path#name' → (path, name) when path exists; otherwise (ref, None)."""
    if "#" in ref:
        head, _, tail = ref.rpartition("#")
        if head and Path(head).expanduser().exists():
            return head, tail
    return ref, None


def open_source(ref: str | os.PathLike, sink: Sink, *, repair: bool = False) -> tuple[Source, Iterator[Record]]:
    """Resolve what the user named and return how it is read plus a lazy iterator of its records."""
    ref = str(ref)
    raw, name = _split_ref(ref)
    path = Path(raw).expanduser()
    if not path.exists() and not path.is_symlink():
        if paths.looks_like_hub_id(raw) and not raw.lower().endswith(READABLE):
            return _hub(raw, name)
        raise DanluError(msg("err_data_not_found", "dataset file not found: {path}", path=str(path)),
                         fix=msg("fix_data_path", "check the path (see sample_data/ for examples; a Hugging Face id "
                                 "looks like owner/name)"))
    if path.is_dir():
        return _folder(path, name, sink, repair)
    from ..core import guard

    guard.regular_file(path, "dataset file")  # a FIFO or a device: refused by name, never read (or waited on)
    if path.name == "dataset_info.json" or (name is not None and path.suffix.lower() == ".json"):
        info = _read_json_small(path)
        if _looks_like_dataset_info(info):
            return _dataset_info_entry(path, info, name, sink, repair)
    src = Source(str(path), files=[str(path)])
    return src, _file_records(path, sink, src, repair)


def _file_records(path: Path, sink: Sink, src: Source, repair: bool) -> Iterator[Record]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        src.layout, src.encoding = "parquet", "binary"
        yield from iter_parquet(path)
        return
    if suffix == ".arrow":
        src.layout, src.encoding = "arrow", "binary"
        yield from iter_arrow(path)
        return
    if path.stat().st_size == 0:
        raise DanluError(msg("err_empty_file", "the file is empty"), where=str(path),
                         fix=msg("fix_one_record", "pass a file with at least one record"))
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        src.layout, src.encoding = "parquet", "binary"
        yield from iter_parquet(path)
        return
    encoding, bom = sniff_encoding(path)
    src.encoding = encoding + (" with BOM" if bom else "")
    if suffix in (".csv", ".tsv"):
        yield from iter_csv(path, encoding, bom, sink, src, repair)
        return
    if suffix == ".txt":
        src.layout = "text lines"
        yield from iter_txt(path, encoding, bom, sink)
        return
    first = _first_char(path, encoding, bom)
    if not first:
        raise DanluError(msg("err_blank_file", "the file is empty (only whitespace)"), where=str(path),
                         fix=msg("fix_one_record", "pass a file with at least one record"))
    jsonl_suffix = suffix in (".jsonl", ".ndjson")
    if first == "[" and not jsonl_suffix:
        yield from iter_json(path, encoding, bom, sink, src)
        return
    if first == "{" and not jsonl_suffix and not _first_line_is_record(path, encoding, bom):
        yield from iter_json(path, encoding, bom, sink, src)
        return
    if first not in "[{" and suffix not in (".jsonl", ".ndjson", ".json"):
        raise DanluError(msg("err_file_type", "unknown file type (not JSON, JSONL, CSV, TSV or Parquet)"),
                         where=str(path), fix=msg("fix_file_type", "pass a .json/.jsonl/.csv/.tsv/.parquet file"))
    src.layout = "jsonl"
    yield from iter_jsonl(path, encoding, bom, sink, repair)


def _first_char(path: Path, encoding: str, bom: int) -> str:
    """The first non-blank character ('' for a blank file); bad bytes do not matter here."""
    dec = codecs.getincrementaldecoder(encoding)(errors="replace")
    with open(path, "rb") as fh:
        fh.read(bom)
        while True:
            raw = fh.read(1 << 16)
            s = dec.decode(raw, final=not raw).lstrip()
            if s:
                return s[0]
            if not raw:
                return ""


def _first_line_is_record(path: Path, encoding: str, bom: int) -> bool:
    """A '.json' file that is really JSONL: its first line is a complete JSON object and more lines follow."""
    with open(path, "rb") as fh:
        fh.read(bom)
        first = fh.readline(CHUNK * 8)
        second = fh.readline(CHUNK * 8)
    try:
        return isinstance(json.loads(first.decode(encoding, errors="replace")), dict) and bool(second.strip())
    except ValueError:
        return False


def _read_json_small(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None


def _folder(path: Path, name: str | None, sink: Sink, repair: bool) -> tuple[Source, Iterator[Record]]:
    if (path / "dataset_dict.json").is_file():  # datasets.DatasetDict.save_to_disk
        splits = (_read_json_small(path / "dataset_dict.json") or {}).get("splits") or []
        split = name or ("train" if "train" in splits else (splits[0] if splits else None))
        if split not in splits:
            raise DanluError(f"no split {split!r} in this saved DatasetDict (splits: {', '.join(splits)})",
                             where=str(path), fix=f"pass {path}#SPLIT with one of {', '.join(splits)}")
        src, it = _folder(path / split, None, sink, repair)
        src.notes.append(f"split {split!r} of {', '.join(splits)}")
        return src, it
    if (path / "state.json").is_file():  # datasets.Dataset.save_to_disk
        state = _read_json_small(path / "state.json") or {}
        files = [path / f["filename"] for f in state.get("_data_files", []) if "filename" in f]
        if not files:
            files = sorted(path.glob("*.arrow"))
        if not files:
            raise DanluError("this `datasets` folder has no .arrow data files", where=str(path),
                             fix="save it again with Dataset.save_to_disk")
        src = Source(str(path), encoding="binary", layout="datasets save_to_disk", files=[str(f) for f in files])

        def arrow_rows():
            n = 0
            for f in files:
                for r in iter_arrow(f):
                    n += 1
                    r.line = r.record = n
                    yield r

        return src, arrow_rows()
    if (path / "dataset_info.json").is_file():
        info = _read_json_small(path / "dataset_info.json")
        if _looks_like_dataset_info(info):
            return _dataset_info_entry(path / "dataset_info.json", info, name, sink, repair)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in READABLE
                   and not any(part.startswith(".") for part in p.relative_to(path).parts)
                   and p.name not in ("dataset_info.json", "state.json", "dataset_dict.json"))
    if not files:
        raise DanluError(msg("err_empty_folder", "no dataset files in this folder"), where=str(path),
                         fix=msg("fix_empty_folder", "put .json/.jsonl/.csv/.tsv/.parquet files in it, or pass one "
                                 "file"))
    src = Source(str(path), layout=f"folder of {len(files)} file(s)", files=[str(f) for f in files])

    def all_rows():
        for f in files:
            sub = Source(str(f))
            yield from _file_records(f, sink, sub, repair)
            if sub.encoding not in ("utf-8", "binary"):
                src.notes.append(f"{f.name}: {sub.encoding}")

    return src, all_rows()


def _dataset_info_entry(info_path: Path, info: dict, name: str | None, sink: Sink, repair: bool):
    names = list(info)
    if name is None:
        if len(names) != 1:
            raise DanluError(f"{info_path.name} lists {len(names)} datasets; say which one",
                             where=str(info_path), fix=f"pass {info_path}#NAME with NAME one of {', '.join(names[:10])}")
        name = names[0]
    if name not in info:
        raise DanluError(f"no dataset {name!r} in {info_path.name}", where=str(info_path),
                         fix=f"use one of {', '.join(names[:10])}")
    entry = info[name]
    if not entry.get("file_name"):
        hub = entry.get("hf_hub_url") or entry.get("ms_hub_url")
        if hub:
            src, it = _hub(hub, entry.get("subset"))
            src.spec = entry
            return src, it
        raise DanluError(f"dataset {name!r} has no file_name", where=str(info_path),
                         fix="add \"file_name\": the data file next to dataset_info.json")
    target = (info_path.parent / entry["file_name"]).expanduser()
    if not target.exists():
        raise DanluError(f"dataset {name!r} points at {entry['file_name']}, which does not exist",
                         where=str(info_path), fix="fix file_name or put the file next to dataset_info.json")
    src, it = open_source(str(target), sink, repair=repair)
    src.spec = dict(entry, _name=name)
    src.notes.append(f"entry {name!r} of {info_path}")
    return src, it


def _hub(repo_id: str, subset: str | None) -> tuple[Source, Iterator[Record]]:
    from ..models.load import hub_reachable

    if not hub_reachable():
        raise DanluError(
            msg("err_data_offline", "{repo!r} is not a local file, and the Hugging Face Hub cannot be reached "
                "(offline)", repo=repo_id),
            fix=msg("fix_data_offline", "download it where there is network "
                    "(datasets.load_dataset(...).save_to_disk(DIR)) and pass DIR, or pass a local "
                    ".json/.jsonl/.csv/.parquet file"))
    src = Source(repo_id, encoding="binary", layout="Hugging Face dataset (streamed)", files=[repo_id])

    def rows():
        try:
            import datasets

            ds = datasets.load_dataset(repo_id, subset, split="train", streaming=True)
            for i, row in enumerate(ds, start=1):
                yield Record(row, i, repo_id, i)
        except DanluError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated for the user
            raise DanluError(f"cannot load {repo_id!r} from the Hugging Face Hub ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
                             fix="check the dataset id (and HF_TOKEN for gated datasets), or pass a local file") from None

    return src, rows()
