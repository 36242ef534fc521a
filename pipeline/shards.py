"""Writers: webdataset tar shards and the manifest, plus sorted JSONL sidecars (ledger, dead letters).

A document goes to shard `hash(id) % num_shards` and shards are sorted by id, so output bytes
depend only on input and config, never on the runner or worker count. Each shard is written as
one streaming tar ("w|") through FileSystems.create, so gs:// works and no temp folder is left.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import records, shard_format

KEPT_TAG = "kept"
# Per-sample overhead of a tar entry (headers and padding) used to estimate shard sizes.
TAR_OVERHEAD_BYTES = 3 * 1024


def create_file(path: str, mime_type: str = "application/octet-stream"):
    """FileSystems.create without Beam's compression-by-extension: bytes land as written."""
    return FileSystems.create(path, mime_type=mime_type, compression_type=CompressionTypes.UNCOMPRESSED)


class _HashingWriter:
    """Passes writes through to a file while counting bytes and computing sha256."""

    def __init__(self, handle):
        self.handle = handle
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.sha256.update(data)
        self.size += len(data)
        return self.handle.write(data)


def sample_meta(doc: dict) -> dict:
    return {"id": doc["id"], "source": doc["source"], "url": doc["url"],
            "lang": doc["signals"].get("lang"), "signals": doc["signals"],
            "sentence_starts": doc["sentence_starts"], "meta": doc["meta"]}


def size_and_count(doc: dict) -> tuple[int, int]:
    """(estimated bytes in a shard, 1): summed, the input of `num_shards_for`."""
    return doc["tokens"].nbytes + doc["bytes"] + TAR_OVERHEAD_BYTES, 1


def num_shards_for(size_and_docs: tuple[int, int], target_mb: float, min_shards: int = 1) -> int:
    """Shards for (estimated bytes, documents): one per `target_mb`, at least `min_shards`, at
    most one per document, and never zero (an empty output is one empty shard)."""
    total_bytes, docs = size_and_docs
    by_size = math.ceil(total_bytes / (target_mb * 1024 * 1024))
    return max(1, min(max(by_size, min_shards), docs))


class GroupByIdHash(beam.PTransform):
    """Records with an `id` -> (file index, records) with index `hash(id) % n`, n a side input."""

    def __init__(self, num_files):
        super().__init__()
        self.num_files = num_files

    def expand(self, records):
        return (records
                | "Key by id hash" >> beam.Map(
                    lambda r, n: (shard_format.shard_index(r["id"], n), r), n=self.num_files)
                | "Group" >> beam.GroupByKey())


class _WriteShard(beam.DoFn):
    def __init__(self, output: str, write_text: bool):
        self.output = output
        self.write_text = write_text

    def process(self, keyed):
        index, docs = keyed
        docs = sorted(docs, key=lambda d: d["id"])
        name = shard_format.shard_name(index)
        path = FileSystems.join(self.output, shard_format.SHARDS_DIR, name)
        members = (m for d in docs for m in shard_format.sample_members(
            shard_format.sample_key(d["id"]), d["tokens"], sample_meta(d),
            d["text"] if self.write_text else None))
        with create_file(path, "application/x-tar") as handle:
            writer = _HashingWriter(handle)
            shard_format.write_tar(writer, members)
        Metrics.counter("shards", "written").inc()
        tokens = sum(len(d["tokens"]) for d in docs)
        yield {"name": name, "sha256": writer.sha256.hexdigest(), "samples": len(docs),
               "tokens": tokens, "bytes": writer.size}
        for d in docs:
            yield beam.pvalue.TaggedOutput(KEPT_TAG, records.doc_outcome(
                d, records.KEPT, tokens=len(d["tokens"]), shard=name))


class WriteShards(beam.PTransform):
    """Tokenized documents -> shards; outputs shard infos (main) and kept outcomes (`kept`)."""

    def __init__(self, output: str, num_shards, write_text: bool):
        super().__init__()
        self.output = output
        self.num_shards = num_shards  # a singleton side input
        self.write_text = write_text

    def expand(self, docs):
        return (docs
                | "Group by shard" >> GroupByIdHash(self.num_shards)
                | "Write tar" >> beam.ParDo(_WriteShard(self.output, self.write_text)).with_outputs(
                    KEPT_TAG, main="shards"))


class _WriteJsonl(beam.DoFn):
    def __init__(self, directory: str, prefix: str, compress: bool):
        self.directory = directory
        self.prefix = prefix
        self.compress = compress

    def process(self, keyed, num_files):
        index, rows = keyed
        # Rows with equal ids (a repeated input id: its keeper's row and its dead letter's row)
        # are ordered by their bytes, so the file never depends on arrival order.
        rows = sorted((r["id"], shard_format.canonical_json(r)) for r in rows)
        suffix = ".jsonl.gz" if self.compress else ".jsonl"
        path = FileSystems.join(self.directory, f"{self.prefix}-{index:05d}-of-{num_files:05d}{suffix}")
        with create_file(path, "application/jsonl") as handle:
            # mtime=0 and no file name in the gzip header keep the bytes reproducible.
            f = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) if self.compress else handle
            for _, line in rows:
                f.write(line + b"\n")
            if self.compress:
                f.close()
        yield path


class WriteSortedJsonl(beam.PTransform):
    """Rows with an `id` -> `directory/prefix-NNNNN-of-MMMMM.jsonl`, split by id hash, sorted by id."""

    def __init__(self, directory: str, prefix: str, num_files, compress: bool = False):
        super().__init__()
        self.directory = directory
        self.prefix = prefix
        self.num_files = num_files  # a singleton side input
        self.compress = compress

    def expand(self, rows):
        return (rows
                | "Group by file" >> GroupByIdHash(self.num_files)
                | "Write" >> beam.ParDo(_WriteJsonl(self.directory, self.prefix, self.compress),
                                        self.num_files))


def write_json(path: str, obj) -> None:
    with create_file(path, "application/json") as f:
        f.write(json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
