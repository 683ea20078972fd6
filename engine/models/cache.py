"""Writing a model cache (a demo model built, a GGUF imported): one function, so that every cache is checked."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import DanluError


def save_whole(model, tokenizer, folder: Path) -> None:
    """Save a model and its tokenizer into ``folder`` (a model cache being made), and make sure the model's files
    are there: transformers writes nothing on a rank other than 0 of an initialised process group, and a cache
    marked finished without weights would fail every later load ("Unrecognized model … config.json")."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if not (Path(folder) / "config.json").is_file() or not any(Path(folder).glob("*.safetensors")):
        raise DanluError("the model's files were not written (a rank other than the first made the model cache "
                         "after the ranks had joined)", where=str(folder),
                         fix="make it with one process first (`danlu chat MODEL` does), then start the ranks")
