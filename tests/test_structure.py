"""The code's shape: no import cycles in the engine, the wizard on the engine's public surface only, and the
installed names (danlu.engine, danlu.tui) that cannot collide with another distribution's."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"engine": "danlu.engine", "tui": "danlu.tui"}  # folder → installed name


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGES[parts[0]], *parts[1:]])


def modules(folder: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / folder).rglob("*.py"))}


KNOWN = {**modules("engine"), **modules("tui")}


def imports(path: Path) -> list[tuple[str, int]]:
    """Every module of danlu's that ``path`` imports, at any level of the code (function-level ones included),
    with the line: ``from pkg import name`` counts pkg.name when that is a module, else pkg."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in KNOWN else mod for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            while parts and ".".join(parts) not in KNOWN:
                parts.pop()
            if parts and ".".join(parts) != name:
                out.append((".".join(parts), node.lineno))
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_engine_has_no_import_cycle():
    engine = modules("engine")
    graph = {m: {d for d, _ in imports(p) if d in engine} for m, p in engine.items()}
    # a package's __init__ importing its own submodules, and a submodule its package, is how packages work
    for m in graph:
        graph[m] = {d for d in graph[m] if not (d.startswith(m + ".") or m.startswith(d + "."))}
    found = cycles(graph)
    detail = [" ↔ ".join(c) + ": " + "; ".join(f"{a} imports {sorted(graph[a] & set(c))}" for a in c) for c in found]
    assert not found, "import cycles in the engine:\n" + "\n".join(detail)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_engine_never_imports_the_wizard():
    for name, path in modules("engine").items():
        bad = [(d, line) for d, line in imports(path) if d.startswith("danlu.tui")]
        assert not bad, f"{path}: imports the wizard: {bad}"


def _stage(module: str) -> str | None:
    """The stage package a module of the engine's belongs to (None for danlu.engine itself and its __main__)."""
    from danlu import engine

    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["danlu", "engine"] and parts[2] in engine.STAGES else None


def test_the_engine_is_stage_packages_one_level_deep():
    from danlu import engine

    folders = {p.name for p in (ROOT / "engine").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(engine.STAGES)
    for stage in engine.STAGES:  # a folder without it would import as an empty namespace package
        assert (ROOT / "engine" / stage / "__init__.py").is_file(), f"engine/{stage}/__init__.py is missing"
    for path in (ROOT / "engine").rglob("*.py"):
        rel = path.relative_to(ROOT / "engine")
        assert len(rel.parts) == 1 and rel.name in ("__init__.py", "__main__.py") or (
            len(rel.parts) == 2 and rel.parts[0] in engine.STAGES), f"engine/{rel}: not in a stage package"


def test_a_stage_imports_only_the_stages_before_it():
    """core → runs → models → data → plan → infer → train → export → cli: an import the other way would be a
    cycle between packages (each package's __init__ imports its own modules)."""
    from danlu import engine

    order = {s: i for i, s in enumerate(engine.STAGES)}
    bad = []
    for name, path in modules("engine").items():
        here = _stage(name)
        for dep, line in imports(path):
            there = _stage(dep)
            if here and there and order[there] > order[here]:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {dep} ({there})")
    assert not bad, "a stage imports a later one:\n" + "\n".join(bad)


def test_each_stage_says_its_public_surface():
    import importlib

    from danlu import engine

    for stage in engine.STAGES:
        pkg = importlib.import_module(f"danlu.engine.{stage}")
        names = getattr(pkg, "__all__", None)
        assert names, f"danlu.engine.{stage} has no __all__"
        missing = [n for n in names if not hasattr(pkg, n)]
        assert not missing, f"danlu.engine.{stage}.__all__ names {missing}, which it lacks"


def _engine_uses(path: Path):
    """What a wizard module takes from the engine: (stage, name, line) for every ``from danlu.engine.S import N``,
    and for every ``S.N`` attribute of a stage package it imported (``from danlu.engine import S``); (module, None,
    line) for an import of anything else of the engine's."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound, out = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith("danlu.engine"):
            stage = _stage(node.module)
            for a in node.names:
                if node.module == "danlu.engine":
                    out.append((a.name, "(the package)", node.lineno))
                    bound[a.asname or a.name] = a.name
                elif node.module == f"danlu.engine.{stage}":
                    out.append((stage, a.name, node.lineno))
                else:
                    out.append((node.module, None, node.lineno))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("danlu.engine"):
                    out.append((a.name, None, node.lineno))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound:
            out.append((bound[node.value.id], node.attr, node.lineno))
    return out


def test_the_wizard_imports_only_the_engines_public_surfaces():
    """The wizard takes from the engine only what a stage's __init__ lists in __all__ (or cli.main)."""
    import importlib

    from danlu import engine

    surface = {s: set(importlib.import_module(f"danlu.engine.{s}").__all__) for s in engine.STAGES}
    bad = []
    for name, path in modules("tui").items():
        for stage, attr, line in _engine_uses(path):
            ok = stage in surface and (attr == "(the package)" or attr in surface[stage])
            if not ok:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {stage}.{attr}" if attr else
                           f"{path.relative_to(ROOT)}:{line}: {stage}")
    assert not bad, "the wizard reaches past the engine's public surfaces:\n" + "\n".join(bad)


def test_the_surface_check_sees_a_private_import(tmp_path):
    f = tmp_path / "w.py"
    f.write_text("from danlu.engine.plan.value import make\nfrom danlu.engine import plan\nplan.value.make()\n"
                 "from danlu.engine.plan import make\n")
    uses = _engine_uses(f)
    assert ("danlu.engine.plan.value", None, 1) in uses and ("plan", "value", 3) in uses
    assert ("plan", "make", 4) in uses


def test_results_that_cross_to_the_wizard_are_typed():
    """What the wizard gets back from the engine's surfaces is a dataclass (or a list/tuple of them), not a dict
    whose keys a screen must guess; the CLI prints the same value's to_dict() for --json."""
    import dataclasses
    import typing

    from danlu.engine import data, export, infer, models, plan, runs

    calls = {
        export.export: export.ExportResult, export.source_info: export.SourceInfo, runs.RunDir.summary: runs.RunSummary,
        models.import_gguf: models.ImportResult, models.inspect_gguf: models.GGUFInfo,
        data.write_copy: data.CopyResult, plan.make: plan.Plan, infer.locate: infer.Target,
        plan.hardware.probe: plan.Probe,
    }
    for fn, want in calls.items():
        got = typing.get_type_hints(fn)["return"]
        assert got is want and dataclasses.is_dataclass(want), f"{fn.__qualname__} returns {got}, not {want}"
    report = typing.get_type_hints(data.load_conversations)["return"]
    assert data.DataReport in typing.get_args(report)
    choice = typing.get_type_hints(export.gguf_choices)["return"]
    assert typing.get_args(choice) == (export.GGUFChoice,)


def test_no_source_file_is_ignored_by_git():
    """A source file that .gitignore matches (engine/runs/ once matched `runs/`) would be missing from every clone."""
    import shutil
    import subprocess

    if not (ROOT / ".git").exists() or not shutil.which("git"):
        return
    files = [str(p.relative_to(ROOT)) for folder in ("engine", "tui", "tests", "bench", "presets", "sample_data")
             for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    out = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], input="\n".join(files), text=True,
                         capture_output=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"ignored by .gitignore: {out.stdout.split()}"


def test_every_checkbox_and_footer_in_the_wizard_is_the_wizards_own():
    """Textual's Checkbox and SelectionList draw the same ▐X▌ on and off, told apart by colour only: every screen
    uses tui.widgets' TickBox / TickList (✓ or an empty box) instead; and its footer, KeysFooter (the screen's keys
    without "^p palette", so that they fit 80 columns)."""
    import ast

    found = []
    for path in sorted((ROOT / "tui").rglob("*.py")):
        if path.name == "widgets.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func.value if isinstance(node.func, ast.Subscript) else node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if name in ("Checkbox", "SelectionList", "RadioButton", "Footer"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(…)")
    assert not found, found
