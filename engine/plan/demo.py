"""The offline demo's choices, read from presets/demo.yaml: which model, which conversations, which settings.

``danlu quickstart`` and the wizard's ``--demo`` path both ask here, so that they train the same
conversations with the same settings.  The real demo model (demo:smollm2) is English-centric: on
the bundled bilingual sample data it trains on the English half; the random-init demo models keep
both halves (they learn the tokens, not the language).
"""

from __future__ import annotations

from pathlib import Path

from ..models import load as models
from ..core import paths, presets
from ..core.texts import Msg, msg

# why the offline demo (`danlu quickstart`, `danlu --demo`) trains LoRA unless told otherwise
DEMO_METHOD = msg("demo_method", "the offline demo's choice: an adapter of a few MB, which exports and merges in "
                                 "seconds (another method: --method, or Method on the Plan screen)")


def default_model() -> str:
    return presets.demo()["model"]


def sample_data_file() -> Path:
    return paths.sample_data_dir() / presets.demo()["data"]


def is_sample_data(source) -> bool:
    try:
        return Path(source).expanduser().resolve().parent == paths.sample_data_dir().resolve()
    except (OSError, TypeError):
        return False


def settings(model_ref: str) -> dict:
    """The demo's training settings for ``model_ref`` (a demo model's own, else the pretrained defaults)."""
    d = presets.demo()
    if models.is_random_init(model_ref):
        return dict(d["random_init"], kind="random_init")
    own = d.get("models", {}).get((model_ref or "").strip())
    if own is not None:
        return dict(own, kind="demo")
    return dict(d["pretrained"], kind="pretrained")


def lr(model_ref: str, method: str) -> float:
    return float(settings(model_ref)["lr"][method])


def select(model_ref: str, convs: list, source=None) -> tuple[list, str | None]:
    """The conversations the demo trains on, and a sentence saying what was left out (None: nothing).

    On the bundled sample data a demo model with ``languages`` keeps those languages only."""
    from ..data import select as sel

    s = settings(model_ref)
    langs = s.get("languages")
    if not langs or (source is not None and not is_sample_data(source)):
        return list(convs), None
    kept, dropped = sel.by_language(convs, langs)
    if not dropped:
        return kept, None
    names = {lang: sel.LANGUAGE_NAMES.get(lang, {"en": lang}) for lang in dropped}
    left = tuple(Msg(f"{n} {names[lang]['en']}", "lang_count", n=n, lang=names[lang])
                 for lang, n in sorted(dropped.items()))
    note = s.get("language_note") or "language filter"
    english = note.get("en", "language filter") if isinstance(note, dict) else str(note)
    # the note is a {language: text} value: a viewer says it in its own language (tui.strings.say)
    return kept, Msg(f"{english} ({len(kept)} kept, {', '.join(left)} left out)", "demo_languages", note=note,
                     kept=len(kept), left=left)


def eval_ratio() -> float:
    return float(presets.demo().get("eval_ratio", 0.1))


def split(model_ref: str, convs: list, seed: int | None = None) -> tuple[list, list]:
    """Train/eval split of the demo: eval_ratio held out, at most eval_samples of it (the rest goes to train)."""
    from .. import data
    from ..data import select as sel

    d = presets.demo()
    s = settings(model_ref)
    seed = d.get("seed", 42) if seed is None else seed
    train, held = data.split(convs, eval_ratio(), seed=seed)
    if s.get("eval_samples") and len(held) > s["eval_samples"]:
        keep = sel.sample(held, s["eval_samples"], seed)
        ids = {id(c) for c in keep}
        train = train + [c for c in held if id(c) not in ids]
        held = keep
    return sel.sample(train, s.get("train_samples"), seed), held


def questions(eval_convs: list, n: int) -> list[dict]:
    """``n`` held-out questions for the base-vs-tuned answers: the prompt up to the first assistant turn and its
    reference answer, the ones with the shortest reference answers first (quick to generate and to compare)."""
    found = []
    for conv in eval_convs:
        i = next((k for k, m in enumerate(conv) if m["role"] == "assistant"), None)
        if i is None or not any(m["role"] == "user" for m in conv[:i]):
            continue
        found.append({"messages": [dict(m) for m in conv[:i]], "reference": conv[i]["content"]})
    found.sort(key=lambda q: len(q["reference"]))
    return found[:n]
