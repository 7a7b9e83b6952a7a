"""The rooms of docs/architecture.md, enforced: every import of every project module (at module
level and inside functions) goes to its own room or one the table allows, and no import cycle
exists among the project's modules. The last tests show the check failing on a planted upward
import and a planted cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("telemetry", "exporters", "receipts", "dashboards", "alerts")

# room -> the rooms it may import besides itself (docs/architecture.md, "Rooms").
# A module belongs to the room whose name is its longest dotted prefix.
ALL = frozenset({"*"})
ROOMS: dict[str, frozenset[str]] = {
    "telemetry.core": frozenset(),
    "telemetry.tap": frozenset({"telemetry.core"}),
    "telemetry.observe": frozenset({"telemetry.core", "telemetry.tap"}),
    "telemetry.proxy": frozenset({"telemetry.core", "telemetry.tap", "telemetry.observe"}),
    "telemetry.emulator": frozenset({"telemetry.core"}),
    "telemetry.app": ALL,
    "telemetry": frozenset({"telemetry.core", "telemetry.tap"}),
    "exporters.metric_names": frozenset(),
    "receipts.metric_names": frozenset(),
    "exporters": frozenset({"telemetry.core", "exporters.metric_names"}),
    "receipts": frozenset({"telemetry.core", "receipts.metric_names"}),
    "alerts": frozenset({"telemetry.core", "exporters.metric_names", "receipts.metric_names"}),
    "dashboards": frozenset(
        {"telemetry.core", "alerts", "exporters.metric_names", "receipts.metric_names"}
    ),
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def imports_of(name: str, path: Path, known: Mapping[str, Path]) -> set[str]:
    """The project modules `name` imports anywhere in its body. `from pkg import sub` counts as
    importing the module `pkg.sub` when it is one, otherwise as importing `pkg`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    return {t for t in targets if t in known and t != name}


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    known = project_modules(root, packages)
    return {name: imports_of(name, path, known) for name, path in known.items()}


def room_of(module: str, rooms: Iterable[str]) -> str:
    matches = [r for r in rooms if module == r or module.startswith(r + ".")]
    return max(matches, key=len) if matches else module


def forbidden(graph: Mapping[str, set[str]], rooms: Mapping[str, frozenset[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        room = room_of(module, rooms)
        allowed = rooms.get(room, frozenset())
        for target in sorted(targets):
            other = room_of(target, rooms)
            if other != room and other not in allowed and allowed is not ALL:
                found.append(f"{module} -> {target} ({room} may not import {other})")
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_is_in_a_known_room() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert sorted(m for m in graph if room_of(m, ROOMS) not in ROOMS) == []


def test_no_room_imports_one_it_may_not() -> None:
    assert forbidden(import_graph(ROOT, PACKAGES), ROOMS) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph(ROOT, PACKAGES)) == []


def documented_rooms(text: str) -> dict[str, frozenset[str]]:
    """The rooms table of docs/architecture.md: room | what it is | the rooms it may import."""
    rooms = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        allowed = cells[2]
        names = frozenset(n.strip().strip("`") for n in allowed.split(",") if "`" in n)
        rooms[cells[0].strip("`")] = ALL if allowed == "everything" else names
    return rooms


def test_the_architecture_doc_shows_the_enforced_table() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    assert documented_rooms(text) == ROOMS


def plant(root: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


SYNTHETIC_ROOMS = {"pkg.low": frozenset(), "pkg.high": frozenset({"pkg.low"})}
CLEAN = {
    "pkg/__init__.py": "",
    "pkg/low/__init__.py": "",
    "pkg/low/_a.py": "X = 1\n",
    "pkg/high/__init__.py": "",
    "pkg/high/_b.py": "from pkg.low._a import X\n",
}


def test_the_check_passes_a_clean_synthetic_tree(tmp_path: Path) -> None:
    plant(tmp_path, CLEAN)
    graph = import_graph(tmp_path, ["pkg"])
    assert graph["pkg.high._b"] == {"pkg.low._a"}
    assert forbidden(graph, SYNTHETIC_ROOMS) == []
    assert cycles(graph) == []


def test_the_check_fails_on_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    upward = "def f() -> None:\n    from pkg.high import _b\n"
    plant(tmp_path, {**CLEAN, "pkg/low/_c.py": upward})
    assert forbidden(import_graph(tmp_path, ["pkg"]), SYNTHETIC_ROOMS) == [
        "pkg.low._c -> pkg.high._b (pkg.low may not import pkg.high)"
    ]


def test_the_check_fails_on_a_cycle_through_a_relative_import(tmp_path: Path) -> None:
    plant(tmp_path, {**CLEAN, "pkg/low/_a.py": "from . import _d\nX = 1\n"})
    plant(tmp_path, {"pkg/low/_d.py": "import pkg.low._a\n"})
    graph = import_graph(tmp_path, ["pkg"])
    assert forbidden(graph, SYNTHETIC_ROOMS) == []
    assert cycles(graph) == [["pkg.low._a", "pkg.low._d"]]
