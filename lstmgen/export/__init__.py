"""``lstmgen export``: a trained run in the formats other tools run, ONNX and PyTorch.

    onnx    one ``.onnx`` file: ONNX's own LSTM/GRU/RNN operators (``onnx_graph.py``), the
            vocabulary and special ids in its metadata; any onnxruntime (C#, Java, C++, JS,
            Python) scores and samples with it
    torch   a ``.safetensors`` file of ``torch.nn`` weights (``torch_format.py``) and a ``.json``
            beside it with the sizes, the module to build, the vocabulary and special ids

An optional extra (``pip install 'lstmgen[export]'``: onnx, safetensors); the core never
imports them, and this package imports them only inside the functions that write. Errors are
typed (``ExportError`` and its kinds); nothing here prints. Files are written atomically: a
temporary file beside the target, fsynced, then renamed over it, so a failure leaves the old
file or none, never half of one.

Where the vocabulary travels (ONNX): in the model's ``metadata_props``, not a file beside it.
One file cannot lose its vocabulary on the way to a phone or a browser, and every onnxruntime
binding reads it (``InferenceSession.get_modelmeta().custom_metadata_map`` in Python,
``ModelMetadata.CustomMetadataMap`` in C#, ``OnnxModelMetadata.getCustomMetadata`` in Java).
The torch format has its ``.json`` beside the weights anyway (the config PyTorch code reads),
so the vocabulary goes there too, and into the safetensors header.

The <eod> rule travels with both (metadata ``eod``): the graph and the torch modules read one
document; the caller zeroes the state before a stream reads <eod>, as lstmgen itself does.
"""

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from .._version import __version__
from ..errors import LstmgenError, MissingPackageError
from ..runs.loading import Run, read_run

INSTALL = "pip install 'lstmgen[export]'"
NEEDS = {"onnx": ("onnx",), "torch": ("safetensors",)}  # what writing each format imports
SUFFIX = {".onnx": "onnx", ".safetensors": "torch"}  # the format an output's suffix implies
ONNX_LIMIT = 2**31 - 2**24  # bytes of weights one .onnx file holds (protobuf's 2 GB, less room for the rest)


class ExportError(LstmgenError):
    """A run cannot be exported, or the file cannot be written (exit code 1)."""

    exit_code = 1


class UnsupportedCell(ExportError):
    """The format has no operator or module for the run's cell (exit code 2: pick the other format)."""

    exit_code = 2


class MissingExtra(ExportError, MissingPackageError):
    """The packages the format needs are not installed (exit code 1, as for every optional extra)."""


@dataclass
class Exported:
    files: List[Path]  # written, the model first
    format: str  # "onnx" or "torch"
    checkpoint: Path  # the step-XXXXXXXX folder exported
    step: int
    note: Optional[str] = None  # worth telling the user ('best' asked for, 'last' given)


def eod_rule(run: Run) -> str:
    """How a caller handles <eod>, the sentence both formats carry in their metadata."""
    tok = run.tokenizer
    rule = (f"Every document ends with <eod> (id {tok.eod_id}); generation starts by reading <eod> from a zero "
            f"state. Never emit <unk> (id {tok.unk_id}). ")
    if run.model.reset_at_eod:
        return rule + ("reset_at_eod: zero a stream's state before it reads <eod>, as lstmgen does in training, "
                       "scoring and sampling; the model itself reads one document and never resets.")
    return rule + "reset_at_eod is off: this model carries its state across <eod>."


def token_bytes(tokenizer) -> List[bytes]:
    """The UTF-8 bytes each token id stands for (<eod> a newline, <unk> U+FFFD): joined in id
    order and decoded they give the text, exactly for char and bpe (a word model puts spaces
    between words by lstmgen's rules)."""
    out = []
    for i, text in enumerate(tokenizer.vocab):
        if i in (tokenizer.unk_id, tokenizer.eod_id):
            out.append(tokenizer.token_text(i).encode("utf-8"))
        elif tokenizer.level == "bpe":  # a BPE token is bytes, saved as Latin-1 characters
            out.append(text.encode("latin-1"))
        else:
            out.append(text.encode("utf-8", "surrogatepass"))
    return out


def describe(run: Run) -> dict:
    """What a caller needs beside the weights: sizes, the vocabulary, the special ids, the <eod> rule."""
    m, tok = run.model, run.tokenizer
    return {
        "lstmgen_version": __version__, "checkpoint": run.path.name, "step": run.step,
        "cell": m.cells[0].name, "vocab_size": m.vocab_size, "embed_dim": m.embed_dim,
        "hidden_size": m.hidden_size, "num_layers": m.num_layers, "tie_weights": m.tie_weights,
        "unk_id": tok.unk_id, "eod_id": tok.eod_id, "reset_at_eod": m.reset_at_eod, "eod": eod_rule(run),
        "token_bytes": [b.hex() for b in token_bytes(tok)], "tokenizer": tok.to_dict(),
    }


def as_strings(info: dict) -> Dict[str, str]:
    """``describe``'s dict as the string -> string metadata ONNX and safetensors hold (JSON for non-strings)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in info.items()}


# ---- writing --------------------------------------------------------------------------------
def format_of(output: Path, fmt: Optional[str]) -> str:
    """``fmt``, or the one ``output``'s suffix names (.safetensors: torch; anything else: onnx)."""
    if fmt is None:
        return SUFFIX.get(Path(output).suffix.lower(), "onnx")
    if fmt not in NEEDS:
        raise ExportError(f"unknown format '{fmt}'; expected one of: {', '.join(NEEDS)}")
    return fmt


def missing(fmt: str) -> List[str]:
    """The packages writing ``fmt`` needs that are not installed."""
    import importlib.util

    return [name for name in NEEDS[fmt] if importlib.util.find_spec(name) is None]


def check_cell(run: Run, fmt: str) -> None:
    """Refuse a cell the format cannot hold, naming the format that can."""
    from .onnx_graph import OPERATOR
    from .torch_format import MODULE

    cell = run.model.cells[0].name
    if fmt == "torch" and cell not in MODULE:
        twin = "the peephole LSTM" if cell == "peephole_lstm" else "Cho's GRU (reset before the recurrent product)"
        raise UnsupportedCell(f"--format torch cannot hold model.cell '{cell}': PyTorch has no module for {twin}; "
                              "use --format onnx")
    if fmt == "onnx" and cell not in OPERATOR:
        raise UnsupportedCell(f"--format onnx has no operator for model.cell '{cell}'")


def serialize(run: Run, fmt: str, output: Path) -> Dict[Path, bytes]:
    """The files of ``run`` in format ``fmt``, keyed by where they go (the model first)."""
    info = describe(run)
    if fmt == "onnx":
        from .onnx_graph import OPSET, build_model

        if sum(v.nbytes for v in run.params.values()) > ONNX_LIMIT:
            raise ExportError(f"the weights of {run.path} are over 2 GB, the most one ONNX file holds "
                              "(protobuf's limit); use --format torch")
        info["opset"] = OPSET
        return {output: build_model(run.model, run.params, as_strings(info)).SerializeToString()}
    from .torch_format import MODULE, serialize as to_safetensors, tensors

    arrays = tensors(run.model, run.params)
    info.update(format="lstmgen-torch", torch_module=MODULE[run.model.cells[0].name],
                projection="head.proj" in run.params, nonlinearity="tanh", tensors=list(arrays))
    header = {"format": "pt", "lstmgen": json.dumps(info)}  # ASCII JSON: a char vocabulary may hold lone surrogates
    return {output: to_safetensors(arrays, header),
            output.with_suffix(".json"): (json.dumps(info, indent=1) + "\n").encode("utf-8")}


def write_files(files: Dict[Path, bytes]) -> None:
    """Write every file atomically: all to temporary files beside their targets first, then each
    renamed over its target; on any failure the temporary files go and the targets stay as they were.
    (Not ``tempfile.mkstemp``: its files are private, mode 0600, and a model is meant to be shared.)"""
    temps, path = {}, None
    try:
        for path, data in files.items():
            tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for any file
            temps[path] = tmp
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in temps.items():
            os.replace(tmp, path)
    except BaseException as e:
        for tmp in temps.values():
            with contextlib.suppress(OSError):
                tmp.unlink()
        if isinstance(e, OSError):
            raise ExportError(f"cannot write {path}: {e.strerror or e}") from None
        raise


def export(run_dir: Path, output: Path, *, fmt: Optional[str] = None, which: str = "best") -> Exported:
    """Export checkpoint ``which`` (best, last or a kept step) of ``run_dir`` to ``output``."""
    output = Path(output)
    fmt = format_of(output, fmt)
    absent = missing(fmt)
    if absent:
        raise MissingExtra(f"lstmgen export --format {fmt} needs {' and '.join(absent)}: {INSTALL}")
    if output.is_dir():
        raise ExportError(f"{output} is a folder; -o names the file to write")
    if fmt == "torch" and output.suffix.lower() == ".json":
        raise ExportError(f"{output}: the torch format writes its config to a .json beside the weights; "
                          "name the weights file (model.safetensors)")
    run = read_run(Path(run_dir), which)
    check_cell(run, fmt)
    files = serialize(run, fmt, output)
    write_files(files)
    return Exported(list(files), fmt, run.path, run.step, run.note)
