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
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import records, shard_format, tokenize
from pipeline.files import create_file
from quality import outputs

# Per-sample overhead of a tar entry (headers and padding) used to estimate shard sizes.
TAR_OVERHEAD_BYTES = 3 * 1024


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


# Tagged outputs of WriteShards, besides the shard infos.
OUTCOMES_TAG = "outcomes"
STAGE_TAG = "stage"
DEDUPLICATED, TOKENIZED = "deduplicated", "tokenized"  # stage labels, one per document
# The per-shard JSONL files WriteShards writes, by output tag: their name prefix.
FILE_PREFIX = {OUTCOMES_TAG: outputs.LEDGER_DIR, records.DEAD_LETTER_TAG: outputs.DEAD_LETTER_DIR,
               records.CLUSTERS_TAG: outputs.CLUSTERS_DIR}


def estimated_size(cand: dict) -> tuple[int, int]:
    """(estimated bytes in a shard, 1) of a document that dedup keeps, from its text alone:
    tokens are not known before the shard writer. Summed, the input of `num_shards_for`."""
    tokens = cand["bytes"] / ESTIMATED_BYTES_PER_TOKEN
    return int(cand["bytes"] + TOKEN_BYTES * tokens) + TAR_OVERHEAD_BYTES, 1


# Text bytes per token, to size shards before tokenizing: measured with the default 8,000-piece
# model, 3.16 on held-out real documents (benchmarks/README.md, "Tokenizer training"), about 3 on
# the bundled sample; rounded down so that shards come out at most about their target size.
ESTIMATED_BYTES_PER_TOKEN = 3.0
TOKEN_BYTES = 2  # uint16 tokens (vocabularies up to 65,536, shard_format.token_dtype)


def write_jsonl_file(path: str, rows, compress: bool = False) -> None:
    """Rows sorted by id, then by their bytes (rows with equal ids: a repeated input id's keeper
    row and its dead letter's row), so the file never depends on arrival order."""
    lines = sorted((r["id"], shard_format.canonical_json(r)) for r in rows)
    with create_file(path, "application/jsonl") as handle:
        # mtime=0 and no file name in the gzip header keep the bytes reproducible.
        f = gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) if compress else handle
        for _, line in lines:
            f.write(line + b"\n")
        if compress:
            f.close()


def jsonl_name(prefix: str, index: int, num_files: int, compress: bool = False) -> str:
    return f"{prefix}-{index:05d}-of-{num_files:05d}{'.jsonl.gz' if compress else '.jsonl'}"


class _WriteShard(beam.DoFn):
    """One shard's documents, decisions and outcome rows -> the tar of what is kept, and the
    shard's ledger, dead-letter and cluster files (named like WriteSortedJsonl's)."""

    def __init__(self, output: str, write_text: bool, unit: str | None, dirs: dict):
        self.output = output
        self.write_text = write_text
        self.unit = unit
        self.dirs = dirs  # {tag: directory} for the tags of FILE_PREFIX
        self.encoder = None

    def setup(self):
        self.encoder = tokenize.Encoder()

    def process(self, keyed, tok, num_files):
        from pipeline.dedup import route

        index, grouped = keyed
        decisions: dict[str, list] = {}
        for doc_id, decision in grouped["decision"]:
            decisions.setdefault(doc_id, []).append(decision)
        ledger, dead, clusters, docs = [], [], [], []
        for kind, blob in grouped["row"]:
            row = records.unpack(blob)
            if kind == records.DEAD_LETTER_TAG:
                dead.append(row)
                ledger.append(records.dead_letter_outcome(row))
            else:
                ledger.append(row)
        for doc in sorted((records.unpack(b) for b in grouped["doc"]), key=lambda d: d["id"]):
            for tag, item in route(doc, decisions.get(doc["id"], ()), self.unit):
                if tag == records.CLUSTERS_TAG:
                    clusters.append(item)
                elif tag != "docs":  # a duplicate's, or an emptied document's, ledger row
                    ledger.append(item)
                else:
                    yield beam.pvalue.TaggedOutput(STAGE_TAG, DEDUPLICATED)
                    kind, out = self.encoder(item, tok)
                    if kind == "docs":
                        yield beam.pvalue.TaggedOutput(STAGE_TAG, TOKENIZED)
                        docs.append(out)
                    else:
                        dead.append(out)
                        ledger.append(records.dead_letter_outcome(out))
        if docs:
            name = shard_format.shard_name(index)
            path = FileSystems.join(self.output, shard_format.SHARDS_DIR, name)
            members = (m for d in docs for m in shard_format.sample_members(
                shard_format.sample_key(d["id"]), d["tokens"], sample_meta(d),
                d["text"] if self.write_text else None))
            with create_file(path, "application/x-tar") as handle:
                writer = _HashingWriter(handle)
                shard_format.write_tar(writer, members)
            Metrics.counter("shards", "written").inc()
            yield {"name": name, "sha256": writer.sha256.hexdigest(), "samples": len(docs),
                   "tokens": sum(len(d["tokens"]) for d in docs), "bytes": writer.size}
            ledger.extend(records.doc_outcome(d, records.KEPT, tokens=len(d["tokens"]), shard=name)
                          for d in docs)
        for tag, rows in ((OUTCOMES_TAG, ledger), (records.DEAD_LETTER_TAG, dead), (records.CLUSTERS_TAG, clusters)):
            if rows:
                write_jsonl_file(FileSystems.join(self.dirs[tag], jsonl_name(
                    FILE_PREFIX[tag], index, num_files)), rows)
            for row in rows:
                yield beam.pvalue.TaggedOutput(tag, row)


class WriteShards(beam.PTransform):
    """The one grouping of documents in the job. Inputs (a dict): `docs` ((id, document packed
    by `records.pack`)), `decisions` ((id, decision) from `pipeline.dedup.Decide`) and `rows`
    ((`dropped`, ledger row) or (`dead_letter`, dead letter), packed here too: a dropped
    document's row holds its signals and the start of its text); all keyed by
    `hash(id) % num_shards` and grouped once.
    Per shard: dedup decisions applied, kept documents tokenized (`tokenizer`, a singleton side
    input) and written sorted by id, plus the shard's ledger, dead-letter and cluster files.

    Outputs: shard infos (main), `outcomes` (every ledger row), `dead_letter`, `clusters`, and
    `stage` (one `deduplicated` and one `tokenized` label per document that passes each)."""

    def __init__(self, output: str, num_shards, tokenizer, write_text: bool,
                 unit: str | None, dirs: dict):
        super().__init__()
        self.output = output
        self.num_shards = num_shards  # a singleton side input
        self.tokenizer = tokenizer  # a singleton side input
        self.write_text = write_text
        self.unit = unit
        self.dirs = dirs

    def expand(self, inputs):
        n = self.num_shards
        keyed = {
            "doc": inputs["docs"] | "Key docs" >> beam.Map(
                lambda kv, n: (shard_format.shard_index(kv[0], n), kv[1]), n=n),
            "decision": inputs["decisions"] | "Key decisions" >> beam.Map(
                lambda kv, n: (shard_format.shard_index(kv[0], n), kv), n=n),
            "row": inputs["rows"] | "Key rows" >> beam.Map(
                lambda r, n: (shard_format.shard_index(r[1]["id"], n), (r[0], records.pack(r[1]))),
                n=n)}
        return (keyed
                | "Group by shard" >> beam.CoGroupByKey()
                | "Write shard" >> beam.ParDo(
                    _WriteShard(self.output, self.write_text, self.unit, self.dirs),
                    self.tokenizer, self.num_shards).with_outputs(
                        OUTCOMES_TAG, records.DEAD_LETTER_TAG, records.CLUSTERS_TAG, STAGE_TAG, main="shards"))


class _WriteJsonl(beam.DoFn):
    def __init__(self, directory: str, prefix: str, compress: bool):
        self.directory = directory
        self.prefix = prefix
        self.compress = compress

    def process(self, keyed, num_files):
        index, rows = keyed
        path = FileSystems.join(self.directory, jsonl_name(self.prefix, index, num_files, self.compress))
        write_jsonl_file(path, rows, self.compress)
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
