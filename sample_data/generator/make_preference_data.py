"""Preference pairs for the Huace Lab sample data: lab_consultant.preference.jsonl (standard library only).

Each conversation of lab_consultant.messages.jsonl becomes one pair: the prompt is every turn before the last
answer, the chosen answer is the lab's own (specific: standards, figures, what to send), the rejected one is what
a customer-support model should not say, one of two kinds, half each:

* ``evasive``: a polite answer that says nothing specific ("it depends, please contact us"), of a length drawn
  around the chosen answer's, so that the chosen answer is not simply the longer one;
* ``off_topic``: the lab's answer to another question in the same language, a confident answer to the wrong
  question.

The file is TRL's conversational preference form ({"prompt": [...], "chosen": [...], "rejected": [...]}) with
a ``kind`` field naming the rejected answer's kind and a ``lang``; deterministic (fixed seed).

    python sample_data/generator/make_preference_data.py
"""

from __future__ import annotations

import json
import os
import random

SEED = 20261206
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # sample_data/

EVASIVE_EN = [
    "Thanks for reaching out!",
    "That's a great question.",
    "It really depends on a number of factors.",
    "Every case is a little different, so it is hard to give a general answer.",
    "Requirements can vary quite a bit from one situation to another.",
    "I'd recommend getting in touch with our team so that we can look into it for you.",
    "Our customer service colleagues will be happy to help with the details.",
    "Please feel free to contact us at any time.",
    "We always aim to provide the best possible service to our customers.",
    "There are many options available, and the right one depends on your needs.",
    "It is best to discuss this with a specialist before making a decision.",
    "Let me know if there is anything else I can help you with!",
    "We will do our best to accommodate your request.",
    "Quality and customer satisfaction are our top priorities.",
]
EVASIVE_ZH = [
    "感谢您的咨询！",
    "这是个好问题。",
    "这要看具体情况。",
    "每个情况都不太一样，很难一概而论。",
    "不同情况下的要求可能差别很大。",
    "建议您直接联系我们的团队，我们会为您具体了解。",
    "客服同事会很乐意为您解答细节。",
    "如有需要，欢迎随时联系我们。",
    "我们始终致力于为客户提供最好的服务。",
    "可选的方案有很多，合适的方案取决于您的需求。",
    "做决定之前最好先和专业人员沟通一下。",
    "如果还有其他问题，请随时告诉我！",
    "我们会尽力满足您的要求。",
    "质量和客户满意度是我们最重视的。",
]


def lang_of(text: str) -> str:
    return "zh" if sum("\u4e00" <= ch <= "\u9fff" for ch in text) > len(text) * 0.1 else "en"


def evasive(rng: random.Random, lang: str, target_chars: int) -> str:
    """Sentences of the evasive kind, about ``target_chars`` long (at least two sentences)."""
    pool = list(EVASIVE_ZH if lang == "zh" else EVASIVE_EN)
    rng.shuffle(pool)
    sep = "" if lang == "zh" else " "
    out = []
    while pool and (len(out) < 2 or len(sep.join(out)) < target_chars):
        out.append(pool.pop())
    return sep.join(out)


def main() -> None:
    rng = random.Random(SEED)
    convs = []
    with open(os.path.join(HERE, "lab_consultant.messages.jsonl"), encoding="utf-8") as fh:
        for line in fh:
            msgs = json.loads(line)["messages"]
            if msgs[-1]["role"] == "assistant":
                convs.append(msgs)
    by_lang: dict = {}
    for i, msgs in enumerate(convs):
        by_lang.setdefault(lang_of(msgs[-1]["content"]), []).append(i)
    rows = []
    for i, msgs in enumerate(convs):
        prompt, chosen = msgs[:-1], msgs[-1]["content"]
        lang = lang_of(chosen)
        if rng.random() < 0.5:
            kind = "evasive"
            # around the chosen answer's length, capped: an evasive answer does not run to a page
            rejected = evasive(rng, lang, min(int(len(chosen) * rng.uniform(0.5, 1.4)), 600))
        else:
            kind = "off_topic"
            other = i
            while other == i or convs[other][-1]["content"] == chosen:
                other = rng.choice(by_lang[lang])
            rejected = convs[other][-1]["content"]
        rows.append({"prompt": prompt, "chosen": [{"role": "assistant", "content": chosen}],
                     "rejected": [{"role": "assistant", "content": rejected}], "kind": kind, "lang": lang})
    path = os.path.join(HERE, "lab_consultant.preference.jsonl")
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    longer = sum(len(r["chosen"][0]["content"]) > len(r["rejected"][0]["content"]) for r in rows) / len(rows)
    print(f"wrote {len(rows)} pairs to {path}; chosen longer in {longer:.0%}")


if __name__ == "__main__":
    main()
