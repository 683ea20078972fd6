"""`pip install .` (not editable): everything under the project's own name (danlu.engine, danlu.tui), presets and
sample data found at run time, `danlu` and `python -m danlu.engine` both run, no sample-data generator shipped."""

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_non_editable_install_uses_its_own_names_and_finds_bundled_files(tmp_path):
    # from a copy of the checkout: setuptools builds in the source tree (build/), and a stale build/ of another
    # layout would be shipped again
    src = tmp_path / "src"
    skip = shutil.ignore_patterns(".venv", "build", "dist", "*.egg-info", ".git", "__pycache__", ".hypothesis",
                                  ".pytest_cache")

    def ignore(folder, names):  # a runs/ folder of the checkout's own, never the engine's runs package
        return skip(folder, names) | ({"runs"} if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, src, ignore=ignore)
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-compile", "-q",
         "--target", str(target), str(src)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info")))
    assert top == ["bin", "danlu"] or top == ["danlu"], top  # no top-level engine or tui to collide with
    assert sorted(p.name for p in (target / "danlu").iterdir()) == ["engine", "tui"]
    assert not list(target.rglob("make_sample_data.py")) and not list((target / "danlu").rglob("*.jsonl.py"))
    code = (  # every stage package is in the wheel
        "import importlib, danlu.engine.core.paths as p, danlu.engine as e, sys;"
        "[importlib.import_module(f'danlu.engine.{s}') for s in e.STAGES];"
        "print(p.presets_dir()); print(p.sample_data_dir()); print(e.__file__)"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    presets, samples, init = out.stdout.split()
    assert presets.startswith(str(target)) and samples.startswith(str(target)) and init.startswith(str(target))
    assert (target / "danlu" / "engine" / "_sample_data" / "lab_consultant.sharegpt.jsonl").exists()
    assert (target / "danlu" / "engine" / "_presets" / "models.yaml").exists()
    assert (target / "danlu" / "tui" / "app.py").exists()
    # the command line, both ways: the `danlu` script's entry point and `python -m danlu.engine`
    for argv in (["-m", "danlu.engine", "plan", "--model", "demo:tiny", "--json"],
                 ["-c", "import sys; from danlu.tui.entry import main; sys.exit(main(['plan', '--model', 'demo:tiny', "
                        "'--json']))"]):
        run = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=tmp_path, env=env,
                             timeout=120)
        assert run.returncode == 0 and '"method"' in run.stdout, run.stderr[-2000:]
