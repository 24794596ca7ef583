"""The package's structure is a contract: the wings' order in pyproject.toml, checked by
import-linter, and no import circle between any two files, lazy imports included."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP_LEVEL_LIMIT = 8  # modules at the top of lstmgen/ (STYLE.md: "at most a handful")


def test_the_wings_import_only_the_wings_below_them():
    pytest.importorskip("importlinter")
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    done = subprocess.run([*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def import_graph():
    grimp = pytest.importorskip("grimp")
    return grimp.build_graph("lstmgen", cache_dir=None)


def circles(graph) -> list:
    """Every strongly connected group of two or more modules (Tarjan), as sorted lists."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle_between_files_lazy_imports_included():
    assert circles(import_graph()) == []


def test_the_circle_finder_sees_a_circle():
    grimp = pytest.importorskip("grimp")
    graph = grimp.ImportGraph()
    for a, b in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=a, imported=b)
    assert circles(graph) == [["p.a", "p.b", "p.c"]]


def test_at_most_a_handful_of_modules_at_the_top():
    top = sorted(p.name for p in (ROOT / "lstmgen").glob("*.py"))
    assert len(top) <= TOP_LEVEL_LIMIT, top
