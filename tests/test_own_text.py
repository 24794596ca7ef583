"""Training on your own text: what the command line says about files that are not text."""

from tests.test_cli import assert_user_error, train_tiny


def test_a_binary_file_is_refused_as_not_text(tmp_path):
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    assert_user_error(train_tiny(png, tmp_path / "run"), 1, "photo.png", "is not text", "PNG image")
    blob = tmp_path / "data.txt"
    blob.write_bytes(b"hello world\n" * 50 + b"\x00\x01\x02" + b"more\n" * 50)
    assert_user_error(train_tiny(blob, tmp_path / "run2"), 1, "data.txt", "is not text", "NUL bytes")


def test_utf16_text_with_nul_bytes_is_still_text(tmp_path):
    text = tmp_path / "wide.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-16")
    result = train_tiny(text, tmp_path / "run", "data.encoding=utf-16")
    assert result.exit_code == 0, result.output
