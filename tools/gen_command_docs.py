"""Write the usage line and option table of every command in docs/commands.md from the Click commands.

The commands' own parameters (``lstmgen/cli/``: names, defaults, ranges, choices, help texts)
are the one source of truth: this script rewrites only what lies between the markers

    <!-- BEGIN GENERATED: options-NAME (python tools/gen_command_docs.py) -->
    <!-- END GENERATED: options-NAME -->

one block per command (``options-train``, ``options-sample``, ...), and leaves the hand-written
prose around them alone. Every command must have its block.

    python tools/gen_command_docs.py            # rewrite the tables
    python tools/gen_command_docs.py --check    # exit 1 if the file differs from what it would write

tests/test_docs.py runs the check, so a new option, a changed default or help text fails the
tests until the tables are regenerated. The tables are built from the parameters' attributes,
not from Click's help formatting, so they read the same under every Click version.
"""

import argparse
import sys
from pathlib import Path
from typing import Dict

import click

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lstmgen.cli import COMMANDS  # noqa: E402  (after the path fix, so it runs from a checkout)
from tools.gen_config_docs import _cell, fill  # noqa: E402

TARGET = "docs/commands.md"
TYPE_METAVARS = {"integer": "N", "integer range": "N", "float": "X", "float range": "X", "path": "PATH",
                 "text": "TEXT", "boolean": ""}


def _metavar(param: click.Parameter) -> str:
    """N, X, TEXT, best|last, or the option's own metavar."""
    if param.metavar:
        return param.metavar
    if isinstance(param.type, click.Choice):
        return "|".join(param.type.choices)
    return TYPE_METAVARS.get(param.type.name, param.type.name.upper())


def _allowed(param: click.Option) -> str:
    """``>= 0``, ``0 < x <= 1``, ``one of: `a`, `b```, or nothing."""
    t = param.type
    if isinstance(t, click.Choice):
        return "one of: " + ", ".join(f"`{c}`" for c in t.choices)
    if isinstance(t, (click.IntRange, click.FloatRange)):
        low = None if t.min is None else f"{t.min} {'<' if t.min_open else '<='} "
        high = None if t.max is None else f" {'<' if t.max_open else '<='} {t.max}"
        if low and high:
            return f"{low}x{high}"
        if low:
            return f"{'>' if t.min_open else '>='} {t.min}"
        return f"{'<' if t.max_open else '<='} {t.max}"
    return ""


def _default(param: click.Option) -> str:
    if param.is_flag:
        return "off"
    plain = isinstance(param.default, (int, float, str)) and not isinstance(param.default, bool)
    if param.default == "":
        return "empty"
    return f"`{param.default}`" if plain and not param.multiple else ""  # none (Click 8.2 says Sentinel.UNSET)


def _usage(command: click.Command) -> str:
    """``lstmgen eval RUN_DIR [options]``: the arguments as Click names them."""
    words = ["lstmgen", command.name]
    for param in command.params:
        if isinstance(param, click.Argument):
            name = param.metavar or param.name.upper()
            name += "..." if param.nargs == -1 else ""
            words.append(name if param.required or name.startswith("[") else f"[{name}]")
    return " ".join(words) + " [options]"


def option_table(command: click.Command) -> str:
    """The usage line, then one row per option: option, default, allowed values, meaning."""
    lines = ["```", _usage(command), "```", "", "| option | default | allowed | meaning |", "|---|---|---|---|"]
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        names = ", ".join(f"`{name}`" for name in param.opts)
        metavar = "" if param.is_flag else _metavar(param)
        option = names if not metavar else names[:-1] + f" {metavar}`"
        lines.append(f"| {_cell(option)} | {_cell(_default(param))} | {_allowed(param).replace('|', chr(92) + '|')} "
                     f"| {_cell(param.help or '')} |")
    return "\n".join(lines)


def generate(root: Path = ROOT) -> Dict[str, str]:
    """What docs/commands.md should hold: ``{relative path: text}``."""
    text = (root / TARGET).read_text(encoding="utf-8")
    for command in COMMANDS:
        text = fill(text, f"options-{command.name}", option_table(command), TARGET)
    return {TARGET: text}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the file would change (exit 1)")
    args = parser.parse_args(argv)
    stale = [rel for rel, text in generate().items() if (ROOT / rel).read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            print(f"out of date with lstmgen/cli: {', '.join(stale)}; run: python tools/gen_command_docs.py")
        return 1 if stale else 0
    for rel, text in generate().items():
        (ROOT / rel).write_text(text, encoding="utf-8")
    print(f"rewrote {', '.join(stale)}" if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
