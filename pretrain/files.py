"""File access for pretraining: local paths directly, URLs (gs://, s3://, memory://, ...) through
fsspec, so `--shards gs://bucket/corpus` reads as a local directory does.

fsspec comes with torch; a remote scheme needs its fsspec implementation installed (gcsfs for
gs://, s3fs for s3://). Only reading is needed here: shards, manifest and tokenizer are written
by the pipeline, through Beam's FileSystems.
"""

from __future__ import annotations

import os
import posixpath
from typing import BinaryIO


def is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path.removeprefix("file://")


def join(base: str, *parts: str) -> str:
    return posixpath.join(base, *parts) if is_url(base) else os.path.join(_local(base), *parts)


def open_binary(path: str) -> BinaryIO:
    """A binary, readable file object (a context manager) for a local path or a URL."""
    if is_url(path):
        import fsspec

        return fsspec.open(path, "rb").open()
    return open(_local(path), "rb")


def read_bytes(path: str) -> bytes:
    with open_binary(path) as f:
        return f.read()


def exists(path: str) -> bool:
    if is_url(path):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        return fs.exists(inner)
    return os.path.exists(_local(path))


def list_names(folder: str) -> set[str]:
    """The names of the entries of a folder (a local directory or a URL's); empty if it does not
    exist. One listing: cheaper than an `exists` per file on a remote store."""
    if is_url(folder):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(folder)
        try:
            return {posixpath.basename(p.rstrip("/")) for p in fs.ls(inner, detail=False)}
        except FileNotFoundError:
            return set()
    try:
        return set(os.listdir(_local(folder)))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def basename(path: str) -> str:
    return posixpath.basename(path) if is_url(path) else os.path.basename(path)
