"""Web input: WARC responses (HTML to main text), WET conversions and plain-text files.

No Beam here: `pipeline.read.ReadFile` calls these generators for each matched file and turns
what they yield into documents and dead letters. Each yields `(position, doc_or_error, nbytes,
head)`: a document dict, or a string naming why the record is dead-lettered; `position` is
the record's byte offset in the (compressed) file for WARC and WET, its line or 1 for text.

WARC and WET are read with warcio (gzip per record or whole-file, or uncompressed). Only
`response` records (WARC) and `conversion` records (WET) are documents; `request`, `metadata`,
`warcinfo` records are not input records and are not counted. A response becomes a document
only with HTTP status 200 and an HTML content type; anything else (a redirect, an image, a
record over the size bound, a body that does not decode, a page nested deeper than browsers
build, a page no extractor finds text in) is dead-lettered with its reason, and the next record
is read: what one record's body holds fails that record only. Damage to the WARC framing (a
truncated or corrupt gzip member, a broken record header) keeps the records before it and
dead-letters the rest as one record naming the error, as the JSONL reader does.

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
# replacement characters. A charset is a label of the WHATWG Encoding Standard
# (https://encoding.spec.whatwg.org/#names-and-labels), the names browsers accept, or a Python
# alias of one of its encodings (latin-1), decoded with the Python codec of that encoding (as
# browsers do: iso-8859-1 and ascii as windows-1252). Any other name (a Python codec that is no
# text encoding, as base64, rot13, zlib or punycode; utf-7; a misspelling) is no charset, and
# the next source is tried.
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


# WHATWG encodings that are no page's text: "replacement" (what browsers make of ISO-2022-KR
# and HZ, against script injection) and x-user-defined.
_NO_TEXT_ENCODINGS = ("replacement", "x-user-defined")


def _codec(label: str | bytes | None, meta: bool = False) -> str | None:
    """The Python codec of a WHATWG encoding label (webencodings, the Encoding Standard's label
    table), or of a Python alias of one of its encodings; None for a name that is none."""
    import webencodings

    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    encoding = webencodings.lookup(label or "")
    if encoding is None:  # a Python alias of a WHATWG encoding (latin-1), not a Python-only codec
        try:
            encoding = webencodings.lookup(codecs.lookup((label or "").strip()).name)
        except (LookupError, ValueError):
            return None
    if encoding is None or encoding.name in _NO_TEXT_ENCODINGS:
        return None
    codec = encoding.codec_info.name
    if meta and codec in ("utf-16-be", "utf-16-le"):
        return "utf-8"  # a meta tag that reads as ASCII is no UTF-16 (the HTML prescan's rule)
    return codec


def _c1_controls(error: UnicodeDecodeError):
    # windows-1252's five unassigned bytes decode to the C1 controls of their values, as the
    # WHATWG index has them (and as latin-1, which browsers read as windows-1252, would)
    return "".join(map(chr, error.object[error.start:error.end])), error.end


codecs.register_error("sieve.c1_controls", _c1_controls)
_DECODE_ERRORS = {"cp1252": "sieve.c1_controls"}


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """(text, how the charset was chosen: header, meta, detected or fallback). A source whose
    charset is no WHATWG label, or that does not decode the body, is passed over: no charset
    a page declares fails more than the page (and never the records after it)."""
    candidates = []
    match = _HEADER_CHARSET.search(content_type or "")
    if match:
        candidates.append(("header", _codec(match.group(1))))
    match = _META_CHARSET.search(body[:META_SNIFF_BYTES])
    if match:
        candidates.append(("meta", _codec(match.group(1), meta=True)))
    for how, codec in candidates:
        if codec:
            try:
                return body.decode(codec, _DECODE_ERRORS.get(codec, "strict")), how
            except Exception:  # UnicodeError, or anything else a codec raises: a source that lies
                continue
    try:
        return body.decode("utf-8"), "detected"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(body[:1 << 16]).best()
        if best is not None:
            return body.decode(best.encoding), "detected"
    except Exception:  # a detector's guess that does not decode the whole body
        pass
    return body.decode("utf-8", "replace"), "fallback"


# The deepest element nesting a page may have to be extracted. Chromium's HTML parser caps the DOM
# at this depth (kMaximumHTMLParserDOMTreeDepth = 512 in
# third_party/blink/renderer/core/html/parser/html_construction_site.cc: deeper elements are
# attached to the 512th), so no page a browser shows needs more. resiliparse's extraction costs
# about elements x depth: a page of N nested <div> costs N^2 (32k of them, 350 KB, take 25 s; 200k,
# 2.2 MB in a 4 KB gzip member, did not end in 10 minutes). A deeper page is dead-lettered, found
# in linear time. (Under the cap the cost is still elements x depth: 100k elements 508 deep, an
# 800 KB page, take 16 s.)
MAX_HTML_DEPTH = 512
# A selector matching an element nested deeper than `depth` (html is depth 1), run by lexbor's
# selector engine on the parsed tree: each element costs at most `depth` steps up its parents, in C.
# The cheap one first, so most pages never parse the long selector.
_DEPTH_PROBE = 64
_DEEPER_THAN = {depth: ":root" + " > *" * depth for depth in (_DEPTH_PROBE, MAX_HTML_DEPTH)}


class HTMLTooDeep(ValueError):
    """A page nested deeper than MAX_HTML_DEPTH: not extracted."""


def parse_html(html: str):
    """The resiliparse (lexbor) tree of a page, parsed in linear time; HTMLTooDeep if its
    elements nest deeper than MAX_HTML_DEPTH."""
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    document = tree.document
    if document is not None and document.query_selector(_DEEPER_THAN[_DEPTH_PROBE]) is not None \
            and document.query_selector(_DEEPER_THAN[MAX_HTML_DEPTH]) is not None:
        raise HTMLTooDeep(f"HTML nests deeper than MAX_HTML_DEPTH={MAX_HTML_DEPTH} elements "
                          f"(Chromium's HTML parser limit): not extracted")
    return tree


def extract(html: str, extractor: str = DEFAULT_EXTRACTOR) -> tuple[str, str | None]:
    """HTML to (main text, title): boilerplate and navigation removed by the named extractor.
    HTMLTooDeep for a page nested deeper than MAX_HTML_DEPTH, whichever the extractor."""
    if extractor not in EXTRACTORS:
        raise ValueError(f"unknown extractor {extractor!r}; known: {', '.join(EXTRACTORS)}")
    tree = parse_html(html)
    if extractor == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text

        title = tree.title or None
        text = extract_plain_text(tree, main_content=True, alt_texts=False, links=False,
                                  form_fields=False, noscript=False)
        return text, title
    import trafilatura

    doc = trafilatura.bare_extraction(html, include_comments=False, deduplicate=False,
                                      with_metadata=True)
    if doc is None:
        return "", None
    return doc.text or "", doc.title or None


def _doc(doc_id: str, text: str, source: str, url: str | None, meta: dict, path: str,
         position: int, max_doc_bytes: int):
    """A document, or the reason it is not one."""
    nbytes = len(text.encode("utf-8", "surrogatepass"))
    if nbytes > max_doc_bytes:
        return f"document of {nbytes} bytes exceeds max_doc_bytes={max_doc_bytes}"
    if not text.strip():
        return "empty text"
    return records.make_doc(doc_id, text, source, url, meta, pos=(path, position))


class Unreadable(ValueError):
    """A record's body that is no page: its message is the record's dead letter."""


# --- HTTP payloads: chunked transfer coding and content codings, decoded here, bounded ---------
# warcio's own decoding (record.content_stream()) is not used: with brotli 1.2 its br decoder
# fails to start (warcio.bufferedreaders.try_brotli_init sets `unused_data` on a
# brotli.Decompressor, which has no such attribute: AttributeError from content_stream()), and
# it hides a corrupt body (a gzip error after the first block ends the body quietly).
_DECODE_STEP = 1 << 16  # encoded bytes fed to a decoder at a time
# A body that does not decode is taken as it is if it is text (servers send plain pages
# labelled gzip; warcio and browsers show them), else it is corrupt: a compressed body holds
# bytes of these in its first 512 (512 random bytes hold none with odds e^-46); text, in any
# charset, none (ESC, 0x1B, is ISO-2022-JP's).
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _zlib_decode(data: bytes, limit: int, wbits: int) -> bytes:
    decoder, out, size = zlib.decompressobj(wbits), [], 0
    for i in range(0, len(data), _DECODE_STEP):
        chunk = decoder.decompress(data[i:i + _DECODE_STEP], limit - size)
        out.append(chunk)
        size += len(chunk)
        if size >= limit or decoder.eof:
            break
    return b"".join(out)  # a stream cut short (WARC-Truncated) gives what it holds, as warcio


def _gzip(data: bytes, limit: int) -> bytes:
    return _zlib_decode(data, limit, 16 + zlib.MAX_WBITS)


def _deflate(data: bytes, limit: int) -> bytes:
    try:
        return _zlib_decode(data, limit, zlib.MAX_WBITS)
    except zlib.error:  # raw deflate, without the zlib header, as many servers send it
        return _zlib_decode(data, limit, -zlib.MAX_WBITS)


def _brotli(data: bytes, limit: int) -> bytes:
    try:
        import brotli
    except ImportError as e:
        raise Unreadable("no brotli module to decode it") from e
    decoder, out, size = brotli.Decompressor(), [], 0
    bounded = hasattr(decoder, "can_accept_more_data")  # brotli >= 1.2: output_buffer_limit
    step = _DECODE_STEP if bounded else 1024  # an older brotli: small steps, checked after each
    for i in range(0, len(data), step):
        piece = data[i:i + step]
        while True:
            chunk = (decoder.process(piece, output_buffer_limit=limit - size) if bounded
                     else decoder.process(piece))
            out.append(chunk)
            size += len(chunk)
            if size >= limit or not bounded or not chunk or decoder.can_accept_more_data():
                break
            piece = b""  # output held back by the limit: drain it before feeding more
        if size >= limit or decoder.is_finished():
            break
    return b"".join(out)


def _zstd(data: bytes, limit: int) -> bytes:
    import zstandard

    out, size = [], 0
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
        while size < limit:
            chunk = reader.read(min(_DECODE_STEP, limit - size))
            if not chunk:
                break
            out.append(chunk)
            size += len(chunk)
    return b"".join(out)


# Content codings decoded; any other (identity, a name no browser knows) passes the body on as
# it is, as warcio and browsers do.
CONTENT_DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli,
                    "zstd": _zstd}


def http_payload(raw: bytes, http, max_record_bytes: int) -> bytes:
    """A response's payload as sent (`raw`: the record's bytes after its HTTP headers) to the
    bytes of the page: de-chunked (Transfer-Encoding: chunked, as warcio does it) and each
    Content-Encoding decoded, last applied first, to at most `max_record_bytes` (a bomb costs
    time, not memory). Raises Unreadable naming what fails."""
    def tokens(name):
        return [t.strip().lower() for t in (http.get_header(name) or "").split(",") if t.strip()]

    if tokens("Transfer-Encoding")[-1:] == ["chunked"]:
        from warcio.bufferedreaders import ChunkedDataReader

        raw = ChunkedDataReader(io.BytesIO(raw)).read(len(raw))  # no longer than its chunks
    for coding in reversed(tokens("Content-Encoding")):
        decode = CONTENT_DECODERS.get(coding)
        if decode is None:
            continue
        try:
            decoded = decode(raw, max_record_bytes + 1)
        except Unreadable as e:
            raise Unreadable(f"Content-Encoding {coding}: {e}") from None
        except Exception as e:  # zlib.error, brotli.error, ZstdError
            if not _BINARY.search(raw, 0, 512):
                continue  # not encoded at all: a plain page with a wrong label
            name = type(e).__name__
            name = f"{type(e).__module__}.{name}" if name == "error" else name  # zlib.error
            raise Unreadable(f"Content-Encoding {coding}: corrupt body: {name}: {e}") from None
        if len(decoded) > max_record_bytes:
            raise Unreadable(f"record exceeds max_record_bytes={max_record_bytes} once its "
                             f"Content-Encoding {coding} is decoded")
        raw = decoded
    return raw


def _response(record, raw: bytes, doc_id: str, meta: dict, *, url, source, path, position,
              max_doc_bytes, max_record_bytes, extractor) -> tuple:
    """(document or dead-letter reason, nbytes, head) of one WARC response record."""
    http = record.http_headers
    if http is None:  # warcio parses HTTP headers only for http(s) target URIs
        return "not an HTTP response (no HTTP headers)", len(raw), _head(raw)
    content_type = http.get_header("Content-Type") or ""
    meta["content_type"] = content_type or None
    try:
        body, unreadable = http_payload(raw, http, max_record_bytes), None
    except Exception as e:  # any failure to decode this body is this record's
        body, unreadable = raw, e if isinstance(e, Unreadable) else \
            Unreadable(f"unreadable HTTP payload: {type(e).__name__}: {e}")
    head = _head(body)
    status = http.get_statuscode()
    if status != "200":
        location = http.get_header("Location")
        return f"HTTP status {status}" + (f" (redirect to {location})" if location else ""), \
            len(body), head
    mime = content_type.split(";")[0].strip().lower()
    if mime not in HTML_TYPES:
        return f"not HTML: content type {mime or 'missing'!r}", len(body), head
    if unreadable is not None:
        return str(unreadable), len(body), head
    html, charset = decode_html(body, content_type)
    meta["charset"] = charset
    try:
        text, title = extract(html, extractor)
    except HTMLTooDeep as e:
        return str(e), len(body), head
    except Exception as e:  # an extractor failing on one page fails that page only
        return f"extraction failed: {type(e).__name__}: {e}", len(body), head
    meta["title"] = title
    result = _doc(doc_id, text, source, url, meta, path, position, max_doc_bytes)
    if result == "empty text":
        result = f"no main text found by {extractor}"
    return result, len(body), head


def _head(body: bytes) -> str:
    return body[:records.DEAD_LETTER_HEAD_CHARS].decode("utf-8", "replace")


class BrokenWARC(Exception):
    """Damage to the WARC framing that warcio passes over quietly."""


_TAIL_BYTES = 1 << 16


class _TailKeeper:
    """A stream as warcio reads it, keeping its last _TAIL_BYTES bytes: what is left after the
    last record warcio found, when it stops at the end of the file, can be looked at."""

    def __init__(self, raw):
        self._raw, self._tail = raw, bytearray()
        try:
            self._pos = raw.tell()
        except Exception:
            self._pos = 0

    def tell(self):
        return self._pos

    def read(self, size=-1):
        data = self._raw.read(size)
        self._pos += len(data)
        self._tail += data
        if len(self._tail) > 2 * _TAIL_BYTES:
            del self._tail[:-_TAIL_BYTES]
        return data

    def unread_after(self, offset: int) -> tuple[int, bytes | None]:
        """(bytes from `offset` to the end of the stream, those bytes or None if they are more
        than were kept), reading what warcio has not."""
        while self.read(_TAIL_BYTES):
            pass
        left = self._pos - offset
        return left, (bytes(self._tail[len(self._tail) - left:]) if 0 < left <= len(self._tail)
                      else None)


def _blank(data: bytes) -> bool:
    """Whether the bytes after the last record are only blank lines and empty gzip members."""
    while data.strip():
        data = data.lstrip()
        if not data.startswith(_GZIP_MAGIC):
            return False
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            if member.decompress(data, _TAIL_BYTES).strip() or not member.eof:
                return False
        except zlib.error:
            return False
        data = member.unused_data
    return True


def read_warc(stream, *, path: str, source: str, max_doc_bytes: int, max_record_bytes: int,
              extractor: str, keep: callable = lambda pos: True) -> Iterator[tuple]:
    """WARC `response` records (HTML main text) and WET `conversion` records, as documents.

    What one record's body holds (a charset, a content coding, markup an extractor chokes on)
    fails that record only: it is dead-lettered with the reason and the next record is read.
    Only damage to the WARC framing (a truncated or corrupt gzip member, a broken record
    header) ends the file, as one dead letter from the record it is found in."""
    from warcio.archiveiterator import ArchiveIterator

    stream = _TailKeeper(stream)
    iterator = ArchiveIterator(stream, check_digests=False)
    failed_at = None
    try:
        for record in iterator:
            kind = record.rec_type
            length = record.rec_headers.get_header("Content-Length") or ""
            if record.format == "warc" and (kind is None or not length.strip().isdigit()):
                if not record.rec_headers.protocol and not record.rec_headers.headers:
                    continue  # a blank line in a gzip member of its own: no record
                # a header cut short or broken (warcio reads it as a record of length 0): no
                # record can be framed after it
                raise BrokenWARC("record without a WARC-Type" if kind is None else
                                 f"record with Content-Length {length!r}")
            if kind not in ("response", "conversion"):
                continue
            # The payload as stored (after the HTTP headers): decoding it is the record's
            # business (http_payload), reading it is the file's. Read it before asking for the
            # offset: warcio's get_record_offset reads the record to its end first.
            raw = record.raw_stream.read(max_record_bytes + 1)
            missing = getattr(record.raw_stream, "limit", 0)
            position = iterator.get_record_offset()
            if not keep(position):
                continue
            if len(raw) > max_record_bytes:
                yield position, f"record exceeds max_record_bytes={max_record_bytes}", len(raw), ""
                continue
            if missing:  # warcio ends a cut-short gzip member quietly: the record's length says so
                failed_at = position
                raise EOFError(f"record at byte {position} ends {missing} bytes short of its "
                               f"Content-Length {record.length}")
            try:
                headers = record.rec_headers
                url = headers.get_header("WARC-Target-URI")
                record_id = headers.get_header("WARC-Record-ID") or f"{path}:{position}"
                meta = {"warc_record_id": record_id, "fetch_time": headers.get_header("WARC-Date")}
                doc_id = f"{source}/{record_id.strip('<>').removeprefix('urn:uuid:')}"
                if kind == "conversion":  # WET: text already extracted, UTF-8 by the format
                    meta["content_type"] = headers.get_header("Content-Type")
                    text = raw.decode("utf-8", "replace")
                    found = _doc(doc_id, text, source, url, meta, path, position,
                                 max_doc_bytes), len(raw), text[:records.DEAD_LETTER_HEAD_CHARS]
                else:
                    found = _response(record, raw, doc_id, meta, url=url, source=source,
                                      path=path, position=position, max_doc_bytes=max_doc_bytes,
                                      max_record_bytes=max_record_bytes, extractor=extractor)
            except Exception as e:  # whatever else this record's bytes raise: this record's
                found = f"unreadable record: {type(e).__name__}: {e}", len(raw), _head(raw)
            yield position, *found
        # warcio ends quietly at a record cut short before its HTTP headers, or a gzip member
        # cut short before it holds a whole header: what is left after the last record read,
        # unless blank, is the record that did not survive
        left, data = stream.unread_after(iterator.offset)
        if left > 0 and (data is None or not _blank(data)):
            failed_at = iterator.offset
            raise BrokenWARC(f"{left} bytes after the last whole record are no whole record")
    except Exception as e:  # truncated gzip, a broken record header: the rest of the file
        # from the start of the record that failed (warcio's offset of the record it is on),
        # an absolute offset, so the dead letter is the same whatever range read it
        at = failed_at if failed_at is not None else iterator.offset
        yield at, f"corrupt or truncated WARC from byte {at}: {type(e).__name__}: {e}", 0, ""


def read_text(stream, *, path: str, source: str, max_doc_bytes: int, max_record_bytes: int,
              lines: bool, keep: callable = lambda pos: True, key: str | None = None) -> Iterator[tuple]:
    """A plain-text file (UTF-8): one document, or one per non-blank line with `lines`. A whole
    file's id is `<source>/<key>` (`key`: its path under the input's folder, default its name)."""
    stem = key or path.replace("\\", "/").rsplit("/", 1)[-1]
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
