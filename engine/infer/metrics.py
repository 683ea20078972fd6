"""Text overlap metrics for generated answers: ROUGE-L (rouge-score) and BLEU (sacrebleu), CJK-aware.

rouge-score's default tokenizer keeps ASCII letters and digits only, so a Chinese answer would
score zero whatever it says; here Chinese, Japanese and Korean characters are tokens of their own
and other text is split into lower-cased words, so both languages score meaningfully.  BLEU uses
sacrebleu's ``zh`` tokenizer (CJK characters split, the rest like ``13a``) when a reference holds
CJK text, ``13a`` otherwise.  The scores themselves are the libraries' own.
"""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W_]+", re.UNICODE)


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text or ""))


class CJKTokenizer:
    """For rouge-score: one token per CJK character, lower-cased words for everything else."""

    def tokenize(self, text: str) -> list[str]:
        return [t.lower() for t in _WORD.findall(text or "")]


def rouge_l(predictions: list[str], references: list[str]) -> float:
    """Mean ROUGE-L F1 over the pairs (0..1)."""
    from rouge_score import rouge_scorer

    if not predictions:
        return float("nan")
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CJKTokenizer())
    scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]
    return sum(scores) / len(scores)


def bleu_tokenizer(references: list[str]) -> str:
    return "zh" if any(has_cjk(r) for r in references) else "13a"


def bleu(predictions: list[str], references: list[str]) -> float:
    """Corpus BLEU (0..100) of the predictions against one reference each."""
    import sacrebleu

    if not predictions:
        return float("nan")
    return float(sacrebleu.corpus_bleu(predictions, [references], tokenize=bleu_tokenizer(references)).score)


def agreement(texts: list[str]) -> float:
    """How much several answers to the same prompt agree: mean pairwise ROUGE-L F1 (1 = identical)."""
    from rouge_score import rouge_scorer

    if len(texts) < 2:
        return 1.0
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CJKTokenizer())
    pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1:]]
    return sum(scorer.score(a, b)["rougeL"].fmeasure if (a.strip() or b.strip()) else 1.0 for a, b in pairs) / len(pairs)
