"""Run directories: status, config, events, checkpoints and the process that owns them (:mod:`.store`), and the
verdict on a finished run with its next plan (:mod:`.diagnosis`)."""

from . import diagnosis
from .diagnosis import Diagnosis, diagnose
from .store import (DAMAGED, SHOWN_STATES, STATES, EventReader, RunBusy, RunDir, RunSummary, create, is_run,
                    list_runs, read_json, resolve, training_now)

__all__ = ["RunDir", "RunSummary", "EventReader", "RunBusy", "create", "is_run", "list_runs", "resolve", "read_json", "training_now",
           "STATES", "SHOWN_STATES", "DAMAGED", "Diagnosis", "diagnose", "diagnosis"]
