"""The house's structure, read from the code with ``ast`` (no pytest process started, nothing imported).

Every import of a pytest_batt module counts, at the top of a module or inside a function:
relative ones resolved, ``from . import x`` as importing ``x``, and importing ``a.b`` from
outside ``a`` as importing ``a`` too (its ``__init__`` runs). CONTRIBUTING's module map says
that these arrows point only down its list and its layers; these tests hold it to that.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pytest_batt"
PYTEST_SIDE = {"pytest", "_pytest", "xdist", "pytest_timeout", "pluggy", "execnet"}


def _modules() -> Dict[str, Tuple[Path, bool]]:
    """Dotted name -> (file, whether it is a package's __init__)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


MODULES = _modules()


def _imports(name: str) -> Tuple[Dict[str, int], Set[str]]:
    """What module ``name`` imports: pytest_batt modules (-> the first line that imports each) and
    the top-level names of everything else."""
    path, is_package = MODULES[name]
    ours: Dict[str, int] = {}
    others: Set[str] = set()

    def add(target: str, line: int) -> None:
        parts = target.split(".")
        for i in range(2, len(parts) + 1):  # the packages on the way run their __init__ too
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix != name and not name.startswith(prefix + "."):
                ours.setdefault(prefix, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "pytest_batt":
                    add(alias.name, node.lineno)
                else:
                    others.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "pytest_batt":
                others.add(module.split(".")[0])
                continue
            add(module, node.lineno)
            for alias in node.names:  # ``from . import x``: the module x
                if f"{module}.{alias.name}" in MODULES:
                    add(f"{module}.{alias.name}", node.lineno)
    return ours, others


GRAPH = {name: _imports(name)[0] for name in MODULES}


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """One cycle (a list of names, the first repeated at the end) per strongly connected group."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    groups: List[Set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the house is a few dozen modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    out = []
    for group in groups:  # a path around the group, for the message
        start = min(group)
        path, seen = [start], {start}
        while True:
            nxt = min(w for w in graph[path[-1]] if w in group)
            if nxt in seen:
                out.append(path[path.index(nxt):] + [nxt])
                break
            path.append(nxt)
            seen.add(nxt)
    return out


def _room(name: str) -> str:
    """A top-level module, or the sub-package a module is in (one room of the house)."""
    parts = name.split(".")
    return ".".join(parts[:2])


def test_the_import_graph_sees_what_the_code_imports() -> None:
    """The reader above is no stub: it finds top-level, function-level, relative and ``from . import x`` imports."""
    assert "pytest_batt.options" in GRAPH["pytest_batt.plugin"]  # from . import options (top level)
    assert "pytest_batt.controller.session" in GRAPH["pytest_batt.plugin"]  # inside a function
    assert "pytest_batt.controller" in GRAPH["pytest_batt.plugin"]  # its package, on the way
    assert "pytest_batt.files" in GRAPH["pytest_batt.programs.offenders"]  # from .. import files
    assert "pytest_batt.programs.library" in GRAPH["pytest_batt.programs.offenders"]  # from .library import ...
    assert "pytest" in _imports("pytest_batt.plugin")[1] and "pytest" not in _imports("pytest_batt.runner")[1]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycle_inside_pytest_batt() -> None:
    graph = {name: set(targets) for name, targets in GRAPH.items()}
    assert [" -> ".join(cycle) for cycle in _cycles(graph)] == []


def test_no_cycle_between_rooms() -> None:
    """With each sub-package one room (isolation/, programs/, controller/), no two rooms import each other."""
    rooms: Dict[str, Set[str]] = {}
    for name, targets in GRAPH.items():
        rooms.setdefault(_room(name), set()).update(_room(t) for t in targets if _room(t) != _room(name))
    assert [" -> ".join(cycle) for cycle in _cycles(rooms)] == []


def _module_map() -> Tuple[Dict[str, int], Dict[str, str]]:
    """CONTRIBUTING's module map: each listed module's line (dotted name -> line number) and layer."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    block = text.split("## The module map", 1)[1].split("```", 2)[1]
    line_of: Dict[str, int] = {}
    layer_of: Dict[str, str] = {}
    layer, package = "", ""
    for number, line in enumerate(block.splitlines()[2:]):  # after the opening fence and pytest_batt/
        heading = re.match(r"\s*-- (.+) --$", line)
        if heading:
            layer = heading.group(1)
            continue
        head = re.match(r"( *)((?:\w+(?:\.py|/))(?:, \w+(?:\.py|/))*)", line)
        if not head:
            continue
        names = head.group(2).split(", ") + re.findall(r";\s+(\w+(?:\.py|/))", line)
        if len(head.group(1)) == 2:
            package = ""
        for entry in names:
            dotted = "pytest_batt." + ((package + ".") if package else "") + entry.removesuffix(".py").removesuffix("/")
            line_of[dotted], layer_of[dotted] = number, layer
            if entry.endswith("/"):
                package = entry[:-1]
    return line_of, layer_of


def _listed(name: str, line_of: Dict[str, int]) -> str:
    """The map's entry for a module: itself, else the package it is in (reference/'s modules are not listed)."""
    while name not in line_of and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def test_every_arrow_points_down_the_module_map() -> None:
    """A module imports only modules listed below it in CONTRIBUTING's map, or on its own line."""
    line_of, _ = _module_map()
    assert set(MODULES) - {"pytest_batt"} <= {n for n in MODULES if _listed(n, line_of) in line_of}
    up = []
    for name, targets in GRAPH.items():
        if name == "pytest_batt":
            continue
        here = _listed(name, line_of)
        for target, line in targets.items():
            there = _listed(target, line_of)
            if there != here and line_of[there] < line_of[here]:
                up.append(f"{MODULES[name][0].relative_to(ROOT)}:{line} imports {target}, listed above it")
    assert up == []


def test_the_plain_modules_import_no_pytest_and_no_hook() -> None:
    """The last layer is plain: no pytest (nor xdist, pytest-timeout) and nothing of the layers above it."""
    line_of, layer_of = _module_map()
    layers = list(dict.fromkeys(layer_of.values()))
    assert layers == ["the entry points", "pytest's side: hooks, pytest's objects, the run's assembly", "the plain modules: no pytest"]
    plain = {n for n in MODULES if n != "pytest_batt" and layer_of[_listed(n, line_of)] == layers[-1]}
    assert {"pytest_batt.runner", "pytest_batt.results", "pytest_batt.isolation.guard", "pytest_batt.reference.dsl"} <= plain
    assert not plain & {"pytest_batt.plugin", "pytest_batt.items", "pytest_batt.controller.session", "pytest_batt.assembly"}
    found = []
    for name in sorted(plain):
        ours, others = _imports(name)
        found += [f"{name} imports {other}" for other in sorted(others & PYTEST_SIDE)]
        found += [f"{name} imports {target}" for target in sorted(ours) if target not in plain]
    assert found == []


def test_the_verdict_stays_on_the_controller() -> None:
    """What a worker imports (its items, collection, run assembly and state) never reaches the
    verdict or the controller's aggregate: judging is the controller's alone, as the map says."""
    seen: Set[str] = set()
    todo = ["pytest_batt.items", "pytest_batt.collection", "pytest_batt.assembly", "pytest_batt.state"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += GRAPH[name]
    assert "pytest_batt.runner" in seen and "pytest_batt.failures" in seen
    assert sorted(seen & {"pytest_batt.judging", "pytest_batt.battrun", "pytest_batt.controller"}) == []
