"""Data: pick a file; its detected format with the evidence (and a column-mapping editor when detection is unsure);
a preview of the conversations as the model will see them (the chosen model's chat template, trained tokens
marked); every problem with its line (Enter jumps to the row); cleaning choices with counts; a token-length
histogram against max_seq_len; the train/eval split; and the format the training files are written in.

The file is read once (:func:`tui.dataview.read`, in a worker); the cleaning toggles only re-select rows.  The
model's tokenizer loads in another worker (transformers is slow to import) while the screen shows a loading state.
The screen composes its parts (:mod:`.data_parts`: mapping editor, preview, problems, cleaning toggles, split and
format) and reacts to their messages; what the rules, counts and split are comes from the engine.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Header, Input, Label, Static
from textual.worker import get_current_worker


from .. import dataview
from ..strings import error_text, has, say, t
from ..widgets import KeysFooter
from .base import StepScreen
from .data_parts import CleaningChoices, MappingBox, PreviewPanel, ProblemsPanel, SplitAndFormat

_TOKENIZERS: dict = {}  # (model, trust_remote_code) -> tokenizer, kept while the app runs


class DataRead(Message):
    def __init__(self, gen: int, loaded: dataview.Loaded | None, error: str | None = None, columns=()):
        super().__init__()
        self.gen, self.loaded, self.error, self.columns = gen, loaded, error, list(columns)


class TokenizerLoaded(Message):
    def __init__(self, key: tuple, tokenizer, error: str | None = None):
        super().__init__()
        self.key, self.tokenizer, self.error = key, tokenizer, error


class TokensCounted(Message):
    def __init__(self, gen: int, tokens: list, error: str | None = None):
        super().__init__()
        self.gen, self.tokens, self.error = gen, tokens, error


class CopySaved(Message):
    def __init__(self, result, error: str | None = None):  # result: engine.data.CopyResult
        super().__init__()
        self.result, self.error = result, error


def bars(value: int, peak: int, width: int) -> str:
    eighths = round(8 * width * value / peak) if peak else 0
    full, part = divmod(eighths, 8)
    return "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")


def histogram_text(lengths: list, seq: int, width: int = 30) -> Text:
    """A horizontal bar per token-length bin up to max_seq_len, the rows over it in red, and a summary."""
    counted = [n for n in lengths if n is not None]
    if not counted:
        return Text(t("tok_none"), style="dim")
    rows = dataview.histogram(counted, seq)
    peak = max(c for _, _, c in rows) or 1
    label_w = len(f"{seq + 1}") * 2 + 1
    out = Text()
    for lo, hi, count in rows:
        over = hi is None
        label = f"> {seq}" if over else f"{lo}–{hi}"
        out.append(f"{label:>{label_w}} ", style="bold red" if over and count else "")
        out.append(bars(count, peak, width).ljust(width), style="red" if over else "cyan")
        out.append(f" {count}\n", style="bold red" if over and count else "")
    over = rows[-1][2]
    out.append(t("tok_summary", n=len(counted), median=dataview.percentile(counted, 0.5),
                 p95=dataview.percentile(counted, 0.95), max=max(counted), over=over, seq=seq),
               style="red" if over else "")
    return out


class DataScreen(StepScreen):
    HELP = "data"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+n", "next", "key_next"),
                Binding("ctrl+o", "sample", "key_sample"), Binding("ctrl+s", "save_copy", "key_save_copy")]
    PALETTE = [("sample", "key_sample"), ("save_copy", "key_save_copy"), ("next", "key_next")]

    def __init__(self):
        super().__init__()
        self.loaded: dataview.Loaded | None = None
        self.tokens: list | None = None
        self.tokenizer = None
        self._tok_loading = False
        self.kept: list[int] = []  # rows the cleaning keeps
        self.trained: list[int] = []  # … of which the run trains on (the demo keeps its languages)
        self.seq = 1024
        self._gen = 0

    @property
    def choices(self) -> dict:
        return {**dataview.DEFAULT_CHOICES, **self.wizard.data_choices}

    @property
    def mapping_box(self) -> MappingBox:
        return self.query_one(MappingBox)

    @property
    def cleaning(self) -> CleaningChoices:
        return self.query_one(CleaningChoices)

    @property
    def problems(self) -> ProblemsPanel:
        return self.query_one(ProblemsPanel)

    @property
    def preview(self) -> PreviewPanel:
        return self.query_one(PreviewPanel)

    @property
    def split_format(self) -> SplitAndFormat:
        return self.query_one(SplitAndFormat)

    def compose(self) -> ComposeResult:
        choices = self.choices
        yield Header()
        yield Static(t("step_data"), classes="step-title")
        with VerticalScroll(id="data-scroll", classes="body"):
            yield Static(t("data_file_hint"), classes="hint")
            yield Input(placeholder=t("data_file_placeholder"), id="path", compact=True)
            yield Static("", id="data-status", classes="hint", markup=False)
            yield Static("", id="data-format", markup=False)
            yield MappingBox(id="mapping-box")
            yield Static(t("preview"), classes="section")
            yield PreviewPanel(id="preview-panel")
            yield Static(t("problems"), classes="section")
            yield ProblemsPanel(lambda p: self._jump_line(p) is not None, id="problems-panel")
            yield Static(t("cleaning"), classes="section")
            yield CleaningChoices(choices, id="cleaning")
            yield Static(t("token_lengths"), classes="section")
            with Horizontal(classes="row"):
                yield Label("max_seq_len", classes="clabel")
                yield Input(id="seq", type="integer", compact=True)
                yield Static(t("seq_hint"), classes="hint")
            yield Static("", id="hist", markup=False)
            yield Static(t("split_and_format"), classes="section")
            yield SplitAndFormat(self.wizard.eval_ratio, self.wizard.data_target, id="split-format")
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_next"), id="next", variant="primary", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        w = self.wizard
        w.plan = None  # the data, its cleaning and its split may change here: the Plan step plans again
        self.seq = self._planned_seq()
        self.query_one("#seq", Input).value = str(self.seq)
        path = w.data_file
        if not path:
            from ..state import sample_data_file

            path = str(sample_data_file())
        inp = self.query_one("#path", Input)
        inp.value = path
        inp.focus()
        self._load_path(path, w.data_mapping if w.data_file == path else None)

    # -- reading ------------------------------------------------------------------------------------------------
    def action_sample(self) -> None:
        from ..state import sample_data_file

        self.query_one("#path", Input).value = str(sample_data_file())
        self._load_path(str(sample_data_file()))

    @on(Input.Submitted, "#path")
    def _submitted(self, event: Input.Submitted) -> None:
        self._load_path(event.value.strip())

    def _load_path(self, path: str, mapping: dict | None = None) -> None:
        self._gen += 1
        self.loaded, self.tokens, self.kept, self.trained = None, None, [], []
        status = self.query_one("#data-status", Static)
        status.update(t("reading", path=path))
        status.set_classes("loading")
        self._read(self._gen, path, mapping)
        self._ensure_tokenizer()

    @work(thread=True, exclusive=True, exit_on_error=False, group="data")
    def _read(self, gen: int, path: str, mapping: dict | None) -> None:
        from danlu.engine.core import DanluError

        worker = get_current_worker()
        p = Path(path).expanduser()
        try:
            if not p.exists():
                raise DanluError(t("file_not_found", path=str(p)), fix=t("fix_path"))
            self.post_message(DataRead(gen, dataview.read(p, mapping, cancelled=lambda: worker.is_cancelled)))
        except InterruptedError:
            return
        except DanluError as exc:
            self.post_message(DataRead(gen, None, error_text(exc), dataview.sample_columns(p) if p.exists() else ()))
        except Exception as exc:  # noqa: BLE001 - reported on the screen, never closes the app
            self.post_message(DataRead(gen, None, f"{type(exc).__name__}: {exc}"))

    @on(DataRead)
    def _data_read(self, msg: DataRead) -> None:
        if msg.gen != self._gen:
            return
        status = self.query_one("#data-status", Static)
        w = self.wizard
        if msg.error:
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            self.query_one("#data-format", Static).update("")
            self.preview.clear()  # nothing of the previous file stays on screen
            self.problems.clear()
            self.cleaning.clear()
            self.split_format.clear()
            self.query_one("#hist", Static).update("")
            w.conversations, w.data_report, w.token_lengths = [], None, []
            self.mapping_box.show(msg.columns, None, unsure=bool(msg.columns))
            return
        loaded = self.loaded = msg.loaded
        r = loaded.report
        if w.data_file != loaded.path:
            w.plan = None
        stages = loaded.preference.stages() if loaded.preference is not None else ("sft",)
        if w.stage not in stages:  # pairs train a preference stage (DPO first), conversations SFT
            w.stage = stages[0]
        w.data_file, w.data_report = loaded.path, r
        w.data_mapping = loaded.mapping
        conf = r.confidence
        text = t("data_format", format=t(f"fmt_{r.format}") if has(f"fmt_{r.format}") else r.format,
                 evidence=say(r.evidence or ""),
                 confidence=f"{conf:.0%}" if isinstance(conf, (int, float)) else "?")
        if r.mapping:
            text += "\n" + t("mapping_line", mapping=", ".join(f"{k}={v}" for k, v in r.mapping.items()))
        if loaded.preference is not None:  # what the pairs can train, and what the preview shows of them
            text += "\n" + t("pref_line", form=loaded.preference.format, stages=", ".join(stages))
            text += "".join(f"\n⚠ {say(w_)}" for w_ in loaded.preference.warnings)
        self.query_one("#data-format", Static).update(text)
        from danlu.engine.data import SURE_MAPPING

        unsure = r.mapping_source in ("proposed", "given") or (isinstance(conf, (int, float)) and conf < SURE_MAPPING)
        self.mapping_box.show(loaded.columns, r.mapping, unsure)
        self.split_format.save_path = dataview.copy_path(loaded.path, self.split_format.target)
        self.problems.show(r.problems, self.choices)
        self._apply()
        if self.tokenizer is not None:
            self._start_count()

    # -- the column mapping ---------------------------------------------------------------------------------------
    @on(MappingBox.Applied)
    def _apply_mapping(self, msg: MappingBox.Applied) -> None:
        self._load_path(self.query_one("#path", Input).value.strip(), msg.mapping)

    # -- the model's view ---------------------------------------------------------------------------------------
    def _ensure_tokenizer(self) -> None:
        w = self.wizard
        status = self.preview.status
        if not w.model:
            status.update(t("tok_no_model"))
            status.set_classes("hint")
            return
        key = (w.model, w.trust_remote_code)
        if key in _TOKENIZERS:
            self.tokenizer = _TOKENIZERS[key]
            status.update(t("tok_ready", model=w.model))
            status.set_classes("hint")
            return
        if self.tokenizer is None and not self._tok_loading:
            self._tok_loading = True
            status.update(t("tok_loading", model=w.model))
            status.set_classes("loading")
            self._load_tokenizer(key)

    @work(thread=True, exclusive=True, exit_on_error=False, group="tokenizer")
    def _load_tokenizer(self, key: tuple) -> None:
        from danlu.engine.core import DanluError

        try:
            self.post_message(TokenizerLoaded(key, dataview.preview_tokenizer(*key)))
        except DanluError as exc:
            self.post_message(TokenizerLoaded(key, None, error_text(exc)))
        except Exception as exc:  # noqa: BLE001
            self.post_message(TokenizerLoaded(key, None, f"{type(exc).__name__}: {exc}"))

    @on(TokenizerLoaded)
    def _tokenizer_loaded(self, msg: TokenizerLoaded) -> None:
        self._tok_loading = False
        status = self.preview.status
        if msg.error:
            status.update(t("tok_failed", model=msg.key[0], error=msg.error))
            status.set_classes("warn")
            return
        _TOKENIZERS[msg.key] = msg.tokenizer
        self.tokenizer = msg.tokenizer
        status.update(t("tok_ready", model=msg.key[0]))
        status.set_classes("hint")
        if self.loaded is not None:
            self._start_count()
        self.preview.render_current(self.tokenizer)

    def _start_count(self) -> None:
        if self.loaded is None or self.tokenizer is None:
            return
        status = self.preview.status
        status.update(t("tok_counting", model=self.wizard.model))
        status.set_classes("loading")
        self._count(self._gen, self.tokenizer, self.loaded.convs)

    @work(thread=True, exclusive=True, exit_on_error=False, group="tokens")
    def _count(self, gen: int, tokenizer, convs: list) -> None:
        worker = get_current_worker()
        try:
            self.post_message(TokensCounted(gen, dataview.token_counts(tokenizer, convs, lambda: worker.is_cancelled)))
        except InterruptedError:
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(TokensCounted(gen, [], f"{type(exc).__name__}: {exc}"))

    @on(TokensCounted)
    def _counted(self, msg: TokensCounted) -> None:
        if msg.gen != self._gen:
            return
        self.tokens = msg.tokens
        status = self.preview.status
        note = ""
        if msg.error:
            note = " " + t("tok_count_failed", error=msg.error)
        elif self.loaded and len(self.loaded.convs) > len(msg.tokens):
            note = " " + t("tok_sampled", n=len(msg.tokens))
        status.update(t("tok_ready", model=self.wizard.model) + note)
        status.set_classes("warn" if msg.error else "hint")
        self._apply()
        seq = self._planned_seq()
        if seq != self.seq:  # the plan's sequence length for these lengths (not an override: the user typed none)
            self.seq = seq
            with self.prevent(Input.Changed):
                self.query_one("#seq", Input).value = str(seq)
            self._apply()

    def _planned_seq(self) -> int:
        """max_seq_len as the plan will choose it: the user's value, else from the training split's token lengths
        (engine.plan.choose_seq_len, the rule every surface uses)."""
        from danlu.engine import plan

        w = self.wizard
        try:
            given = int(float(w.overrides["max_seq_len"]))
        except (KeyError, TypeError, ValueError):
            given = None
        return plan.choose_seq_len(w.model, w.train_lengths() or [], given)[0]

    # -- cleaning, preview, histogram, split ----------------------------------------------------------------------
    def _apply(self) -> None:
        """Select the rows that the cleaning choices keep, and show everything that depends on them."""
        if self.loaded is None:
            return
        w, loaded, choices = self.wizard, self.loaded, self.choices
        self.kept = dataview.keep(loaded, choices, self.tokens, self.seq)
        from danlu.engine.plan import demo

        # the demo on an English-centric model trains on the English half of the sample data (engine/plan/demo.py)
        w.conversations, select_note = demo.select(w.model, [loaded.convs[i] for i in self.kept], loaded.path)
        chosen = {id(c) for c in w.conversations}
        pair_of = {id(c): p for c, p in zip(loaded.convs, loaded.pairs)}
        w.pairs = [pair_of[id(c)] for c in w.conversations if id(c) in pair_of]  # empty for SFT data
        # what the screen counts, previews and charts is what will train (the demo's language filter included)
        self.trained = [i for i in self.kept if id(loaded.convs[i]) in chosen]
        if self.tokens is not None:  # the token length of each conversation that will train, for the plan
            counted = {id(loaded.convs[i]): self.tokens[i] for i in self.kept if i < len(self.tokens)}
            w.token_lengths = [counted.get(id(c)) for c in w.conversations]
        else:
            w.token_lengths = []
        counts = loaded.counts(self.tokens, self.seq, choices)
        # the overlong rows among those that would train (the demo's language filter too), as the histogram counts
        rows = dataview.keep(loaded, {**choices, "too_long": False})
        would = {id(c) for c in demo.select(w.model, [loaded.convs[i] for i in rows], loaded.path)[0]}
        tokens = self.tokens or []
        counts["too_long"] = sum(1 for i in rows if id(loaded.convs[i]) in would and i < len(tokens) and tokens[i]
                                 and self.seq and tokens[i] > self.seq)
        dropped = {name: counts[name] for name in dataview.CHOICES
                   if name != "fix" and choices.get(name) and counts[name]}
        if counts["fix"] and not choices.get("fix"):
            dropped["unrepaired"] = counts["fix"]
        w.removed = dropped
        r = loaded.report
        status = self.query_one("#data-status", Static)
        if self.guessed:  # not a ✓: nothing is known to be a dataset until its columns are confirmed
            status.update(t("data_summary_guess", records=r.records, kept=len(self.trained)))
            status.set_classes("warn")
        else:
            status.update(t("data_summary", records=r.records, kept=len(self.trained),
                            problems=len(r.problems), removed=sum(dropped.values()))
                          + (f"\n{say(select_note)}" if select_note else ""))
            status.set_classes("ok" if self.trained else "error")
        self.cleaning.show(counts, tokens_known=self.tokens is not None, seq=self.seq, kept=len(self.trained))
        self.preview.show(loaded.convs, self.trained, self.tokens, self.tokenizer)
        self.problems.set_choices(choices)
        self._update_hist()
        self._update_split()
        self._update_target()

    def _update_hist(self) -> None:
        hist = self.query_one("#hist", Static)
        if self.tokens is None:
            hist.update(Text(t("tok_wait"), style="dim"))
            return
        hist.update(histogram_text([self.tokens[i] for i in self.trained if i < len(self.tokens)], self.seq))

    def _update_split(self) -> None:
        from danlu.engine.data import split_counts

        self.split_format.show_split(*split_counts(len(self.wizard.conversations), self.wizard.eval_ratio))

    def _update_target(self) -> None:
        target = self.split_format.target
        note = t(f"target_note_{target}")
        if target == "alpaca":
            _, lost = dataview.convertible(self.wizard.conversations, target)
            note += " " + t("target_cannot", n=lost)
        self.split_format.show_note(note)

    @on(CleaningChoices.Changed)
    def _choice(self, msg: CleaningChoices.Changed) -> None:
        self.wizard.data_choices = {**self.choices, **msg.values}
        self._apply()

    def _jump_line(self, p: dict) -> int | None:
        """The conversation index a problem points at in the preview (the original, for a removed duplicate)."""
        if self.loaded is None:
            return None
        line = p.line
        if p.kind in dataview.RULES and self.choices.get(p.kind) and p.duplicate_of:
            line = p.duplicate_of
        for i, conv in enumerate(self.loaded.convs):
            if conv.line == line and conv.file == p.file and self.preview.has_row(i):
                return i
        return None

    @on(ProblemsPanel.Jump)
    def _jump(self, msg: ProblemsPanel.Jump) -> None:
        p = msg.problem
        i = self._jump_line(p)
        if i is None:
            self.notify(t("not_in_training", line=p.line), severity="warning")
            return
        self.preview.move_to(i)

    @on(Input.Changed, "#seq")
    def _seq(self, event: Input.Changed) -> None:
        try:
            value = int(event.value)
        except ValueError:
            return
        if value < 16 or value == self.seq:
            return
        self.seq = value
        self.wizard.overrides["max_seq_len"] = str(value)
        self.wizard.plan = None
        self._apply()

    @on(SplitAndFormat.RatioChanged)
    def _ratio(self, msg: SplitAndFormat.RatioChanged) -> None:
        self.wizard.eval_ratio = msg.ratio
        self.wizard.plan = None
        self._update_split()

    @on(SplitAndFormat.TargetChanged)
    def _target_changed(self, msg: SplitAndFormat.TargetChanged) -> None:
        self.wizard.data_target = msg.target
        if self.loaded is not None:
            self.split_format.save_path = dataview.copy_path(self.loaded.path, msg.target)
        self._update_target()

    # -- saving a cleaned copy --------------------------------------------------------------------------------------
    @on(SplitAndFormat.SaveRequested)
    def action_save_copy(self) -> None:
        if not self.wizard.conversations:
            self.notify(t("no_data_yet"), severity="warning")
            return
        part = self.split_format
        path = part.save_path or dataview.copy_path(self.wizard.data_file, part.target)
        part.show_saving(path)
        self._save(list(self.wizard.conversations), part.target, path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="save")
    def _save(self, convs: list, target: str, path: str) -> None:
        from danlu.engine.core import DanluError

        try:
            self.post_message(CopySaved(dataview.save_copy(convs, target, path)))
        except DanluError as exc:
            self.post_message(CopySaved(None, error_text(exc)))
        except Exception as exc:  # noqa: BLE001
            self.post_message(CopySaved(None, f"{type(exc).__name__}: {exc}"))

    @on(CopySaved)
    def _saved(self, msg: CopySaved) -> None:
        self.split_format.show_saved(msg.result, msg.error)

    # -- navigation -------------------------------------------------------------------------------------------------
    def action_next(self) -> None:
        if not self.wizard.conversations:
            self.notify(t("no_data_yet"), severity="warning")
            return
        if self.guessed:
            self.notify(t("confirm_mapping_first"), severity="warning")
            return
        self.app.goto("plan")

    @property
    def guessed(self) -> bool:
        """The columns were mapped by a guess from their contents (not their names), and nobody confirmed it yet."""
        return self.loaded is not None and self.loaded.report.mapping_guessed

