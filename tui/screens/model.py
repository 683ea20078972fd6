"""Model: presets by family and size with the planner's fit verdict here, or any hub id / local folder."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, DataTable, Header, Input, Static

from .. import tasks
from ..strings import error_text, t
from ..widgets import KeysFooter, TickBox, fill_table
from .base import StepScreen

DEMO_MODELS = ("demo:smollm2", "demo:tiny", "demo:small")  # the real pretrained one first
LICENSES = {  # family → the licence a user should read before shipping a fine-tune
    "Qwen": "Apache-2.0 / Qwen licence", "meta-llama": "Llama community licence", "HuggingFaceTB": "Apache-2.0",
    "mistralai": "Apache-2.0", "microsoft": "MIT", "google": "Gemma terms of use", "codellama": "Llama 2 licence",
    "stabilityai": "CC BY-SA 4.0",
}


def licence(ref: str) -> str:
    """The licence to read before sharing a fine-tune of ``ref``, in the wizard's words where it has some."""
    if ref == "demo:smollm2":  # imported: SmolLM2-135M-Instruct's own licence
        return t("licence_smollm2")
    if ref.startswith("demo:"):
        return t("licence_demo")
    return LICENSES.get(family(ref), t("license_check"))


def family(ref: str) -> str:
    return "demo" if ref.startswith("demo:") else ref.split("/")[0] if "/" in ref else "local"


def verdict(p) -> str:
    """The plan's fit verdict in a few words: the method it picks and its predicted peak (the status line above the
    table says at which sequence length)."""
    if p.fits:
        return t("fit_yes", method=p.method, gb=p.predicted_peak_gb)
    return f"✗ {t('does_not_fit')} {p.predicted_peak_gb:.0f} GB"


def fmt_params(n: int) -> str:
    return f"{n / 1e9:.1f} B" if n >= 1e9 else f"{n / 1e6:.1f} M"


class VerdictsComputed(Message):
    def __init__(self, rows: list[tuple[str, str, str, str]], seqs: list[int]):
        super().__init__()
        self.rows, self.seqs = rows, seqs  # the sequence lengths the verdicts were planned at


class ModelChecked(Message):
    def __init__(self, ref: str, ok: bool, text: str):
        super().__init__()
        self.ref, self.ok, self.text = ref, ok, text


class GGUFImported(Message):
    def __init__(self, out: str | None, text: str):
        super().__init__()
        self.out, self.text = out, text


def is_gguf(ref: str) -> bool:
    return ref.lower().endswith(".gguf")


class ModelScreen(StepScreen):
    HELP = "model"
    BINDINGS = [Binding("escape", "back", "key_back"), Binding("ctrl+n", "next", "key_next")]
    PALETTE = [("next", "key_next")]

    def __init__(self):
        super().__init__()
        self.custom_ok: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("step_model"), classes="step-title")
        with Vertical(classes="body", id="model-body"):  # no scrolling: the table gives way, the input stays seen
            yield Static(t("computing_fit"), id="fit-status", classes="loading")
            yield DataTable(id="models", cursor_type="row", zebra_stripes=True)
            yield Static("", id="license", classes="hint")  # right under the table: visible at 80×24
            yield TickBox(t("trust_remote_code"), id="trust", compact=True)
            yield Static(t("model_custom_hint"), classes="hint")
            yield Input(placeholder=t("model_custom_placeholder"), id="custom", compact=True)
            yield Static("", id="custom-result", classes="hint")
        with Horizontal(classes="nav"):
            yield Button(t("btn_back"), id="back", compact=True)
            yield Button(t("btn_next"), id="next", variant="primary", compact=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        self._family = self.app.size.width >= 100  # a narrow terminal keeps the fit column whole instead
        table.add_columns(*self._labels())
        table.focus()
        self._verdicts(self.wizard.probe)

    def _labels(self) -> list[str]:
        return [t(c) for c in ("col_model", "col_family", "col_size", "col_fit") if c != "col_family" or self._family]

    def plan_for(self, ref: str, trust: bool | None = None):
        """The plan for ``ref`` at this screen's inputs: engine.plan.make, the call the Plan step makes, with the
        task, method and settings chosen so far, before the data is read (the status line says so)."""
        from danlu.engine import plan

        w = self.wizard
        return plan.make(ref, task=w.task, method=w.method, overrides=dict(w.overrides), lengths=None,
                         probe=w.probe, trust_remote_code=w.trust_remote_code if trust is None else trust)

    @work(thread=True, exclusive=True, exit_on_error=False, group="verdicts")
    def _verdicts(self, probe) -> None:
        from danlu.engine.core import presets

        rows, seqs = [], []
        for ref in dict.fromkeys([*DEMO_MODELS, *presets.model_ids()]):
            try:
                p = self.plan_for(ref)
                seqs.append(p.settings["max_seq_len"])
                rows.append((ref, family(ref), fmt_params(p.params), verdict(p)))
            except Exception as exc:  # noqa: BLE001 - one preset's trouble is shown in its row
                rows.append((ref, family(ref), "?", f"? {exc}"[:40]))
        self.post_message(VerdictsComputed(rows, seqs))

    @on(VerdictsComputed)
    def _show(self, msg: VerdictsComputed) -> None:
        w = self.wizard
        low, high = (min(msg.seqs), max(msg.seqs)) if msg.seqs else ("?", "?")
        self.query_one("#fit-status", Static).update(t(
            "fit_for_machine", task=tasks.text(tasks.load().get(w.task, {}), "name") or w.task,
            method=w.method or "auto", seq=low if low == high else f"{low}–{high}"))
        self.query_one("#fit-status").set_classes("hint")
        table = self.query_one("#models", DataTable)
        fill_table(table, self._labels(), [row if self._family else (row[0], *row[2:]) for row in msg.rows],
                   [row[0] for row in msg.rows])
        from danlu.engine.plan import demo

        want = self.wizard.model or demo.default_model()
        for i, row in enumerate(msg.rows):
            if row[0] == want:
                # after the layout: the scroll into view was computed while the table was still one row high,
                # leaving it scrolled past demo:tiny
                self.call_after_refresh(table.move_cursor, row=i)
        if want not in [r[0] for r in msg.rows]:
            self.query_one("#custom", Input).value = want

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        ref = str(event.row_key.value)
        self.query_one("#license", Static).update(t("license_note", license=licence(ref)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_next()

    @on(Input.Submitted, "#custom")
    def _check_custom(self, event: Input.Submitted) -> None:
        ref = event.value.strip()
        if ref:
            self.query_one("#custom-result", Static).update(t("checking_model"))
            self._check(ref, self.wizard.probe, self.query_one("#trust", Checkbox).value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="check")
    def _check(self, ref: str, probe, trust: bool) -> None:
        from danlu.engine import models
        from danlu.engine.core import DanluError

        try:
            if is_gguf(ref):
                from danlu.engine import models

                info = models.inspect_gguf(ref)
                self.post_message(ModelChecked(ref, True, "✓ " + t("gguf_ok", what=info.describe())))
                return
            models.check_model_ref(ref)
            p = self.plan_for(ref, trust)
            self.post_message(ModelChecked(ref, True, f"✓ {ref}: {fmt_params(p.params)} · {verdict(p)}"))
        except DanluError as exc:
            self.post_message(ModelChecked(ref, False, f"✗ {error_text(exc)}"))
        except Exception as exc:  # noqa: BLE001
            self.post_message(ModelChecked(ref, False, f"✗ {exc}"))

    @on(ModelChecked)
    def _checked(self, msg: ModelChecked) -> None:
        self.query_one("#custom-result", Static).update(msg.text)
        self.custom_ok = msg.ref if msg.ok else None
        if msg.ok and getattr(self, "_advance_after_check", False):
            self._advance_after_check = False
            self._use(msg.ref)

    @on(Checkbox.Changed, "#trust")
    def _trust(self, event: Checkbox.Changed) -> None:
        if not event.value:
            self.wizard.trust_remote_code = False
            return
        from .confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            self.wizard.trust_remote_code = bool(yes)
            if not yes:
                with self.prevent(Checkbox.Changed):
                    event.checkbox.value = False

        self.app.push_screen(ConfirmScreen(t("trust_question")), answered)

    def _use(self, ref: str) -> None:
        if is_gguf(ref):
            self.query_one("#custom-result", Static).update(t("gguf_importing"))
            self._import(ref)
            return
        if ref != self.wizard.model:
            self.wizard.plan = None
        self.wizard.model = ref
        self.app.goto("data")

    def action_next(self) -> None:
        custom = self.query_one("#custom", Input).value.strip()
        if custom and self.query_one("#custom", Input).has_focus or (custom and self.custom_ok == custom):
            if self.custom_ok == custom:
                self._use(custom)
            else:
                self._advance_after_check = True
                self.query_one("#custom-result", Static).update(t("checking_model"))
                self._check(custom, self.wizard.probe, self.query_one("#trust", Checkbox).value)
            return
        table = self.query_one("#models", DataTable)
        if not table.row_count:
            self.notify(t("wait_fit"), severity="warning")
            return
        self._use(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))


    @work(thread=True, exclusive=True, exit_on_error=False, group="import")
    def _import(self, path: str) -> None:
        from danlu.engine import models
        from danlu.engine.core import DanluError

        try:
            res = models.import_gguf(
                path, progress=lambda stage, text: self.post_message(GGUFImported(None, f"… {text}")))
            self.post_message(GGUFImported(res.out, "✓ " + t("gguf_imported", out=res.out)))
        except DanluError as exc:
            self.post_message(GGUFImported(None, f"✗ {error_text(exc)}"))
        except Exception as exc:  # noqa: BLE001 - shown, never closes the app
            self.post_message(GGUFImported(None, f"✗ {type(exc).__name__}: {exc}"))

    @on(GGUFImported)
    def _imported(self, msg: GGUFImported) -> None:
        self.query_one("#custom-result", Static).update(msg.text)
        if msg.out:
            self.query_one("#custom", Input).value = msg.out
            self.custom_ok = msg.out
            self._use(msg.out)
