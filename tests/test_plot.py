"""plot: the text chart puts each point where its value says; the PNG; matplotlib missing."""

import math
import struct
import sys

import pytest

from lstmgen.insight.plot import Curves, read_curves, text_chart
from tests.helpers import run


def test_text_chart_places_points_by_value():
    a = Curves("a", [0, 50, 100], [0, 5, 10], [4.0, 3.0, 2.0], [math.nan, 3.5, math.nan], [1e-3] * 3)
    b = Curves("b", [0, 100], [0, 10], [2.5, 4.0], [math.nan, math.nan], [1e-3] * 2)
    rows = text_chart([a, b], width=11, height=5).splitlines()
    grid = [line.split("|", 1)[1] for line in rows[:5]]
    assert grid[0][0] == "a" and grid[4][5] != "a" and grid[2][5] == "a"  # 4.0 top, 3.0 middle
    assert grid[4][10] == "a"  # 2.0 at the bottom right
    assert grid[1][5] == "A"  # validation 3.5: a quarter down
    assert grid[3][0] == "b" and grid[0][10] == "b"  # 2.5 three quarters down; 4.0 on top (drawn last)
    assert rows[0].startswith("    4.000") and rows[4].startswith("    2.000")
    assert any("b train, B validation: b" in line for line in rows)


def test_read_curves_and_tokens_axis(char_run):
    c = read_curves(char_run)
    assert c.step[-1] == 40 and c.tokens == [s * 8 * 32 for s in c.step]  # tiny: batch 8, seq_len 32
    assert not math.isnan(c.val_loss[-1])
    result = run("plot", char_run, char_run, "--x", "tokens")
    assert result.exit_code == 0 and "loss (nats/token) against training tokens" in result.output and "10,240" in result.output


def test_png_is_written(char_run, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    result = run("plot", char_run, "-o", png)
    assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (800, 600)  # IHDR: the 8 x 6 inch figure at 100 dpi


def test_without_matplotlib_a_text_chart_and_a_clear_message(char_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    result = run("plot", char_run, "-o", tmp_path / "curves.png")
    assert result.exit_code == 1 and "pip install 'lstmgen[plot]'" in result.output
    assert "loss (nats/token) against step" in result.output and not (tmp_path / "curves.png").exists()


def test_plot_of_a_folder_that_is_no_run(tmp_path):
    result = run("plot", tmp_path)
    assert result.exit_code == 1 and "metrics.jsonl" in result.output and "Traceback" not in result.output


def test_bits_per_char_axis_shows_validation_only_and_is_the_default_across_tokenizers():
    from lstmgen.insight.plot import default_y

    a = Curves("a", [0, 10, 20], [0, 1, 2], [4.0, 3.0, 2.0], [math.nan, 1.5, 1.2], [1e-3] * 3,
               [math.nan, 2.0, 1.8], "char")
    w = Curves("w", [0, 10, 20], [0, 1, 2], [9.0, 8.0, 7.0], [math.nan, 6.0, 5.5], [1e-3] * 3,
               [math.nan, 1.9, 1.7], "word")
    assert default_y([a, w]) == "bits-per-char" and default_y([a, a]) == "loss"
    chart = text_chart([a, w], y="bits-per-char")
    assert "validation bits per character" in chart and "a train" not in chart
    marks = "".join(line.split("|", 1)[1] for line in chart.splitlines() if "|" in line)
    assert sorted(ch for ch in marks if ch.strip()) == ["A", "A", "B", "B"]  # validation points only
    assert "2.000" in chart and "1.700" in chart  # the axis spans the bits, not the losses
