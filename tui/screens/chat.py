"""Chat with a run's tuned model (or its base): loading in a worker, tokens streamed in batches, stop key."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Input, Label, Static

from ..strings import t
from .base import StepScreen

BATCH_S = 0.08  # post streamed text at most every 80 ms


class ModelLoaded(Message):
    def __init__(self, model, tokenizer, base: bool, error: str | None = None):
        super().__init__()
        self.model, self.tokenizer, self.base, self.error = model, tokenizer, base, error


class TokensReceived(Message):
    def __init__(self, text: str):
        super().__init__()
        self.text = text


class ReplyFinished(Message):
    def __init__(self, error: str | None = None, stopped: bool = False):
        super().__init__()
        self.error, self.stopped = error, stopped


class ChatScreen(StepScreen):
    HELP = "chat"
    BINDINGS = [Binding("escape", "stop_or_back", "key_stop_or_back"), Binding("ctrl+b", "toggle_base", "key_base"),
                Binding("ctrl+l", "clear", "key_clear")]
    PALETTE = [("toggle_base", "key_base"), ("clear", "key_clear")]

    def __init__(self, ref: str, base: bool = False):
        super().__init__()
        self.ref = ref
        self.base = base
        self.model = self.tokenizer = None
        self.history: list[dict] = []
        self.stop_event: threading.Event | None = None
        self.reply_widget: Static | None = None
        self.reply_text = ""

    @property
    def streaming(self) -> bool:
        return self.stop_event is not None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(t("chat_title", run=Path(self.ref).name), id="chat-title", classes="step-title")
        yield Static(t("loading_model"), id="chat-status", classes="loading")
        yield VerticalScroll(id="transcript")
        with Horizontal(id="chat-controls"):
            yield Label(t("system_prompt"), classes="label")
            yield Input(id="system", placeholder=t("system_placeholder"))
            yield Label("T", classes="label")
            yield Input("0", id="temperature", type="number")
            yield Label(t("max_tokens"), classes="label")
            yield Input("96", id="max-tokens", type="integer")
        yield Input(placeholder=t("chat_placeholder"), id="prompt", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self._load(self.ref, self.base)

    @work(thread=True, exclusive=True, exit_on_error=False, group="load")
    def _load(self, ref: str, base: bool) -> None:
        try:
            from engine import chat

            model, tokenizer = chat.load(ref, base=base)
            self.post_message(ModelLoaded(model, tokenizer, base))
        except Exception as exc:  # noqa: BLE001 - DanluError and the rest: shown on screen
            text = exc.one_line() if hasattr(exc, "one_line") else f"{type(exc).__name__}: {exc}"
            self.post_message(ModelLoaded(None, None, base, text))

    @on(ModelLoaded)
    def _loaded(self, msg: ModelLoaded) -> None:
        status = self.query_one("#chat-status", Static)
        if msg.error:
            status.update(f"✗ {msg.error}")
            status.set_classes("error")
            return
        self.model, self.tokenizer, self.base = msg.model, msg.tokenizer, msg.base
        status.update(t("model_ready_base") if msg.base else t("model_ready_tuned"))
        status.set_classes("ok")
        prompt = self.query_one("#prompt", Input)
        prompt.disabled = False
        prompt.focus()

    @on(Input.Submitted, "#prompt")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text or self.model is None or self.streaming:
            return
        event.input.value = ""
        self.history.append({"role": "user", "content": text})
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(Static(f"› {text}", classes="msg-user"))
        self.reply_widget = Static("▌", classes="msg-assistant")
        self.reply_text = ""
        transcript.mount(self.reply_widget)
        transcript.scroll_end(animate=False)
        messages = list(self.history)
        system = self.query_one("#system", Input).value.strip()
        if system:
            messages.insert(0, {"role": "system", "content": system})
        try:
            temperature = float(self.query_one("#temperature", Input).value or 0)
            max_new = int(self.query_one("#max-tokens", Input).value or 96)
        except ValueError:
            temperature, max_new = 0.0, 96
        self.stop_event = threading.Event()
        self.query_one("#chat-status", Static).update(t("generating"))
        self._generate(messages, temperature, max_new, self.stop_event)

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _generate(self, messages, temperature, max_new, stop: threading.Event) -> None:
        from engine import chat

        pending, last = [], time.monotonic()
        try:
            for piece in chat.stream_reply(self.model, self.tokenizer, messages, max_new_tokens=max_new,
                                           temperature=temperature, stop=stop):
                pending.append(piece)
                if time.monotonic() - last >= BATCH_S:
                    self.post_message(TokensReceived("".join(pending)))
                    pending, last = [], time.monotonic()
            if pending:
                self.post_message(TokensReceived("".join(pending)))
            self.post_message(ReplyFinished(stopped=stop.is_set()))
        except Exception as exc:  # noqa: BLE001
            if pending:
                self.post_message(TokensReceived("".join(pending)))
            self.post_message(ReplyFinished(error=str(exc)))

    @on(TokensReceived)
    def _tokens(self, msg: TokensReceived) -> None:
        self.reply_text += msg.text
        if self.reply_widget is not None:
            self.reply_widget.update(self.reply_text + "▌")
            self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    @on(ReplyFinished)
    def _finished(self, msg: ReplyFinished) -> None:
        self.stop_event = None
        if self.reply_widget is not None:
            self.reply_widget.update(self.reply_text + (f"  [{t('stopped')}]" if msg.stopped else ""))
        self.history.append({"role": "assistant", "content": self.reply_text})
        status = self.query_one("#chat-status", Static)
        status.update(f"✗ {msg.error}" if msg.error else (t("model_ready_base") if self.base else t("model_ready_tuned")))
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)

    def action_stop_or_back(self) -> None:
        if self.streaming:
            self.stop_event.set()
        else:
            self.app.pop_screen()

    def action_toggle_base(self) -> None:
        if self.streaming:
            return
        self.model = self.tokenizer = None
        self.query_one("#prompt", Input).disabled = True
        status = self.query_one("#chat-status", Static)
        status.update(t("loading_model"))
        status.set_classes("loading")
        self._load(self.ref, not self.base)

    def action_clear(self) -> None:
        if self.streaming:
            return
        self.history.clear()
        self.query_one("#transcript", VerticalScroll).remove_children()
