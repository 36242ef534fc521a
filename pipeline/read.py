"""Readers: JSONL (plain, gzip, zstd), Parquet, WARC, WET and plain-text files into documents, and
every unreadable record into a dead letter (`pipeline.web` holds the WARC, WET and text readers).

Files are opened through Beam's FileSystems (local, gs://, ...) and decompressed as a stream;
lines are read with a bounded readline, so neither a huge line nor a decompression bomb is ever
held whole in memory. A truncated or corrupt stream keeps the records before the damage and
dead-letters the rest as one record naming the error.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import errno
import hashlib
import io
import json
import os
import re
import stat
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


# Beam's FileSystem.match lists the folder before a glob's first wildcard; files are named
# relative to it.
_BEFORE_WILDCARD = re.compile(r"^[^[*?]*")


def input_root(pattern: str) -> str:
    """The folder a glob's files are named relative to: the pattern up to the last separator
    before its first wildcard (the folder Beam's FileSystem.match lists)."""
    prefix = _BEFORE_WILDCARD.match(pattern.replace("\\", "/")).group(0)
    return prefix[:prefix.rfind("/") + 1]


def file_key(path: str, root: str = "") -> str:
    """A file's path relative to the input root, its whole name with suffixes: the source of
    its records when they name none, so that `a/part.jsonl` and `b/part.jsonl`, or `x.jsonl`
    and `x.jsonl.gz`, never share ids."""
    path = path.replace("\\", "/")
    if root and path.startswith(root) and len(path) > len(root):
        return path[len(root):]
    return path.rsplit("/", 1)[-1] or "input"


# Compressed bytes fed to a decompressor at a time; with zlib's max_length this bounds how much
# decompressed data one step can produce, so a decompression bomb cannot exhaust memory.
_FEED_BYTES = 16 * 1024
_MAX_STEP_OUTPUT = 4 * _READ_CHUNK
# zstd's decompressobj has no max_length, so its input is fed in slices small enough that one
# slice cannot inflate past _MAX_STEP_OUTPUT: a zstd block holds at most 128 KiB of content
# (RFC 8878, section 3.1.1.2.4, Block_Maximum_Size) and takes at least 4 bytes (a 3-byte header
# and one byte of RLE content), so a byte of input yields at most 32 KiB and 128 bytes at most
# 4 MiB (measured: a 256 MiB line compressed to 8 KB inflates 4.0 MiB per 128-byte slice).
# Normal text still decompresses at about 300 MB/s in such slices, far above what annotate reads.
_ZSTD_MAX_RATIO = (128 * 1024) // 4
_ZSTD_FEED_BYTES = _MAX_STEP_OUTPUT // _ZSTD_MAX_RATIO


class _DecompressingReader(io.RawIOBase):
    """Streaming decompression (gzip or zstd, multi-member) that fails loudly on damage.

    Everything decompressed before the damage is returned first, so the records that precede a
    truncation survive; then EOFError (truncated) or the codec's error (corrupt) is raised.
    Python's GzipFile would drop its last buffered block, and zstandard's stream_reader returns
    end-of-file quietly when a frame is cut short: either would make records vanish. One step
    produces at most _MAX_STEP_OUTPUT bytes, and its output is handed out by offset, so a bomb
    costs time in proportion to its size and memory bounded by the step.
    """

    def __init__(self, raw, codec: str):
        self._raw = raw
        self._codec = codec
        self._dobj = self._new()
        self._in_member = False
        self._input = b""
        self._pending, self._offset = b"", 0

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
        if not self._in_member and not bytes(self._input).strip(b"\x00"):
            self._input = b""  # zero padding after the last member, as tar and dd leave
            return True
        self._in_member = True
        if self._codec == "gzip":
            self._pending = self._dobj.decompress(self._input, _MAX_STEP_OUTPUT)
            self._input = self._dobj.unconsumed_tail
        else:
            view = memoryview(self._input)  # slices without copying the rest of the input
            self._pending = self._dobj.decompress(view[:_ZSTD_FEED_BYTES])
            self._input = view[_ZSTD_FEED_BYTES:]
        self._offset = 0
        if self._dobj.eof:  # member complete; whatever follows starts the next one
            self._input = self._dobj.unused_data + self._input
            self._dobj = self._new()
            self._in_member = False
        return True

    def readinto(self, buffer):
        while self._offset >= len(self._pending):
            if not self._step():
                return 0
        n = min(len(buffer), len(self._pending) - self._offset)
        buffer[:n] = self._pending[self._offset:self._offset + n]
        self._offset += n
        return n


def _open_decompressed(path: str):
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    if path.lower().endswith(".gz"):
        return io.BufferedReader(_DecompressingReader(raw, "gzip"), _READ_CHUNK)
    if path.lower().endswith(".zst"):
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
                 max_doc_bytes: int, key: str | None = None) -> dict:
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
                         id_field=id_field, max_doc_bytes=max_doc_bytes, key=key)


def own_id(value) -> str | None:
    """A record's own id as text, or None when it has no usable one: a string as it is, an
    integer as `#<n>`, so that the ids 7 and "7" of two records stay two ids."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return f"#{value}"
    return None


def record_to_doc(obj: dict, *, path: str, line_no: int, text_field: str, id_field: str,
                  max_doc_bytes: int, key: str | None = None) -> dict:
    """A decoded record (a JSON object, a Parquet row) to a document, or raises ValueError.
    `key` names the file (`file_key`; default its name): the source of a record naming none."""
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
    source = obj.get("source")
    if not isinstance(source, str) or not source:
        source = key or file_key(path)
    given = own_id(obj.get(id_field))
    if given is not None:
        doc_id = given if given.startswith(source + "/") else f"{source}/{given}"
    else:
        # No usable id of its own: a hash of the content, stable across runs and machines.
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        doc_id = f"{source}/sha256-{digest[:32]}"
    url = obj.get("url") if isinstance(obj.get("url"), str) else None
    meta = obj.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise ValueError(f"meta is a {type(meta).__name__}, not an object")
    return records.make_doc(doc_id, text, source, url, meta, pos=(path, line_no))


def document_problem(doc: dict) -> str | None:
    """Why a document the reader made cannot travel on, or None. Every field must encode as
    strict UTF-8 (Beam's coders encode a document as soon as it leaves the reader, outside its
    error handling) and `meta` must be bounded, strict JSON (it goes into every shard's JSON
    member)."""
    for field in ("source", "id", "url"):  # source first: ids are derived from it
        value = doc.get(field)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{field} holds an unpaired surrogate escape"
    meta = doc["meta"]
    if _depth(meta, MAX_META_DEPTH) > MAX_META_DEPTH:
        return f"meta nests deeper than MAX_META_DEPTH={MAX_META_DEPTH}"
    try:
        json.dumps(meta, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        return "meta holds an unpaired surrogate escape"
    except ValueError:
        return "meta holds NaN or Infinity, which strict JSON cannot write"
    except (TypeError, RecursionError) as e:
        return f"meta is not JSON: {type(e).__name__}: {e}"
    return None


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


def special_file_problem(path: str) -> str | None:
    """Why a local input entry is not a file to read (a named pipe would block the reader for
    ever), or None. Remote file systems hold only objects."""
    if FileSystems.get_scheme(path) not in (None, "file"):
        return None
    local = path.removeprefix("file://")
    try:
        mode = os.stat(local).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(local) else "file vanished before it was read"
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot stat: {type(e).__name__}: {e}"
    if stat.S_ISREG(mode):
        return None
    kind = ("named pipe" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode)
            else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "directory"
            if stat.S_ISDIR(mode) else "special file")
    return f"not a regular file ({kind})"


def unlisted_entries(pattern: str):
    """Entries of a local glob that Beam's match leaves out without a word (broken symbolic links
    and link loops, whose size cannot be read), as FileMetadata, so that the reader dead-letters
    each instead of losing it. Mirrors LocalFileSystem.match: the folder before the first
    wildcard, walked, then Beam's own pattern matching."""
    from apache_beam.io.filesystem import FileMetadata

    if FileSystems.get_scheme(pattern) is not None:
        return
    if pattern.endswith(("/", "\\")):
        pattern += "*"
    prefix = _BEFORE_WILDCARD.match(pattern).group(0)
    if prefix == pattern:
        if os.path.lexists(pattern) and not os.path.exists(pattern):
            yield FileMetadata(pattern, 0)
        return
    folder = os.path.dirname(prefix) if not prefix.endswith(os.sep) else prefix
    candidates = []
    for dirpath, _, names in os.walk(folder or "."):
        for name in names:
            entry = os.path.join(dirpath, name) if folder else os.path.relpath(os.path.join(dirpath, name))
            try:
                os.path.getsize(entry)
            except OSError:
                candidates.append(FileMetadata(entry, 0))
    yield from FileSystems.get_filesystem(pattern).match_files(candidates, pattern)


# A Parquet row group is decoded whole by Arrow. Its footer gives each column chunk's size once
# inflated: a group whose wanted columns inflate to more than max_record_bytes per row holds
# records over the bound that cannot be read without materializing them, so its rows are
# dead-lettered unread. Rows then become Python values this many at a time, and a text over
# max_doc_bytes is measured in Arrow and never copied out.
PARQUET_BATCH_ROWS = 1024


class _TooLong(int):
    """The byte length of a Parquet text value left in Arrow because it is over max_doc_bytes."""


def _arrow_values(column, max_bytes: int) -> list:
    """A column of a record batch as Python values, one per row. Strings come out as bytes,
    decoded per row (one invalid value fails its own row, not the batch); those over
    `max_bytes` as `_TooLong(length)`; a value Arrow cannot convert as the exception."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) \
            or pa.types.is_large_binary(kind):
        raw = column.cast(pa.large_binary())
        lengths = pc.binary_length(raw).to_pylist()
        short = pc.if_else(pc.greater(pc.binary_length(raw), max_bytes), None, raw).to_pylist()
        return [_TooLong(n) if n is not None and n > max_bytes else v
                for v, n in zip(short, lengths)]
    try:
        return column.to_pylist()
    except Exception:
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except Exception as e:  # noqa: PERF203 - only for a batch that failed whole
                values.append(e)
        return values


def _json_value(value, where: str):
    """A Parquet value as JSON: timestamps and dates as ISO 8601 text, decimals as exact text,
    binary as UTF-8 text (else {"base64": ...}), maps as objects, for `meta`."""
    if isinstance(value, Exception):
        raise ValueError(f"{where} unreadable: {type(value).__name__}: {value}")
    if isinstance(value, dict):
        return {str(k): _json_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(x, tuple) and len(x) == 2 for x in value):  # an Arrow map
            return {str(k): _json_value(v, f"{where}.{k}") for k, v in value}
        return [_json_value(v, where) for v in value]
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def parquet_record(values: dict, text_field: str, max_doc_bytes: int) -> dict:
    """A Parquet row's values (`_arrow_values`) as the record `record_to_doc` takes, or raises
    ValueError naming the column."""
    obj = {}
    for name, value in values.items():
        if isinstance(value, _TooLong):
            raise ValueError(f"document of {int(value)} bytes exceeds max_doc_bytes={max_doc_bytes}"
                             if name == text_field else
                             f"column {name!r} holds {int(value)} bytes, over max_doc_bytes")
        if isinstance(value, Exception):
            raise ValueError(f"column {name!r} unreadable: {type(value).__name__}: {value}")
        if isinstance(value, bytes) and name != "meta":
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"invalid UTF-8 at byte {e.start} of column {name!r}") from None
        elif name == "meta" and value is not None:
            value = _json_value(value, "meta")
            if isinstance(value, str):  # meta stored as JSON text
                try:
                    value = json.loads(value)
                except ValueError:
                    raise ValueError("meta is text that is not a JSON object") from None
        obj[name] = value
    return obj


class ReadFile(beam.DoFn):
    """A readable file in, documents out; bad records to the `dead_letter` output. JSONL
    (plain, .gz, .zst), Parquet (`.parquet`) by row group, WARC and WET (`pipeline.web`, HTML
    responses through `extractor`) and plain text (one document per file, or per line).

    Every document is checked (`document_problem`) before it leaves: a field that Beam's coders
    or a shard's JSON cannot hold dead-letters its record, never the job. Records name their
    file by its path under `root` (`file_key`)."""

    def __init__(self, text_field: str, id_field: str, max_doc_bytes: int, max_record_bytes: int,
                 sample_fraction: float = 1.0, input_format: str = "auto",
                 extractor: str = web.DEFAULT_EXTRACTOR, text_lines: bool = False, root: str = ""):
        self.input_format, self.extractor, self.text_lines = input_format, extractor, text_lines
        self.sample_fraction = sample_fraction
        self.text_field = text_field
        self.id_field = id_field
        self.max_doc_bytes = max_doc_bytes
        self.max_record_bytes = max_record_bytes
        self.root = root
        self.records_read = Metrics.counter("read", "records")
        self.dead_letters = Metrics.counter("read", "dead_letters")

    def _dead(self, path, line_no, error, nbytes, head=""):
        self.dead_letters.inc()
        return beam.pvalue.TaggedOutput(records.DEAD_LETTER_TAG, records.dead_letter(
            f"{path}:{line_no}", records.READ_STAGE, error, nbytes, head, file=path, line=line_no))

    def process(self, file_range):
        path, start, end = file_range
        for item in self._records(path, start, end):
            if isinstance(item, dict):
                problem = document_problem(item)
                if problem is not None:
                    item = self._dead(path, item["pos"][1], problem, item["bytes"],
                                      item["text"][:records.DEAD_LETTER_HEAD_CHARS])
            yield item

    def _records(self, path, start, end):
        problem = special_file_problem(path)
        if problem is not None:
            yield self._dead(path, 0, problem, 0)
            return
        fmt = file_format(path, self.input_format)
        if fmt == "parquet":
            yield from self._parquet(path)
        elif fmt in ("warc", "wet", "text"):
            yield from self._web(path, fmt, start, end)
        else:
            yield from self._jsonl(path)

    def _jsonl(self, path):
        line_no = 0
        key = file_key(path, self.root)
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
                                       id_field=self.id_field, max_doc_bytes=self.max_doc_bytes,
                                       key=key)
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
                  if fmt == "text" and not self.text_lines else file_key(path, self.root))
        common = dict(path=path, source=source, max_doc_bytes=self.max_doc_bytes,
                      max_record_bytes=self.max_record_bytes,
                      keep=lambda position: self._sampled(path, position))
        with stream:
            if fmt == "text":
                found = web.read_text(stream, lines=self.text_lines, key=file_key(path, self.root),
                                      **common)
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

    def _dead_rows(self, path, first: int, rows: int, error: str):
        for n in range(first + 1, first + rows + 1):
            if self._sampled(path, n):
                self.records_read.inc()
                yield self._dead(path, n, error, 0)

    def _parquet(self, path):
        """A Parquet file, read by row group: each row is a record (its 1-based row number its
        line), columns named as JSONL fields (--text_field, --id_field, source, url, meta).
        String columns are read as bytes and decoded per row, so one bad value dead-letters its
        own row only; a row group too large for its rows is dead-lettered unread."""
        import pyarrow.parquet as pq

        try:
            handle = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
            parquet = pq.ParquetFile(handle)
        except Exception as e:  # not Parquet, truncated footer: one dead letter for the file
            yield self._dead(path, 0, f"cannot open Parquet: {type(e).__name__}: {e}", 0)
            return
        wanted = [c for c in dict.fromkeys((self.text_field, self.id_field, "source", "url", "meta"))
                  if c in parquet.schema_arrow.names]
        key = file_key(path, self.root)
        row = 0
        with handle:
            for group in range(parquet.num_row_groups):
                info = parquet.metadata.row_group(group)
                first, rows = row, info.num_rows
                row += rows
                inflated = sum(info.column(i).total_uncompressed_size for i in range(info.num_columns)
                               if info.column(i).path_in_schema.split(".")[0] in wanted)
                if inflated > self.max_record_bytes * max(rows, 1):
                    yield from self._dead_rows(
                        path, first, rows, f"row group {group} inflates to {inflated} bytes for "
                        f"{rows} row(s), over max_record_bytes={self.max_record_bytes} a row: not read")
                    continue
                try:
                    table = parquet.read_row_group(group, columns=wanted)
                except Exception as e:  # a corrupt row group: each of its rows dead-lettered
                    yield from self._dead_rows(path, first, rows, f"unreadable row group {group}: "
                                               f"{type(e).__name__}: {e}")
                    continue
                for offset in range(0, table.num_rows, PARQUET_BATCH_ROWS):
                    batch = table.slice(offset, PARQUET_BATCH_ROWS)
                    columns = {name: _arrow_values(batch.column(name), self.max_doc_bytes)
                               for name in wanted}
                    for i in range(batch.num_rows):
                        n = first + offset + i + 1
                        if not self._sampled(path, n):
                            continue
                        self.records_read.inc()
                        values = {name: column[i] for name, column in columns.items()}
                        try:
                            obj = parquet_record(values, self.text_field, self.max_doc_bytes)
                            yield record_to_doc(obj, path=path, line_no=n, text_field=self.text_field,
                                                id_field=self.id_field,
                                                max_doc_bytes=self.max_doc_bytes, key=key)
                        except Exception as e:
                            error = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
                            text = values.get(self.text_field)
                            yield self._dead(path, n, error, len(text) if isinstance(text, bytes)
                                             else int(text) if isinstance(text, _TooLong) else 0,
                                             text[:records.DEAD_LETTER_HEAD_CHARS].decode(
                                                 "utf-8", "replace") if isinstance(text, bytes) else "")

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
        if (ranges and file_format(path, self.input_format) in ("warc", "wet")
                and path.lower().endswith(".gz") and self.split_bytes > 0 and size > self.split_bytes
                and special_file_problem(path) is None):
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
    """Glob -> (documents, dead letters). A glob that matches nothing fails the job; on the local
    file system, entries it matches that are not readable files (broken or looping links, named
    pipes) are dead letters, not silently skipped."""

    def __init__(self, pattern: str, *, text_field="text", id_field="id",
                 max_doc_bytes: int, max_record_bytes: int, sample_fraction: float = 1.0,
                 input_format: str = "auto", extractor: str = web.DEFAULT_EXTRACTOR,
                 text_lines: bool = False, split_bytes: int = web.DEFAULT_SPLIT_BYTES):
        super().__init__()
        self.pattern = pattern
        self.split_bytes = split_bytes
        self.kwargs = dict(text_field=text_field, id_field=id_field, max_doc_bytes=max_doc_bytes,
                           max_record_bytes=max_record_bytes, sample_fraction=sample_fraction,
                           input_format=input_format, extractor=extractor, text_lines=text_lines,
                           root=input_root(pattern))

    def expand(self, pbegin):
        from apache_beam.io.fileio import EmptyMatchTreatment

        files = pbegin | "Match" >> fileio.MatchFiles(self.pattern, EmptyMatchTreatment.DISALLOW)
        if FileSystems.get_scheme(self.pattern) is None:
            unlisted = (pbegin | "Pattern" >> beam.Create([self.pattern])
                        | "Unlisted entries" >> beam.FlatMap(unlisted_entries))
            files = (files, unlisted) | "All entries" >> beam.Flatten()
        ranges = (files
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
