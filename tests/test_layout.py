"""The house rules of the package layout, as a newcomer reads them in docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "strongroom"
MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        name = ".".join(("strongroom", *path.relative_to(SRC).with_suffix("").parts))
        out[name.removesuffix(".__init__")] = ast.parse(path.read_text("utf-8"))
    return out


def test_no_module_is_longer_than_700_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := p.read_text("utf-8").count("\n")) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{name}.{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for name, tree in modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Modules of strongroom that ``tree`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known}


def test_there_is_no_import_cycle():
    mods = modules()
    known = set(mods)
    graph = {name: _imports(tree, known) - {name, "strongroom"} for name, tree in mods.items()}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in on_path:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                on_path.add(nxt)
                visit(nxt, [*path, nxt], on_path, done)
                on_path.discard(nxt)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], {start}, done)
    assert cycles == []


def test_cli_and_commands_write_no_sql_and_stay_thin():
    """Commands parse arguments and call the library; the ledger alone speaks SQL."""
    for path in [SRC / "cli.py", *sorted((SRC / "commands").glob("*.py"))]:
        text = path.read_text("utf-8")
        assert ".execute(" not in text and "SELECT " not in text, path.name


ROOMS = ("capture", "warc", "bag", "verify", "watch", "share", "replay", "report", "ingest")
ABOVE_THE_FLOOR = (*ROOMS, "commands", "cli", "workflow", "demo", "demosite")


def test_the_floor_imports_no_room():
    """core/ is the floor every room stands on: it imports none of them (nor the CLI)."""
    mods = modules()
    known = set(mods)
    upward = {
        f"{name} -> {dep}"
        for name, tree in mods.items()
        if name.startswith("strongroom.core")
        for dep in _imports(tree, known)
        if dep.split(".")[1:2] and dep.split(".")[1] in ABOVE_THE_FLOOR
    }
    assert upward == set()
