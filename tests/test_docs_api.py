"""docs/api.md's examples run as they stand, in order, on a generated corpus."""

import re

from tests.helpers import ROOT, write_corpus


def test_the_examples_of_docs_api_run(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 8
    write_corpus(tmp_path / "corpus.txt")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/api.md, example {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "did you mean 'temperature'" in out
