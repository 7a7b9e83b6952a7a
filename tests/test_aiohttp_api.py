"""No project module reaches into aiohttp's private parts (issue 9): an aiohttp upgrade may
rename or drop any of them without notice.

Three kinds of reach are found, by reading each module's source:
- an import of an aiohttp module outside its documented surface (`aiohttp.web_protocol`, ...)
  or of an underscored name;
- `x._name` on anything but `self`, `cls` or `super()`, where aiohttp's own source uses `_name`
  (so our own objects' underscored attributes are no reach);
- in a class derived from an aiohttp class (resolved at run time, so a subclass of a subclass
  counts), `self._name`, `super()._name`, a class attribute or a method `_name` that one of its
  aiohttp base classes defines.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("telemetry", "exporters", "receipts", "dashboards", "alerts")
PUBLIC_MODULES = frozenset(
    {"aiohttp", "aiohttp.web", "aiohttp.abc", "aiohttp.typedefs", "aiohttp.hdrs"}
)
# "module: Class._name" -> why no public way exists (docs/decisions/0009-proxy-behaviour.md).
KEPT = {
    "telemetry.proxy._proxy: ProxyResponse._send_headers_immediately": (
        "the only switch for sending a StreamResponse's head with its first body bytes; "
        "aiohttp's own web.Response sets it the same way"
    ),
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_names(tree: ast.AST) -> set[str]:
    """Underscored names a piece of source defines or uses as attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries
    return {name for name in names if _private(name)}


@cache
def aiohttp_private_names() -> frozenset[str]:
    package = Path(aiohttp.__file__).parent
    names: set[str] = set()
    for path in package.rglob("*.py"):
        names |= _defined_names(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(names)


def _from_aiohttp(module: str) -> bool:
    return module.partition(".")[0] == "aiohttp"


def _aiohttp_private_names_of(cls: type) -> set[str]:
    """The underscored names the aiohttp classes among `cls` and its bases define or use."""
    names: set[str] = set()
    for base in cls.__mro__:
        if _from_aiohttp(base.__module__):
            names |= {name for name in vars(base) if _private(name)}
            names |= _defined_names(ast.parse(inspect.getsource(base)))
    return names


def _is_self(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def _class_body(classdef: ast.ClassDef) -> Iterator[ast.AST]:
    """The nodes of a class, without those of classes nested in it (checked on their own)."""
    stack: list[ast.AST] = list(classdef.body)
    while stack:
        node = stack.pop()
        yield node
        stack.extend(
            child for child in ast.iter_child_nodes(node) if not isinstance(child, ast.ClassDef)
        )


def _class_reaches(classdef: ast.ClassDef, namespace: Mapping[str, Any]) -> Iterator[str]:
    inherited: set[str] = set()
    for base in classdef.bases:
        resolved = eval(ast.unparse(base), dict(namespace))
        if isinstance(resolved, type):
            inherited |= _aiohttp_private_names_of(resolved)
    for statement in classdef.body:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        elif isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            if statement.name in inherited:
                yield f"{classdef.name}.{statement.name}"
        for target in targets:
            if isinstance(target, ast.Name) and target.id in inherited:
                yield f"{classdef.name}.{target.id}"
    for node in _class_body(classdef):
        if isinstance(node, ast.Attribute) and _is_self(node.value) and node.attr in inherited:
            yield f"{classdef.name}.{node.attr}"


def reaches(source: str, namespace: Mapping[str, Any]) -> list[str]:
    """What a module's source touches of aiohttp's private parts; `namespace` resolves the
    base classes of the classes it defines."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                f"import {alias.name}"
                for alias in node.names
                if _from_aiohttp(alias.name) and alias.name not in PUBLIC_MODULES
            ]
        elif isinstance(node, ast.ImportFrom) and _from_aiohttp(node.module or ""):
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                if (
                    node.module not in PUBLIC_MODULES
                    or _private(alias.name)
                    or (whole not in PUBLIC_MODULES and _is_module(whole))
                ):
                    found.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute) and not _is_self(node.value):
            if node.attr in aiohttp_private_names():
                found.append(ast.unparse(node))
        elif isinstance(node, ast.ClassDef):
            found += _class_reaches(node, namespace)
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _project_modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__main__.py":
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def test_no_module_reaches_into_aiohttp_private_parts() -> None:
    found: list[str] = []
    for name, path in _project_modules():
        module = importlib.import_module(name)
        found += [f"{name}: {reach}" for reach in reaches(path.read_text(), vars(module))]
    assert sorted(set(found) - set(KEPT)) == []
    assert sorted(set(KEPT) - set(found)) == []  # a kept reach that went away leaves the list


def test_the_scan_finds_each_kind_of_reach_and_nothing_of_ours() -> None:
    source = """
from aiohttp import web, web_protocol
from aiohttp.web_runner import TCPSite
import aiohttp.http_writer


class Handler(web.RequestHandler):
    def data_received(self, data: bytes) -> None:
        self._own_buffer = data
        if not self._messages:
            super()._process_keepalive()


class Site(web.TCPSite):
    async def start(self) -> None:
        self._server = None


class Response(web.StreamResponse):
    _send_headers_immediately = False

    def __init__(self) -> None:
        super().__init__()
        self._our_clock = 0.0


class Grandchild(Response):
    def _write_headers(self) -> None: ...


class Ours:
    def __init__(self) -> None:
        self._server = None


def port(site: web.TCPSite, ours: Ours) -> object:
    return site._port, ours.name
"""
    namespace: dict[str, Any] = {}
    exec(compile(source, "<snippet>", "exec"), namespace)
    assert sorted(reaches(source, namespace)) == [
        "Grandchild._write_headers",
        "Handler._messages",
        "Handler._process_keepalive",
        "Response._send_headers_immediately",
        "Site._server",
        "from aiohttp import web_protocol",
        "from aiohttp.web_runner import TCPSite",
        "import aiohttp.http_writer",
        "site._port",
    ]
