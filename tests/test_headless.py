"""The engine stays headless and light; help and the wizard open without torch."""

import subprocess
import sys

import pytest

from conftest import ROOT

HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "bitsandbytes")
SUBCOMMANDS = [
    ["probe"], ["plan"], ["data"], ["data", "inspect"], ["data", "convert"], ["data", "clean"], ["data", "split"],
    ["train"], ["resume"], ["chat"], ["eval"], ["export"], ["runs"], ["attach"], ["stop"], ["demo-model"],
    ["demo-model", "build"], ["quickstart"],
]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_engine_imports_without_textual():
    # every module of the engine, each stage package's own submodules included
    names = sorted({".".join(["danlu.engine", *p.relative_to(ROOT / "engine").with_suffix("").parts]).removesuffix(
        ".__init__") for p in (ROOT / "engine").rglob("*.py") if p.name not in ("__main__.py",)})
    mods = _modules_after("import " + ", ".join(names))
    assert set(names) <= mods
    assert not any(m == "textual" or m.startswith("textual.") for m in mods)
    assert not any(m == "danlu.tui" or m.startswith("danlu.tui.") for m in mods)
    assert not set(HEAVY) & mods, "engine modules must import heavy libraries lazily"


@pytest.mark.parametrize("argv", [[]] + SUBCOMMANDS, ids=lambda a: " ".join(a) or "danlu")
def test_help_loads_no_torch(argv):
    code = (
        "import contextlib, io\nfrom danlu.engine.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()) as buf:\n"
        f"    try:\n        main({argv + ['--help']!r})\n    except SystemExit:\n        pass\n"
        "assert 'usage: danlu' in buf.getvalue(), buf.getvalue()"
    )
    mods = _modules_after(code)
    assert not set(HEAVY) & mods


def test_help_explains_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "danlu.engine.cli", "--help"], capture_output=True, text=True, cwd=ROOT)
    for name in ("probe", "plan", "data", "train", "chat", "eval", "export", "runs", "attach", "quickstart"):
        assert f"    {name}" in out.stdout


def test_wizard_module_loads_no_torch():
    mods = _modules_after("import danlu.tui.app")
    assert not set(HEAVY) & mods
