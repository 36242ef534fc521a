"""Readers: JSONL (plain, gzip, zstd), Parquet, WARC, WET and plain-text files into documents, and
every unreadable record into a dead letter (`pipeline.web` holds the WARC, WET and text readers).

Files are opened through Beam's FileSystems (local, gs://, ...) and decompressed as a stream;
lines are read with a bounded readline, so neither a huge line nor a decompression bomb is ever
held whole in memory. A truncated or corrupt stream keeps the records before the damage and
dead-letters the rest as one record naming the error.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from pathlib import PurePosixPath

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import records, web
from quality.outputs import stable_hash

_READ_CHUNK = 1 << 20


def _source_name(path: str) -> str:
    name = PurePosixPath(path).name
    for suffix in (".gz", ".zst", ".jsonl", ".json", ".ndjson", ".parquet", ".wet", ".warc", ".txt"):
        name = name.removesuffix(suffix)
    return name or "input"


# Compressed bytes fed to a decompressor at a time; with zlib's max_length this bounds how much
# decompressed data one step can produce, so a decompression bomb cannot exhaust memory.
_FEED_BYTES = 16 * 1024
_MAX_STEP_OUTPUT = 4 * _READ_CHUNK


class _DecompressingReader(io.RawIOBase):
    """Streaming decompression (gzip or zstd, multi-member) that fails loudly on damage.

    Everything decompressed before the damage is returned first, so the records that precede a
    truncation survive; then EOFError (truncated) or the codec's error (corrupt) is raised.
    Python's GzipFile would drop its last buffered block, and zstandard's stream_reader returns
    end-of-file quietly when a frame is cut short: either would make records vanish.
    """

    def __init__(self, raw, codec: str):
        self._raw = raw
        self._codec = codec
        self._dobj = self._new()
        self._in_member = False
        self._input = b""
        self._pending = b""

    def _new(self):
        if self._codec == "gzip":
            return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()

    def readable(self):
        return True

    def _step(self) -> bool:
        """Decompresses some more; False at a clean end of the stream."""
        if not self._input:
            self._input = self._raw.read(_FEED_BYTES)
            if not self._input:
                if self._in_member:
                    raise EOFError(f"{self._codec} stream ended inside a member (truncated)")
                return False
        if not self._in_member and not self._input.strip(b"\x00"):
            self._input = b""  # zero padding after the last member, as tar and dd leave
            return True
        self._in_member = True
        if self._codec == "gzip":
            self._pending += self._dobj.decompress(self._input, _MAX_STEP_OUTPUT)
            self._input = self._dobj.unconsumed_tail
        else:
            self._pending += self._dobj.decompress(self._input)
            self._input = b""
        if self._dobj.eof:  # member complete; whatever follows starts the next one
            self._input = self._dobj.unused_data + self._input
            self._dobj = self._new()
            self._in_member = False
        return True

    def readinto(self, buffer):
        while not self._pending:
            if not self._step():
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _open_decompressed(path: str):
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    if path.endswith(".gz"):
        return io.BufferedReader(_DecompressingReader(raw, "gzip"), _READ_CHUNK)
    if path.endswith(".zst"):
        return io.BufferedReader(_DecompressingReader(raw, "zstd"), _READ_CHUNK)
    return io.BufferedReader(raw, _READ_CHUNK)


# How deeply a record's `meta` may nest: deeper values are hostile, not metadata, and would
# strain every recursive encoder after the reader (Beam's coders, JSON writers).
MAX_META_DEPTH = 32
_BOM = "\ufeff"


def _depth(value, limit: int) -> int:
    """Nesting depth of a JSON value, counting at most to `limit` + 1."""
    depth, level = 0, [value]
    while level and depth <= limit:
        depth += 1
        level = [v for x in level if isinstance(x, (dict, list))
                 for v in (x.values() if isinstance(x, dict) else x)]
    return depth - (not level)


def parse_record(line: bytes, *, path: str, line_no: int, text_field: str, id_field: str,
                 max_doc_bytes: int) -> dict:
    """One JSONL line to a document, or raises ValueError naming what is wrong with it.

    Any other exception the line provokes (a nesting too deep for the JSON parser, say) is
    turned into a ValueError by `ReadFile` as well: one record never ends the job."""
    try:
        decoded = line.decode("utf-8").removeprefix(_BOM)  # a BOM (Windows editors) is not data
    except UnicodeDecodeError as e:
        raise ValueError(f"invalid UTF-8 at byte {e.start}") from None
    try:
        obj = json.loads(decoded)
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed JSON: {e.msg} at column {e.colno}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply to parse") from None
    if not isinstance(obj, dict):
        raise ValueError(f"record is a JSON {type(obj).__name__}, not an object")
    return record_to_doc(obj, path=path, line_no=line_no, text_field=text_field,
                         id_field=id_field, max_doc_bytes=max_doc_bytes)


def record_to_doc(obj: dict, *, path: str, line_no: int, text_field: str, id_field: str,
                  max_doc_bytes: int) -> dict:
    """A decoded record (a JSON object, a Parquet row) to a document, or raises ValueError."""
    text = obj.get(text_field)
    if not isinstance(text, str):
        raise ValueError(f"no string field {text_field!r}")
    try:
        nbytes = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValueError("text holds an unpaired surrogate escape") from None
    if nbytes > max_doc_bytes:
        raise ValueError(f"document of {nbytes} bytes exceeds max_doc_bytes={max_doc_bytes}")
    if not text.strip():
        raise ValueError("empty text")
    source = obj.get("source") if isinstance(obj.get("source"), str) and obj["source"] else _source_name(path)
    own_id = obj.get(id_field)
    if isinstance(own_id, (str, int)) and not isinstance(own_id, bool) and str(own_id):
        own_id = str(own_id)
        doc_id = own_id if own_id.startswith(source + "/") else f"{source}/{own_id}"
    else:
        # No usable id of its own: a hash of the content, stable across runs and machines.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        doc_id = f"{source}/sha256-{digest[:32]}"
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    if _depth(meta, MAX_META_DEPTH) > MAX_META_DEPTH:
        raise ValueError(f"meta nests deeper than MAX_META_DEPTH={MAX_META_DEPTH}")
    try:  # meta goes into every shard's JSON member, which must be strict JSON
        json.dumps(meta, allow_nan=False)
    except ValueError:
        raise ValueError("meta holds NaN or Infinity, which strict JSON cannot write") from None
    return records.make_doc(doc_id, text, source, url, meta, pos=(path, line_no))


def in_sample(path: str, line_no: int, fraction: float) -> bool:
    """Whether line `line_no` of the file named like `path` is in a `fraction` sample of the
    input: a stable hash of (file name, line number), so the sample is the same on every runner
    and wherever the files are stored."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return stable_hash(f"{name}:{line_no}") < fraction * 2 ** 64


PARQUET_SUFFIX = ".parquet"
# --input_format: "auto" picks a file's format by its name (`file_format`).
INPUT_FORMATS = ("auto", "jsonl", "parquet", "warc", "wet", "text")
_SUFFIX_FORMATS = ((".parquet", "parquet"), (".wet", "wet"), (".warc", "warc"), (".txt", "text"))


def file_format(path: str, forced: str = "auto") -> str:
    """The reader for one file: `forced` unless it is "auto", else by its name without a .gz or
    .zst ending (.parquet, .wet, .warc, .txt; anything else is JSONL)."""
    if forced != "auto":
        return forced
    name = path.lower().removesuffix(".gz").removesuffix(".zst")
    for suffix, fmt in _SUFFIX_FORMATS:
        if name.endswith(suffix):
            return fmt
    return "jsonl"


class ReadFile(beam.DoFn):
    """A readable file in, documents out; bad records to the `dead_letter` output. JSONL
    (plain, .gz, .zst), Parquet (`.parquet`) by row group, WARC and WET (`pipeline.web`, HTML
    responses through `extractor`) and plain text (one document per file, or per line)."""

    def __init__(self, text_field: str, id_field: str, max_doc_bytes: int, max_record_bytes: int,
                 sample_fraction: float = 1.0, input_format: str = "auto",
                 extractor: str = web.DEFAULT_EXTRACTOR, text_lines: bool = False):
        self.input_format, self.extractor, self.text_lines = input_format, extractor, text_lines
        self.sample_fraction = sample_fraction
        self.text_field = text_field
        self.id_field = id_field
        self.max_doc_bytes = max_doc_bytes
        self.max_record_bytes = max_record_bytes
        self.records_read = Metrics.counter("read", "records")
        self.dead_letters = Metrics.counter("read", "dead_letters")

    def _dead(self, path, line_no, error, nbytes, head=""):
        self.dead_letters.inc()
        return beam.pvalue.TaggedOutput(records.DEAD_LETTER_TAG, records.dead_letter(
            f"{path}:{line_no}", records.READ_STAGE, error, nbytes, head, file=path, line=line_no))

    def process(self, file_range):
        path, start, end = file_range
        fmt = file_format(path, self.input_format)
        if fmt == "parquet":
            yield from self._parquet(path)
            return
        if fmt in ("warc", "wet", "text"):
            yield from self._web(path, fmt, start, end)
            return
        line_no = 0
        try:
            stream = _open_decompressed(path)
        except Exception as e:  # unreadable file: one dead letter for it
            yield self._dead(path, 0, f"cannot open: {type(e).__name__}: {e}", 0)
            return
        with stream:
            while True:
                try:
                    line = stream.readline(self.max_record_bytes + 1)
                except (EOFError, OSError, zlib.error, ValueError) as e:
                    yield self._dead(path, line_no + 1,
                                     f"corrupt or truncated stream after line {line_no}: "
                                     f"{type(e).__name__}: {e}", 0)
                    return
                except Exception as e:  # zstandard.ZstdError and other codec errors
                    yield self._dead(path, line_no + 1, f"corrupt stream after line {line_no}: "
                                     f"{type(e).__name__}: {e}", 0)
                    return
                if not line:
                    return
                line_no += 1
                if len(line) > self.max_record_bytes and not line.endswith(b"\n"):
                    skipped = len(line) + self._skip_rest_of_line(stream)
                    self.records_read.inc()
                    yield self._dead(path, line_no, f"record exceeds max_record_bytes="
                                     f"{self.max_record_bytes}", skipped,
                                     line[:records.DEAD_LETTER_HEAD_CHARS].decode("utf-8", "replace"))
                    continue
                line = line.rstrip(b"\r\n")
                if not line.strip():
                    continue  # blank lines separate nothing and are not records
                if not self._sampled(path, line_no):
                    continue  # --sample_fraction: outside the sample, not an input record
                self.records_read.inc()
                try:
                    doc = parse_record(line, path=path, line_no=line_no, text_field=self.text_field,
                                       id_field=self.id_field, max_doc_bytes=self.max_doc_bytes)
                except Exception as e:  # whatever one record provokes, it is that record's error
                    error = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
                    yield self._dead(path, line_no, error, len(line),
                                     line[:records.DEAD_LETTER_HEAD_CHARS].decode("utf-8", "replace"))
                    continue
                yield doc

    def _sampled(self, path: str, line_no: int) -> bool:
        """In --sample_fraction's sample (everything when it is 1)."""
        return self.sample_fraction >= 1 or in_sample(path, line_no, self.sample_fraction)

    def _web(self, path, fmt, start=0, end=None):
        """WARC and WET files, whole or bytes [start, end) of them (`SplitFile`; warcio
        decompresses them itself), and plain text."""
        try:
            stream = (web.ByteRange(FileSystems.open(
                path, compression_type=CompressionTypes.UNCOMPRESSED), start, end)
                      if fmt != "text" else _open_decompressed(path))
        except Exception as e:
            yield self._dead(path, start, f"cannot open: {type(e).__name__}: {e}", 0)
            return
        # A text file that is one document is named by its folder (the corpus) and file name.
        source = (PurePosixPath(path.replace("\\", "/")).parent.name or "text"
                  if fmt == "text" and not self.text_lines else _source_name(path))
        common = dict(path=path, source=source, max_doc_bytes=self.max_doc_bytes,
                      max_record_bytes=self.max_record_bytes,
                      keep=lambda position: self._sampled(path, position))
        with stream:
            if fmt == "text":
                found = web.read_text(stream, lines=self.text_lines, **common)
            else:
                found = web.read_warc(stream, extractor=self.extractor, **common)
            try:
                for position, result, nbytes, head in found:
                    self.records_read.inc()
                    if isinstance(result, dict):
                        yield result
                    else:
                        yield self._dead(path, position, result, nbytes, head)
            except Exception as e:  # a damaged text stream: the rest of the file
                self.records_read.inc()
                yield self._dead(path, 0, f"corrupt or truncated stream: {type(e).__name__}: {e}", 0)

    def _parquet(self, path):
        """A Parquet file, read by row group: each row is a record (its 1-based row number its
        line), columns named as JSONL fields (--text_field, --id_field, source, url, meta)."""
        import pyarrow.parquet as pq

        try:
            handle = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
            parquet = pq.ParquetFile(handle)
        except Exception as e:  # not Parquet, truncated footer: one dead letter for the file
            yield self._dead(path, 0, f"cannot open Parquet: {type(e).__name__}: {e}", 0)
            return
        wanted = [c for c in dict.fromkeys((self.text_field, self.id_field, "source", "url", "meta"))
                  if c in parquet.schema_arrow.names]
        row = 0
        with handle:
            for group in range(parquet.num_row_groups):
                rows = parquet.metadata.row_group(group).num_rows
                try:
                    batch = parquet.read_row_group(group, columns=wanted).to_pylist()
                except Exception as e:  # a corrupt row group: each of its rows dead-lettered
                    for i in range(rows):
                        if self._sampled(path, row + i + 1):
                            self.records_read.inc()
                            yield self._dead(path, row + i + 1, f"unreadable row group {group}: "
                                             f"{type(e).__name__}: {e}", 0)
                    row += rows
                    continue
                for obj in batch:
                    row += 1
                    if not self._sampled(path, row):
                        continue
                    self.records_read.inc()
                    try:
                        yield record_to_doc(obj, path=path, line_no=row, text_field=self.text_field,
                                            id_field=self.id_field, max_doc_bytes=self.max_doc_bytes)
                    except Exception as e:
                        error = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
                        text = obj.get(self.text_field)
                        yield self._dead(path, row, error, len(text.encode("utf-8", "replace"))
                                         if isinstance(text, str) else 0,
                                         text[:records.DEAD_LETTER_HEAD_CHARS] if isinstance(text, str) else "")

    @staticmethod
    def _skip_rest_of_line(stream) -> int:
        skipped = 0
        while True:
            try:
                chunk = stream.readline(_READ_CHUNK)
            except Exception:
                return skipped
            skipped += len(chunk)
            if not chunk or chunk.endswith(b"\n"):
                return skipped


class SplitFile(beam.DoFn):
    """A matched file -> the (path, start, end) byte ranges to read it in: a gzipped WARC or
    WET file over `split_bytes` in ranges of whole gzip members (`web.split_ranges`), any
    other file whole (start 0, end None). Beam's ReadAllFromText splits text the same way
    (expand into ranges, reshuffle, read each range)."""

    def __init__(self, split_bytes: int, input_format: str = "auto"):
        self.split_bytes, self.input_format = split_bytes, input_format
        self.ranges = Metrics.counter("read", "ranges")

    def process(self, metadata):
        path, size = metadata.path, metadata.size_in_bytes
        # a directory the glob matched is skipped, as fileio.ReadMatches skips it
        ranges = [] if path.endswith(("/", "\\")) else [(0, None)]
        if (ranges and file_format(path, self.input_format) in ("warc", "wet") and path.endswith(".gz")
                and self.split_bytes > 0 and size > self.split_bytes):
            try:
                with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    ranges = web.split_ranges(io.BufferedReader(f, _READ_CHUNK), size,
                                              self.split_bytes)
            except Exception:  # unreadable: read whole, where the reader dead-letters it
                ranges = [(0, None)]
        self.ranges.inc(len(ranges))
        for start, end in ranges:
            yield path, start, end


class ReadDocuments(beam.PTransform):
    """Glob -> (documents, dead letters)."""

    def __init__(self, pattern: str, *, text_field="text", id_field="id",
                 max_doc_bytes: int, max_record_bytes: int, sample_fraction: float = 1.0,
                 input_format: str = "auto", extractor: str = web.DEFAULT_EXTRACTOR,
                 text_lines: bool = False, split_bytes: int = web.DEFAULT_SPLIT_BYTES):
        super().__init__()
        self.pattern = pattern
        self.split_bytes = split_bytes
        self.kwargs = dict(text_field=text_field, id_field=id_field, max_doc_bytes=max_doc_bytes,
                           max_record_bytes=max_record_bytes, sample_fraction=sample_fraction,
                           input_format=input_format, extractor=extractor, text_lines=text_lines)

    def expand(self, pbegin):
        ranges = (pbegin
                  | "Match" >> fileio.MatchFiles(self.pattern)
                  | "Reshuffle files" >> beam.Reshuffle()
                  | "Split" >> beam.ParDo(SplitFile(self.split_bytes, self.kwargs["input_format"]))
                  | "Reshuffle ranges" >> beam.Reshuffle())
        return ranges | "Parse" >> beam.ParDo(ReadFile(**self.kwargs)).with_outputs(
            records.DEAD_LETTER_TAG, main="docs")


class _ParseAnnotated(beam.DoFn):
    def process(self, readable_file):
        path = readable_file.metadata.path
        with _open_decompressed(path) as stream:
            for line in stream:
                if line.strip():
                    yield json.loads(line)


class ReadAnnotated(beam.PTransform):
    """A previous run's `annotated/` files -> the documents as they were after annotation.

    These files were written by Sieve itself, so a bad one is a failed run, not bad input.
    """

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    def expand(self, pbegin):
        return (pbegin
                | "Match annotated" >> fileio.MatchFiles(FileSystems.join(self.directory, "*.jsonl*"))
                | "Reshuffle annotated" >> beam.Reshuffle()
                | "Open annotated" >> fileio.ReadMatches(compression=CompressionTypes.UNCOMPRESSED)
                | "Parse annotated" >> beam.ParDo(_ParseAnnotated()))
