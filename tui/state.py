"""What the wizard has gathered so far: the probe, the model, the data, the plan.

Plain data, no Textual: the screens read and write it, the tests inspect it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def sample_data_file() -> Path:
    from danlu.engine.plan import demo

    return demo.sample_data_file()


@dataclass
class WizardState:
    demo: bool = False
    probe: object = None  # engine.plan.hardware.Probe
    gpu: int | None = None
    model: str = ""
    trust_remote_code: bool = False
    data_file: str = ""
    data_report: object = None  # engine.data.DataReport of the data file
    conversations: list = field(default_factory=list)  # cleaned conversations, ready to split
    # preference data (engine.data.preference): the pair behind each of ``conversations`` (its prompt with the
    # longer answer), and the stage they train (dpo, orpo, simpo, kto; sft trains ``conversations`` themselves)
    pairs: list = field(default_factory=list)
    stage: str = "sft"
    removed: dict = field(default_factory=dict)  # conversations dropped, per cleaning rule
    data_choices: dict = field(default_factory=dict)  # the Data screen's cleaning toggles (tui.dataview.CHOICES)
    data_mapping: dict | None = None  # a column mapping the user confirmed or edited
    data_target: str = "messages"  # format of the written training files: messages, sharegpt or alpaca
    eval_ratio: float = 0.1
    token_lengths: list = field(default_factory=list)  # tokens per conversation of `conversations` (None: rejected)
    task: str = "general"
    method: str = "auto"  # auto (the planner's pick), full, lora or qlora
    plan: object = None  # engine.plan.Plan: what Save / Start run
    overrides: dict = field(default_factory=dict)  # TrainConfig fields the user edited
    run_path: str | None = None  # the run directory prepared for this plan
    # the plan after a finished run (the dashboard's "next plan"): that run's held-out conversations, kept as they
    # are (``conversations`` are then its training ones, not split again), and the run it follows
    held: list | None = None
    after_run: str | None = None
    after_diagnosis: object = None  # engine.runs.diagnosis.Diagnosis of that run
    after_values: dict = field(default_factory=dict)  # the settings it changed, and to what

    def after_changed(self) -> tuple:
        """The settings that still hold the diagnosis's values (the plan says they came from it)."""
        return tuple(k for k, v in self.after_values.items() if self.overrides.get(k) == v)

    def train_lengths(self) -> list | None:
        """Token lengths of the conversations the training split will hold (None: not counted yet), for the plan."""
        if not self.token_lengths:
            return None
        if self.held is not None:  # a run's own split: every conversation here trains
            return list(self.token_lengths)
        if self.preference():  # the pairs' own split (every prompt on one side): the lengths of those that train
            train, _ = self.pair_split()
            where = {id(p): i for i, p in enumerate(self.pairs)}
            return [self.token_lengths[where[id(p)]] for p in train if where[id(p)] < len(self.token_lengths)]
        from danlu.engine import plan

        try:
            seed = int(float(self.overrides.get("seed", 42)))
        except (TypeError, ValueError):
            seed = 42  # the plan reports the bad seed itself
        return plan.train_lengths(self.token_lengths, self.eval_ratio, seed)

    def held_out(self) -> int | None:
        """How many conversations the split holds out for evaluation (None: no data read yet)."""
        if self.held is not None:
            return len(self.held)
        if not self.conversations:
            return None
        if self.preference():
            return len(self.pair_split()[1])
        from danlu.engine.data import split_counts

        return split_counts(len(self.conversations), self.eval_ratio)[1]

    def preference(self) -> bool:
        """Whether the plan trains a preference stage on the pairs."""
        return self.stage != "sft" and bool(self.pairs)

    def seed(self) -> int:
        try:
            return int(float(self.overrides.get("seed", 42)))
        except (TypeError, ValueError):
            return 42

    def pair_split(self) -> tuple[list, list]:
        """The pairs that train and those held out (engine.data.preference.split: a prompt stays on one side)."""
        from danlu.engine.data import preference

        return preference.split(self.pairs, self.eval_ratio, self.seed()) if self.eval_ratio > 0 else \
            (list(self.pairs), [])

    def demo_reason(self):
        """Why the plan's method is the demo's (None unless the wizard runs the demo with its LoRA default)."""
        if not (self.demo and self.method == "lora"):
            return None
        from danlu.engine.plan import DEMO_METHOD

        return DEMO_METHOD

    @classmethod
    def after(cls, inputs, *, probe=None) -> "WizardState":
        """The wizard's inputs for the plan after a finished run (engine.plan.next_inputs): its model, method and
        settings with the diagnosis's changes, its own training and held-out conversations."""
        return cls(probe=probe, model=inputs.model, method=inputs.method, trust_remote_code=inputs.trust_remote_code,
                   conversations=list(inputs.train), held=list(inputs.held), token_lengths=list(inputs.lengths or []),
                   overrides=dict(inputs.overrides), data_file=str(Path(inputs.run) / "data" / "train.jsonl"),
                   after_run=inputs.run, after_diagnosis=inputs.diagnosis, eval_ratio=0.0,
                   after_values={k: inputs.overrides[k] for k in inputs.changed})

    @classmethod
    def for_demo(cls, demo: bool) -> "WizardState":
        st = cls(demo=demo)
        if demo:
            from danlu.engine.plan import demo as demo_settings

            st.model = demo_settings.default_model()
            st.method = "lora"  # the demo trains a LoRA adapter, as `danlu quickstart` does
            st.data_file = str(sample_data_file())
        return st
