"""Pretraining checks its input against the manifest: shards, token ids, tokenizer.

    at startup    every shard the manifest lists exists (`check_shards_exist`: one directory
                  listing, not a request per shard); the tokenizer beside the manifest has the
                  manifest's sha256 and vocab size and sentencepiece loads it
                  (`check_tokenizer`, at training start and wherever the tokenizer is loaded)
    as a shard    its bytes are hashed while the tar reader reads them (`HashingReader`, opened
    is read       by `open_verified`: no second read); once the shard is read to its end, its
                  size and sha256 (`check_stream`) and its document and token counts
                  (`check_counts`) must be the manifest's, and every token id must be below
                  the tokenizer's vocab size (`check_token_ids`, one max per document)

Every failure raises `InputError` (a ValueError) naming the file and what was expected and found.
A shard that fails to parse is hashed to its end before the error is reported, so that a changed
or truncated shard is reported as such rather than as whatever the damage made the parser see.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import tarfile
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, Iterator, Optional

import numpy as np

from pipeline import shard_format
from pretrain import files

# Bytes read per call when a shard's tail is drained after its last member (the tar's end-of-
# archive blocks and record padding, usually under 10 KiB): large enough that a shard left
# unread after an error drains in few calls, small enough to be nothing next to a shard.
DRAIN_CHUNK = 1 << 20

# Missing shards named in an error; the count says how many more there are. Enough to see the
# pattern (one shard, a range, all of them), short enough for one line of a log.
MAX_NAMED = 5


class InputError(ValueError):
    """Pretraining's input (a shard, the tokenizer) is not what its manifest says."""


class HashingReader:
    """A read-only stream that hashes (sha256) and counts the bytes read through it."""

    def __init__(self, raw: BinaryIO, url: str):
        self.raw, self.url = raw, url
        self.sha256, self.size = hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Reads (and hashes) the rest of the stream, so the hash covers the whole file."""
        while self.read(DRAIN_CHUNK):
            pass

    def __repr__(self) -> str:  # webdataset appends it to the errors it passes on
        return f"<shard {self.url}>"


class ShardURL(str):
    """A shard's URL (a str: it goes wherever a URL goes) carrying what to check it against: its
    manifest entry (sha256, bytes, samples, tokens) and the vocabulary size its ids stay below.
    `pretrain.data.read_shard(url)` checks whatever the url carries; a plain str is not checked."""

    entry: Optional[Mapping[str, Any]] = None
    vocab_size: Optional[int] = None

    def __new__(cls, url: str, entry: Optional[Mapping[str, Any]] = None,
                vocab_size: Optional[int] = None):
        self = super().__new__(cls, url)
        self.entry, self.vocab_size = entry, vocab_size
        return self

    def __reduce__(self):  # DataLoader workers started by spawn get the checks too
        return ShardURL, (str(self), self.entry, self.vocab_size)


def check_stream(url: str, stream: HashingReader, entry: Optional[Mapping[str, Any]]) -> None:
    """A fully read shard's size and sha256 against its manifest entry (fields it lacks are not
    checked)."""
    if not entry:
        return
    want_sha, want_size = entry.get("sha256"), entry.get("bytes")
    sha = stream.sha256.hexdigest()
    if want_size is not None and stream.size < int(want_size):
        raise InputError(f"shard {url} is truncated (or not the manifest's): {stream.size} "
                         f"bytes, the manifest lists {int(want_size)} (sha256 {sha}, manifest "
                         f"{want_sha})")
    if (want_sha is not None and sha != want_sha) or (want_size is not None
                                                      and stream.size != int(want_size)):
        raise InputError(f"shard {url} is corrupt or was changed after the manifest was written: "
                         f"sha256 {sha}, the manifest lists {want_sha} (size {stream.size} "
                         f"bytes, manifest {want_size})")


def check_counts(url: str, docs: list[dict], entry: Optional[Mapping[str, Any]]) -> None:
    """A shard's documents and tokens as read against the manifest's counts (which the loader's
    plan of the epoch is made from)."""
    if not entry or "samples" not in entry or "tokens" not in entry:
        return
    tokens = sum(int(d["tokens"].size) for d in docs)
    if len(docs) != int(entry["samples"]) or tokens != int(entry["tokens"]):
        raise InputError(f"shard {url} holds {len(docs)} documents and {tokens} tokens, the "
                         f"manifest counts {entry['samples']} and {entry['tokens']}")


def check_token_ids(url: str, key: str, tokens: np.ndarray, vocab_size: Optional[int]) -> None:
    """Every id of one document below the tokenizer's vocabulary size (one max, vectorized)."""
    if vocab_size is None or tokens.size == 0:
        return
    top = int(tokens.max())
    if top >= vocab_size:
        raise InputError(f"shard {url}: document {key!r} has token id {top}, not below the "
                         f"tokenizer's vocab size {vocab_size} (manifest)")


def read_failure(url: str, stream: HashingReader, entry: Optional[Mapping[str, Any]],
                 error: BaseException) -> BaseException:
    """The error to raise for `error`, met while reading a shard: the shard is drained and
    checked first (a changed or truncated shard is reported as such, whatever the damage made
    the parser see); a tar the parser cannot read is reported as truncated or corrupt; anything
    else is `error` itself."""
    try:
        stream.drain()
    except Exception:  # the stream itself failed (I/O): nothing to check, pass the error on
        return error
    try:
        check_stream(url, stream, entry)
    except InputError as mismatch:
        return mismatch
    if isinstance(error, (tarfile.TarError, EOFError)):
        # webdataset appends " @ <stream>" to the message and the stream and url to its args
        reason = str(error.args[0]) if error.args else type(error).__name__
        return InputError(f"shard {url} is truncated or corrupt: {type(error).__name__}: "
                          f"{reason.split(' @ ')[0]}")
    return error


@contextlib.contextmanager
def open_verified(url: str, entry: Optional[Mapping[str, Any]]) -> Iterator[HashingReader]:
    """A shard opened for one read to its end, checked against its manifest entry: on leaving
    the block the rest is drained and the size and sha256 checked; an error inside the block is
    reported as `read_failure` says."""
    with files.open_binary(url) as raw:
        stream = HashingReader(raw, url)
        try:
            yield stream
        except Exception as e:
            failure = read_failure(url, stream, entry, e)
            if failure is e:
                raise
            raise failure from e
        stream.drain()  # the end-of-archive blocks and padding: the hash covers the whole file
    check_stream(url, stream, entry)


def check_shards_exist(shards_dir: str, paths: Iterable[str]) -> None:
    """Every shard path (relative to shards_dir, as the manifest has them) exists: one listing
    per folder, through `pretrain.files`, so gs:// costs a listing, not a request per shard."""
    paths = list(paths)
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        folder, name = posixpath.split(path)
        by_folder.setdefault(folder, []).append(name)
    missing = []
    for folder, names in by_folder.items():
        present = files.list_names(files.join(shards_dir, folder) if folder else shards_dir)
        missing += [posixpath.join(folder, n) for n in names if n not in present]
    if missing:
        more = len(missing) - MAX_NAMED
        raise InputError(f"{shards_dir}: {len(missing)} of the {len(paths)} shards that "
                         f"{shard_format.MANIFEST} lists are missing: "
                         f"{', '.join(missing[:MAX_NAMED])}" + (f" and {more} more" if more > 0
                                                                else ""))


def tokenizer_path(shards_dir: str, manifest: Mapping[str, Any]) -> str:
    return files.join(shards_dir, manifest["tokenizer"].get("path", shard_format.TOKENIZER_MODEL))


def check_tokenizer(shards_dir: str, manifest: Mapping[str, Any],
                    required: bool = False) -> Optional[bytes]:
    """The tokenizer beside the manifest, checked: its sha256 is the manifest's, sentencepiece
    loads it, and it has the manifest's vocab size. Returns its bytes, or None when it is absent
    and not `required`."""
    path = tokenizer_path(shards_dir, manifest)
    if not files.exists(path):
        if required:
            raise FileNotFoundError(f"{path}: the tokenizer the manifest names is missing")
        return None
    model = files.read_bytes(path)
    want = manifest["tokenizer"].get("sha256")
    sha = hashlib.sha256(model).hexdigest()
    if want is not None and sha != want:
        raise InputError(f"tokenizer {path} has sha256 {sha}, the manifest lists {want}: it is "
                         f"not the tokenizer the shards were written with")
    import sentencepiece as spm

    try:
        pieces = spm.SentencePieceProcessor(model_proto=model).get_piece_size()
    except Exception as e:  # sentencepiece raises RuntimeError (or others) on a bad proto
        raise InputError(f"tokenizer {path}: sentencepiece cannot load it: {e}") from e
    vocab_size = int(manifest["tokenizer"]["vocab_size"])
    if pieces != vocab_size:  # tables indexed by token id (word starts) would not fit the ids
        raise InputError(f"tokenizer {path} has {pieces} pieces, the manifest's vocab size is "
                         f"{vocab_size}")
    return model
