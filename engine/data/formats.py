"""Dataset formats: detect them, map unknown columns, convert records to conversations and back, validate.

The taxonomy (``row_format``) is a set of predicates on one record, in the spirit of TRL's ``is_conversational``:

- ``messages``: OpenAI/TRL ``{"messages": [{"role", "content"}, ...]}`` (tool calls ride along)
- ``sharegpt``: ``{"conversations": [{"from": "human"/"gpt"/..., "value"}]}``, or the role/content variant
- ``alpaca``: ``instruction``/``input``/``output`` with optional ``system`` and ``history`` ([question, answer] pairs)
- ``prompt_completion``: ``prompt``/``completion`` as text or as lists of messages
- ``text``: plain text (continued pre-training, not chat) — detected and explained, not trained on

A :class:`Spec` says how one input's records map onto a conversation: the format plus column names and role tags
(what a LLaMA-Factory ``dataset_info.json`` entry says, or what the user confirmed with ``--mapping``).

Round trips.  Alpaca → ShareGPT/messages → Alpaca and messages → ShareGPT → messages give back the same records
(up to key order), because everything that the target has no place for rides along:

- Alpaca ``input`` is joined to the instruction with a newline (as LLaMA-Factory does) and also kept as a
  record field ``input``, so that the split can be undone;
- record fields that no format uses (``id``, ``lang``, ``tools``, …) are written back as they were;
- an assistant turn with OpenAI ``tool_calls`` becomes a ShareGPT ``function_call`` turn whose value is the calls
  as JSON, and keeps ``tool_calls`` (and any non-empty ``content``) on the turn.

What cannot round-trip: conversations with tool turns, or that do not alternate user/assistant, cannot be written
as Alpaca; an empty ``system`` or an empty ``history`` is dropped; a native ShareGPT ``function_call`` value is
re-serialised from the parsed call; ``prompt_completion`` and CSV columns become user/assistant turns.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field

from ..core.errors import DanluError
from ..core.texts import msg
from .model import ROLES

FORMATS = ("alpaca", "sharegpt", "messages", "prompt_completion", "text")
TARGETS = ("messages", "sharegpt", "alpaca")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                  "bot": "assistant", "chatgpt": "assistant", "system": "system", "function_call": "assistant",
                  "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool"}
TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
ALPACA_KEYS = ("instruction", "input", "output", "system", "history")
LF_ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                     "history": "history"}

# column names people use, by what they hold (lower case; Chinese included)
SYNONYMS = {
    "instruction": ("instruction", "instructions", "question", "questions", "query", "prompt", "ask", "q", "user",
                    "human", "input_text", "problem", "title", "问题", "提问", "问", "指令", "题目", "用户", "咨询",
                    "问句", "用户问题", "客户问题", "query_text", "request"),
    "input": ("input", "context", "inputs", "输入", "上下文", "背景", "补充", "补充信息", "材料"),
    "output": ("output", "answer", "answers", "response", "reply", "completion", "target", "a", "assistant", "gpt",
               "solution", "回答", "答案", "回复", "答", "输出", "应答", "解答", "客服回复", "标准答案", "response_text"),
    "system": ("system", "system_prompt", "sys", "系统", "系统提示", "系统提示词", "人设"),
    "history": ("history", "历史", "对话历史"),
}


@dataclass
class Spec:
    """How the records of one input become conversations."""

    format: str
    columns: dict = field(default_factory=dict)  # canonical name -> column name in the records
    tags: dict = field(default_factory=dict)  # role_tag, content_tag and tag value -> role
    source: str = "detected"  # detected | given | proposed | dataset_info

    def __post_init__(self):
        # record fields that become turns; everything else (``tools`` included) rides along as it is
        self.consumed = frozenset(v for k, v in self.columns.items() if k != "tools")
        # the role of each plain turn tag (function_call turns take the full path)
        self.plain_roles = ({r: r for r in ROLES} if self.format == "messages" else
                            {k: v for k, v in self.tags.items() if not k.endswith("_tag") and k != "function_call"}
                            or {k: v for k, v in SHAREGPT_ROLES.items() if k != "function_call"})


class RecordError(Exception):
    """A record that cannot be turned into a conversation."""

    def __init__(self, kind: str, field: str, what: str, fix: str):
        super().__init__(f"{field}: {what}")
        self.kind, self.field, self.what, self.fix = kind, field, what, fix


@dataclass
class Issue:
    kind: str
    field: str
    what: str
    fix: str
    fixable: bool  # --on-error fix can repair it (and did, if the record was kept)


# -- detection ---------------------------------------------------------------------------------------------------
def _turn_keys(turns) -> str | None:
    for t in turns[:4]:
        if isinstance(t, dict):
            if "from" in t or "value" in t:
                return "from/value"
            if "role" in t or "content" in t:
                return "role/content"
    return None


def row_format(row) -> str | None:
    """The format one record is in, or None."""
    if not isinstance(row, dict):
        return None
    for key in ("messages", "conversations", "conversation", "dialog", "dialogue", "chat"):
        turns = row.get(key)
        if isinstance(turns, list) and turns:
            keys = _turn_keys(turns)
            if keys == "role/content" and key == "messages":
                return "messages"
            if keys:
                return "sharegpt"
        elif turns == [] and key in ("messages", "conversations"):  # an empty conversation is still this format
            return "messages" if key == "messages" else "sharegpt"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    if isinstance(row.get("text"), str) and len(row) <= 3:
        return "text"
    return None


def _spec_for(fmt: str, sample: list) -> tuple[Spec, str]:
    if fmt == "alpaca":
        cols = {k: k for k in ALPACA_KEYS}
        return Spec("alpaca", cols), msg("ev_alpaca", "instruction/output fields (Alpaca)")
    if fmt == "prompt_completion":
        return Spec("prompt_completion", {"prompt": "prompt", "completion": "completion"}), \
            msg("ev_prompt_completion", "prompt/completion fields")
    if fmt == "text":
        return Spec("text", {"text": "text"}), msg("ev_text", "a single text field (plain text, no turns)")
    # conversations: find the container key and the turn keys
    counts: dict[tuple, int] = {}
    for row in sample:
        if not isinstance(row, dict):
            continue
        for key in ("messages", "conversations", "conversation", "dialog", "dialogue", "chat"):
            turns = row.get(key)
            if isinstance(turns, list) and turns and _turn_keys(turns):
                counts[(key, _turn_keys(turns))] = counts.get((key, _turn_keys(turns)), 0) + 1
                break
    if not counts:  # only empty conversations in the sample
        counts[("messages", "role/content") if fmt == "messages" else ("conversations", "from/value")] = 1
    (key, keys), _ = max(counts.items(), key=lambda kv: kv[1])
    role_tag, content_tag = keys.split("/")
    cols = {"messages": key, "system": "system", "tools": "tools"}
    if fmt == "messages":
        return Spec("messages", cols, {"role_tag": "role", "content_tag": "content"}), \
            msg("ev_messages", "'{column}' lists of role/content turns (OpenAI/TRL messages)", column=key)
    if keys == "from/value":
        return Spec("sharegpt", cols, {"role_tag": role_tag, "content_tag": content_tag}), \
            msg("ev_sharegpt", "'{column}' lists of {keys} turns (ShareGPT)", column=key, keys=keys)
    return Spec("sharegpt", cols, {"role_tag": role_tag, "content_tag": content_tag}), \
        msg("ev_sharegpt_variant", "'{column}' lists of {keys} turns (ShareGPT, role/content variant)", column=key, keys=keys)


def detect(sample: list) -> tuple[Spec | None, float, str]:
    """The format of most records in ``sample`` (raw records), its confidence (share of records) and the evidence."""
    votes: dict[str, int] = {}
    objects = [r for r in sample if isinstance(r, dict)]
    for r in objects:
        fmt = row_format(r)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
    if not votes:
        return None, 0.0, ""
    fmt = max(votes, key=votes.get)
    spec, what = _spec_for(fmt, sample)
    n = len(sample)
    others = ", ".join(f"{v} look like {k}" for k, v in votes.items() if k != fmt)
    if others:
        evidence = msg("ev_detected_others", "{votes} of the first {n} records have {what}; {others}", votes=votes[fmt],
                       n=n, what=what, others=others)
    else:
        evidence = msg("ev_detected", "{votes} of the first {n} records have {what}", votes=votes[fmt], n=n, what=what)
    return spec, round(votes[fmt] / max(1, n), 3), evidence


def _norm_name(name: str) -> str:
    return unicodedata.normalize("NFKC", str(name)).strip().lower().replace(" ", "_").replace("-", "_")


def propose_mapping(sample: list) -> tuple[dict, float, str]:
    """A column mapping for records whose columns have no standard names: by name first, then by content."""
    objects = [r for r in sample if isinstance(r, dict)]
    columns: list[str] = []
    for r in objects:
        for k in r:
            if k not in columns:
                columns.append(k)
    if not columns:
        return {}, 0.0, "no columns"
    # turns held under an unusual key: a list of dicts with role/content or from/value
    for c in columns:
        vals = [r.get(c) for r in objects if isinstance(r.get(c), list) and r.get(c)]
        if len(vals) >= max(1, len(objects) // 2) and _turn_keys(vals[0]):
            return {"messages": c}, 0.9, msg("ev_turns_column", "column {column} holds lists of {keys} turns",
                                              column=repr(c), keys=_turn_keys(vals[0]))
    texty = [c for c in columns if sum(isinstance(r.get(c), str) for r in objects) >= max(1, len(objects) // 2)]
    mapping: dict[str, str] = {}
    for role in ("instruction", "output", "input", "system", "history"):
        for c in columns:
            if c not in mapping.values() and _norm_name(c) in SYNONYMS[role]:
                if role == "history" or c in texty:
                    mapping[role] = c
                    break
    how = "name"
    if "instruction" not in mapping or "output" not in mapping:
        rest = [c for c in texty if c not in mapping.values() and not _id_like(c, objects)]
        avg = {c: sum(len(r.get(c) or "") for r in objects if isinstance(r.get(c), str)) / max(1, len(objects))
               for c in rest}
        rest.sort(key=lambda c: -avg[c])
        if "output" not in mapping and rest:
            mapping["output"] = rest.pop(0)  # the longest text is most likely the answer
            how = "longest"
        if "instruction" not in mapping and rest:
            mapping["instruction"] = rest.pop(0)
            how = "two_longest" if how != "name" else how
    if "instruction" not in mapping or "output" not in mapping:
        return mapping, 0.0, f"columns {', '.join(map(repr, columns))}: no question/answer pair found"
    confidence = 0.9 if how == "name" else 0.5
    words = {"name": "by name", "longest": "by content (the longest text column is taken as the answer)",
             "two_longest": "by content (the two longest text columns)"}
    return mapping, confidence, msg(f"ev_mapped_{how}", "columns {columns} mapped " + words[how],
                                    columns=", ".join(map(repr, columns)))


def _id_like(col: str, objects: list) -> bool:
    name = _norm_name(col)
    if name in ("id", "idx", "index", "uuid", "lang", "language", "date", "time", "timestamp", "created_at", "source",
                "category", "label", "编号", "序号", "类别", "分类", "语言", "日期", "时间"):
        return True
    vals = [r.get(col) for r in objects if isinstance(r.get(col), str)]
    return bool(vals) and all(len(v) <= 24 and " " not in v.strip() for v in vals)


MAPPING_KEYS = ("instruction", "input", "output", "system", "history", "messages", "tools", "prompt", "query",
                "response", "completion", "role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag",
                "observation_tag", "function_tag")


def parse_mapping(text: str) -> dict:
    """'instruction=问题,output=回答' → {"instruction": "问题", "output": "回答"} (LLaMA-Factory names accepted too)."""
    mapping: dict[str, str] = {}
    for part in re.split(r"[,，;]", text):
        if not part.strip():
            continue
        key, sep, col = part.partition("=")
        key, col = key.strip(), col.strip()
        if not sep or not key or not col:
            raise DanluError(f"bad mapping item {part.strip()!r}", where="--mapping",
                             fix="write FIELD=COLUMN pairs separated by commas, e.g. instruction=问题,output=回答")
        if key not in MAPPING_KEYS:
            raise DanluError(f"unknown mapping field {key!r}", where="--mapping",
                             fix=f"use some of {', '.join(MAPPING_KEYS[:7])} (or role_tag/content_tag/user_tag/…)")
        key = {"prompt": "instruction", "query": "input", "response": "output", "completion": "output"}.get(key, key)
        mapping[key] = col
    if not mapping:
        raise DanluError("empty mapping", where="--mapping", fix="e.g. --mapping instruction=问题,output=回答")
    return mapping


def spec_from_mapping(mapping: dict, source: str) -> Spec:
    """A Spec from canonical mapping keys: alpaca-like columns, or a messages column with optional tags."""
    tag_keys = {k: v for k, v in mapping.items() if k.endswith("_tag")}
    cols = {k: v for k, v in mapping.items() if not k.endswith("_tag")}
    if "messages" in cols:
        tags = {"role_tag": tag_keys.get("role_tag"), "content_tag": tag_keys.get("content_tag")}
        for tk, role in (("user_tag", "user"), ("assistant_tag", "assistant"), ("system_tag", "system"),
                         ("observation_tag", "tool"), ("function_tag", "assistant")):
            if tk in tag_keys:
                tags[tag_keys[tk]] = role
        return Spec("sharegpt", {"messages": cols["messages"], "system": cols.get("system", "system"),
                                 "tools": cols.get("tools", "tools")}, tags, source)
    if "instruction" not in cols and "output" not in cols:
        raise DanluError("the mapping names neither a question nor an answer column", where="--mapping",
                         fix="e.g. --mapping instruction=问题,output=回答 (or messages=COLUMN for a list of turns)")
    return Spec("alpaca", cols, {}, source)


def spec_from_dataset_info(entry: dict) -> Spec:
    """A Spec from a LLaMA-Factory dataset_info.json entry (columns and tags, with LLaMA-Factory's defaults)."""
    formatting = entry.get("formatting", "alpaca")
    cols = entry.get("columns") or {}
    if entry.get("ranking") or formatting not in ("alpaca", "sharegpt", "openai"):
        raise DanluError(f"dataset_info entry uses formatting {formatting!r}"
                         + (" with ranking (preference data)" if entry.get("ranking") else ""),
                         fix="danlu's SFT reads alpaca and sharegpt entries; convert preference data to chosen answers")
    if formatting == "alpaca":
        mapping = {"instruction": cols.get("prompt", "instruction"), "input": cols.get("query", "input"),
                   "output": cols.get("response", "output")}
        for k in ("system", "history"):
            if cols.get(k):
                mapping[k] = cols[k]
        return Spec("alpaca", mapping, {}, "dataset_info")
    tags = entry.get("tags") or {}
    openai = formatting == "openai"
    role_tag = tags.get("role_tag", "role" if openai else "from")
    content_tag = tags.get("content_tag", "content" if openai else "value")
    t = {"role_tag": role_tag, "content_tag": content_tag}
    defaults = (("user_tag", "user" if openai else "human", "user"),
                ("assistant_tag", "assistant" if openai else "gpt", "assistant"),
                ("system_tag", "system", "system"),
                ("observation_tag", "tool" if openai else "observation", "tool"),
                ("function_tag", "function_call", "assistant"))
    for tk, default, role in defaults:
        t[tags.get(tk, default)] = role
    return Spec("sharegpt", {"messages": cols.get("messages", "messages" if openai else "conversations"),
                             "system": cols.get("system", "system"), "tools": cols.get("tools", "tools")}, t,
                "dataset_info")


# -- record → conversation ---------------------------------------------------------------------------------------
def _as_text(value, fld: str, issues: list, *, allow_none: bool = False) -> str | None:
    """Content as text; wrong types become an issue (fixable when the meaning is clear)."""
    if isinstance(value, str):
        return value
    if value is None:
        if allow_none:
            return None
        issues.append(Issue("non_string", fld, msg("is_null", "is null, expected text"),
                            msg("fix_is_null", "write the text, or drop the record"), False))
        return None
    if isinstance(value, bool):
        issues.append(Issue("non_string", fld, msg("is_bool", "is {value}, expected text", value=str(value).lower()),
                            msg("fix_is_bool", "quote it as text"), True))
        return str(value).lower()
    if isinstance(value, (int, float)):
        issues.append(Issue("non_string", fld, msg("is_number", "is a number ({value}), expected text", value=repr(value)),
                            msg("fix_is_number", "quote the number as text"), True))
        return str(value)
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        issues.append(Issue("non_string", fld, msg("is_strings", "is a list of {n} strings, expected text", n=len(value)),
                            msg("fix_is_strings", "join the pieces into one string"), True))
        return "\n".join(value)
    if isinstance(value, list) and all(isinstance(x, dict) and x.get("type") == "text" and isinstance(x.get("text"), str)
                                       for x in value) and value:
        issues.append(Issue("non_string", fld, msg("is_parts", "is a list of text parts, expected text"),
                            msg("fix_is_parts", "join the text parts into one string"), True))
        return "\n".join(x["text"] for x in value)
    issues.append(Issue("non_string", fld, msg("is_other", "is {kind}, expected text",
                                               kind=type(value).__name__ if not isinstance(value, dict) else "an object"),
                        msg("fix_is_other", "write the content as a string"), False))
    return None


def _turns(row: dict, spec: Spec, issues: list) -> list[dict]:
    key = spec.columns.get("messages", "messages")
    turns = row.get(key)
    if not isinstance(turns, list):
        raise RecordError("missing_field", key, msg("no_turns", "missing or not a list of turns"),
                          msg("fix_no_turns", "give each record a '{column}' list of turns", column=key))
    role_tag = spec.tags.get("role_tag") or "role"
    content_tag = spec.tags.get("content_tag") or "content"
    native = spec.format == "messages"
    out: list[dict] = []
    for i, t in enumerate(turns):
        where = f"{key}[{i}]"
        if not isinstance(t, dict):
            raise RecordError("non_string", where,
                              msg("turn_not_object", "a turn must be an object with {role_tag} and {content_tag}, got {kind}",
                                  role_tag=role_tag, content_tag=content_tag, kind=type(t).__name__),
                              msg("fix_turn_not_object", "write the turn as {shape}",
                                  shape=f"{{\"{role_tag}\": …, \"{content_tag}\": …}}"))
        rt, ct = role_tag, content_tag
        if rt not in t and ("role" in t or "from" in t):  # mixed files: accept either spelling per turn
            rt, ct = ("role", "content") if "role" in t else ("from", "value")
        tag = t.get(rt)
        if native:
            role = tag if tag in ROLES else None
        else:
            role = spec.tags.get(tag) if isinstance(tag, str) and tag in spec.tags else SHAREGPT_ROLES.get(tag) \
                if isinstance(tag, str) else None
        if role is None:
            raise RecordError("unknown_role", f"{where}.{rt}", msg("unknown_role", "unknown role {role}", role=repr(tag)),
                              msg("fix_unknown_role", "use human/gpt/system/observation/function_call (ShareGPT) or "
                                                      "user/assistant/system/tool (messages)"))
        turn = {"role": role}
        extras = {k: v for k, v in t.items() if k not in (rt, ct)}
        if native:
            has_calls = role == "assistant" and bool(t.get("tool_calls"))
            turn["content"] = _as_text(t.get(ct), f"{where}.{ct}", issues, allow_none=has_calls)
            turn.update(extras)
        elif tag == "function_call":
            value = _as_text(t.get(ct), f"{where}.{ct}", issues)
            calls = extras.pop("tool_calls", None)
            if calls is None:
                try:
                    parsed = json.loads(value)
                except ValueError:
                    raise RecordError("non_string", f"{where}.{ct}", msg("call_not_json", "function_call value is not JSON"),
                                      msg("fix_call_not_json", 'write the call as JSON: {shape}',
                                          shape='{"name": …, "arguments": …}')) from None
                parsed = parsed if isinstance(parsed, list) else [parsed]
                calls = [{"type": "function", "function": c} for c in parsed]
            turn["content"] = extras.pop("content", "")
            turn["tool_calls"] = calls
            turn.update(extras)
        else:
            turn["content"] = _as_text(t.get(ct), f"{where}.{ct}", issues)
            turn.update(extras)
        out.append(turn)
    return _with_system(out, row, spec)


def _with_system(out: list[dict], row: dict, spec: Spec) -> list[dict]:
    sys_col = spec.columns.get("system")
    if sys_col and isinstance(row.get(sys_col), str) and row[sys_col] and not (out and out[0]["role"] == "system"):
        out.insert(0, {"role": "system", "content": row[sys_col]})
    return out


def _alpaca(row: dict, spec: Spec, issues: list) -> tuple[list[dict], dict]:
    c = spec.columns
    out: list[dict] = []
    for role in ("instruction", "output"):
        col = c.get(role)
        if col is None or col not in row:
            raise RecordError("missing_field", col or role, msg("missing", "missing"),
                              msg("fix_missing", "give every record a {name} field", name=repr(col or role)))
    sys_val = row.get(c["system"]) if c.get("system") in row else None
    if sys_val not in (None, ""):
        out.append({"role": "system", "content": _as_text(sys_val, c["system"], issues)})
    hist_col = c.get("history")
    hist = row.get(hist_col) if hist_col else None
    if hist not in (None, "", []):
        if isinstance(hist, str):
            try:
                hist = json.loads(hist)
            except ValueError:
                hist = None
        if not isinstance(hist, list):
            raise RecordError("non_string", hist_col, msg("history_not_list", "history must be a list of [question, answer] pairs"),
                              msg("fix_history_not_list", 'write {shape}', shape='"history": [["question", "answer"], …]'))
        for i, pair in enumerate(hist):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise RecordError("non_string", f"{hist_col}[{i}]", msg("history_not_pair", "must be a [question, answer] pair"),
                                  msg("fix_history_not_pair", "write each history item as [question, answer]"))
            out.append({"role": "user", "content": _as_text(pair[0], f"{hist_col}[{i}][0]", issues)})
            out.append({"role": "assistant", "content": _as_text(pair[1], f"{hist_col}[{i}][1]", issues)})
    query = _as_text(row.get(c["instruction"]), c["instruction"], issues)
    meta: dict = {}
    extra = None
    if c.get("input") in row and row[c["input"]] not in (None, ""):
        extra = _as_text(row[c["input"]], c["input"], issues)
    if extra:
        query = f"{query}\n{extra}" if query else extra
        meta["input"] = extra
    out.append({"role": "user", "content": query})
    out.append({"role": "assistant", "content": _as_text(row.get(c["output"]), c["output"], issues)})
    return out, meta


def _fast_turns(row: dict, spec: Spec) -> list[dict] | None:
    """The common case without ceremony: every turn is exactly {role, content} with a known role and text.
    None when anything is unusual (the full path then explains what)."""
    turns = row.get(spec.columns.get("messages", "messages"))
    if type(turns) is not list:
        return None
    rt = spec.tags.get("role_tag") or "role"
    ct = spec.tags.get("content_tag") or "content"
    roles = spec.plain_roles
    out = []
    for t in turns:
        if type(t) is not dict or len(t) != 2:
            return None
        tag, content = t.get(rt), t.get(ct)
        role = roles.get(tag) if type(tag) is str else None
        if role is None or type(content) is not str:
            return None
        out.append({"role": role, "content": content})
    return out


def fast_ok(msgs: list[dict]) -> bool:
    """True for the plain shape (optional system, then user/assistant pairs, none blank): no check needed."""
    n, i = len(msgs), 0
    if n and msgs[0]["role"] == "system":
        i = 1
    if n - i < 2 or (n - i) % 2:
        return False
    for j in range(i, n, 2):
        u, a = msgs[j], msgs[j + 1]
        if u["role"] != "user" or a["role"] != "assistant":
            return False
        uc, ac = u["content"], a["content"]
        if not uc or uc.isspace() or not ac or ac.isspace():
            return False
    return True


def to_conversation(row, spec: Spec, issues: list) -> tuple[list[dict], dict]:
    """(messages, record fields to carry along). Raises RecordError; adds fixable/unfixable Issues to ``issues``."""
    if spec.format in ("messages", "sharegpt") and type(row) is dict:
        msgs = _fast_turns(row, spec)
        if msgs is not None:
            sys_col = spec.columns.get("system")
            if sys_col in row:
                return _with_system(msgs, row, spec), {k: v for k, v in row.items() if k not in spec.consumed}
            return msgs, ({} if len(row) == 1 else {k: v for k, v in row.items() if k not in spec.consumed})
    if not isinstance(row, dict):
        kind = type(row).__name__
        raise RecordError("malformed_json", "-", msg("not_object", "the record is a JSON {kind}, not an object",
                                                     kind="string" if kind == "str" else kind),
                          msg("fix_not_object", "make each record a JSON object such as {shape}",
                              shape='{"conversations": […]}'))
    meta: dict = {}
    if spec.format in ("messages", "sharegpt"):
        msgs = _turns(row, spec, issues)
    elif spec.format == "alpaca":
        msgs, meta = _alpaca(row, spec, issues)
    elif spec.format == "prompt_completion":
        p, comp = row.get("prompt"), row.get("completion")
        if isinstance(p, list) or isinstance(comp, list):
            sub = Spec("messages", {"messages": "m"})
            msgs = _turns({"m": (p if isinstance(p, list) else [{"role": "user", "content": p}])
                           + (comp if isinstance(comp, list) else [{"role": "assistant", "content": comp}])}, sub, issues)
        else:
            msgs = [{"role": "user", "content": _as_text(p, "prompt", issues)},
                    {"role": "assistant", "content": _as_text(comp, "completion", issues)}]
    else:
        raise RecordError("unconvertible", spec.columns.get("text", "text"),
                          msg("plain_text", "plain text has no user/assistant turns to train a chat model on"),
                          msg("fix_plain_text", "map question and answer columns with --mapping instruction=COL,output=COL"))
    used = spec.consumed | ({"prompt", "completion"} if spec.format == "prompt_completion" else set())
    for k, v in row.items():
        if k not in used and k not in meta:
            meta[k] = v
    if spec.format == "alpaca":  # the Alpaca keys themselves never ride along
        for k in ALPACA_KEYS:
            if k in meta and k != "input":
                meta.pop(k)
    return msgs, meta


def check(msgs: list[dict], issues: list, container: str = "messages") -> list[dict]:
    """Validate a conversation; add issues; return the repaired conversation (used when fixing is allowed)."""
    for i, m in enumerate(msgs):
        if m["role"] == "system" and i > 0:
            issues.append(Issue("role_order", f"{container}[{i}]", msg("system_not_first", "a system message may only come first"),
                                msg("fix_system_not_first", "move the system prompt to the start"), False))
    body = [m for m in msgs if m["role"] != "system"]
    head = msgs[:1] if msgs and msgs[0]["role"] == "system" else []
    if not any(m["role"] == "assistant" for m in body):
        issues.append(Issue("no_assistant", container, msg("no_assistant", "no assistant answer"),
                            msg("fix_no_assistant", "add the answer turn (gpt/assistant), or drop the record"), False))
        return msgs
    if not any(m["role"] == "user" for m in body):
        issues.append(Issue("role_order", container, msg("no_user", "no user turn"),
                            msg("fix_no_user", "add the question turn first"), False))
        return msgs
    # leading non-user turns
    lead = 0
    while lead < len(body) and body[lead]["role"] != "user":
        lead += 1
    if lead:
        issues.append(Issue("role_order", f"{container}[{len(head)}]",
                            msg("starts_with", "the conversation starts with {role}, not the user",
                                role=body[0]["role"]),
                            msg("fix_starts_with", "put the user's question first (fix drops the turns before it)"),
                            True))
        body = body[lead:]
    # consecutive turns of the same speaker
    merged: list[dict] = []
    for j, m in enumerate(body):
        prev = merged[-1] if merged else None
        if prev and m["role"] == prev["role"] and m["role"] in ("user", "assistant") \
                and not prev.get("tool_calls") and not m.get("tool_calls"):
            issues.append(Issue("role_order", f"{container}[{len(head) + lead + j}]",
                                msg("two_in_a_row", "two {role} turns in a row", role=m["role"]),
                                msg("fix_two_in_a_row", "make user and assistant alternate (fix joins the two turns)"),
                                True))
            merged[-1] = dict(prev, content=f"{prev['content']}\n\n{m['content']}")
            continue
        if m["role"] == "tool" and not (prev and (prev.get("tool_calls") or prev["role"] == "tool")):
            issues.append(Issue("role_order", f"{container}[{len(head) + lead + j}]",
                                msg("orphan_tool", "a tool result that follows no tool call"),
                                msg("fix_orphan_tool", "put it after the assistant's tool call"), False))
        merged.append(m)
    body = merged
    if body and body[-1]["role"] != "assistant" or (body and body[-1].get("tool_calls")):
        k = len(body)
        while k and (body[k - 1]["role"] != "assistant" or body[k - 1].get("tool_calls")):
            k -= 1
        issues.append(Issue("not_ending_with_assistant", container,
                            msg("ends_with", "the conversation ends with {role}, not an assistant answer",
                                role=body[-1]["role"]),
                            msg("fix_ends_with", "add the final answer (fix drops the unanswered turns at the end)"),
                            k > 0))
        body = body[:k] if k else body
    for j, m in enumerate(body):
        content = m.get("content")
        if isinstance(content, str) and not content.strip():
            if m["role"] == "assistant" and not m.get("tool_calls"):
                issues.append(Issue("empty_answer", f"{container}[{j}]",
                                    msg("empty_answer_ws", "empty assistant answer (whitespace only)") if content
                                    else msg("empty_answer", "empty assistant answer"),
                                    msg("fix_empty_answer", "write the answer, or drop the record"), False))
            elif m["role"] == "user":
                issues.append(Issue("empty_turn", f"{container}[{j}]",
                                    msg("empty_turn_ws", "empty user turn (whitespace only)") if content
                                    else msg("empty_turn", "empty user turn"),
                                    msg("fix_empty_turn", "write the question, or drop the record"), False))
    return head + body


# -- conversation → record ---------------------------------------------------------------------------------------
def from_messages(msgs: list[dict], target: str, meta: dict | None = None) -> dict:
    """A conversation as one record in ``target`` (Alpaca puts earlier turns in ``history``)."""
    if meta is None:
        meta = getattr(msgs, "meta", None) or {}
    if target == "messages":
        row = {"messages": [dict(m) for m in msgs]}
    elif target == "sharegpt":
        row = {"conversations": [_to_sharegpt_turn(m) for m in msgs]}
    elif target == "alpaca":
        row = _to_alpaca(msgs, meta)
    else:
        raise DanluError(f"unknown target format {target!r}", fix=f"use one of {', '.join(TARGETS)}")
    for k, v in meta.items():
        if k not in row and not (target == "alpaca" and k == "input"):
            row[k] = v
    return row


def _to_sharegpt_turn(m: dict) -> dict:
    extras = {k: v for k, v in m.items() if k not in ("role", "content")}
    if m["role"] == "assistant" and m.get("tool_calls"):
        calls = [c.get("function", c) if isinstance(c, dict) else c for c in m["tool_calls"]]
        turn = {"from": "function_call", "value": json.dumps(calls[0] if len(calls) == 1 else calls,
                                                             ensure_ascii=False)}
        if m.get("content") != "":
            turn["content"] = m.get("content")
        turn.update(extras)
        return turn
    turn = {"from": TO_SHAREGPT[m["role"]], "value": m["content"]}
    turn.update(extras)
    return turn


def alpaca_problem(msgs: list[dict]) -> str | None:
    """Why a conversation cannot be written as Alpaca, or None."""
    body = [m for m in msgs if m["role"] != "system"]
    if any(m["role"] == "tool" or m.get("tool_calls") for m in body):
        return "tool calls and tool results have no place in Alpaca"
    if any(set(m) - {"role", "content"} for m in msgs):
        return "turn fields other than role/content have no place in Alpaca"
    if len(body) % 2 or any(m["role"] != ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(body)):
        return "Alpaca needs user/assistant pairs"
    return None


def _to_alpaca(msgs: list[dict], meta: dict) -> dict:
    why = alpaca_problem(msgs)
    if why:
        raise RecordError("unconvertible", "messages", f"cannot be written as Alpaca: {why}",
                          "convert to sharegpt or messages instead, which keep every turn")
    system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
    body = [m for m in msgs if m["role"] != "system"]
    pairs = [(body[i]["content"], body[i + 1]["content"]) for i in range(0, len(body) - 1, 2)]
    last_q, last_a = pairs[-1]
    extra = meta.get("input")
    instruction, inp = last_q, ""
    if isinstance(extra, str) and extra:
        if last_q == extra:
            instruction, inp = "", extra
        elif last_q.endswith("\n" + extra):
            instruction, inp = last_q[: -len(extra) - 1], extra
    row = {"instruction": instruction, "input": inp, "output": last_a}
    if system:
        row["system"] = system
    if len(pairs) > 1:
        row["history"] = [list(p) for p in pairs[:-1]]
    return row


# -- LLaMA-Factory dataset_info.json ------------------------------------------------------------------------------
def dataset_info_entry(file_name: str, target: str, *, has_tools: bool = False) -> dict:
    """The LLaMA-Factory ``dataset_info.json`` entry that reads a file danlu wrote in ``target`` format."""
    if target == "alpaca":
        return {"file_name": file_name, "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                                    "system": "system", "history": "history"}}
    if target == "sharegpt":
        entry = {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "conversations"},
                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                          "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}}
    else:
        entry = {"file_name": file_name, "formatting": "sharegpt", "columns": {"messages": "messages"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                          "assistant_tag": "assistant", "observation_tag": "tool", "system_tag": "system"}}
    if has_tools:
        entry["columns"]["tools"] = "tools"
    return entry
