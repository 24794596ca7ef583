"""Write the configuration key tables of docs/configuration.md and README.md from lstmgen/runs/defaults.py.

The config dataclasses' own help texts (``config.describe_keys()``) are the one source of truth:
this script rewrites only what lies between the markers

    <!-- BEGIN GENERATED: NAME (python tools/gen_config_docs.py) -->
    <!-- END GENERATED: NAME -->

and leaves the hand-written prose around them alone. ``NAME`` is ``config-keys`` (every key, in
docs/configuration.md) or ``readme-keys`` (the keys users touch most, in README.md).

    python tools/gen_config_docs.py            # rewrite the tables
    python tools/gen_config_docs.py --check    # exit 1 if a file differs from what it would write

tests/test_docs.py runs the check, so a changed default, range or help text fails the tests
until the tables are regenerated.
"""

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lstmgen.runs.config import describe_keys  # noqa: E402  (after the path fix, so it runs from a checkout)

# The keys the README's short table shows, in this order: what a newcomer changes first.
README_KEYS = [
    "data.corpus", "data.csv_column", "data.val_fraction", "tokenizer.level", "model.cell",
    "model.hidden_size", "model.num_layers", "model.dropout", "train.batch_size", "train.seq_len",
    "train.learning_rate", "train.max_steps", "train.eval_interval", "train.sample_interval", "train.seed",
]


def _yaml_scalar(value: Any) -> str:
    """A default as it is written in a YAML file or after ``--set``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: ``|`` escaped, ``<unk>``-like tokens not read as HTML."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def _allowed(row: Dict[str, Any]) -> str:
    """``'int, >= 1'``; ``'one of: `adam`, `sgd`'``; ``'str or null'``."""
    allowed = row["allowed"]
    if allowed.startswith("one of: "):
        return "one of: " + ", ".join(f"`{c}`" for c in allowed[len("one of: "):].split(", "))
    return _cell(row["type"] + (f", {allowed}" if allowed else ""))


def full_table(rows: List[Dict[str, Any]]) -> str:
    """Every key: key, default, allowed values, meaning."""
    lines = ["| key | default | allowed | meaning |", "|---|---|---|---|"]
    lines += [f"| `{r['key']}` | `{_yaml_scalar(r['default'])}` | {_allowed(r)} | {_cell(r['help'])} |" for r in rows]
    return "\n".join(lines)


def readme_table(rows: List[Dict[str, Any]]) -> str:
    """The README's keys: key, default, meaning."""
    by_key = {r["key"]: r for r in rows}
    lines = ["| key | default | meaning |", "|---|---|---|"]
    lines += [f"| `{k}` | `{_yaml_scalar(by_key[k]['default'])}` | {_cell(by_key[k]['help'])} |" for k in README_KEYS]
    return "\n".join(lines)


# file (relative to the repository root) -> {block name: function of describe_keys() giving its text}
TARGETS = {
    "docs/configuration.md": {"config-keys": full_table},
    "README.md": {"readme-keys": readme_table},
}


def fill(text: str, name: str, body: str, where: str) -> str:
    """``text`` with the block ``name`` replaced by ``body``; a missing or doubled block is an error."""
    pattern = re.compile(
        r"(<!-- BEGIN GENERATED: " + re.escape(name) + r" [^\n]*-->\n).*?(<!-- END GENERATED: " + re.escape(name)
        + r" -->)", re.DOTALL)
    found = len(pattern.findall(text))
    if found != 1:
        raise SystemExit(f"{where}: expected one '<!-- BEGIN GENERATED: {name} ... -->' block, found {found}")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def generate(root: Path = ROOT) -> Dict[str, str]:
    """What every target file should hold: ``{relative path: text}``."""
    rows = describe_keys()
    out = {}
    for rel, blocks in TARGETS.items():
        text = (root / rel).read_text(encoding="utf-8")
        for name, make in blocks.items():
            text = fill(text, name, make(rows), rel)
        out[rel] = text
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for rel, text in generate().items():
        path = ROOT / rel
        if path.read_text(encoding="utf-8") != text:
            stale.append(rel)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"out of date with lstmgen/runs/defaults.py: {', '.join(stale)}; run: python tools/gen_config_docs.py")
        return 1
    if not args.check:
        print(f"rewrote {', '.join(stale)}" if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
