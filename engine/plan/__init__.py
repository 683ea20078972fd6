"""Plan: every training decision, made once, as a value.

:mod:`.value` (``make`` → a frozen :class:`Plan`, each value with its reason), :mod:`.memory` (the memory model and
the method/batch search), :mod:`.recipe` (batch, learning rate, epochs, warm-up, evaluation from the data),
:mod:`.hardware` (NVML probe), :mod:`.tasks` (task presets), :mod:`.demo` (the offline demo's settings),
:mod:`.prepare` (a plan's config written into a run directory, with its data).
"""

from . import demo, hardware, recipe, tasks
from .demo import DEMO_METHOD
from .hardware import GPU, Probe
from .prepare import Geometry, check_config, geometry, prepare_run, run_name
from .tasks import load as load_tasks
from .value import (COMPARED, NextInputs, Plan, choose_seq_len, demo_plan, make, next_inputs, next_plan, of_config,
                    seq_len_cap, token_lengths, train_lengths)

__all__ = ["Plan", "make", "next_plan", "next_inputs", "NextInputs", "demo_plan", "of_config", "choose_seq_len",
           "seq_len_cap", "token_lengths", "train_lengths", "COMPARED", "Geometry", "geometry", "check_config",
           "prepare_run", "run_name",
           "load_tasks", "DEMO_METHOD", "Probe", "GPU", "demo", "hardware", "recipe", "tasks"]
