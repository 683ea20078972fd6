"""Training: the runner (recipe, callbacks, control, checkpoints, out-of-memory back-off) and the resume rules.

:mod:`.runner` (``run`` in the foreground, ``detach`` in a new session, ``request`` stop/checkpoint),
:mod:`.resume` (whether and how a run resumes).
"""

from .runner import TrainResult, detach, latest_checkpoint, request, run

__all__ = ["run", "detach", "request", "latest_checkpoint", "TrainResult"]
