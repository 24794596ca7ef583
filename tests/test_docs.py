"""The docs agree with the code: the generated config and command tables, every relative link, the README's size."""

import importlib.util
import re

import pytest

from lstmgen.runs.config import all_keys
from tests.helpers import ROOT

DOCS = [ROOT / "README.md", ROOT / "benchmarks" / "RESULTS.md", *sorted((ROOT / "docs").glob("*.md"))]


def _generator(name="gen_config_docs"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_config_tables_are_generated_from_config_py():
    gen = _generator()
    stale = [rel for rel, text in gen.generate().items() if (ROOT / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"{stale} disagree with lstmgen/runs/config.py; run: python tools/gen_config_docs.py"


def test_configuration_reference_lists_every_key():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key in all_keys() if f"| `{key}` |" not in text]
    assert not missing, f"docs/configuration.md lacks {missing}"


def test_a_changed_help_text_or_default_is_caught(monkeypatch):
    gen = _generator()
    before = gen.generate()
    rows = gen.describe_keys()
    rows[0] = {**rows[0], "help": rows[0]["help"] + " (changed)"}
    monkeypatch.setattr(gen, "describe_keys", lambda: rows)
    assert gen.generate()["docs/configuration.md"] != before["docs/configuration.md"]
    rows[0] = {**rows[0], "default": "elsewhere"}
    assert "`elsewhere`" in gen.generate()["README.md"]


def test_command_option_tables_are_generated_from_the_cli():
    gen = _generator("gen_command_docs")
    stale = [rel for rel, text in gen.generate().items() if (ROOT / rel).read_text(encoding="utf-8") != text]
    assert not stale, f"{stale} disagree with lstmgen/cli; run: python tools/gen_command_docs.py"


def test_a_new_option_is_caught_until_the_tables_are_regenerated(monkeypatch):
    import click

    from lstmgen.cli import novelty

    gen = _generator("gen_command_docs")
    before = gen.generate()["docs/commands.md"]
    monkeypatch.setattr(novelty, "params", [*novelty.params, click.Option(["--brand-new"], help="New.")])
    after = gen.generate()["docs/commands.md"]
    assert "| `--brand-new TEXT` |  |  | New. |" in after and after.replace(
        "| `--brand-new TEXT` |  |  | New. |\n", "") == before


def test_a_missing_marker_is_an_error():
    gen = _generator()
    with pytest.raises(SystemExit, match="found 0"):
        gen.fill("no markers here", "config-keys", "table", "x.md")


def test_table_cells_escape_markdown():
    gen = _generator()
    row = {"key": "a.b", "default": None, "type": "str or null", "allowed": "", "help": "x | <unk> y"}
    assert gen.full_table([row]).splitlines()[-1] == "| `a.b` | `null` | str or null | x \\| &lt;unk> y |"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set:
    anchors, seen, fenced = set(), {}, False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            slug = _slug(line.lstrip("#"))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(text: str):
    """Targets of inline Markdown links outside code blocks and code spans."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            yield from re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line))


def test_anchor_slugs_follow_github():
    assert _slug("Speed, issue 3 rounds (2026-11-24)") == "speed-issue-3-rounds-2026-11-24"
    assert _slug(" `lstmgen train`") == "lstmgen-train"
    assert _anchors("# A\n```\n# not a heading\n```\n## A\n") == {"a", "a-1"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(doc):
    broken = []
    for target in _links(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links {broken}"


def test_readme_is_a_front_page():
    size = len((ROOT / "README.md").read_bytes())
    assert size < 15_000, f"README.md is {size} bytes; move detail into docs/ (the goal is under 15 KB)"
