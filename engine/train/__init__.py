"""Training: the runner (recipe, callbacks, control, checkpoints, out-of-memory back-off) and the resume rules.

:mod:`.runner` (``run`` in the foreground, ``detach`` in a new session, ``request`` stop/checkpoint),
:mod:`.resume` (whether and how a run resumes), :mod:`.preference` (DPO, ORPO, SimPO and KTO on the same runner).
"""

from .runner import TrainResult, detach, latest_checkpoint, request, run
from . import preference  # noqa: E402,F401 - registers the preference stages' recipe with the runner

__all__ = ["run", "detach", "request", "latest_checkpoint", "TrainResult"]
