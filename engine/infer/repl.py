"""``danlu chat`` in a terminal: a small REPL over :class:`engine.infer.chat.ChatSession`.

Replies stream as they are generated; Ctrl-C stops the current answer (not the REPL); slash
commands change the conversation and the sampling.  Everything it does is the session's API, the
same the wizard's chat screen uses.
"""

from __future__ import annotations

import sys
import threading

from .chat import ChatSession, Sampling, shown
from ..core.errors import DanluError

HELP = """commands:
  /system TEXT      set the system prompt (/system alone clears it)
  /reset            forget the conversation (the system prompt stays)
  /retry            answer the last message again (e.g. after /set temperature 0.7)
  /compare [TEXT]   the same prompt to the tuned and the base model (default: the last message)
  /base, /tuned     which model answers from now on
  /set NAME VALUE   sampling: temperature, top_p, top_k, repetition_penalty, max_new_tokens, seed
  /set              show the sampling settings
  /save FILE        append the conversation to FILE as a training-format JSONL line ({"messages": [...]}),
                    e.g. after correcting an answer, for the next training round
  /help             this list
  /quit             leave (also Ctrl-D, or Ctrl-C twice at the prompt)
Ctrl-C stops the answer being written."""


class Repl:
    def __init__(self, session: ChatSession, *, out=None, err=None, label_tuned: str = "tuned"):
        self.session = session
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.side = "tuned"
        self.label_tuned = label_tuned

    def say(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    # -- one answer -----------------------------------------------------------------------------------------------
    def answer(self, prompt: str, side: str | None = None, commit: bool = True) -> str:
        side = side or self.side
        label = "base" if side == "base" else self.label_tuned
        print(f"{label}> ", end="", file=self.out, flush=True)
        stop = threading.Event()
        text = ""
        gen = self.session.stream(prompt, side=side, stop=stop, commit=commit)
        try:
            for piece in gen:
                text += piece
                print(piece, end="", file=self.out, flush=True)
        except KeyboardInterrupt:
            stop.set()
            gen.close()  # finishes within one token; the partial answer is kept
            if commit:
                self.session.add_exchange(prompt, text)
        r = self.session.last
        if not text.strip():
            print(shown(text, r.tokens if r else None), end="", file=self.out)
        print(file=self.out, flush=True)
        if r is not None:
            stopped = " · stopped" if r.stopped else " · max_new_tokens reached" if r.finished_on == "max_new_tokens" \
                else ""
            self.say(f"  [{r.tokens} tokens, {r.tokens_per_s:.1f} tokens/s{stopped}]")
        return text

    # -- commands -------------------------------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run a slash command; False means leave."""
        name, _, arg = line[1:].partition(" ")
        name, arg = name.lower(), arg.strip()
        s = self.session
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.say(HELP)
        elif name == "system":
            s.system = arg or None
            self.say(f"system prompt {'set' if arg else 'cleared'}")
        elif name == "reset":
            s.reset()
            self.say("conversation cleared" + (" (system prompt kept)" if s.system else ""))
        elif name == "retry":
            self.answer(s.retry())
        elif name == "compare":
            ok, how = s.can_compare()
            if not ok:
                raise DanluError(f"cannot compare: {how}")
            prompt = arg or (s.retry() if s.turns else "")
            if not prompt:
                raise DanluError("nothing to compare yet", fix="/compare YOUR QUESTION")
            self.say(f"  ({how})")
            tuned = self.answer(prompt, side="tuned", commit=False)
            self.answer(prompt, side="base", commit=False)  # the same conversation as the tuned side saw
            s.add_exchange(prompt, tuned)
        elif name in ("base", "tuned"):
            if name == "base":
                ok, how = s.can_compare()
                if not ok:
                    raise DanluError(f"no base model: {how}")
            self.side = name
            self.say(f"the {name} model answers from now on")
        elif name == "set":
            if not arg:
                for n in Sampling.names():
                    self.say(f"  {n:<19} {str(getattr(s.sampling, n)):<8} {Sampling.label(n)}: {Sampling.help(n)}")
            else:
                key, _, value = arg.partition(" ")
                s.sampling.set(key, value.strip())
                self.say(f"  {s.sampling.describe()}")
        elif name == "save":
            if not arg:
                raise DanluError("/save needs a file name", fix="/save fixes.jsonl")
            path = s.save(arg)
            self.say(f"appended the conversation ({len(s.turns) // 2} exchange(s)) to {path}")
        else:
            raise DanluError(f"unknown command /{name}", fix="/help lists them")
        return True

    def loop(self, read=input) -> None:
        ok, how = self.session.can_compare()
        self.say("type a message; /help lists commands, /quit or Ctrl-D leaves"
                 + (f"; /compare asks the base model too ({how})" if ok else ""))
        self.say(f"sampling: {self.session.sampling.describe()} ({self.session.sampling.origin()}; /set changes it)")
        interrupted = False
        while True:
            try:
                line = read("you> ")
            except EOFError:
                print(file=self.out)
                return
            except KeyboardInterrupt:
                # at the prompt a Ctrl-C clears the line; a second one in a row leaves. One that was meant to stop an
                # answer and landed just after it ended must not close the conversation.
                print(file=self.out, flush=True)
                if interrupted:
                    return
                interrupted = True
                self.say("(Ctrl-C again, Ctrl-D or /quit leaves)")
                continue
            interrupted = False
            text = line.strip()
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if not self.command(text):
                        return
                else:
                    self.answer(text)
            except DanluError as exc:
                self.say(f"! {exc.one_line()}")
