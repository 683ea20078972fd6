"""What a person reading a wizard screen would call broken, found from the laid-out widgets (not from pixels):
a label, button, checkbox or footer key whose text does not fit its box or runs past its container's edge, an
empty field whose placeholder is cut, and footer keys drawn over each other.  The snapshot tests run it on every screen they record."""

from __future__ import annotations

from textual.geometry import Size
from rich.cells import cell_len
from textual.widgets import Button, Checkbox, Input, Label

WIDE = Size(10_000, 10_000)


def _text(widget) -> str:
    return " ".join(str(widget.render()).split())[:60]


def problems(screen) -> list[str]:
    out = []
    for w in screen.query("*"):
        if not w.display or not w.region.width or not all(a.display for a in w.ancestors if hasattr(a, "display")):
            continue
        if isinstance(w, (Button, Label, Checkbox)) or type(w).__name__ == "FooterKey":
            need = w.get_content_width(WIDE, WIDE)
            room = w.parent.content_region if w.parent is not None else screen.region
            if need > w.content_region.width:
                out.append(f"{type(w).__name__}#{w.id}: {need} cells in {w.content_region.width}: {_text(w)!r}")
            elif w.region.right > room.right:
                out.append(f"{type(w).__name__}#{w.id}: runs {w.region.right - room.right} cell(s) past its "
                           f"container: {_text(w)!r}")
    for w in screen.query(Input):  # an empty field's placeholder is its only help: it must be read whole
        if w.display and w.region.width and not w.value and w.placeholder:
            if cell_len(w.placeholder) > w.content_region.width:
                out.append(f"Input#{w.id}: placeholder of {cell_len(w.placeholder)} cells in {w.content_region.width}: "
                           f"{w.placeholder[:60]!r}")
    keys = [k for k in screen.query("FooterKey") if k.display]
    for a, b in zip(keys, keys[1:]):
        if a.region.right > b.region.x:
            out.append(f"footer keys overlap: {_text(a)!r} under {_text(b)!r}")
    return out


def screen_text(screen, mask=()) -> list[str]:
    """The screen as a person reads it: one string per terminal line, the widgets matching ``mask`` (selectors)
    blanked out."""
    from rich.cells import get_character_cell_size

    rows = []
    for strip in screen._compositor.render_strips():
        cells = []
        for seg in strip:
            for ch in seg.text:
                cells.append(ch)
                cells.extend([""] * (get_character_cell_size(ch) - 1))
        rows.append(cells)
    for selector in mask:
        for w in screen.query(selector):
            if not w.display:
                continue
            r = w.region
            for y in range(max(0, r.y), min(len(rows), r.bottom)):
                for x in range(max(0, r.x), min(len(rows[y]), r.right)):
                    rows[y][x] = " "
    return ["".join(cells) for cells in rows]


# what a wizard screen shows that is not the wizard's words: the user's data, the model's answers, names from the
# machine (GPU rows), what the user typed
NOT_OURS = ("DataTable", "Input", "TextArea", ".pane", "#report", "#rendered")


# what may stay in Latin letters on a Chinese screen: names (products, models, formats, file kinds), units, keys,
# and the config's own field names (code a user types); anything else is an English word left untranslated
ALLOWED = {
    "danlu", "lora", "qlora", "full", "auto", "LoRA", "QLoRA", "DoRA", "GPU", "GPUs", "CPU", "CUDA", "NVIDIA", "NVML",
    "MIG", "RAM", "GB", "MB", "KB", "GiB", "TB", "token", "tokens", "JSONL", "JSON", "CSV", "TSV", "Parquet",
    "Alpaca", "ShareGPT", "OpenAI", "TRL", "LLaMA-Factory", "SmolLM", "SmolLM2", "Qwen", "Hugging", "Face", "Hub",
    "HuggingFaceTB", "Modelfile", "Ollama", "GGUF", "Esc", "Ctrl", "Enter", "Tab", "Top-p", "Top-k", "alpha",
    "dropout", "logits", "Instruct", "Apache-2.0", "Apache", "MIT", "AMD", "EPYC", "Intel", "Xeon", "Ryzen",
    "torch", "transformers", "peft", "bitsandbytes", "adamw", "cosine", "linear", "sdpa", "eager", "fp", "bf", "tf",
    "ROUGE-L", "BLEU", "KL", "ETA", "esc", "ctrl", "trust", "remote", "code", "HF", "TOKEN", "hf", "auth", "login",
    "none", "demo", "tiny", "small", "smollm", "cpu", "cuda", "sample", "data", "LM", "Studio", "llama", "cpp",
    "safetensors", "Go", "template", "Chinese", "English", "zh", "en", "MoE", "rank", "Adam", "p99", "p95", "and",
    "messages", "sharegpt", "alpaca", "GeForce", "RTX", "Tesla", "python", "pid", "PyPI", "all-linear", "RSS",
    "attach", "quickstart",
}


def english_words(lines: list[str]) -> list[str]:
    """Latin-letter words on a Chinese screen that are not names, units, keys or code (see ALLOWED)."""
    import re

    from danlu.engine.core.config import TrainConfig

    allowed = ALLOWED | {f.name for f in __import__("dataclasses").fields(TrainConfig)}
    found = []
    for line in lines:
        # quoted (a name or code); a command in backticks that a wrap left open runs to the end of the line
        line = re.sub(r"'[^']*'|`[^`]*(`|$)|\"[^\"]*\"", " ", line)
        for token in re.split(r"[\s\u3000-\u303f\uff00-\uffef\u4e00-\u9fff（）：，。；、“”‘’「」《》—…·•■█░▌▐▊▎▔▁│╭╮╰╯─⏳✓✗⚠]+", line):
            if not token or re.search(r"[/._:@0-9=`$~^\\\\<>{}\[\]]", token) or token.startswith("-"):
                continue  # a path, id, number, flag or piece of code
            for word in re.findall(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]", token):
                if len(word) > 2 and word not in allowed and word.lower() not in allowed:
                    found.append(f"{word!r} in {line.strip()[:70]!r}")
    return found


def report_words(markdown: str) -> list[str]:
    """English words in a Chinese evaluation report (engine.infer.evaluate.markdown said in Chinese), outside what
    is the user's own text: the examples' prompts, references and answers, the stability section's prompts."""
    import re

    from danlu.tui.strings import STRINGS

    quoted = {STRINGS["zh"]["msg_rep_ex_title"]: "all", STRINGS["zh"]["msg_rep_st_title"]: "rows"}
    keep, section = [], None
    for line in markdown.splitlines():
        if line.startswith("#"):
            section = quoted.get(line.strip())
        elif section == "all" or (section == "rows" and line.startswith("- ")):
            continue
        keep.append(re.sub(r"\([^()]*=[^()]*\)", "", line))  # the next plan's settings: config names
    return english_words(keep)
