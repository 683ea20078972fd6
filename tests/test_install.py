"""`pip install .` (not editable) ships presets and sample data that are found at run time."""

import subprocess
import sys

from conftest import ROOT


def test_non_editable_install_finds_bundled_files(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-compile", "-q",
         "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    code = (
        "import engine.paths as p, engine, sys;"
        "print(p.presets_dir()); print(p.sample_data_dir()); print(engine.__file__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    presets, samples, init = out.stdout.split()
    assert presets.startswith(str(target)) and samples.startswith(str(target)) and init.startswith(str(target))
    assert (target / "engine" / "_sample_data" / "lab_consultant.sharegpt.jsonl").exists()
    assert (target / "engine" / "_presets" / "models.yaml").exists()
    assert (target / "tui" / "app.py").exists()
