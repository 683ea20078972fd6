"""Inference: chat (streaming, base vs tuned), the REPL, and the evaluation report.

:mod:`.chat` (load a run's model, sample, stream whole characters), :mod:`.repl` (the terminal chat),
:mod:`.evaluate` (eval loss, ROUGE-L/BLEU, stability, forgetting), :mod:`.metrics`, :mod:`.loss` (the loss on
assistant tokens).
"""

from .chat import ChatSession, Reply, Sampling, Target, load, locate, shown
from .evaluate import markdown as eval_markdown, report as eval_report

__all__ = ["ChatSession", "Reply", "Sampling", "Target", "load", "locate", "shown", "eval_report", "eval_markdown"]
