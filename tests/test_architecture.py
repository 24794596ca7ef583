"""The package's shape: small rooms (no module over 400 lines, no function over 60)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lstmgen"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60

# Left to colleagues' work in progress (issue 21); the lead removes each line when that lands:
NOT_YET = {
    "cli/__init__.py",  # the command line, split into one module per command (the one-path work)
    "api.py",  # the Python face, reworked with the command line (the one-path work)
    "serve/app.py:create_app",  # the server's hardening restructures it
    "nn/model.py:LanguageModel.loss_and_grads",  # threaded data parallelism restructures it
}


def _functions(tree, prefix=""):
    """(qualified name, lines) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node.end_lineno - node.lineno + 1
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")


def _too_big():
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module in NOT_YET:
            continue
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            yield f"{module}: {text.count(chr(10))} lines"
        for name, lines in _functions(ast.parse(text)):
            if lines > MAX_FUNCTION_LINES and f"{module}:{name}" not in NOT_YET:
                yield f"{module}:{name}: {lines} lines"


def test_no_module_over_400_lines_and_no_function_over_60():
    assert list(_too_big()) == []
