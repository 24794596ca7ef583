"""Corpora larger than memory: tokenise once into a token file on disk, then stream from it.

With ``data.token_cache: FOLDER`` the training and validation token ids are written to

    FOLDER/<key>/tokenizer.json   the tokenizer learnt from the training split
    FOLDER/<key>/train.bin        the training ids, raw little-endian uint16 (uint32 when V > 65,536)
    FOLDER/<key>/val.bin          the validation ids, the same way
    FOLDER/<key>/meta.json        format, dtype, token counts, the settings that made them

``key`` is a hash of the source files' contents (in order), the corpus options, the
validation fraction and the tokenizer settings. A second run with the same sources and
settings finds the folder and starts at once; a changed file, option or setting gives another
key, so it is tokenised again (old folders are left for you to delete). An entry is written
under a temporary name and renamed into place, so a crash never leaves half an entry.

Plain text files (one file, a folder or a glob) are streamed: read in blocks of about 4 MB
cut at line breaks, so the text is never in memory whole. It takes three passes: hash and
measure, learn the tokenizer from the training blocks (every tokenizer's ``build`` takes an
iterable of texts; a word or BPE chunk is never cut, because blocks end at a line break), then
encode into the files. The split is the in-memory one (``split.split_corpus``: files without
text dropped, whole files to validation, or a single file cut after a line break), measured
on the file's decoded text block by block and cut at the matching byte 0x0A (the encoding
must write a line break as that byte, as UTF-8 and Latin-1 do). CSV, JSON-lines and built-in
corpora are read in memory as usual, then cached the same way. ``FORMAT`` is part of the
key: an entry made under another split rule is never reused.

Training then reads each (x, y) window from ``train.bin`` (``batches.FileBatches``), so resident
memory stays at the model's size whatever the corpus size. Progress while tokenising is
reported through ``progress(stage, done_bytes, total_bytes)``; this module never prints.
"""

import codecs
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from .corpus import (BUILTIN_PREFIX, JSONL_SUFFIXES, TABLE_SUFFIXES, check_encoding, corpus_options, load_configured_corpus,
                     source_files)
from .batches import FileBatches
from ..errors import CheckpointError, DataError
from .split import is_blank, split_corpus
from ..tokenizers import build_tokenizer, tokenizer_from_dict, tokenizer_settings

FORMAT = 2  # 2: blank files dropped and a single file cut by lines, as in memory (split.py)
BLOCK_BYTES = 1 << 22  # read this much at a time


def no_progress(stage, done, total):
    pass


def prepare(cfg, batch_size: int, seq_len: int, tokenizer=None, progress=no_progress):
    """``(tokenizer, train batches, val ids)`` from the cache, tokenising first on a miss.

    ``tokenizer`` (a resumed run's) is used instead of learning one; an entry made with
    another tokenizer is then written again.
    """
    data = cfg.data
    files = None if data.corpus.startswith(BUILTIN_PREFIX) else source_files(data.corpus)
    streamed = files is not None and not any(f.suffix.lower() in TABLE_SUFFIXES + JSONL_SUFFIXES for f in files)
    settings = {"level": cfg.tokenizer.level, **tokenizer_settings(cfg.tokenizer)}
    options = {**corpus_options(data), "val_fraction": data.val_fraction}
    digest = hashlib.blake2b(json.dumps([FORMAT, settings, options], sort_keys=True).encode(), digest_size=16)
    if streamed:
        check_encoding(data.encoding)
        sizes = [_hash_file(f, digest, progress) for f in files]
    else:
        corpus = load_configured_corpus(data)
        for doc in corpus.train + ["\0"] + corpus.val:
            digest.update(doc.encode("utf-8", "surrogatepass") + b"\0")
    folder = Path(data.token_cache) / digest.hexdigest()
    entry = _read_entry(folder)
    if entry is None or (tokenizer is not None and entry[0] != tokenizer):
        if streamed:
            train_parts, val_parts = split_corpus(
                data.corpus, [(f, 0, size) for f, size in zip(files, sizes)], data.val_fraction,
                blank=lambda part: not _has_text(part, data), lines=lambda part: _part_lines(part, data, progress),
                cut=_cut_part)
            read = lambda parts, stage: _blocks(parts, data, progress, stage)  # noqa: E731
        else:
            train_parts, val_parts = corpus.train, corpus.val
            read = lambda parts, stage: ((doc, True) for doc in parts)  # noqa: E731
        if tokenizer is None:
            texts = (text for text, _ in read(train_parts, "learning the tokenizer"))
            tokenizer = build_tokenizer(cfg.tokenizer.level, texts, **tokenizer_settings(cfg.tokenizer))
        _write_entry(folder, tokenizer, read(train_parts, "tokenising"), read(val_parts, "tokenising validation"),
                     settings, options)
        entry = _read_entry(folder)
        if entry is None:
            raise DataError(f"token cache '{folder}' could not be read back after writing it")
    tokenizer, meta = entry
    batches = FileBatches(folder / "train.bin", meta["dtype"], meta["train_tokens"], batch_size, seq_len)
    val = np.memmap(folder / "val.bin", meta["dtype"], "r") if meta["val_tokens"] else np.zeros(0, np.int32)
    return tokenizer, batches, val


def _hash_file(path, digest, progress):
    """Adds the file's bytes to ``digest``; returns its size."""
    size = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            digest.update(block)
            done += len(block)
            progress("hashing", done, size)
    digest.update(b"\0file\0")
    return size


def _decoded(part, data, progress=no_progress):
    """The decoded text of a whole file, block by block, for measuring it: a leading byte-order
    mark dropped, bad bytes replaced (encoding reports them with their offset)."""
    decoder = codecs.getincrementaldecoder(data.encoding)("replace")
    at_start, done = True, 0
    with open(part[0], "rb") as f:
        while True:
            raw = f.read(BLOCK_BYTES)
            done += len(raw)
            progress("finding the validation split", done, part[2])
            text = decoder.decode(raw, final=not raw)
            if at_start and text:
                text, at_start = text.removeprefix("\ufeff"), False
            yield text
            if not raw:
                return


def _has_text(part, data):
    """Whether the file holds some non-whitespace text (``split.is_blank`` of its text)."""
    return any(not is_blank(text) for text in _decoded(part, data))


def _part_lines(part, data, progress=no_progress):
    """``split.text_lines`` of the file's decoded text, counted block by block."""
    newlines, first, last, ends_line = 0, None, None, False
    for text in _decoded(part, data, progress):
        if not text:
            continue
        start, end = len(text) - len(text.lstrip()), len(text.rstrip())  # non-whitespace in [start, end)
        if first is None and start < len(text):
            first = newlines + text.count("\n", 0, start)
        if end:
            last = newlines + text.count("\n", 0, end - 1)
        newlines += text.count("\n")
        ends_line = text.endswith("\n")
    return newlines + (not ends_line), first, last


def _cut_part(part, k):
    """The byte ranges of a file's first ``k`` lines and of the rest."""
    path, start, end = part
    at, seen = start, 0  # seen: line breaks before byte ``at``
    with open(path, "rb") as f:
        f.seek(start)
        while at < end:
            block = f.read(min(BLOCK_BYTES, end - at))
            if seen + block.count(b"\n") >= k:
                i = -1
                for _ in range(k - seen):
                    i = block.find(b"\n", i + 1)
                return (path, start, at + i + 1), (path, at + i + 1, end)
            seen += block.count(b"\n")
            at += len(block)
    return part, (path, end, end)


def _blocks(parts, data, progress, stage):
    """``(text, ends_document)`` for the byte ranges ``parts``, in blocks cut after a line break.

    Each part is one document: its last block (maybe empty) has ``ends_document`` True.
    """
    total = sum(end - start for _, start, end in parts)
    done = 0
    for path, start, end in parts:
        decoder = codecs.getincrementaldecoder(data.encoding)(data.encoding_errors)
        pending, at = "", start
        with open(path, "rb") as f:
            f.seek(start)
            while at < end:
                raw = f.read(min(BLOCK_BYTES, end - at))
                try:
                    text = decoder.decode(raw, final=at + len(raw) >= end)
                except UnicodeDecodeError as e:
                    offset = at - len(decoder.getstate()[0]) + e.start
                    raise DataError(f"corpus file '{path}' is not valid {data.encoding}: byte at offset {offset} "
                                    f"cannot be decoded; set data.encoding to the file's encoding, or "
                                    f"--set data.encoding_errors=replace") from None
                if at == 0 and text.startswith("\ufeff"):
                    text = text[1:]
                at += len(raw)
                done += len(raw)
                progress(stage, done, total)
                text = pending + text
                cut = text.rfind("\n") + 1
                if cut:
                    yield text[:cut], False
                pending = text[cut:]
        yield pending, True


def _write_entry(folder, tokenizer, train_texts, val_texts, settings, options):
    """Encode ``(text, ends_document)`` pairs into a new cache entry, atomically."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dtype = "uint16" if tokenizer.vocab_size <= 1 << 16 else "uint32"
    eod = np.array([tokenizer.eod_id], dtype=dtype)
    counts = {}
    for split, texts in (("train", train_texts), ("val", val_texts)):
        n = 0
        with open(tmp / f"{split}.bin", "wb") as f:
            for text, ends_document in texts:
                ids = tokenizer.encode(text).astype(dtype)
                f.write(ids.tobytes())
                if ends_document:
                    f.write(eod.tobytes())
                n += len(ids) + ends_document
        counts[f"{split}_tokens"] = n
    meta = {"format": FORMAT, "dtype": dtype, **counts, "tokenizer": settings, "corpus": options}
    (tmp / "tokenizer.json").write_text(json.dumps(tokenizer.to_dict(), ensure_ascii=False), encoding="utf-8")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _read_entry(folder):
    """``(tokenizer, meta)`` of a complete cache entry, or None when there is none."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        tokenizer = tokenizer_from_dict(json.loads((folder / "tokenizer.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, CheckpointError):
        return None
    itemsize = np.dtype(meta.get("dtype", "uint16")).itemsize
    sizes_ok = all((folder / f"{split}.bin").stat().st_size == meta.get(f"{split}_tokens", -1) * itemsize
                   for split in ("train", "val") if (folder / f"{split}.bin").exists())
    if meta.get("format") != FORMAT or not sizes_ok:
        return None
    return tokenizer, meta
