"""Chat with a run's tuned model (and its base, side by side): engine.infer.chat.ChatSession in a worker.

The model loads in a thread worker with a visible status line; replies stream from a second worker
that posts the text at most every 80 ms (the UI thread only renders, so keys are answered while
tokens arrive); the conversation stays anchored at the bottom.  The side panel holds the system
prompt and the sampling knobs with their readable labels (engine.infer.chat.Sampling), the split view
sends one prompt to the tuned and the base model (the same weights with the adapter off), and the
transcript can be saved as a training-format JSONL line.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Header, Input, Label, Static

from ..strings import error_text, has, say, t
from ..widgets import Busy, KeysFooter, TickBox
from .base import StepScreen

BATCH_S = 0.08  # post streamed text at most every 80 ms
MARKDOWN = re.compile(r"\*\*\S|__\S|^#{1,6} |^\s*[-*] |^\s*\d+\. |`", re.M)


def answer_view(text: str):
    """A finished answer as it should read: its markdown rendered (bold, lists, headings, code), else the text as
    it came (streaming shows the raw text; the rendering replaces it when the answer ends)."""
    if not MARKDOWN.search(text):
        return text
    from rich.markdown import Markdown

    return Markdown(text)


class ModelLoaded(Message):
    def __init__(self, session, error: str | None = None, compare: str = "", can_compare: bool = False):
        super().__init__()
        self.session, self.error, self.compare, self.can_compare = session, error, compare, can_compare


class TokensReceived(Message):
    def __init__(self, side: str, text: str):
        super().__init__()
        self.side, self.text = side, text


class ReplyFinished(Message):
    def __init__(self, side: str, reply=None, error: str | None = None, skipped: bool = False):
        super().__init__()
        self.side, self.reply, self.error, self.skipped = side, reply, error, skipped


class ChatScreen(StepScreen):
    HELP = "chat"
    BINDINGS = [Binding("escape", "stop_or_back", "key_stop_or_back"), Binding("ctrl+b", "toggle_base", "key_base"),
                Binding("ctrl+t", "toggle_split", "key_split"),
                Binding("ctrl+y", "retry", "key_retry", show=False),  # said in the help and the palette: the
                Binding("ctrl+s", "save", "key_save_transcript"), Binding("ctrl+r", "report", "key_report"),
                Binding("ctrl+l", "clear", "key_clear", show=False)]  # footer fits 80 columns without them
    PALETTE = [("toggle_base", "key_base"), ("toggle_split", "key_split"), ("retry", "key_retry"),
               ("save", "key_save_transcript"), ("report", "key_report"), ("clear", "key_clear")]

    def __init__(self, ref: str, base: bool = False):
        super().__init__()
        self.ref = ref
        self.side = "base" if base else "tuned"  # who answers in the single view
        self.split = False
        self.session = None  # the tuned pane's conversation (the single view's, whichever side answers)
        self.base_session = None  # the base pane's own conversation in the side-by-side view (a fork)
        self.stop_event: threading.Event | None = None
        self.reply_widgets: dict[str, Static] = {}
        self.reply_text: dict[str, str] = {}
        self.sent: list[str] = []  # prompts sent, for Up/Down recall
        self.recall = 0
        self.can_compare = False

    # -- what the tests and the palette look at ---------------------------------------------------------------------
    @property
    def model(self):
        return self.session.model if self.session else None

    @property
    def history(self) -> list[dict]:
        return self.session.turns if self.session else []

    @property
    def streaming(self) -> bool:
        return self.stop_event is not None

    def _busy(self) -> bool:
        """True while an answer streams, and then the key that was pressed is not dropped without a word."""
        if self.streaming:
            self.notify(t("busy_streaming"), severity="warning", timeout=3)
        return self.streaming

    def compose(self) -> ComposeResult:
        from danlu.engine.infer import Sampling

        yield Header()
        yield Static(t("chat_title", run=Path(self.ref).name), id="chat-title", classes="step-title")
        yield Busy("", id="chat-status", classes="loading", markup=False)
        with Horizontal(id="chat-body"):
            with Vertical(id="chat-main"):
                with Horizontal(id="panes"):
                    tuned = VerticalScroll(id="pane-tuned", classes="pane")
                    tuned.border_title = t("pane_tuned")
                    yield tuned
                    base = VerticalScroll(id="pane-base", classes="pane")
                    base.border_title = t("pane_base")
                    yield base
                yield Input(placeholder=t("chat_placeholder"), id="prompt", disabled=True)
            with VerticalScroll(id="chat-side"):
                yield Label(t("system_prompt"), classes="slabel")
                yield Input(id="system", placeholder=t("system_placeholder"), compact=True)
                for name in Sampling.names():
                    # the engine names its knobs in English; the wizard's language has its own words where it can
                    text = t(f"knob_{name}") if has(f"knob_{name}") else Sampling.label(name)
                    help_ = t(f"knob_help_{name}") if has(f"knob_help_{name}") else Sampling.help(name)
                    with Horizontal(classes="knob"):  # a row per knob: the whole panel fits 24 lines
                        label = Label(text)
                        label.tooltip = help_
                        yield label
                        inp = Input(id=f"s-{name}", compact=True)
                        inp.tooltip = help_
                        yield inp
                yield Static("", id="sampling-how", classes="hint")
                yield TickBox(t("split_view"), id="split", compact=True)
                yield Static("", id="compare-how", classes="hint")
                yield Label(t("save_transcript"), classes="slabel")
                yield Input(id="transcript-path", value="chat-transcript.jsonl", compact=True)
                yield Button(t("btn_save_transcript"), id="save-btn", compact=True)
                yield Static("", id="speed", classes="hint")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#pane-base").display = False
        self.query_one("#chat-status", Busy).work(t("loading_model"))
        self._load(self.ref)

    def on_unmount(self) -> None:
        if self.stop_event is not None:  # leaving (or quitting) mid-reply: the generation thread stops
            self.stop_event.set()

    # -- loading --------------------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self, ref: str) -> None:
        try:
            from danlu.engine import infer

            target = infer.locate(ref)
            model, tokenizer = infer.load(ref, target=target)
            session = infer.ChatSession(model, tokenizer, target=target)
            ok, how = session.can_compare()
            self.post_message(ModelLoaded(session, compare=how, can_compare=ok))
        except Exception as exc:  # noqa: BLE001 - DanluError and the rest: shown on screen
            text = error_text(exc)
            self.post_message(ModelLoaded(None, text))

    @on(ModelLoaded)
    def _loaded(self, msg: ModelLoaded) -> None:
        status = self.query_one("#chat-status", Busy)
        if msg.error:
            status.done(f"✗ {msg.error}", "error")
            return
        self.session, self.can_compare = msg.session, msg.can_compare
        for name in msg.session.sampling.names():
            value = getattr(msg.session.sampling, name)
            self.query_one(f"#s-{name}", Input).value = "" if value is None else f"{value:g}" if isinstance(
                value, float) else str(value)
        self.query_one("#sampling-how", Static).update(t(f"sampling_{msg.session.sampling.source}"))
        self.query_one("#compare-how", Static).update(say(msg.compare))
        split = self.query_one("#split", Checkbox)
        split.disabled = not msg.can_compare
        if self.side == "base" and not msg.can_compare:
            self.side = "tuned"
        self._ready()
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = False
        prompt.focus()

    def _ready(self, extra: str = "") -> None:
        self.query_one("#chat-status", Busy).done((t("ready_split") if self.split else t("model_ready_base")
                                                   if self.side == "base" else t("model_ready_tuned")) + extra)

    # -- sending --------------------------------------------------------------------------------------------------
    def _apply_settings(self) -> str | None:
        """Copy the side panel into the session; the first problem in words, or None."""
        from danlu.engine.infer import Sampling
        from danlu.engine.core import DanluError

        s = self.session
        s.system = self.query_one("#system", Input).value.strip() or None
        if self.base_session is not None:
            self.base_session.system = s.system  # the sampling is one object, the system prompt one per pane
        start = Sampling.from_model(s.model)  # an emptied field goes back to where the knobs started
        for name in Sampling.names():
            try:
                s.sampling.set(name, self.query_one(f"#s-{name}", Input).value.strip() or
                               ("none" if name == "seed" else getattr(start, name)))
            except DanluError as exc:
                return error_text(exc)
        return None

    @on(Input.Submitted, "#prompt")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.session is None or self._busy():
            return
        problem = self._apply_settings()
        if problem:
            self.notify(problem, severity="error")
            return
        event.input.value = ""
        self.sent.append(text)
        self.recall = len(self.sent)
        self._start(text)

    def _pane(self, side: str) -> VerticalScroll:
        """The pane ``side``'s answers go to (the single view has one pane, whichever side answers)."""
        return self.query_one(f"#pane-{side if self.split else 'tuned'}", VerticalScroll)

    def _session(self, side: str):
        """The conversation ``side`` continues: in the side-by-side view each pane has its own."""
        return self.base_session if self.split and side == "base" else self.session

    def _show_exchange(self, pane: VerticalScroll, prompt: str, answer: str | None) -> Static:
        pane.mount(Static(f"› {prompt}", classes="msg-user", markup=False))
        widget = Static("▌" if answer is None else answer_view(answer), classes="msg-assistant", markup=False)
        pane.mount(widget)
        pane.scroll_end(animate=False)
        return widget

    def _start(self, text: str) -> None:
        sides = ["tuned", "base"] if self.split else [self.side]
        for n, side in enumerate(sides):
            widget = self._show_exchange(self._pane(side), text, None)
            if n:  # answered after the first side: it says so instead of a cursor that does not move
                widget.update(t("waiting_side", side=t(f"pane_{sides[0]}")))
            self.reply_widgets[side] = widget
            self.reply_text[side] = ""
        self.stop_event = threading.Event()
        self.query_one("#chat-status", Busy).work(t("generating"))
        self._generate(text, [(side, self._session(side)) for side in sides], self.stop_event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _generate(self, prompt: str, sides: list, stop: threading.Event) -> None:
        """Each side streams from its own conversation and adds its answer to it (also when stopped); a side not
        reached because Esc stopped the one before it is not asked, and its pane drops the question."""
        for n, (side, session) in enumerate(sides):
            if n and stop.is_set():
                self.post_message(ReplyFinished(side, None, skipped=True))
                continue
            done = ReplyFinished(side, None)
            pending, last = [], time.monotonic()
            try:
                for piece in session.stream(prompt, side=side, stop=stop):
                    pending.append(piece)
                    if time.monotonic() - last >= BATCH_S:
                        self.post_message(TokensReceived(side, "".join(pending)))
                        pending, last = [], time.monotonic()
                done = ReplyFinished(side, session.last)
            except Exception as exc:  # noqa: BLE001 - shown in the pane, never closes the app
                done = ReplyFinished(side, session.last, error=error_text(exc))
            if pending:
                self.post_message(TokensReceived(side, "".join(pending)))
            self.post_message(done)

    @on(TokensReceived)
    def _tokens(self, msg: TokensReceived) -> None:
        self.reply_text[msg.side] = self.reply_text.get(msg.side, "") + msg.text
        widget = self.reply_widgets.get(msg.side)
        if widget is not None:
            widget.update(self.reply_text[msg.side] + "▌")
            widget.parent.scroll_end(animate=False)

    @on(ReplyFinished)
    def _finished(self, msg: ReplyFinished) -> None:
        from danlu.engine.infer import shown

        widget = self.reply_widgets.get(msg.side)
        text = self.reply_text.get(msg.side, "")
        r = msg.reply
        if msg.skipped and widget is not None:  # not asked: the pane shows only what its conversation holds
            pane = widget.parent
            for child in list(pane.children)[-2:]:
                child.remove()
        elif widget is not None:
            tail = f"  [{t('stopped')}]" if r is not None and r.stopped else ""
            body = (shown(text, r.tokens if r else None) if r is not None else text) + tail
            widget.update(answer_view(body) if not msg.error else f"{body}\n✗ {msg.error}")
            widget.parent.scroll_end(animate=False)
        if r is not None and r.tokens:
            self.query_one("#speed", Static).update(t("speed", side=t(f"pane_{msg.side}"), tokens=r.tokens,
                                                      tps=f"{r.tokens_per_s:.1f}"))
        last_side = "base" if self.split else self.side
        if msg.side == last_side:
            self.stop_event = None
            self._ready()

    # -- keys -----------------------------------------------------------------------------------------------------
    def on_key(self, event) -> None:
        prompt = self.query_one("#prompt", Input)
        if not prompt.has_focus or event.key not in ("up", "down") or not self.sent:
            return
        self.recall = max(0, self.recall - 1) if event.key == "up" else min(len(self.sent), self.recall + 1)
        prompt.value = self.sent[self.recall] if self.recall < len(self.sent) else ""
        prompt.cursor_position = len(prompt.value)
        event.stop()

    def action_stop_or_back(self) -> None:
        if self.streaming:
            self.stop_event.set()
        else:
            self.app.pop_screen()

    def action_toggle_base(self) -> None:
        if self.session is None or self._busy():
            return
        if not self.can_compare:
            self.notify(self.query_one("#compare-how", Static).render().plain or t("no_base"), severity="warning")
            return
        self.side = "tuned" if self.side == "base" else "base"
        if not self.split:
            self.query_one("#pane-tuned").border_title = t(f"pane_{self.side}")
        self._ready()

    @on(Checkbox.Changed, "#split")
    def _split_changed(self, event: Checkbox.Changed) -> None:
        self.split = event.value
        self.query_one("#pane-base").display = self.split
        pane = self.query_one("#pane-base", VerticalScroll)
        pane.remove_children()
        self.base_session = None
        if self.split and self.session is not None:
            # the base pane goes on from the conversation so far, shown in it: each pane sends what it shows
            self.base_session = self.session.fork()
            turns = self.base_session.turns
            if turns:  # said, so that the tuned answers in the base pane are not taken for the base model's
                pane.mount(Static(t("pane_copied"), classes="hint"))
            for user, answer in zip(turns[0::2], turns[1::2]):
                pane.mount(Static(f"› {user['content']}", classes="msg-user copied", markup=False))
                # each copied answer says whose it is: the line above scrolls away, the answers stay in view
                pane.mount(Static(t("copied_answer"), classes="hint copied"))
                pane.mount(Static(answer_view(answer["content"]), classes="msg-assistant copied", markup=False))
            pane.scroll_end(animate=False)
        self.query_one("#pane-tuned").border_title = t("pane_tuned") if self.split or self.side == "tuned" else \
            t("pane_base")
        if self.session is not None:
            self._ready()

    def action_toggle_split(self) -> None:
        box = self.query_one("#split", Checkbox)
        if not box.disabled and not self._busy():
            box.value = not box.value

    def action_retry(self) -> None:
        if self.session is None or self._busy():
            return
        from danlu.engine.core import DanluError

        sides = ["tuned", "base"] if self.split else [self.side]
        try:
            prompt = self.session.retry()
            if self.split:
                self.base_session.retry()
        except DanluError as exc:
            self.notify(error_text(exc), severity="warning")
            return
        for side in sides:  # the panes drop the exchange that is asked again
            for child in list(self._pane(side).children)[-2:]:
                child.remove()
        self._start(prompt)

    def action_save(self) -> None:
        if self.session is None:
            return
        from danlu.engine.core import DanluError

        try:
            path = self.session.save(self.query_one("#transcript-path", Input).value.strip() or "chat-transcript.jsonl")
        except (DanluError, OSError) as exc:
            self.notify(error_text(exc), severity="error")
            return
        self.notify(t("transcript_saved", path=str(path)))

    @on(Button.Pressed, "#save-btn")
    def _save_pressed(self) -> None:
        self.action_save()

    def action_report(self) -> None:
        self.app.goto("report", self.ref)

    def action_clear(self) -> None:
        if self.session is None or self._busy():
            return
        self.session.reset()
        if self.base_session is not None:
            self.base_session.reset()
        for side in ("tuned", "base"):
            self.query_one(f"#pane-{side}", VerticalScroll).remove_children()
