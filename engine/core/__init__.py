"""The engine's ground floor: what every stage shares and nothing above it.

:mod:`.errors` (the one user-facing error, with a code and values for the wizard's words), :mod:`.texts` (English
texts that remember their code and values), :mod:`.events` (the run's event records), :mod:`.atomic` (files written
whole or not at all), :mod:`.paths` (bundled files, DANLU_HOME), :mod:`.guard` (never write onto an input, never
signal a process that is not ours), :mod:`.config` (TrainConfig, validated where it enters), :mod:`.presets`
(the bundled presets/ files).
"""

from . import events, paths, presets
from .config import METHODS, TrainConfig
from .errors import DanluError, debug_hint
from .texts import Msg, from_json, msg, said, to_json, with_said

__all__ = ["DanluError", "debug_hint", "Msg", "msg", "to_json", "from_json", "said", "with_said", "TrainConfig", "METHODS", "events",
           "paths", "presets"]
