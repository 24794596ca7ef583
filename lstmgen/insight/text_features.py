"""Simple facts about every position of a text, for finding the units that track them.

Shapes: C characters of the text, T tokens (pieces of the text, one per position read).

Each feature is computed per character, over the text read so far (so a model could know it)
except ``to_sentence_end``, which looks ahead (a model that tracks it predicts it):

    line_position      characters since the last line break (0 on the break itself)
    in_double_quotes   1 inside "..." or “...”, from the opening quote to the one before the
                       closing quote (the closing quote itself reads 0)
    in_single_quotes   the same for '...' and ‘...’; a quote between two letters or digits is
                       an apostrophe ("don't") and changes nothing
    bracket_depth      brackets ( [ { opened and not yet closed (never below 0)
    in_word            1 on letters, digits and underscores
    indentation        the width of the line's leading spaces read so far (a tab counts 4)
    to_sentence_end    characters to the next . ! ? followed by whitespace (or the text's end),
                       or to the next blank line, whichever comes first

Quotes and brackets start afresh after a blank line, so one unmatched quote does not turn a
whole text inside out. A token's value is the value at its last character: the fact about the
text read once the token is read. Word and BPE models also get ``line_position_tokens``, the
tokens since the last line break.
"""

from typing import Dict, List

import numpy as np

FEATURES = {
    "line_position": "characters since the last line break",
    "line_position_tokens": "tokens since the last line break",
    "in_double_quotes": "inside double quotes",
    "in_single_quotes": "inside single quotes",
    "bracket_depth": "brackets ( [ { open",
    "in_word": "inside a word",
    "indentation": "indentation of the line",
    "to_sentence_end": "characters to the end of the sentence",
}
TAB_WIDTH = 4
_OPEN, _CLOSE = "([{", ")]}"


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def char_features(text: str) -> Dict[str, np.ndarray]:
    """Every feature of every character of ``text`` (the per-token ones excepted): name -> (C,)."""
    C = len(text)
    out = {name: np.zeros(C) for name in FEATURES if name != "line_position_tokens"}
    column = double = single = depth = indent = 0
    in_indent = True
    for j, ch in enumerate(text):
        prev = text[j - 1] if j else ""
        after = text[j + 1] if j + 1 < C else ""
        if ch == "\n":
            column, indent, in_indent = 0, 0, True
            if prev == "\n":  # a blank line: quotes and brackets start afresh
                double = single = depth = 0
        else:
            column += 1
            if in_indent and ch in " \t":
                indent += TAB_WIDTH if ch == "\t" else 1
            else:
                in_indent = False
        if ch == '"':
            double ^= 1
        elif ch in "“”":
            double = int(ch == "“")
        elif ch in "'‘’" and not (_is_word(prev) and _is_word(after)):
            single = single ^ 1 if ch == "'" else int(ch == "‘")
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        out["line_position"][j] = column
        out["in_double_quotes"][j] = double
        out["in_single_quotes"][j] = single
        out["bracket_depth"][j] = depth
        out["in_word"][j] = _is_word(ch)
        out["indentation"][j] = indent
    out["to_sentence_end"] = _to_sentence_end(text)
    return out


def _to_sentence_end(text: str) -> np.ndarray:
    """(C,) characters from each position to the next sentence end at or after it."""
    C = len(text)
    dist = np.zeros(C)
    next_end = C - 1
    for j in range(C - 1, -1, -1):
        after = text[j + 1] if j + 1 < C else " "
        if (text[j] in ".!?" and after.isspace()) or (text[j] == "\n" and after == "\n"):
            next_end = j
        dist[j] = next_end - j
    return dist


def token_features(pieces: List[str], level: str) -> Dict[str, np.ndarray]:
    """name -> (T,): each feature at the last character of the text read with each piece (0 when
    none has been read yet); ``line_position_tokens`` too unless ``level`` is "char"."""
    per_char = char_features("".join(pieces))
    ends = np.cumsum([len(p) for p in pieces], dtype=np.int64) - 1  # (T,) index of the last character read
    read = ends >= 0
    out = {}
    for name, values in per_char.items():
        out[name] = np.where(read, values[np.maximum(ends, 0)] if len(values) else 0.0, 0.0)
    if level != "char":
        count, tokens = 0, np.zeros(len(pieces))
        for k, piece in enumerate(pieces):
            count = 0 if "\n" in piece else count + 1
            tokens[k] = count
        out["line_position_tokens"] = tokens
    return {name: out[name] for name in FEATURES if name in out}
