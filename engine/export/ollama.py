"""Ollama: a Modelfile whose TEMPLATE is derived from the model's own chat template, and checked in Go.

Ollama before 0.30 renders prompts with a Go ``text/template`` from the Modelfile; a fine-tune whose
Modelfile lacks the right template or the end-of-turn ``stop`` never stops (ollama #8363).  Instead
of a hand-written table by model name, the template is *derived* by rendering the tokenizer's chat
template with marker contents and reading off what it writes around each role's content, the
default system block it inserts when there is none, and the generation prompt; then it is rendered
by Go's real text/template for conversations with and without a system prompt and compared byte for
byte with the tokenizer's own rendering.  A template that does not match is left out (newer Ollama
renders the GGUF's embedded chat template itself), and the export says which the Modelfile relies on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import DanluError

_S, _U1, _A1, _U2 = "\u27e6S\u27e7", "\u27e6U1\u27e7", "\u27e6A1\u27e7", "\u27e6U2\u27e7"

GO_RENDER = r'''package main

import (
	"encoding/json"
	"io"
	"os"
	"text/template"
)

type Message struct {
	Role    string
	Content string
}

type Input struct {
	Template string
	Messages []Message
	System   string
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(2)
	}
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		os.Stderr.WriteString(err.Error())
		os.Exit(2)
	}
	t, err := template.New("modelfile").Parse(in.Template)
	if err != nil {
		os.Stderr.WriteString("parse: " + err.Error())
		os.Exit(3)
	}
	data := map[string]any{"Messages": in.Messages, "System": in.System}
	if err := t.Execute(os.Stdout, data); err != nil {
		os.Stderr.WriteString("execute: " + err.Error())
		os.Exit(4)
	}
}
'''


def _render(tokenizer, msgs, gen=True) -> str:
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)


def _common_suffix(*texts: str) -> str:
    n = 0
    while all(len(t) > n for t in texts) and len({t[len(t) - 1 - n] for t in texts}) == 1:
        n += 1
    return texts[0][len(texts[0]) - n:] if n else ""


def _go_literal(text: str) -> str:
    return "{{ " + json.dumps(text, ensure_ascii=False) + " }}" if text else ""


def derive_template(tokenizer) -> dict:
    """The pieces of the chat template around each role, and the Go template built from them.

    Raises DanluError when the chat template cannot be read this way (a system role it refuses, content it
    rewrites)."""
    try:
        full = _render(tokenizer, [{"role": "system", "content": _S}, {"role": "user", "content": _U1},
                                   {"role": "assistant", "content": _A1}, {"role": "user", "content": _U2}])
        nosys = _render(tokenizer, [{"role": "user", "content": _U1}, {"role": "assistant", "content": _A1},
                                    {"role": "user", "content": _U2}])
        no_gen = _render(tokenizer, [{"role": "user", "content": _U1}], gen=False)
        with_gen = _render(tokenizer, [{"role": "user", "content": _U1}], gen=True)
        answered = _render(tokenizer, [{"role": "user", "content": _U1}, {"role": "assistant", "content": _A1}],
                           gen=False)
    except Exception as exc:  # noqa: BLE001 - templates raise their own errors (e.g. no system role)
        raise DanluError(f"the chat template cannot be rendered with a system, user and assistant turn ({exc})")
    if any(full.count(m) != 1 for m in (_S, _U1, _A1, _U2)):
        raise DanluError("the chat template rewrites or repeats message contents")
    # the generation prompt is what add_generation_prompt adds; some templates also write an ending (an EOS) when
    # it is off, which a prompt for generation never contains
    shared = 0
    while shared < min(len(no_gen), len(with_gen)) and no_gen[shared] == with_gen[shared]:
        shared += 1
    gen, ending = with_gen[shared:], no_gen[shared:]
    if not gen:
        raise DanluError("the chat template writes no generation prompt")
    if ending and answered.endswith(ending):
        answered = answered[: len(answered) - len(ending)]
    i_s, i_u1, i_a1, i_u2 = (full.index(m) for m in (_S, _U1, _A1, _U2))
    open_sys = full[:i_s]
    seg1 = full[i_s + len(_S):i_u1]  # close system + open user
    seg2 = full[i_u1 + len(_U1):i_a1]  # close user + open assistant
    seg3 = full[i_a1 + len(_A1):i_u2]  # close assistant + open user
    tail = full[i_u2 + len(_U2):]  # close user + generation prompt
    lead_nosys = nosys[:nosys.index(_U1)]  # [default system block] + open user
    if not tail.endswith(gen) or not seg2.endswith(gen):
        raise DanluError("the chat template does not open the assistant turn with its generation prompt")
    close_user = tail[: len(tail) - len(gen)]
    if seg2 != close_user + gen:
        raise DanluError("the chat template closes user turns in more than one way")
    # what closes an assistant turn is what follows it when the conversation ends there; the rest of seg3 opens
    # the next user turn (templates that write nothing after the last answer: fall back to the common suffix)
    close_assistant = answered[answered.index(_A1) + len(_A1):] if _A1 in answered else ""
    if close_assistant and seg3.startswith(close_assistant) and seg1.endswith(seg3[len(close_assistant):]) \
            and lead_nosys.endswith(seg3[len(close_assistant):]):
        open_user = seg3[len(close_assistant):]
    else:
        open_user = _common_suffix(seg1, seg3, lead_nosys)
    if not open_user:
        raise DanluError("the chat template's user turns have no common opening")
    parts = {"open_system": open_sys, "close_system": seg1[: len(seg1) - len(open_user)], "open_user": open_user,
             "close_user": close_user, "open_assistant": gen,
             "close_assistant": seg3[: len(seg3) - len(open_user)],
             "default_system": lead_nosys[: len(lead_nosys) - len(open_user)], "generation": gen, "ending": ending}
    parts["go"] = go_template(parts)
    return parts


def go_template(p: dict) -> str:
    """A Go text/template over Ollama's .Messages that writes exactly what the pieces say."""
    lit = _go_literal
    return (
        "{{- $last := \"\" }}"
        "{{- if or (not .Messages) (ne (index .Messages 0).Role \"system\") }}" + lit(p["default_system"]) + "{{ end }}"
        "{{- range .Messages }}"
        "{{- if eq .Role \"system\" }}" + lit(p["open_system"]) + "{{ .Content }}" + lit(p["close_system"])
        + "{{- else if eq .Role \"user\" }}" + lit(p["open_user"]) + "{{ .Content }}" + lit(p["close_user"])
        + "{{- else if eq .Role \"assistant\" }}" + lit(p["open_assistant"]) + "{{ .Content }}"
        + lit(p["close_assistant"]) + "{{- end }}"
        "{{- $last = .Role }}"
        "{{- end }}"
        "{{- if ne $last \"assistant\" }}" + lit(p["generation"]) + "{{ else }}" + lit(p.get("ending", "")) + "{{ end }}"
    )


def go_available() -> str | None:
    return shutil.which("go")


def render_with_go(template: str, messages: list[dict], system: str = "") -> str:
    """Execute ``template`` with Go's text/template, as Ollama does, for ``messages``."""
    go = go_available()
    if not go:
        raise DanluError("Go is not installed, so the Ollama template cannot be checked with text/template",
                         fix="install Go (e.g. `apt-get install golang-go`)")
    with tempfile.TemporaryDirectory(prefix="danlu-go-") as tmp:
        src = Path(tmp) / "render.go"
        src.write_text(GO_RENDER, encoding="utf-8")
        env = dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="off", GOTOOLCHAIN="local")
        env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "danlu-go-cache"))
        payload = json.dumps({"Template": template, "System": system,
                              "Messages": [{"Role": m["role"], "Content": m["content"]} for m in messages]})
        proc = subprocess.run([go, "run", str(src)], input=payload, capture_output=True, text=True, env=env,
                              timeout=300)
    if proc.returncode != 0:
        raise DanluError(f"Go could not render the template: {proc.stderr.strip()[:300]}")
    return proc.stdout


CHECK_CONVERSATIONS = [
    [{"role": "system", "content": "You are a helpful assistant for a testing lab."},
     {"role": "user", "content": "How long does a water test take?"},
     {"role": "assistant", "content": "Usually 5 working days."},
     {"role": "user", "content": "And an express one?"}],
    [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi, how can I help?"},
     {"role": "user", "content": "Where do I send samples?"}],
    [{"role": "user", "content": "你好，水样怎么送检？"}],
]


def check_template(go_tmpl: str, tokenizer) -> dict:
    """Render the Go template and the tokenizer's chat template for the check conversations; compare bytes."""
    results = []
    for conv in CHECK_CONVERSATIONS:
        want = _render(tokenizer, conv)
        got = render_with_go(go_tmpl, conv)
        results.append({"messages": len(conv), "system": conv[0]["role"] == "system", "identical": got == want,
                        **({} if got == want else {"expected": want[:400], "got": got[:400]})})
    return {"identical": all(r["identical"] for r in results), "conversations": results}


def default_system(conversations: list) -> str | None:
    """The system prompt the run trained with, if most of its conversations share one."""
    prompts = [c[0]["content"] for c in conversations if c and c[0]["role"] == "system"]
    if not prompts:
        return None
    top = max(set(prompts), key=prompts.count)
    return top if prompts.count(top) * 2 >= len(conversations) else None


def check_system(system: str | None, *, given: bool) -> str | None:
    """A system prompt a Modelfile can hold: SYSTEM \"\"\"…\"\"\" ends at the first \"\"\", so a prompt containing one
    would end early and the rest would be read as Modelfile lines.  Refused with the way out, before any work."""
    if system and '"""' in system:
        where = "--system" if given else "the training data's system prompt"
        raise DanluError(f'{where} contains """, which ends a Modelfile\'s SYSTEM text early', where=where,
                         fix='give another with --system "…" (or --system "" to leave SYSTEM out), or export '
                             "without the ollama target")
    return system or None


def modelfile(gguf_name: str, stops: list[str], template: str | None, system: str | None,
              params: dict | None = None) -> str:
    """The Modelfile text: FROM, TEMPLATE (when derived and checked), a stop for every end-of-turn token, SYSTEM."""
    lines = ["# Modelfile written by danlu — create the model with: ollama create <name> -f Modelfile",
             f"FROM ./{gguf_name}"]
    if template:
        lines.append(f'TEMPLATE """{template}"""')
    else:
        lines.append("# no TEMPLATE: Ollama renders the chat template embedded in the GGUF (needs Ollama 0.30 or newer)")
    for stop in stops:
        lines.append(f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}")
    for key, value in (params or {}).items():
        lines.append(f"PARAMETER {key} {value}")
    if system:
        lines.append(f'SYSTEM """{check_system(system, given=True)}"""')
    return "\n".join(lines) + "\n"
