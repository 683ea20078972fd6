"""Evaluation: did the model learn the data, and did it forget everything else?

:func:`eval_loss` is the loss on held-out conversations (assistant tokens only), used by the
trainer too.  :func:`report` is ``danlu eval RUN``: one loaded model, the adapter switched off for
the base side and on for the tuned side (a full fine-tune loads its base beside it when memory
allows), and

* eval loss and perplexity on the held-out split, base and tuned;
* ROUGE-L and BLEU of greedy answers to held-out prompts against their reference answers, base and
  tuned (engine.infer.metrics: rouge-score and sacrebleu, CJK-aware);
* stability: the same prompts several times at a sampling temperature, and how much the answers agree;
* a forgetting probe: general prompts outside the training domain (presets/general_prompts.yaml),
  answered greedily by the base model; how far the tuned model moved from the base on those answers
  (mean KL divergence of the next-token distributions, and its perplexity of them), with a verdict in
  plain words and what to do;
* side-by-side examples, and the template check (engine.models.template.check): the chat-time prompt is
  byte-identical to the training format and generation stops where training taught it to.

The report is written to the run as ``eval.json`` and ``eval.md``; the wizard only renders them.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from ..models.encode import IGNORE
from ..core.texts import msg, said

# forgetting verdicts by the mean KL divergence (nats per token) between base and tuned on the base's answers
KL_LITTLE, KL_SOME = 0.1, 0.5


def batches(rows: list[dict], size: int, pad_id: int):
    """Right-padded tensors (input_ids, attention_mask, labels) for ``rows`` in order."""
    import torch

    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        width = max(len(r["input_ids"]) for r in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
        for j, r in enumerate(chunk):
            n = len(r["input_ids"])
            ids[j, :n] = torch.tensor(r["input_ids"])
            mask[j, :n] = 1
            labels[j, :n] = torch.tensor(r["labels"])
        yield ids, mask, labels


def eval_loss(model, rows: list[dict], *, pad_id: int, batch_size: int = 8, progress=None) -> float:
    """Mean cross-entropy per assistant token over ``rows`` (token-weighted, not batch-weighted); ``progress(done,
    total)`` hears of each batch."""
    import torch
    import torch.nn.functional as F

    from . import loss as loss_mod

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    sparse = loss_mod.supports(model)  # the LM head on assistant positions only: same loss, less work
    try:
        with torch.no_grad():
            n_batches = -(-len(rows) // batch_size)
            for i, (ids, mask, labels) in enumerate(batches(rows, batch_size, pad_id)):
                if progress is not None:
                    progress(i, n_batches)
                if sparse:
                    part, n = loss_mod.loss_sum(model, {"input_ids": ids.to(device), "attention_mask": mask.to(device),
                                                        "labels": labels.to(device)})
                    total += float(part)
                    count += n
                    continue
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
                logits = logits[:, -ids.shape[1]:]  # prompt tuning prepends virtual tokens: score the real ones
                shift_logits = logits[:, :-1].reshape(-1, logits.size(-1))
                shift_labels = labels[:, 1:].reshape(-1).to(device)
                total += F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE, reduction="sum").item()
                count += int((shift_labels != IGNORE).sum())
    finally:
        model.train(was_training)
    return total / count if count else math.nan


# -- preference pairs --------------------------------------------------------------------------------------------
def answer_rows(tokenizer, prompt: list, answer: str, max_len: int) -> dict:
    """A prompt and one answer encoded with labels on the answer's tokens only (not on earlier turns' answers)."""
    from ..models import encode

    row = encode.encode(tokenizer, list(prompt) + [{"role": "assistant", "content": answer}], max_len)
    labels, end = list(row["labels"]), len(row["labels"])
    while end and labels[end - 1] == IGNORE:
        end -= 1
    start = end
    while start and labels[start - 1] != IGNORE:
        start -= 1
    row["labels"] = [IGNORE] * start + labels[start:end] + [IGNORE] * (len(labels) - end)
    return row


def answer_logps(model, rows: list[dict], *, pad_id: int, batch_size: int = 4, progress=None) -> list[float]:
    """Each row's mean log-probability per answer token (length-normalised: a longer answer is not less likely
    for being longer)."""
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[float] = []
    try:
        with torch.no_grad():
            n_batches = -(-len(rows) // batch_size)
            for i, (ids, mask, labels) in enumerate(batches(rows, batch_size, pad_id)):
                if progress is not None:
                    progress(i, n_batches)
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
                logits = logits[:, -ids.shape[1]:]
                shift = labels[:, 1:].to(device)
                nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), shift, ignore_index=IGNORE, reduction="none")
                counts = (shift != IGNORE).sum(dim=1).clamp(min=1)
                out += (-(nll.sum(dim=1) / counts)).tolist()
    finally:
        model.train(was_training)
    return out


def preference_scores(model, tokenizer, pairs: list, max_len: int, *, base: bool = False, progress=None) -> dict:
    """On held-out pairs: ``accuracy``, the share whose chosen answer has the higher length-normalised
    log-probability, and ``margin``, the mean difference (nats per token); ``base`` scores with the adapter off."""
    import contextlib

    rows = [answer_rows(tokenizer, p.prompt, answer, max_len) for p in pairs for answer in (p.chosen, p.rejected)]
    off = model.disable_adapter() if base else contextlib.nullcontext()
    with off:
        logps = answer_logps(model, rows, pad_id=tokenizer.pad_token_id, progress=progress)
    diffs = [logps[2 * i] - logps[2 * i + 1] for i in range(len(pairs))]
    return {"accuracy": round(sum(d > 0 for d in diffs) / len(diffs), 4) if diffs else None,
            "margin": round(sum(diffs) / len(diffs), 4) if diffs else None, "pairs": len(diffs)}


# -- the evaluation report -------------------------------------------------------------------------------------
def _eval_prompts(convs: list, n: int, seed: int = 0) -> list[dict]:
    """Up to ``n`` prompts: each conversation up to its last assistant turn, with that turn as the reference."""
    from ..data import select

    out = []
    for conv in select.sample(list(convs), n, seed):
        last = max((i for i, m in enumerate(conv) if m["role"] == "assistant"), default=None)
        if last is None or not any(m["role"] == "user" for m in conv[:last]):
            continue
        out.append({"messages": [dict(m) for m in conv[:last]], "reference": conv[last]["content"]})
    return out


def _general_prompts() -> list[dict]:
    import yaml

    from ..core import paths

    return yaml.safe_load((paths.presets_dir() / "general_prompts.yaml").read_text(encoding="utf-8")) or []


def _answer_nll_kl(model, tokenizer, messages: list[dict], answer_ids: list[int], base_side) -> tuple[float, float,
                                                                                                       float, int]:
    """For the base model's answer to ``messages``: (its mean NLL under the tuned model, under the base, mean
    KL(base || tuned) per answer token, number of answer tokens)."""
    import torch
    import torch.nn.functional as F

    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)["input_ids"][0].tolist()
    ids = torch.tensor([prompt + answer_ids])
    n = len(answer_ids)
    if n == 0:
        return 0.0, 0.0, 0.0, 0
    device = next(model.parameters()).device
    with torch.no_grad():  # counted from the end: prompt tuning puts its virtual tokens' logits in front
        tuned = model(input_ids=ids.to(device)).logits[0, -n - 1:-1].float().log_softmax(-1)
        base_model, off = base_side
        with (base_model.disable_adapter() if off else _null()):
            base = base_model(input_ids=ids.to(device)).logits[0, -n - 1:-1].float().log_softmax(-1)
    target = torch.tensor(answer_ids, device=tuned.device)
    nll_t = -tuned.gather(1, target[:, None]).mean().item()
    nll_b = -base.gather(1, target[:, None]).mean().item()
    kl = F.kl_div(tuned, base, log_target=True, reduction="none").sum(-1).mean().item()
    return nll_t, nll_b, kl, n


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def forgetting_verdict(kl: float, replay: float = 0.0) -> tuple[str, str]:
    """The probe's verdict and advice.  ``replay``: the share of general conversations the run already mixed in
    (its config's replay): the advice does not tell a run to do what it did.  bench/recipe.md measured that a larger
    share holds back little of the drift on its own (0.1 → 0.2: KL 0.74 → 0.76 with sampled answers, 1.00 → 0.94 with
    greedy ones), and a lower rate more (extract: half the rate, KL 0.23 against 0.52, at about the same loss)."""
    if kl < KL_LITTLE:
        return (msg("fg_little", "the tuned model answers general questions almost exactly like the base model: little "
                                 "forgetting"),
                msg("fg_little_do", "nothing to do"))
    if kl < KL_SOME:
        return (msg("fg_some", "the tuned model has moved somewhat from the base model on general questions"),
                msg("fg_some_do_mixed", "the run already mixed in {pct:g} % general conversations; if its general "
                                        "answers matter, lower the learning rate or train fewer epochs (it then learns "
                                        "the data a little less too)", pct=round(100 * replay))
                if replay else
                msg("fg_some_do", "if its general answers matter, mix 10–20 % general chat data into the training "
                                  "set (`danlu data clean --mix FILE --mix-ratio 0.15`)"))
    return (msg("fg_much", "the tuned model has moved a lot from the base model on general questions: it may have "
                           "forgotten general abilities"),
            msg("fg_much_do_mixed", "the run already mixed in {pct:g} % general conversations, which held back only "
                                    "part of it: lower the learning rate or train fewer epochs",
                pct=round(100 * replay))
            if replay else
            msg("fg_much_do", "mix 10–20 % general chat data in (`danlu data clean --mix FILE --mix-ratio 0.15`), "
                              "lower the learning rate or train fewer epochs"))


# the report's size: the default is quick enough for after every run (about 100 s for the demo's run on 2 CPU
# cores), --full answers more prompts at more length
DEFAULT = {"samples": 8, "stability_prompts": 3, "max_new_tokens": 128}
FULL = {"samples": 32, "stability_prompts": 6, "max_new_tokens": 256}


def report(ref: str, data_file: str | None = None, *, samples: int = DEFAULT["samples"],
           stability_prompts: int = DEFAULT["stability_prompts"], stability_runs: int = 5, temperature: float = 0.7,
           max_new_tokens: int = DEFAULT["max_new_tokens"], probe: bool = True,
           write: bool = True, progress=lambda stage, text: None, checkpoint=None,
           cancelled=lambda: False) -> dict:
    """The evaluation report of a run (or a model: then without the base side); see the module's docstring.

    ``cancelled`` is asked before every step (a wizard closing); it raises InterruptedError then."""
    import psutil

    from . import chat, metrics
    from .. import data
    from ..models import encode, template
    from ..runs import store as runs

    shown_progress = progress
    timing: dict = {}  # seconds per part of the report (its stages), in the report: where the time goes
    clock = {"stage": None, "at": time.time()}

    def progress(stage, text):  # noqa: F811 - the caller's, behind a cancellation check
        if cancelled():
            raise InterruptedError("evaluation cancelled")
        now = time.time()
        if clock["stage"] is not None:
            timing[clock["stage"]] = round(timing.get(clock["stage"], 0.0) + now - clock["at"], 1)
        clock.update(stage=stage, at=now)
        shown_progress(stage, text)

    t0 = time.time()
    target = chat.locate(ref, checkpoint)
    run = runs.RunDir(Path(target.run)) if target.run else None
    if data_file is None:
        if run is None or not (run.data_dir / "eval.jsonl").exists():
            from ..core.errors import DanluError

            raise DanluError("no held-out data to evaluate on", where=ref,
                             fix="pass --data FILE (a run keeps its held-out split in data/eval.jsonl)")
        data_file = str(run.data_dir / "eval.jsonl")
    cfg = _run_config(run)
    stage = cfg.stage if cfg else "sft"
    seq_len = (cfg.max_seq_len if cfg else None) or 4096  # scored at the run's length (the longest for a model)
    pairs = []
    if stage != "sft":  # a preference run: its held-out pairs, their chosen answers as the conversations to score
        from ..data import preference

        held = preference.load(data_file)
        pairs = held.pairs
        convs = preference.conversations(pairs) or [u.prompt + [{"role": "assistant", "content": u.completion}]
                                                    for u in held.unpaired if u.label]
    else:
        convs, _ = data.load_conversations(data_file)
    if not convs:
        from ..core.errors import DanluError

        raise DanluError("the evaluation data holds no usable conversation", where=str(data_file),
                         fix="check it with `danlu data inspect`")
    progress("load", msg("ev_load", "loading {what}", what=target.describe()))
    proc = psutil.Process()
    model, tokenizer = chat.load(ref, target=target)
    session = chat.ChatSession(model, tokenizer, target=target)
    rss_loaded = proc.memory_info().rss
    compare_ok, compare_how = session.can_compare()
    base_side = session._base_side() if compare_ok else None
    rss_both = proc.memory_info().rss
    sides = ["tuned"] + (["base"] if base_side else [])
    out: dict = {"run": target.run, "model": target.base_ref or target.base, "method": target.method,
                 "checkpoint": target.checkpoint, "data": str(data_file), "eval_conversations": len(convs),
                 "base_side": compare_how}

    # 1. loss and perplexity
    # scored as the trainer scored them (its sequence length): the base loss here is the run's step-0 evaluation
    rows = encode.encode_all(tokenizer, convs, seq_len)
    progress("loss", msg("ev_loss", "eval loss on {n} held-out conversations ({sides})", n=len(rows),
                         sides=tuple(_side(s) for s in sides)))
    for side in sides:
        m = model if side == "tuned" else base_side[0]
        if side == "base" and base_side[1]:
            with m.disable_adapter():
                loss = eval_loss(m, rows, pad_id=tokenizer.pad_token_id, batch_size=4)
        else:
            loss = eval_loss(m, rows, pad_id=tokenizer.pad_token_id, batch_size=4)
        out[side] = {"eval_loss": loss, "perplexity": math.exp(loss) if loss < 50 else None}
    out["eval_loss"], out["perplexity"] = out["tuned"]["eval_loss"], out["tuned"]["perplexity"]
    if pairs:  # which answer of a held-out pair each side prefers
        out["stage"] = stage
        out["preference"] = {"pairs": len(pairs)}
        for side in sides:
            m, off = (model, False) if side == "tuned" else base_side
            out["preference"][side] = preference_scores(
                m, tokenizer, pairs, seq_len, base=bool(off), progress=lambda d, n, side=side:
                progress("preference", msg("ev_pref", "{side}: preference on {n} held-out pairs, batch {d}/{b}",
                                           side=_side(side), n=len(pairs), d=d + 1, b=n)))

    # 2. greedy answers vs references (a batch of prompts per generate call: the report's slowest part)
    prompts = _eval_prompts(convs, samples)
    greedy = chat.Sampling(max_new_tokens=max_new_tokens, repetition_penalty=chat.EVAL_REPETITION_PENALTY)
    answers = {side: [] for side in sides}
    stops = []
    for side in sides:
        m, off = (model, False) if side == "tuned" else base_side
        done = {"d": 0}

        def batch_done(d, n, side=side):
            done["d"] = d
            progress("generate", msg("ev_generate", "{side}: greedy answers to held-out prompts {d}/{n}",
                                     side=_side(side), d=d, n=n))

        replies = chat.answers(m, tokenizer, [q["messages"] for q in prompts], greedy, base=off, progress=batch_done,
                               tokens=lambda k, of, side=side: progress("generate", msg(
                                   "ev_generate_tokens", "{side}: greedy answers to held-out prompts {d}/{n}, "
                                                         "token {k}/{of}", side=_side(side), d=done["d"],
                                   n=len(prompts), k=k, of=of)))
        answers[side] = [r.text for r in replies]
        if side == "tuned":
            stops = [r.finished_on for r in replies]
    refs = [q["reference"] for q in prompts]
    out["generation"] = {"prompts": len(prompts), "max_new_tokens": max_new_tokens,
                         "repetition_penalty": greedy.repetition_penalty,
                         "bleu_tokenize": metrics.bleu_tokenizer(refs)}
    for side in sides:
        out[side]["rouge_l"] = metrics.rouge_l(answers[side], refs)
        out[side]["bleu"] = metrics.bleu(answers[side], refs)
    out["examples"] = [{"prompt": q["messages"][-1]["content"], "reference": q["reference"],
                        "tuned": chat.shown(answers["tuned"][i]),
                        "base": chat.shown(answers["base"][i]) if "base" in answers else None}
                       for i, q in enumerate(prompts[:3])]

    # 3. stability
    sampled = chat.Sampling(temperature=temperature, top_p=0.95, max_new_tokens=min(max_new_tokens, 64))
    stab = []
    for i, q in enumerate(prompts[:stability_prompts], 1):
        progress("stability", msg("ev_stability", "prompt {i}/{n}: {runs} answers at temperature {temp:g}", i=i,
                                  n=min(stability_prompts, len(prompts)), runs=stability_runs, temp=temperature))
        sampled.seed = 1000 + i  # the runs of one prompt are sampled together, in one batch
        texts = [r.text for r in chat.answers(model, tokenizer, [q["messages"]] * stability_runs, sampled)] \
            if stability_runs else []
        stab.append({"prompt": q["messages"][-1]["content"], "agreement": metrics.agreement(texts),
                     "distinct": len(set(t.strip() for t in texts))})
    mean_agree = sum(s["agreement"] for s in stab) / len(stab) if stab else None
    out["stability"] = {"temperature": temperature, "runs": stability_runs, "prompts": stab, "agreement": mean_agree,
                        "verdict": None if mean_agree is None else (
                            msg("st_stable", "stable: answers at this temperature say much the same")
                            if mean_agree >= 0.6 else
                            msg("st_varied", "varied: answers at this temperature differ a lot; use a lower "
                                             "temperature for predictable answers"))}

    # 4. forgetting probe
    if probe and base_side:
        general = _general_prompts()
        rows_f = []
        asked = [[{"role": "user", "content": g["prompt"]}] for g in general]
        base_replies = chat.answers(base_side[0], tokenizer, asked, chat.Sampling(max_new_tokens=48), base=base_side[1],
                                    progress=lambda d, n: progress("forgetting", msg(
                                        "ev_forget_base", "base answers to general prompts {d}/{n}", d=d, n=n)),
                                    tokens=lambda k, of: progress("forgetting", msg(
                                        "ev_forget_base_tokens", "base answers to general prompts, token {k}/{of}",
                                        k=k, of=of)))
        for i, (g, msgs, base_reply) in enumerate(zip(general, asked, base_replies), 1):
            progress("forgetting", msg("ev_forget", "general prompt {i}/{n}: how far the tuned model moved from the "
                                               "base answer", i=i, n=len(general)))
            nll_t, nll_b, kl, n = _answer_nll_kl(model, tokenizer, msgs, base_reply.token_ids, base_side)
            rows_f.append({"lang": g.get("lang"), "prompt": g["prompt"], "base_answer": chat.shown(base_reply.text),
                           "kl": kl, "ppl_tuned": math.exp(nll_t), "ppl_base": math.exp(nll_b), "tokens": n})
        tokens = sum(r["tokens"] for r in rows_f) or 1
        kl = sum(r["kl"] * r["tokens"] for r in rows_f) / tokens
        verdict, advice = forgetting_verdict(kl, cfg.replay if cfg else 0.0)
        out["forgetting"] = {"prompts": rows_f, "kl": kl,
                             "ppl_tuned": math.exp(sum(math.log(r["ppl_tuned"]) * r["tokens"] for r in rows_f) / tokens),
                             "ppl_base": math.exp(sum(math.log(r["ppl_base"]) * r["tokens"] for r in rows_f) / tokens),
                             "verdict": verdict, "advice": advice}
    else:
        out["forgetting"] = {"skipped": msg("fg_no_base", "no base model to compare with") if probe else
                             msg("fg_off", "turned off (--no-probe)")}

    # 5. template
    progress("template", msg("ev_template", "checking that chat prompts match the training format"))
    tmpl = template.check(tokenizer, [dict(m) for m in convs[0]] if any(m["role"] == "assistant" for m in convs[0])
                          else None)
    tmpl.pop("prompt", None)
    tmpl["generation_stopped_at_end_of_turn"] = sum(s == "end_of_turn" for s in stops)
    tmpl["generation_hit_max_new_tokens"] = sum(s == "max_new_tokens" for s in stops)
    out["template"] = tmpl
    out["memory"] = {"model_gb": round(chat.model_bytes(model) / 1e9, 3), "rss_after_load_gb": round(rss_loaded / 1e9, 3),
                     "rss_with_base_gb": round(rss_both / 1e9, 3),
                     "peak_rss_gb": round(_peak_rss() / 1e9, 3)}
    out["verdict"] = _overall(out)
    if run is not None:  # the run's own diagnosis (engine.runs.diagnosis), with this report's forgetting probe
        from ..runs import diagnosis

        d = diagnosis.read(run)
        if d is not None:
            out["diagnosis"] = d.to_dict()
            out["diagnosis"].pop("said", None)  # the report's own said (below) keeps its texts' codes
            if "kl" in out["forgetting"]:
                out["diagnosis"]["forgetting"] = {"kl": out["forgetting"]["kl"],
                                                  "verdict": out["forgetting"]["verdict"],
                                                  "advice": out["forgetting"]["advice"]}
    progress("write", msg("ev_write", "writing eval.json and eval.md"))
    out["timing"] = timing
    out["seconds"] = round(time.time() - t0, 1)
    out["said"] = said(out)  # its texts' codes: a viewer reading eval.json says them in its language (markdown(say=))
    if write and run is not None:
        from ..core import atomic

        name = "eval" if target.checkpoint is None else f"eval-{Path(target.checkpoint).name}"
        atomic.write_json(run.path / f"{name}.json", out)
        atomic.write_text(run.path / f"{name}.md", markdown(out))
        out["files"] = [str(run.path / f"{name}.json"), str(run.path / f"{name}.md")]
    return out


def _side(side: str):
    """"tuned" or "base", as a text a viewer may say in its language."""
    return msg("side_tuned", "tuned") if side == "tuned" else msg("side_base", "base")


def _run_config(run):
    """The run's TrainConfig; None for a model that is not a run, or a run whose config cannot be read (it is then
    evaluated as SFT, at the longest length, with no replay)."""
    if run is None:
        return None
    from ..core.config import TrainConfig

    try:
        return TrainConfig.load(run.config_path)
    except Exception:  # noqa: BLE001 - see the docstring
        return None


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _overall(r: dict) -> str:
    t, b = r.get("tuned", {}), r.get("base")
    if not b:
        return msg("ov_no_base", "Eval loss {loss:.3f}; no base model to compare with",
                   loss=t.get("eval_loss", float("nan")))
    learned = t["eval_loss"] < b["eval_loss"]
    closer = t.get("rouge_l", 0) > b.get("rouge_l", 0)
    if learned and closer:
        return msg("ov_learned_closer", "It learned the data: lower eval loss than the base; its answers are closer to "
                                        "the references")
    if learned:
        return msg("ov_learned", "It learned the data: lower eval loss than the base; its answers are not closer to "
                                 "the references than the base's")
    if closer:
        return msg("ov_not_learned_closer", "It did not learn the data: eval loss is not lower than the base's; its "
                                            "answers are closer to the references")
    return msg("ov_not_learned", "It did not learn the data: eval loss is not lower than the base's; its answers are "
                                 "not closer to the references than the base's")


def _fmt(x, spec=".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(r: dict, say=str) -> str:
    """The report as Markdown (eval.md), rendered by the wizard's Report view.

    Every phrase is a Msg (``rep_*``), said through ``say``: the English text by default, a viewer's own words when
    it passes its ``say`` (``r`` read from eval.json gets its texts' codes back from its ``said`` key)."""
    from ..core.texts import with_said

    r = with_said(r)
    t, b, gen = r["tuned"], r.get("base") or {}, r["generation"]

    def bold(text):
        return say(msg("rep_bold", "**{text}.**", text=say(text)))

    name = Path(r["run"]).name if r.get("run") else r["model"]
    data = r["data"]
    if r.get("run") and Path(data).is_relative_to(r["run"]):  # the run's own split: short enough to read whole
        data = str(Path(data).relative_to(r["run"]))
    lines = [say(msg("rep_title", "# Evaluation of {name}", name=name)), "", bold(r["verdict"]), "",
             say(msg("rep_about", "Base model: `{model}`, method {method}", model=r["model"],
                     method=r.get("method") or "-"))
             + (say(msg("rep_about_ckpt", ", checkpoint `{ckpt}`", ckpt=Path(r["checkpoint"]).name))
                if r.get("checkpoint") else "")
             + say(msg("rep_about_data", "; held-out data: `{data}` ({n} conversations).", data=data,
                       n=r["eval_conversations"]))
             + say(msg("rep_about_side", " {side}.", side=say(r["base_side"]))), "",
             f"| | {say(msg('rep_base', 'base'))} | {say(msg('rep_tuned', 'tuned'))} |", "|---|---|---|",
             f"| {say(msg('rep_loss', 'eval loss'))} | {_fmt(b.get('eval_loss'))} | {_fmt(t['eval_loss'])} |",
             f"| {say(msg('rep_ppl', 'perplexity'))} | {_fmt(b.get('perplexity'), '.2f')} | "
             f"{_fmt(t['perplexity'], '.2f')} |",
             "| " + say(msg("rep_rouge", "ROUGE-L F1 (greedy, repetition penalty {rep:g}, {n} prompts)",
                            rep=gen.get("repetition_penalty", 1.0), n=gen["prompts"]))
             + f" | {_fmt(b.get('rouge_l'))} | {_fmt(t.get('rouge_l'))} |",
             f"| BLEU ({gen['bleu_tokenize']}) | {_fmt(b.get('bleu'), '.1f')} | {_fmt(t.get('bleu'), '.1f')} |",
             ""]
    pf = r.get("preference")
    if pf:
        pb, pt = pf.get("base") or {}, pf.get("tuned") or {}
        lines += [say(msg("rep_pf_title", "## Preference ({stage})", stage=r.get("stage", "dpo"))), "",
                  say(msg("rep_pf_text", "On {n} held-out pairs: the share whose chosen answer the model finds more "
                                         "likely than the rejected one (per token), and the mean difference in "
                                         "log-probability per token.", n=pf["pairs"])), "",
                  f"| | {say(msg('rep_base', 'base'))} | {say(msg('rep_tuned', 'tuned'))} |", "|---|---|---|",
                  f"| {say(msg('rep_pf_accuracy', 'preference accuracy'))} | {_fmt(pb.get('accuracy'), '.2f')} | "
                  f"{_fmt(pt.get('accuracy'), '.2f')} |",
                  f"| {say(msg('rep_pf_margin', 'margin (nats/token)'))} | {_fmt(pb.get('margin'))} | "
                  f"{_fmt(pt.get('margin'))} |", ""]
    d = r.get("diagnosis")
    if d:
        lines += [say(msg("rep_dx_title", "## Diagnosis of the run")), "", bold(d["summary"]), ""]
        lines += [f"- {say(e)}" for e in d.get("evidence") or []]
        if d.get("forgetting"):
            lines.append("- " + say(msg("rep_dx_forget", "forgetting probe: {verdict} (KL {kl:.3f})",
                                        verdict=say(d["forgetting"]["verdict"]), kl=d["forgetting"]["kl"])))
        changes = ", ".join(f"{k}={v}" for k, v in (d.get("next_overrides") or {}).items())
        nxt = say(d["next_reason"]) if d.get("next_reason") else say(msg("rep_same_plan", "the same plan"))
        lines += ["", say(msg("rep_next", "Next: {what}", what=nxt + (f" ({changes})" if changes else "")))
                  + say(msg("rep_next_cmd", " — `danlu plan --from RUN` writes that plan.")), ""]
    s = r["stability"]
    if s.get("agreement") is not None:
        lines += [say(msg("rep_st_title", "## Stability")), "",
                  say(msg("rep_st_text", "The same prompt {runs} times at temperature {temp:g}: mean agreement "
                                         "(pairwise ROUGE-L) **{agree:.2f}** — {verdict}.", runs=s["runs"],
                          temp=s["temperature"], agree=s["agreement"], verdict=say(s["verdict"]))), ""]
        lines += ["- " + say(msg("rep_st_row", "{agree:.2f}, {n} distinct: {prompt}", agree=p["agreement"],
                                 n=p["distinct"], prompt=_clip(p["prompt"]))) for p in s["prompts"]]
        lines.append("")
    f = r["forgetting"]
    lines += [say(msg("rep_fg_title", "## Forgetting")), ""]
    if "skipped" in f:
        lines += [say(msg("rep_fg_skipped", "Skipped: {why}.", why=say(f["skipped"]))), ""]
    else:
        lines += [say(msg("rep_fg_text", "On {n} general prompts outside the training data (English and Chinese), "
                                         "the base model's own greedy answers: mean KL(base ‖ tuned) **{kl:.3f}** "
                                         "nats/token, their perplexity {pb:.2f} under the base and {pt:.2f} under the "
                                         "tuned model.", n=len(f["prompts"]), kl=f["kl"], pb=f["ppl_base"],
                          pt=f["ppl_tuned"])), "",
                  bold(f["verdict"]) + " " + say(msg("rep_fg_do", "What to do: {advice}.", advice=say(f["advice"]))),
                  ""]
    lines += [say(msg("rep_ex_title", "## Examples")), ""]
    for ex in r["examples"]:
        base = _clip(ex["base"]) if ex.get("base") is not None else "–"
        lines += [say(msg("rep_ex_prompt", "**Prompt:** {text}", text=_clip(ex["prompt"], 400))), "",
                  "- " + say(msg("rep_ex_ref", "reference: {text}", text=_clip(ex["reference"]))),
                  "- " + say(msg("rep_ex_base", "base: {text}", text=base)),
                  "- " + say(msg("rep_ex_tuned", "tuned: {text}", text=_clip(ex["tuned"]))), ""]
    tm = r["template"]

    def yes(ok):
        return say(msg("rep_yes", "yes")) if ok else say(msg("rep_no", "NO"))

    ended = tm["generation_stopped_at_end_of_turn"]
    stops = ", ".join(f"`{x}`" for x in tm["end_of_turn"])
    lines += [say(msg("rep_tm_title", "## Template check")), "",
              "- " + say(msg("rep_tm_prompt", "chat-time prompt byte-identical to the training format: {ok}",
                             ok=yes(tm["prompt_identical"]))),
              "- " + say(msg("rep_tm_tokens", "same tokens: {ok}", ok=yes(tm["tokens_identical"]))),
              "- " + say(msg("rep_tm_end", "training ends each answer with `{end}`; generation stops at {stops}: {ok}",
                             end=tm["trained_end"], stops=stops, ok=yes(tm["stops_on_trained_end"]))),
              "- " + say(msg("rep_tm_ended", "greedy answers that ended at the end-of-turn token: {n} of {total} (the "
                                             "others reached max_new_tokens)", n=ended,
                             total=ended + tm["generation_hit_max_new_tokens"])), "",
              say(msg("rep_footer", "_{s:.0f} s; peak RSS {rss:.2f} GB for a {gb:.2f} GB model._", s=r["seconds"],
                      rss=r["memory"]["peak_rss_gb"], gb=r["memory"]["model_gb"])), ""]
    return "\n".join(lines)


def _clip(text, n: int = 240) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"
