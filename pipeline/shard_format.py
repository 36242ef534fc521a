"""The `sieve-shards/1` format: names, keys, member encodings and the manifest, defined once.

Both the writer (pipeline, Beam) and the reader (pretrain, torch) import this module, so it
imports neither Beam nor torch: only the standard library and numpy.

An output directory holds:

    shards/shard-000000.tar ...   webdataset tars, one sample per document, sorted by doc id
    tokenizer.model (+ .vocab)    the sentencepiece model the tokens came from
    manifest.json                 see `build_manifest`

Each sample has the members `<key>.tokens.npy` (uint16 when the vocabulary has at most 65,536
entries, else uint32; written with allow_pickle=False), `<key>.json` (id, source, url, lang,
signals, sentence start offsets in tokens) and optionally `<key>.txt` (the clean text).
A plain `webdataset.WebDataset(...)` or `tar tf` reads them; nothing in them is pickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

import numpy as np

# The output directory's file names and the id hash are named once, in quality.outputs (the
# report, in quality/, reads them too); the format uses them from there.
from quality.outputs import MANIFEST, SHARDS_DIR, TOKENIZER_MODEL, TOKENIZER_VOCAB, stable_hash  # noqa: F401

FORMAT = "sieve-shards/1"
# Special-token ids of every Sieve tokenizer (pipeline.tokenize trains and checks them; the
# manifest records them; pretrain reads them from the manifest).
SPECIAL_IDS = {"pad": 0, "unk": 1, "bos": 2, "eos": 3, "mask": 4}

TOKENS_EXT = "tokens.npy"
META_EXT = "json"
TEXT_EXT = "txt"

# webdataset splits a member name into key and extension at the first "." of its basename,
# and treats "/" as a directory: keys must contain neither.
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_KEY_PREFIX_CHARS = 64
_KEY_HASH_CHARS = 16


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


def shard_index(doc_id: str, num_shards: int) -> int:
    """Which shard a document goes to: a hash of its id, so assignment ignores worker count."""
    return stable_hash(doc_id) % num_shards


def sample_key(doc_id: str) -> str:
    """A filename-safe, unique `__key__` for a document id (readable prefix + hash of the id)."""
    prefix = _UNSAFE_KEY_CHARS.sub("_", doc_id).strip("_")[:_KEY_PREFIX_CHARS]
    digest = hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:_KEY_HASH_CHARS]
    return f"{prefix}-{digest}" if prefix else digest


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.uint32)


def canonical_json(obj: Any) -> bytes:
    """JSON with sorted keys and fixed separators, so equal objects give equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def encode_tokens(tokens: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(tokens), allow_pickle=False)
    return buf.getvalue()


def decode_tokens(data: bytes) -> np.ndarray:
    """Reads a `.tokens.npy` member; refuses pickled (object) arrays."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def sample_members(key: str, tokens: np.ndarray, meta: Mapping[str, Any],
                   text: str | None = None) -> list[tuple[str, bytes]]:
    """The tar members of one sample, in a fixed order."""
    members = [(f"{key}.{META_EXT}", canonical_json(dict(meta))),
               (f"{key}.{TOKENS_EXT}", encode_tokens(tokens))]
    if text is not None:
        members.append((f"{key}.{TEXT_EXT}", text.encode("utf-8")))
    return members


def write_tar(fileobj: BinaryIO, members: Iterable[tuple[str, bytes]]) -> int:
    """Writes members as a streaming tar ("w|": no seeks, so GCS handles work).

    Every header field that could vary between machines (mtime, owner, mode) is fixed, so the
    same members give the same bytes. Returns the number of members written.
    """
    count = 0
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
            count += 1
    return count


def read_tar(fileobj: BinaryIO) -> Iterable[tuple[str, bytes]]:
    """Yields (member name, bytes) from a shard, regular files only, as a stream."""
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for info in tar:
            if not info.isfile():
                continue
            handle = tar.extractfile(info)
            yield info.name, handle.read() if handle else b""


def build_manifest(*, shards: list[Mapping[str, Any]], tokenizer_sha256: str, vocab_size: int,
                   special_ids: Mapping[str, int], config: Mapping[str, Any]) -> dict:
    """The manifest: format, tokenizer, per-shard name/sha256/counts, totals and the config.

    `shards` holds dicts with `name`, `sha256`, `samples`, `tokens`, `bytes`; they are sorted by
    name here so the manifest does not depend on the order a runner produced them in.
    """
    ordered = sorted((dict(s) for s in shards), key=lambda s: s["name"])
    return {
        "format": FORMAT,
        "tokenizer": {"path": TOKENIZER_MODEL, "sha256": tokenizer_sha256,
                      "vocab_size": vocab_size, "special_ids": dict(special_ids)},
        "token_dtype": token_dtype(vocab_size).name,
        "shards": [{**s, "path": f"{SHARDS_DIR}/{s['name']}"} for s in ordered],
        "totals": {"shards": len(ordered),
                   "samples": sum(s["samples"] for s in ordered),
                   "tokens": sum(s["tokens"] for s in ordered),
                   "bytes": sum(s["bytes"] for s in ordered)},
        "config": dict(config),
    }


def dump_manifest(manifest: Mapping[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def write_local(out_dir: str, shards: list[tuple[list[tuple[str, bytes]], int, int]], *,
                tokenizer_sha256: str, vocab_size: int, special_ids: Mapping[str, int],
                config: Mapping[str, Any]) -> dict:
    """Shards and manifest on a local disk, without Beam: for tools and tests that build a
    dataset by hand. `shards[i]` = (members, samples, tokens) of shard i. Returns the manifest."""
    os.makedirs(os.path.join(out_dir, SHARDS_DIR), exist_ok=True)
    entries = []
    for index, (members, samples, tokens) in enumerate(shards):
        buf = io.BytesIO()
        write_tar(buf, members)
        data = buf.getvalue()
        name = shard_name(index)
        with open(os.path.join(out_dir, SHARDS_DIR, name), "wb") as f:
            f.write(data)
        entries.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(),
                        "samples": samples, "tokens": int(tokens), "bytes": len(data)})
    manifest = build_manifest(shards=entries, tokenizer_sha256=tokenizer_sha256,
                              vocab_size=vocab_size, special_ids=special_ids, config=config)
    with open(os.path.join(out_dir, MANIFEST), "wb") as f:
        f.write(dump_manifest(manifest))
    return manifest


def load_manifest(data: bytes | str) -> dict:
    manifest = json.loads(data)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} manifest: format={manifest.get('format')!r}")
    return manifest
