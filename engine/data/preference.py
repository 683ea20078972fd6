"""Preference data: which of two answers is better (DPO, ORPO, SimPO) or whether one answer is good (KTO).

Detected from the records' fields, in the forms people have:

* ``trl``: TRL's standard form, ``prompt`` / ``chosen`` / ``rejected`` as texts;
* ``trl_conversational``: the same with message lists (``prompt`` the turns before the answer, ``chosen`` and
  ``rejected`` one assistant turn each); UltraFeedback's binarised form, ``chosen`` / ``rejected`` as whole
  conversations with or without ``prompt``, is read as this with the shared turns as the prompt (TRL's implicit
  prompt);
* ``alpaca_preference``: LLaMA-Factory's Alpaca form with ``chosen`` / ``rejected`` (``"ranking": true`` in its
  dataset_info.json): ``instruction``, ``input``, ``system``, ``history`` as for SFT;
* ``sharegpt_preference``: LLaMA-Factory's ShareGPT form, ``conversations`` plus ``chosen`` / ``rejected`` turns;
* ``kto``: TRL's unpaired form, ``prompt`` / ``completion`` / ``label`` (true: a good answer).

Everything is read into :class:`Pair` (or :class:`Unpaired`) and written back in any of the forms
(:data:`TARGETS`); a pair feeds every stage, an unpaired record only KTO (:func:`stages`).  :func:`doctor` checks
what preference data gets wrong — identical or empty sides, the prompt repeated inside the answers, a length bias
(DPO learns "be longer" when the chosen answer is nearly always the longer one), duplicates, turns in the wrong
order — and :func:`split` keeps every prompt on one side of the split, so no held-out prompt was trained on.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import DanluError
from ..core.texts import msg

STAGES = ("dpo", "orpo", "simpo", "kto")  # the preference stages (engine.core.config.STAGES adds sft)
FORMATS = ("trl", "trl_conversational", "alpaca_preference", "sharegpt_preference", "kto")
TARGETS = {"preference": "trl_conversational", "trl": "trl", "kto": "kto", "alpaca_preference": "alpaca_preference",
           "sharegpt_preference": "sharegpt_preference"}
LENGTH_BIAS = 0.9  # chosen longer in more than this share of pairs (or shorter in more): DPO learns length
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
         "bot": "assistant", "model": "assistant"}


@dataclass
class Pair:
    prompt: list  # messages before the answer: system?, user, (assistant, user)…
    chosen: str
    rejected: str
    line: int = 0

    def key(self) -> tuple:
        return (json.dumps(self.prompt, ensure_ascii=False, sort_keys=True), self.chosen, self.rejected)

    def prompt_key(self) -> str:
        return json.dumps(self.prompt, ensure_ascii=False, sort_keys=True)


@dataclass
class Unpaired:
    prompt: list
    completion: str
    label: bool
    line: int = 0

    def prompt_key(self) -> str:
        return json.dumps(self.prompt, ensure_ascii=False, sort_keys=True)


@dataclass
class Problem:
    line: int
    code: str
    what: object  # a Msg
    action: str = "dropped"  # dropped | kept (a warning)


@dataclass
class PreferenceData:
    """A preference file read whole: its form, its pairs (or unpaired records), and what the doctor found."""

    path: str
    format: str
    records: int
    pairs: list = field(default_factory=list)
    unpaired: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # dataset-level (Msg each): a length bias
    stats: dict = field(default_factory=dict)

    @property
    def paired(self) -> bool:
        return not self.unpaired

    def stages(self) -> tuple:
        return stages(self.format)

    def to_dict(self) -> dict:
        return {"file": self.path, "format": self.format, "kind": "preference" if self.paired else "unpaired",
                "stages": list(self.stages()), "records": self.records,
                "kept": len(self.pairs) if self.paired else len(self.unpaired),
                "problems": [{"line": p.line, "code": p.code, "what": str(p.what), "action": p.action}
                             for p in self.problems],
                "warnings": [str(w) for w in self.warnings], "stats": self.stats}


def stages(fmt: str) -> tuple:
    """The stages a file of this form can feed: pairs feed all (KTO takes each side as one good and one bad
    answer), unpaired records only KTO."""
    return ("kto",) if fmt == "kto" else STAGES


# -- detection ---------------------------------------------------------------------------------------------------
def _is_turns(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) for m in value)


def _is_turn(value) -> bool:
    return isinstance(value, dict) and any(k in value for k in ("content", "value"))


def row_format(row) -> str | None:
    """The preference form of one record, or None when it is not preference data."""
    if not isinstance(row, dict):
        return None
    keys = set(row)
    if {"completion", "label"} <= keys and "prompt" in keys:
        return "kto"
    if not {"chosen", "rejected"} <= keys:
        return None
    chosen = row["chosen"]
    if "conversations" in keys and (_is_turn(chosen) or isinstance(chosen, str)):
        return "sharegpt_preference"
    if "instruction" in keys:
        return "alpaca_preference"
    if _is_turns(chosen) or _is_turns(row.get("prompt")):
        return "trl_conversational"
    if isinstance(chosen, str) and isinstance(row.get("prompt"), str):
        return "trl"
    return None


def detect(sample: list) -> tuple[str | None, int]:
    """The form most records of ``sample`` have, and how many have it (None, 0: not preference data)."""
    votes: dict = {}
    for row in sample:
        fmt = row_format(row)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
    if not votes:
        return None, 0
    fmt = max(votes, key=votes.get)
    return fmt, votes[fmt]


def looks_like(path) -> str | None:
    """The preference form of the file at ``path`` from its first records (None: not preference data, or not
    readable: the SFT reader then says what is wrong with it)."""
    from .read import open_source

    try:
        src, records = open_source(str(path), lambda problem: None)
        entry = src.spec if is_lf_preference(src.spec) else None
        sample = []
        for rec in records:
            sample.append(from_dataset_info(rec.data, entry) if entry else rec.data)
            if len(sample) >= 32:
                break
    except (DanluError, OSError, ValueError):
        return None
    fmt, votes = detect(sample)
    return fmt if fmt and votes * 2 > len(sample) else None


# -- reading -----------------------------------------------------------------------------------------------------
def is_lf_preference(entry: dict | None) -> bool:
    """A LLaMA-Factory dataset_info.json entry for preference data: ``"ranking": true`` (pairs) or a ``kto_tag``
    column (KTO's unpaired answers)."""
    return bool(entry) and (bool(entry.get("ranking")) or bool((entry.get("columns") or {}).get("kto_tag")))


def from_dataset_info(row, entry: dict):
    """A record of a LLaMA-Factory preference entry with the standard field names of its form, read through the
    entry's ``columns`` and ``tags`` (LLaMA-Factory's defaults where it names none): alpaca ``prompt``/``query``/
    ``chosen``/``rejected``/``system``/``history``; sharegpt (or openai) ``messages`` with its role and content
    tags, ``chosen``/``rejected`` one turn each; a ``kto_tag`` column makes the last answer a KTO record."""
    if not isinstance(row, dict):
        return row
    cols = entry.get("columns") or {}
    col = lambda key, default: cols.get(key, default)  # noqa: E731
    if entry.get("formatting", "alpaca") == "alpaca":
        out = {"instruction": row.get(col("prompt", "instruction")), "input": row.get(col("query", "input"))}
        for key in ("system", "history"):
            if row.get(col(key, key)) is not None:
                out[key] = row[col(key, key)]
        if cols.get("kto_tag"):  # the question (and its input) as the prompt; the response is the one answer
            question = "\n".join(v for v in (out["instruction"], out["input"]) if isinstance(v, str) and v.strip())
            return {"prompt": question or out["instruction"], "completion": row.get(col("response", "output")),
                    "label": row.get(cols["kto_tag"])}
        return {**out, "chosen": row.get(col("chosen", "chosen")), "rejected": row.get(col("rejected", "rejected"))}
    openai = entry.get("formatting") == "openai"
    tags = entry.get("tags") or {}
    role_tag, content_tag = tags.get("role_tag", "role" if openai else "from"), tags.get("content_tag",
                                                                                       "content" if openai else "value")
    roles = {tags.get("user_tag", "user" if openai else "human"): "user",
             tags.get("assistant_tag", "assistant" if openai else "gpt"): "assistant",
             tags.get("system_tag", "system"): "system"}

    def turn(m):
        if not isinstance(m, dict):
            return m
        return {"role": roles.get(m.get(role_tag), m.get(role_tag)), "content": m.get(content_tag)}

    messages = row.get(col("messages", "messages" if openai else "conversations"))
    turns = [turn(m) for m in messages] if isinstance(messages, list) else messages
    system = row.get(col("system", "system"))
    if cols.get("kto_tag") and isinstance(turns, list) and turns:
        prompt = ([{"role": "system", "content": system}] if isinstance(system, str) and system.strip() else [])
        return {"prompt": prompt + turns[:-1], "completion": turns[-1], "label": row.get(cols["kto_tag"])}
    out = {"conversations": turns, "chosen": turn(row.get(col("chosen", "chosen"))),
           "rejected": turn(row.get(col("rejected", "rejected")))}
    if system is not None:
        out["system"] = system
    return out


def _text(value, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return _text(value.get("content", value.get("value")), what)
    if _is_turns(value):  # a one-turn answer written as a list
        answers = [m for m in value if ROLES.get(str(m.get("role", m.get("from", ""))).lower()) == "assistant"]
        if len(answers) == 1:
            return _text(answers[0], what)
    raise ValueError(f"{what}: not a text")


def _turns(value, what: str) -> list:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not _is_turns(value):
        raise ValueError(f"{what}: not a list of turns")
    out = []
    for m in value:
        role = ROLES.get(str(m.get("role", m.get("from", ""))).lower())
        content = m.get("content", m.get("value"))
        if role is None or not isinstance(content, str):
            raise ValueError(f"{what}: a turn without a known role and a text")
        out.append({"role": role, "content": content})
    return out


def _split_implicit(chosen: list, rejected: list) -> tuple[list, str, str]:
    """Whole conversations that share their first turns: those turns are the prompt (TRL's implicit prompt)."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    if n == 0 or n != len(chosen) - 1 or n != len(rejected) - 1:
        raise ValueError("chosen/rejected: the two conversations must share every turn but the last answer")
    return chosen[:n], _text(chosen[n], "chosen"), _text(rejected[n], "rejected")


def to_pair(row: dict, fmt: str, line: int = 0):
    """One record as a :class:`Pair` (or :class:`Unpaired` for ``kto``). Raises ValueError('field: what')."""
    if fmt == "kto":
        label = row.get("label")
        if not isinstance(label, bool):
            raise ValueError("label: must be true (a good answer) or false (a bad one)")
        return Unpaired(_turns(row["prompt"], "prompt"), _text(row["completion"], "completion"), label, line)
    if fmt == "trl":
        return Pair(_turns(row["prompt"], "prompt"), _text(row["chosen"], "chosen"), _text(row["rejected"], "rejected"),
                    line)
    if fmt == "trl_conversational":
        chosen, rejected = row["chosen"], row["rejected"]
        if _is_turns(chosen) and _is_turns(rejected) and (len(chosen) > 1 or "prompt" not in row):
            c, r = _turns(chosen, "chosen"), _turns(rejected, "rejected")
            prompt = _turns(row["prompt"], "prompt") if "prompt" in row else []
            if prompt and c[: len(prompt)] == prompt and r[: len(prompt)] == prompt:
                c, r = c[len(prompt):], r[len(prompt):]  # UltraFeedback: the answers repeat the prompt's turns
                if len(c) == 1 and len(r) == 1:
                    return Pair(prompt, _text(c[0], "chosen"), _text(r[0], "rejected"), line)
            p, ct, rt = _split_implicit(prompt + c if prompt and c[0] != prompt[0] else c,
                                        prompt + r if prompt and r[0] != prompt[0] else r)
            return Pair(p, ct, rt, line)
        return Pair(_turns(row["prompt"], "prompt"), _text(chosen, "chosen"), _text(rejected, "rejected"), line)
    if fmt == "alpaca_preference":
        prompt = []
        if isinstance(row.get("system"), str) and row["system"].strip():
            prompt.append({"role": "system", "content": row["system"]})
        for turn in row.get("history") or []:
            if not (isinstance(turn, (list, tuple)) and len(turn) == 2):
                raise ValueError("history: each turn must be [question, answer]")
            prompt += [{"role": "user", "content": str(turn[0])}, {"role": "assistant", "content": str(turn[1])}]
        question = _text(row["instruction"], "instruction")
        if isinstance(row.get("input"), str) and row["input"].strip():
            question += "\n" + row["input"]
        prompt.append({"role": "user", "content": question})
        return Pair(prompt, _text(row["chosen"], "chosen"), _text(row["rejected"], "rejected"), line)
    if fmt == "sharegpt_preference":
        prompt = _turns(row["conversations"], "conversations")
        if isinstance(row.get("system"), str) and row["system"].strip() and prompt[0]["role"] != "system":
            prompt.insert(0, {"role": "system", "content": row["system"]})
        return Pair(prompt, _text(row["chosen"], "chosen"), _text(row["rejected"], "rejected"), line)
    raise ValueError(f"format: unknown preference format {fmt}")


def load(path, *, fmt: str | None = None) -> PreferenceData:
    """Read, convert and check a preference file (see the module's docstring)."""
    from .read import open_source

    problems: list = []
    src, records = open_source(str(path), lambda problem: problems.append(
        Problem(problem.line, "unreadable", msg("pf_unreadable", "{what}", what=str(problem.what)))))
    entry = src.spec if is_lf_preference(src.spec) else None  # a dataset_info.json entry names the columns
    rows = [(rec.line, from_dataset_info(rec.data, entry) if entry else rec.data) for rec in records]
    if fmt is None:
        fmt, votes = detect([r for _, r in rows[:64]])
        if fmt is None:
            raise DanluError(msg("pf_not_preference", "no preference data: the records have no chosen/rejected "
                                                      "answers (nor prompt/completion/label)"), where=str(path),
                             fix=msg("pf_fix_fields", "give each record a prompt and a chosen and a rejected answer "
                                                      "(TRL or LLaMA-Factory form; see `danlu data inspect --help`)"))
    out = PreferenceData(str(path), fmt, len(rows))
    for line, row in rows:
        own = row_format(row)  # each record in its own form: concatenated files mix them
        if own is None or (own == "kto") != (fmt == "kto"):
            out.problems.append(Problem(line, "other_form", msg(
                "pf_other_form", "not a {what} record", what="prompt/completion/label" if fmt == "kto" else
                "prompt/chosen/rejected")))
            continue
        try:
            item = to_pair(row, own, line)
        except (ValueError, KeyError, TypeError) as exc:
            out.problems.append(Problem(line, "unusable", msg("pf_unusable", "{why}", why=str(exc).strip("'\""))))
            continue
        (out.unpaired if isinstance(item, Unpaired) else out.pairs).append(item)
    out.problems += problems
    doctor(out)
    return out


# -- the doctor --------------------------------------------------------------------------------------------------
def _repeats_prompt(prompt: list, answer: str) -> bool:
    """The last question copied into the answer (an implicit prompt extracted wrong, or a template leak)."""
    question = next((m["content"] for m in reversed(prompt) if m["role"] == "user"), "").strip()
    return len(question) >= 24 and question in answer


def doctor(d: PreferenceData) -> None:
    """Drop what cannot teach (identical or empty sides, wrong turn order, exact duplicates), flag what may teach
    the wrong thing (the prompt inside an answer; a length bias over the whole set); fills ``d.stats``."""
    keep, seen = [], set()
    for p in d.pairs:
        if not p.chosen.strip() or not p.rejected.strip():
            d.problems.append(Problem(p.line, "empty", msg("pf_empty", "an empty {side} answer",
                                                           side="chosen" if not p.chosen.strip() else "rejected")))
        elif p.chosen.strip() == p.rejected.strip():
            d.problems.append(Problem(p.line, "identical", msg("pf_identical", "chosen and rejected are the same "
                                                                               "answer: nothing to prefer")))
        elif not p.prompt or p.prompt[-1]["role"] != "user":
            d.problems.append(Problem(p.line, "turns", msg("pf_turns", "the prompt must end with a user turn")))
        elif p.key() in seen:
            d.problems.append(Problem(p.line, "duplicate", msg("pf_duplicate", "the same pair again")))
        else:
            seen.add(p.key())
            if _repeats_prompt(p.prompt, p.chosen) or _repeats_prompt(p.prompt, p.rejected):
                d.problems.append(Problem(p.line, "prompt_in_answer", msg(
                    "pf_prompt_in_answer", "the question is repeated inside an answer (was the prompt split off "
                                           "right?)"), action="kept"))
            keep.append(p)
    d.pairs = keep
    good = []
    for u in d.unpaired:
        if not u.completion.strip():
            d.problems.append(Problem(u.line, "empty", msg("pf_empty", "an empty {side} answer", side="completion")))
        elif not u.prompt or u.prompt[-1]["role"] != "user":
            d.problems.append(Problem(u.line, "turns", msg("pf_turns", "the prompt must end with a user turn")))
        else:
            good.append(u)
    d.unpaired = good
    d.problems.sort(key=lambda p: p.line)
    if d.pairs:
        longer = sum(len(p.chosen) > len(p.rejected) for p in d.pairs) / len(d.pairs)
        d.stats.update(pairs=len(d.pairs), chosen_longer=round(longer, 3),
                       chosen_chars=_median([len(p.chosen) for p in d.pairs]),
                       rejected_chars=_median([len(p.rejected) for p in d.pairs]),
                       prompts=len({p.prompt_key() for p in d.pairs}))
        if longer > LENGTH_BIAS or longer < 1 - LENGTH_BIAS:
            long_, short = msg("pf_longer", "longer"), msg("pf_shorter", "shorter")
            d.warnings.append(msg("pf_length_bias", "the chosen answer is the {which} one in {pct:.0f} % of pairs: "
                                                    "DPO would learn to answer {how} rather than better (add pairs "
                                                    "where the better answer is the {other} one)",
                                  which=long_ if longer > 0.5 else short, pct=100 * max(longer, 1 - longer),
                                  how=long_ if longer > 0.5 else short, other=short if longer > 0.5 else long_))
    if d.unpaired:
        good_share = sum(u.label for u in d.unpaired) / len(d.unpaired)
        d.stats.update(records=len(d.unpaired), desirable=round(good_share, 3))


def _median(values: list) -> int:
    return sorted(values)[len(values) // 2] if values else 0


# -- writing, splitting ------------------------------------------------------------------------------------------
def as_record(item, target: str) -> dict:
    """One pair (or unpaired record) in the form ``target`` (a value of :data:`TARGETS`)."""
    if isinstance(item, Unpaired):
        if target != "kto":
            raise DanluError(msg("pf_unpaired_only_kto", "unpaired records (prompt/completion/label) can only be "
                                                         "written for KTO"), fix=msg("pf_fix_to_kto", "use --to kto"))
        return {"prompt": item.prompt, "completion": [{"role": "assistant", "content": item.completion}],
                "label": item.label}
    if target == "trl_conversational":
        return {"prompt": item.prompt, "chosen": [{"role": "assistant", "content": item.chosen}],
                "rejected": [{"role": "assistant", "content": item.rejected}]}
    if target == "trl":
        if len(item.prompt) != 1:
            raise DanluError(msg("pf_trl_one_turn", "TRL's standard form holds one question without a system "
                                                    "prompt; line {line} has {n} turns", line=item.line,
                                 n=len(item.prompt)), fix=msg("pf_fix_conversational", "use --to preference"))
        return {"prompt": item.prompt[0]["content"], "chosen": item.chosen, "rejected": item.rejected}
    if target == "alpaca_preference":
        turns = [m for m in item.prompt if m["role"] != "system"]
        system = next((m["content"] for m in item.prompt if m["role"] == "system"), None)
        history = [[turns[i]["content"], turns[i + 1]["content"]] for i in range(0, len(turns) - 1, 2)]
        out = {"instruction": turns[-1]["content"], "input": "", "chosen": item.chosen, "rejected": item.rejected}
        if system:
            out["system"] = system
        if history:
            out["history"] = history
        return out
    if target == "sharegpt_preference":
        names = {"user": "human", "assistant": "gpt", "system": "system"}
        return {"conversations": [{"from": names[m["role"]], "value": m["content"]} for m in item.prompt],
                "chosen": {"from": "gpt", "value": item.chosen}, "rejected": {"from": "gpt", "value": item.rejected}}
    if target == "kto":  # a pair as two unpaired records: the chosen answer good, the rejected one bad
        raise AssertionError("pairs become KTO records in records()")
    raise DanluError(msg("pf_unknown_target", "unknown preference form {target}", target=target),
                     fix=msg("fix_one_of", "use one of {allowed}", allowed=", ".join(TARGETS)))


def records(d: PreferenceData, target: str) -> list[dict]:
    """Every kept item of ``d`` in the form ``target``; pairs written for KTO become a good and a bad record."""
    if target == "kto" and d.pairs:
        return [as_record(Unpaired(p.prompt, answer, good, p.line), "kto") for p in d.pairs
                for answer, good in ((p.chosen, True), (p.rejected, False))]
    return [as_record(item, target) for item in (d.pairs or d.unpaired)]


def write(rows: list[dict], path) -> Path:
    """JSONL (or a JSON array for a .json path), written whole or not at all."""
    from ..core import atomic

    path = Path(path)
    if path.suffix.lower() == ".json":
        return atomic.write_text(path, json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    return atomic.write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def split(items: list, eval_ratio: float, seed: int = 42) -> tuple[list, list]:
    """Train and held-out items, every prompt on one side only (no held-out prompt was trained on)."""
    groups: dict = {}
    for item in items:
        groups.setdefault(item.prompt_key(), []).append(item)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    want = round(len(items) * eval_ratio) if eval_ratio > 0 else 0
    held, train = [], []
    for k in keys:
        (held if len(held) < want else train).extend(groups[k])
    return train, held


def leakage(train: list, held: list) -> int:
    """Held-out items whose prompt is also in the training items."""
    seen = {i.prompt_key() for i in train}
    return sum(i.prompt_key() in seen for i in held)


def longer_conversation(item) -> list:
    """The prompt with the pair's longer answer: what one sequence of the pair holds (its token count plans the
    sequence length; the wizard previews it)."""
    answer = max((item.chosen, item.rejected), key=len) if isinstance(item, Pair) else item.completion
    return item.prompt + [{"role": "assistant", "content": answer}]


def data_report(d: PreferenceData):
    """``d`` as the data doctor's report of an SFT file (engine.data.DataReport): format ``preference``, the pair
    doctor's findings as problems by line, its warnings as notes."""
    from .model import DataReport, Problem as DataProblem

    items = d.pairs or d.unpaired
    problems = [DataProblem(d.path, p.line, "pair", p.what, msg("pf_fix_line", "fix or drop this line"), kind=p.code,
                            severity="warning" if p.action == "kept" else "error",
                            action="kept" if p.action == "kept" else "skipped") for p in d.problems]
    evidence = msg("pf_evidence", "{n} of {records} records are {what}", n=len(items), records=d.records,
                   what=msg("pf_pairs", "chosen/rejected pairs") if d.pairs else
                   msg("pf_unpaired", "answers labelled good or bad"))
    return DataReport(d.path, "preference", evidence, 1.0, d.records, len(items), problems,
                      notes=[str(w) for w in d.warnings], stats=dict(d.stats))


def conversations(items: list) -> list:
    """The chosen side as SFT conversations (the SFT loss on chosen answers, the report's eval loss)."""
    return [p.prompt + [{"role": "assistant", "content": p.chosen}] for p in items if isinstance(p, Pair)]
