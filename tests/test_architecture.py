"""The package's structure is a contract: the wings' order in pyproject.toml, checked by
import-linter, no import circle between any two files, lazy imports included, and small rooms
(no module over 400 lines, no function over 60)."""

import ast
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


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60

def _functions(tree, prefix=""):
    """(qualified name, lines) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node.end_lineno - node.lineno + 1
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")


def _too_big():
    for path in sorted((ROOT / "lstmgen").rglob("*.py")):
        module = path.relative_to(ROOT / "lstmgen").as_posix()
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            yield f"{module}: {text.count(chr(10))} lines"
        for name, lines in _functions(ast.parse(text)):
            if lines > MAX_FUNCTION_LINES:
                yield f"{module}:{name}: {lines} lines"


def test_no_module_over_400_lines_and_no_function_over_60():
    assert list(_too_big()) == []


def test_benchmarks_and_tools_import_only_what_the_package_has():
    """A move or a rename must carry the benchmark scripts and tools along (they run no test)."""
    import importlib.util

    missing = []
    for path in sorted([*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tools").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstmgen"):
                module = importlib.import_module(node.module)
                missing += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("lstmgen") and importlib.util.find_spec(alias.name) is None:
                        missing.append(f"{path.name}: {alias.name}")
    assert missing == []
