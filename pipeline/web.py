"""Web input: WARC responses (HTML to main text), WET conversions and plain-text files.

No Beam here: `pipeline.read.ReadFile` calls these generators for each matched file and turns
what they yield into documents and dead letters. Each yields `(position, doc_or_error, nbytes,
head)`: a document dict, or a string naming why the record is dead-lettered; `position` is
the record's byte offset in the (compressed) file for WARC and WET, its line or 1 for text.

WARC and WET are read with warcio (gzip per record or whole-file, or uncompressed). Only
`response` records (WARC) and `conversion` records (WET) are documents; `request`, `metadata`,
`warcinfo` records are not input records and are not counted. A response becomes a document
only with HTTP status 200 and an HTML content type; anything else (a redirect, an image, a
record over the size bound, a page no extractor finds text in) is dead-lettered with its reason.
A truncated or corrupt stream keeps the records before the damage and dead-letters the rest as
one record naming the error, as the JSONL reader does.

A gzipped WARC or WET file (gzip per record, as Common Crawl writes them) larger than
`--split_bytes` is read in ranges by different workers: `split_ranges` inflates the file once to
find where each gzip member starts and cuts the file at member boundaries, and `read_warc` on a
`ByteRange` reads the records whose member starts inside it. Positions are absolute file
offsets, so the documents and dead letters are the same whatever the split.
"""

from __future__ import annotations

import codecs
import io
import re
import zlib
from collections.abc import Iterator

from pipeline import records

# Extractors of main text from HTML; the first is the default. Measured on the Python 3.11
# documentation (benchmarks/extraction_quality.py, 496 pages: token F1 against each page's
# reStructuredText source), resiliparse 2.0.1 scores F1 0.952 at 159 pages/s and trafilatura
# 2.3.1 0.949 at 5.9 pages/s on one core: as good, 27 times faster. trafilatura is kept as
# --extractor.
EXTRACTORS = ("resiliparse", "trafilatura")
DEFAULT_EXTRACTOR = EXTRACTORS[0]

HTML_TYPES = ("text/html", "application/xhtml+xml")
# The charset of a page: the HTTP header's, then the HTML meta tag's (in the first bytes, as the
# WHATWG encoding sniffing algorithm scans the first 1024), then detection, then UTF-8 with
# replacement characters.
META_SNIFF_BYTES = 1024
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
TEXT_LINES_POSITION = "line"  # --text_lines: one document per line


# A gzipped WARC or WET file larger than this is read in ranges of about this many compressed
# bytes, each by any worker. 64 MiB is what Beam's ReadAllFromText splits text files into
# (apache_beam.io.textio.ReadAllFromText.DEFAULT_DESIRED_BUNDLE_SIZE); a Common Crawl WARC file
# (about 1 GB) becomes about 16 ranges.
DEFAULT_SPLIT_BYTES = 64 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_INDEX_FEED_BYTES = 1 << 20  # compressed bytes read at a time while indexing members
_INDEX_STEP_OUTPUT = 4 << 20  # at most this much inflated (and discarded) per step


def gzip_members(stream) -> Iterator[int]:
    """The byte offset at which each sound gzip member of `stream` starts, found by inflating it
    once (the output is discarded, a bounded step at a time, so a bomb costs time, not memory).

    A member's offset is yielded only once it has inflated to its end with a good checksum, and
    the scan stops at the first damage (a corrupt or truncated member, bytes that are not gzip).
    So a range never starts at damage: the damage is read after a sound member by the last
    range, exactly as a read of the whole file meets it, and dead-lettered the same way."""
    pos, buf, dobj, at_end = 0, b"", None, False
    while True:
        if len(buf) < len(_GZIP_MAGIC) and not at_end:
            more = stream.read(_INDEX_FEED_BYTES)
            at_end = not more
            buf += more
            continue
        if dobj is None:  # at a member boundary
            if not buf.startswith(_GZIP_MAGIC):
                return  # the end, or data that is not gzip (trailing junk, padding)
            member_start = pos
            dobj = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            dobj.decompress(buf, _INDEX_STEP_OUTPUT)
        except zlib.error:
            return
        if dobj.eof:
            yield member_start
            rest = dobj.unused_data
            pos, buf, dobj = pos + len(buf) - len(rest), rest, None
            continue
        rest = dobj.unconsumed_tail
        pos, buf = pos + len(buf) - len(rest), rest
        if not buf:
            if at_end:
                return  # truncated inside a member
            more = stream.read(_INDEX_FEED_BYTES)
            at_end = not more
            buf = more


def split_ranges(stream, size: int, split_bytes: int) -> list[tuple[int, int | None]]:
    """A gzipped WARC or WET file of `size` bytes as [start, end) ranges of whole, sound gzip
    members, each at least `split_bytes` long but the last, which runs to the end of the file
    (None) and holds any damage."""
    if size <= split_bytes:
        return [(0, None)]
    ranges, start = [], 0
    for offset in gzip_members(stream):
        if offset - start >= split_bytes:
            ranges.append((start, offset))
            start = offset
    return ranges + [(start, None)]


# warcio reads its input in blocks of this many bytes (warcio.utils.BUFF_SIZE).
WARCIO_BLOCK = 16384


class ByteRange(io.RawIOBase):
    """Bytes [start, end) of a seekable file (end None: to its end), telling absolute offsets,
    so warcio's record offsets are file offsets.

    No read crosses a multiple of WARCIO_BLOCK in the file: warcio's handling of a damaged gzip
    member depends on where its block reads fall (an error in a member's first block is retried
    as uncompressed data; a later one ends the member quietly), so every range must present a
    member's bytes in the same blocks as a read of the whole file does."""

    def __init__(self, raw, start: int, end: int | None):
        self._raw, self._end = raw, end
        if start:
            raw.seek(start)
        self._pos = start

    def readable(self):
        return True

    def tell(self):
        return self._pos

    def read(self, size=-1):
        to_block = WARCIO_BLOCK - self._pos % WARCIO_BLOCK
        size = to_block if size is None or size < 0 else min(size, to_block)
        if self._end is not None:
            size = min(size, self._end - self._pos)
        data = self._raw.read(size) if size > 0 else b""
        self._pos += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().decode() if isinstance(name, bytes) else name.strip()).name
    except (LookupError, UnicodeDecodeError):
        return None


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, how the charset was chosen: header, meta, detected or fallback)."""
    candidates = []
    match = _HEADER_CHARSET.search(content_type or "")
    if match:
        candidates.append(("header", _codec(match.group(1))))
    match = _META_CHARSET.search(body[:META_SNIFF_BYTES])
    if match:
        candidates.append(("meta", _codec(match.group(1))))
    for how, codec in candidates:
        if codec:
            try:
                return body.decode(codec), how
            except UnicodeDecodeError:
                continue  # a header that lies: try the next source
    try:
        return body.decode("utf-8"), "detected"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(body[:1 << 16]).best()
    if best is not None:
        try:
            return body.decode(best.encoding), "detected"
        except (UnicodeDecodeError, LookupError):
            pass
    return body.decode("utf-8", "replace"), "fallback"


def extract(html: str, extractor: str = DEFAULT_EXTRACTOR) -> tuple[str, str | None]:
    """HTML to (main text, title): boilerplate and navigation removed by the named extractor."""
    if extractor == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        title = tree.title or None
        text = extract_plain_text(tree, main_content=True, alt_texts=False, links=False,
                                  form_fields=False, noscript=False)
        return text, title
    if extractor == "trafilatura":
        import trafilatura

        doc = trafilatura.bare_extraction(html, include_comments=False, deduplicate=False,
                                          with_metadata=True)
        if doc is None:
            return "", None
        return doc.text or "", doc.title or None
    raise ValueError(f"unknown extractor {extractor!r}; known: {', '.join(EXTRACTORS)}")


def _doc(doc_id: str, text: str, source: str, url: str | None, meta: dict, path: str,
         position: int, max_doc_bytes: int):
    """A document, or the reason it is not one."""
    nbytes = len(text.encode("utf-8", "surrogatepass"))
    if nbytes > max_doc_bytes:
        return f"document of {nbytes} bytes exceeds max_doc_bytes={max_doc_bytes}"
    if not text.strip():
        return "empty text"
    return records.make_doc(doc_id, text, source, url, meta, pos=(path, position))


def read_warc(stream, *, path: str, source: str, max_doc_bytes: int, max_record_bytes: int,
              extractor: str, keep: callable = lambda pos: True) -> Iterator[tuple]:
    """WARC `response` records (HTML main text) and WET `conversion` records, as documents."""
    from warcio.archiveiterator import ArchiveIterator

    iterator = ArchiveIterator(stream, check_digests=False)
    failed_at = None
    try:
        for record in iterator:
            kind = record.rec_type
            if kind not in ("response", "conversion"):
                continue
            # Read the body before asking for the offset: warcio's get_record_offset reads the
            # record to its end first, after which its content stream is empty.
            body = record.content_stream().read(max_record_bytes + 1)
            missing = getattr(record.raw_stream, "limit", 0)
            position = iterator.get_record_offset()
            if not keep(position):
                continue
            headers = record.rec_headers
            url = headers.get_header("WARC-Target-URI")
            record_id = headers.get_header("WARC-Record-ID") or f"{path}:{position}"
            meta = {"warc_record_id": record_id, "fetch_time": headers.get_header("WARC-Date")}
            if len(body) > max_record_bytes:
                yield position, f"record exceeds max_record_bytes={max_record_bytes}", len(body), ""
                continue
            if missing:  # warcio ends a cut-short gzip member quietly: the record's length says so
                failed_at = position
                raise EOFError(f"record at byte {position} ends {missing} bytes short of its "
                               f"Content-Length {record.length}")
            doc_id = f"{source}/{record_id.strip('<>').removeprefix('urn:uuid:')}"
            if kind == "conversion":  # WET: text already extracted, UTF-8 by the format
                meta["content_type"] = headers.get_header("Content-Type")
                text = body.decode("utf-8", "replace")
                yield position, _doc(doc_id, text, source, url, meta, path, position,
                                     max_doc_bytes), len(body), text
                continue
            http = record.http_headers
            status = http.get_statuscode() if http is not None else None
            content_type = (http.get_header("Content-Type") if http is not None else None) or ""
            meta["content_type"] = content_type or None
            head = body[:records.DEAD_LETTER_HEAD_CHARS].decode("utf-8", "replace")
            if http is None:  # warcio parses HTTP headers only for http(s) target URIs
                yield position, "not an HTTP response (no HTTP headers)", len(body), head
                continue
            if status != "200":
                location = http.get_header("Location") if http is not None else None
                reason = f"HTTP status {status}" + (f" (redirect to {location})" if location else "")
                yield position, reason, len(body), head
                continue
            mime = content_type.split(";")[0].strip().lower()
            if mime not in HTML_TYPES:
                yield position, f"not HTML: content type {mime or 'missing'!r}", len(body), head
                continue
            html, charset = decode_html(body, content_type)
            meta["charset"] = charset
            try:
                text, title = extract(html, extractor)
            except Exception as e:  # an extractor failing on one page fails that page only
                yield position, f"extraction failed: {type(e).__name__}: {e}", len(body), head
                continue
            meta["title"] = title
            result = _doc(doc_id, text, source, url, meta, path, position, max_doc_bytes)
            if result == "empty text":
                result = f"no main text found by {extractor}"
            yield position, result, len(body), head
    except Exception as e:  # truncated gzip, a broken record header: the rest of the file
        # from the start of the record that failed (warcio's offset of the record it is on),
        # an absolute offset, so the dead letter is the same whatever range read it
        at = failed_at if failed_at is not None else iterator.offset
        yield at, f"corrupt or truncated WARC from byte {at}: {type(e).__name__}: {e}", 0, ""


def read_text(stream, *, path: str, source: str, max_doc_bytes: int, max_record_bytes: int,
              lines: bool, keep: callable = lambda pos: True) -> Iterator[tuple]:
    """A plain-text file (UTF-8): one document, or one per non-blank line with `lines`."""
    stem = path.replace("\\", "/").rsplit("/", 1)[-1]
    if not lines:
        if not keep(1):
            return
        body = stream.read(max_record_bytes + 1)
        if len(body) > max_record_bytes:
            yield 1, f"file exceeds max_record_bytes={max_record_bytes}", len(body), ""
            return
        yield 1, _text_doc(body, f"{source}/{stem}", source, path, 1, max_doc_bytes), len(body), \
            body[:records.DEAD_LETTER_HEAD_CHARS].decode("utf-8", "replace")
        return
    line_no = 0
    while True:
        line = stream.readline(max_record_bytes + 1)
        if not line:
            return
        line_no += 1
        if len(line) > max_record_bytes and not line.endswith(b"\n"):
            while True:  # skip the rest of the runaway line
                rest = stream.readline(1 << 20)
                if not rest or rest.endswith(b"\n"):
                    break
            yield line_no, f"line exceeds max_record_bytes={max_record_bytes}", len(line), ""
            continue
        line = line.rstrip(b"\r\n")
        if not line.strip() or not keep(line_no):
            continue
        yield line_no, _text_doc(line, f"{source}/{line_no}", source, path, line_no,
                                 max_doc_bytes), len(line), \
            line[:records.DEAD_LETTER_HEAD_CHARS].decode("utf-8", "replace")


def _text_doc(body: bytes, doc_id: str, source: str, path: str, position: int, max_doc_bytes: int):
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        return f"invalid UTF-8 at byte {e.start}"
    return _doc(doc_id, text, source, None, {}, path, position, max_doc_bytes)
