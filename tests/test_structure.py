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


def test_the_wizard_imports_only_the_engines_public_surface():
    """The wizard uses the engine's public modules (engine.PUBLIC), never one of its internals."""
    from danlu import engine

    public = {f"danlu.engine.{m}" for m in engine.PUBLIC} | {"danlu.engine"}
    for name, path in modules("tui").items():
        bad = [(d, line) for d, line in imports(path) if d.startswith("danlu.engine") and d not in public]
        assert not bad, f"{path.relative_to(ROOT)} imports private engine modules: {bad}"
    for m in engine.PUBLIC:
        assert f"danlu.engine.{m}" in KNOWN, f"engine.PUBLIC names {m}, which is not a module"
