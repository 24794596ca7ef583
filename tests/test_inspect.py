"""inspect against the numbers the run's own files and the model's formulas give."""

import json
import os

from tests.helpers import run


def test_inspect_reports_counts_losses_and_size(char_run):
    out = char_run
    result = run("inspect", out, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    V, E, H = info["tokenizer"]["vocab_size"], 16, 32  # configs/tiny.yaml: embed_dim 16, hidden_size 32
    assert info["params_per_layer"] == {"embed": V * E, "layers.0": (E + H) * 4 * H + 4 * H, "head": H * V + V}
    assert info["num_params"] == sum(info["params_per_layer"].values())
    assert info["step"] == 40 and info["config"]["model"]["hidden_size"] == H
    vals = [r["val_loss"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["val_loss"]]
    assert info["last_val_loss"] == vals[-1] and info["best_val_loss"] == min(vals)
    on_disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(out) for f in files)
    assert info["disk_bytes"] == on_disk
    text = run("inspect", out)
    assert text.exit_code == 0 and "parameters:" in text.output and "hidden_size: 32" in text.output


def test_inspect_missing_run_is_a_one_line_error(tmp_path):
    result = run("inspect", tmp_path / "nothing")
    assert result.exit_code == 1 and "does not exist" in result.output and "Traceback" not in result.output
