"""Web input: WARC responses through the HTML extractor, WET conversions and plain text. Built
from real pages (tests/data/html/SOURCES.md): every record ends as a document or a dead letter
with its reason, the identity holds, and the kept text holds no markup."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline import web
from pipeline.__main__ import run
from pipeline.read import file_format

HTML = Path(__file__).parent.parent / "data" / "html"
PAGES = sorted(HTML.glob("*.html"))
MARKUP = re.compile(r"</?(html|head|body|div|span|p|a|ul|li|table|script|style|meta|link|nav)\b[^>]*>"
                    r"|&(amp|lt|gt|quot|nbsp);|class=\"", re.I)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _response(writer, url, body, content_type="text/html; charset=utf-8", status="200 OK",
              extra=()):
    http = StatusAndHeaders(status, [("Content-Type", content_type), *extra], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    writer.write_record(record)


def build_warc(path: Path, truncated: bool = True) -> dict:
    """Three real pages (one re-encoded as windows-1252, said only in the HTTP header), a PNG, a
    redirect, a request record (not an input record) and a truncated last record."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for page in PAGES:
        body = page.read_bytes()
        content_type = "text/html; charset=utf-8"
        if "debian-handbook" in page.name:
            body = body.decode("utf-8").encode("windows-1252", "xmlcharrefreplace")
            content_type = "text/html; charset=windows-1252"
        _response(writer, f"https://docs.example.org/{page.name}", body, content_type)
    _response(writer, "https://docs.example.org/logo.png", PNG, "image/png")
    _response(writer, "https://docs.example.org/old", b"", "text/html", "301 Moved Permanently",
              [("Location", "https://docs.example.org/new")])
    req = writer.create_warc_record("https://docs.example.org/", "request", payload=io.BytesIO(
        b"GET / HTTP/1.1\r\nHost: docs.example.org\r\n\r\n"))
    writer.write_record(req)
    last = io.BytesIO()
    _response(WARCWriter(last, gzip=True), "https://docs.example.org/cut", PAGES[0].read_bytes())
    path.write_bytes(buf.getvalue() + (last.getvalue()[: len(last.getvalue()) // 2] if truncated else b""))
    return {"pages": len(PAGES), "records": len(PAGES) + 2}  # + PNG, redirect; a request is no input record


def build_wet(path: Path, texts: list[str]) -> None:
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i, text in enumerate(texts):
            record = writer.create_warc_record(
                f"https://wet.example.org/{i}", "conversion", payload=io.BytesIO(text.encode("utf-8")),
                warc_headers_dict={"Content-Type": "text/plain"})
            writer.write_record(record)


def _letters(out: Path) -> list[dict]:
    return [json.loads(line) for f in (out / "dead_letter").glob("*.jsonl")
            for line in f.read_text().splitlines()]


def _kept_texts(out: Path) -> list[str]:
    import tarfile

    texts = []
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            texts += [tar.extractfile(m).read().decode() for m in tar if m.name.endswith(".txt")]
    return texts


@pytest.mark.parametrize("extractor", web.EXTRACTORS)
def test_warc_pages_become_documents_and_the_rest_named_dead_letters(tmp_path, extractor):
    counts = build_warc(tmp_path / "crawl.warc.gz")
    out = tmp_path / "out"
    stats = run(["--input", str(tmp_path / "*.warc.gz"), "--output", str(out), "--policy", "none",
                 "--vocab_size", "300", "--near_dedup", "false", "--extractor", extractor])
    ident = stats["identity"]["docs"]
    assert stats["identity_holds"]
    assert ident["input"] == counts["records"] + 1  # + the truncated record
    assert ident["kept"] == counts["pages"] and ident["dead_letter"] == 3
    errors = sorted(d["error"] for d in _letters(out))
    assert errors[0].startswith("HTTP status 301 (redirect to https://docs.example.org/new)")
    assert errors[1].startswith("corrupt or truncated WARC from byte")
    assert errors[2] == "not HTML: content type 'image/png'"
    texts = _kept_texts(out)
    assert len(texts) == counts["pages"]
    for text in texts:
        assert not MARKUP.search(text), MARKUP.search(text)
        assert "\ufffd" not in text  # every page decoded with its own charset
    german = next(t for t in texts if "Paket" in t)
    assert "für" in german or "über" in german  # windows-1252 decoded through the HTTP header
    python = next(t for t in texts if "keyword" in t.lower() and "kwlist" in t)
    assert "Navigation" not in python.split("\n")[0]


def test_warc_record_meta_and_title():
    body = PAGES[-1].read_bytes()
    buf = io.BytesIO()
    _response(WARCWriter(buf, gzip=True), "https://docs.example.org/k", body)
    buf.seek(0)
    (_, doc, _, _), = web.read_warc(buf, path="x.warc.gz", source="x", max_doc_bytes=1 << 20,
                                    max_record_bytes=1 << 22, extractor=web.DEFAULT_EXTRACTOR)
    assert doc["url"] == "https://docs.example.org/k" and doc["id"].startswith("x/")
    assert doc["meta"]["title"].startswith("keyword")
    assert doc["meta"]["charset"] == "header" and doc["meta"]["fetch_time"]


def test_charset_order_header_meta_detection():
    text = "Größe und Übermaß"
    latin = f'<html><head><meta charset="iso-8859-1"></head><body>{text}</body></html>'.encode("latin-1")
    assert web.decode_html(latin, "text/html") == (latin.decode("latin-1"), "meta")
    assert web.decode_html(latin, "text/html; charset=latin-1")[1] == "header"
    assert web.decode_html(text.encode("utf-8"), None) == (text, "detected")
    assert web.decode_html(b"\xff\xfe\xfa", "text/html; charset=bogus")[1] in ("detected", "fallback")


def test_wet_and_plain_text_inputs(tmp_path):
    corpus = tmp_path / "in"
    corpus.mkdir()
    prose = [p.read_text() for p in sorted(Path(__file__).parent.parent.parent.glob("README.md"))]
    paragraphs = [p for p in prose[0].split("\n\n") if len(p) > 200][:6]
    build_wet(corpus / "crawl.warc.wet.gz", paragraphs + [""])
    for i, p in enumerate(paragraphs[:3]):
        (corpus / f"doc{i}.txt").write_text(p + " (as a text file)")
    (corpus / "bad.txt").write_bytes(b"\xff\xfe not UTF-8")
    assert file_format(str(corpus / "crawl.warc.wet.gz")) == "wet"
    assert file_format(str(corpus / "doc0.txt")) == "text"
    out = tmp_path / "out"
    stats = run(["--input", str(corpus / "*"), "--output", str(out), "--policy", "none",
                 "--vocab_size", "300", "--near_dedup", "false"])
    ident = stats["identity"]["docs"]
    assert stats["identity_holds"] and ident["input"] == 7 + 4
    assert ident["kept"] + ident["duplicate"] == 9 and ident["dead_letter"] == 2
    assert sorted(d["error"] for d in _letters(out)) == ["empty text", "invalid UTF-8 at byte 0"]


def test_text_lines(tmp_path):
    lines = ["First document, a line of plain prose about rivers and weather.", "",
             "Second document, another line of prose about mountains and snow.",
             "Third document, the last line of prose in this small file here."]
    with gzip.open(tmp_path / "lines.txt.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    out = tmp_path / "out"
    stats = run(["--input", str(tmp_path / "lines.txt.gz"), "--output", str(out), "--policy",
                 "none", "--vocab_size", "100", "--near_dedup", "false", "--text_lines", "true"])
    assert stats["identity_holds"] and stats["identity"]["docs"]["kept"] == 3


def test_url_blocklist_is_the_first_rule_and_names_its_drops(tmp_path):
    build_warc(tmp_path / "crawl.warc.gz")
    (tmp_path / "blocklist.txt").write_text("# domains and URLs\nhttps://docs.example.org/python-library-grp.html\n")
    out = tmp_path / "out"
    stats = run(["--input", str(tmp_path / "*.warc.gz"), "--output", str(out), "--policy", "none",
                 "--vocab_size", "300", "--near_dedup", "false",
                 "--url_blocklist", str(tmp_path / "blocklist.txt")])
    ident = stats["identity"]["docs"]
    assert stats["identity_holds"] and ident["kept"] == len(PAGES) - 1
    ledger = [json.loads(line) for f in (out / "ledger").glob("*.jsonl") for line in f.read_text().splitlines()]
    dropped, = [r for r in ledger if r["outcome"] == "dropped"]
    assert dropped["reason"] == "url_blocklist" and dropped["signals"]["url.blocklisted"] == 1
    kept = [r for r in ledger if r["outcome"] == "kept"]
    assert {r["signals"]["url.domain"] for r in kept} == {"docs.example.org"}


def _damaged_warc(path: Path, where: str = "middle") -> None:
    """build_warc's records, then a 40 KB one whose gzip member is damaged (`where`: in its
    first block, in the middle, or only its CRC), two sound pages after it and junk."""
    import random

    build_warc(path, truncated=False)
    body = path.read_bytes()
    rng = random.Random(7)
    big = PAGES[0].read_bytes() + bytes(rng.getrandbits(8) for _ in range(40_000))
    bad = io.BytesIO()
    _response(WARCWriter(bad, gzip=True), "https://docs.example.org/bad", big)
    bad = bytearray(bad.getvalue())
    bad[{"start": 40, "middle": len(bad) // 2, "crc": len(bad) - 6}[where]] ^= 0xFF
    after = io.BytesIO()
    for page in PAGES[:2]:
        _response(WARCWriter(after, gzip=True), f"https://docs.example.org/after/{page.name}",
                  page.read_bytes())
    path.write_bytes(body + bytes(bad) + after.getvalue() + b"not gzip at all")


def _read_all(path: Path, ranges) -> list:
    found = []
    for start, end in ranges:
        with open(path, "rb") as f:
            found += list(web.read_warc(web.ByteRange(f, start, end), path=str(path), source="crawl",
                                        max_doc_bytes=1 << 20, max_record_bytes=1 << 22,
                                        extractor=web.DEFAULT_EXTRACTOR))
    return found


@pytest.mark.parametrize("damage", ["truncated", "start", "middle", "crc"])
def test_warc_ranges_read_exactly_the_records_of_the_whole_file(tmp_path, damage):
    from warcio.archiveiterator import ArchiveIterator

    path = tmp_path / "crawl.warc.gz"
    build_warc(path) if damage == "truncated" else _damaged_warc(path, damage)
    data = path.read_bytes()
    members = list(web.gzip_members(io.BytesIO(data)))
    with open(path, "rb") as f:  # the sound members are where warcio finds its records
        it = ArchiveIterator(f)
        offsets = []
        try:
            for _ in it:
                offsets.append(it.get_record_offset())
        except Exception:
            pass
    assert members == offsets[: len(members)] and len(members) == 6  # 3 pages, png, 301, request
    ranges = web.split_ranges(io.BytesIO(data), len(data), split_bytes=1)
    assert ranges == [*zip([0, *members[1:]], members[1:]), (members[-1], None)]
    assert web.split_ranges(io.BytesIO(data), len(data), split_bytes=len(data)) == [(0, None)]
    whole = _read_all(path, [(0, None)])
    assert _read_all(path, ranges) == whole
    for split in (5_000, 9_000, 60_000):
        assert _read_all(path, web.split_ranges(io.BytesIO(data), len(data), split)) == whole
    errors = [r for _, r, _, _ in whole if isinstance(r, str)]
    assert sum(e.startswith("corrupt or truncated WARC from byte") for e in errors) == 1


def _outputs(out: Path) -> dict:
    files = [*sorted((out / "shards").glob("*.tar")), out / "manifest.json",
             *sorted((out / "ledger").glob("*.jsonl")), *sorted((out / "dead_letter").glob("*.jsonl"))]
    assert len(files) > 3
    return {f.relative_to(out).as_posix(): f.read_bytes() for f in files}


def test_split_warc_job_writes_the_same_corpus_as_whole_files(tmp_path):
    """A WARC read in one range per gzip member by 2 worker processes, against whole files in
    process: byte-identical shards, manifest, ledger and dead letters."""
    corpus = tmp_path / "in"
    corpus.mkdir()
    build_warc(corpus / "a.warc.gz")
    _damaged_warc(corpus / "b.warc.gz")
    common = ["--input", str(corpus / "*.warc.gz"), "--policy", "none", "--vocab_size", "300",
              "--near_dedup", "false"]
    whole = run([*common, "--output", str(tmp_path / "whole"), "--split_bytes", "0"])
    split = run([*common, "--output", str(tmp_path / "split"), "--split_bytes", "1",
                 "--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert whole["identity_holds"] and split["identity_holds"]
    assert whole["identity"] == split["identity"]
    # each file: the redirect, the PNG and the damaged rest (truncated; corrupt, pages and junk)
    assert whole["identity"]["docs"]["dead_letter"] == 3 + 3
    assert _outputs(tmp_path / "whole") == _outputs(tmp_path / "split")


# Python codecs that are no text encoding (or decode no web page): a page declaring one, in its
# HTTP header or its meta tag, once ended the whole rest of its file (issue 31).
NOT_CHARSETS = ("base64", "hex", "rot13", "zlib", "bz2", "uu", "quopri", "punycode", "undefined")
SMALL_RECORD = 1 << 22  # max_record_bytes of the tests that read with read_warc


def _bad_charset_warc(gzip: bool) -> tuple[bytes, list[tuple[str, str]]]:
    """Real pages (UTF-8), each bad one between good ones: every name of NOT_CHARSETS in the HTTP
    header and in the meta tag, pages sent with Content-Encoding br, gzip, zstd and deflate, and
    records whose body fails: a gzip body with a bad CRC, a br bomb. Returns the file and, per
    response record, (url, what it must become: "doc" or the start of its dead letter)."""
    import brotli
    import zstandard

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gzip)
    expected = []
    pages = [p.read_bytes() for p in PAGES]

    def add(url, body, content_type="text/html; charset=utf-8", extra=(), outcome="doc"):
        _response(writer, url, body, content_type, extra=extra)
        expected.append((url, outcome))

    def good():
        add(f"https://good.example.org/{len(expected)}", pages[len(expected) % len(pages)])

    for n, name in enumerate(NOT_CHARSETS):
        page = pages[n % len(pages)]
        good()
        add(f"https://bad.example.org/header/{name}", page, f"text/html; charset={name}")
        good()
        meta, replaced = re.subn(rb"""charset=(["']?)utf-8""", rb"charset=\1" + name.encode(), page,
                                 count=1, flags=re.I)
        assert replaced == 1 and meta.find(name.encode()) < web.META_SNIFF_BYTES
        add(f"https://bad.example.org/meta/{name}", meta, "text/html")
    good()
    add("https://enc.example.org/br", brotli.compress(pages[0]), extra=[("Content-Encoding", "br")])
    good()
    add("https://enc.example.org/gzip", gzip_compress(pages[1]), extra=[("Content-Encoding", "gzip")])
    add("https://enc.example.org/zstd", zstandard.ZstdCompressor().compress(pages[2]),
        extra=[("Content-Encoding", "zstd")])
    add("https://enc.example.org/deflate", zlib_compress(pages[0]),
        extra=[("Content-Encoding", "deflate")])
    good()
    bad_crc = bytearray(gzip_compress(pages[1]))
    bad_crc[-6] ^= 0xFF
    add("https://enc.example.org/bad-crc", bytes(bad_crc), extra=[("Content-Encoding", "gzip")],
        outcome="Content-Encoding gzip: corrupt body: zlib.error: Error -3 while decompressing data: "
                "incorrect data check")
    good()
    bomb = brotli.compress(b"<html><body><p>" + b"a" * (2 * SMALL_RECORD))
    add("https://enc.example.org/bomb", bomb, extra=[("Content-Encoding", "br")],
        outcome=f"record exceeds max_record_bytes={SMALL_RECORD} once its Content-Encoding br is decoded")
    good()
    return buf.getvalue(), expected


def gzip_compress(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zlib_compress(data: bytes) -> bytes:
    import zlib

    return zlib.compress(data)


def _read(data: bytes, name: str, extractor: str = web.DEFAULT_EXTRACTOR) -> list:
    return list(web.read_warc(io.BytesIO(data), path=name, source="crawl", max_doc_bytes=1 << 20,
                              max_record_bytes=SMALL_RECORD, extractor=extractor))


@pytest.mark.parametrize("gzipped", [True, False], ids=["gzip-per-record", "uncompressed"])
def test_a_bad_charset_or_content_coding_fails_its_own_page_at_most(gzipped):
    data, expected = _bad_charset_warc(gzipped)
    found = _read(data, "crawl.warc.gz" if gzipped else "crawl.warc")
    # every record is read, once, in order: documents and dead letters add up to the records
    assert len(found) == len(expected)
    positions = [position for position, _, _, _ in found]
    assert positions == sorted(set(positions))
    texts = {}
    for (url, outcome), (_, result, _, _) in zip(expected, found):
        if outcome == "doc":
            assert isinstance(result, dict), (url, result)
            assert result["url"] == url
            texts[url] = result["text"]
        else:
            assert isinstance(result, str) and result.startswith(outcome), (url, result)
    assert sum(isinstance(r, dict) for _, r, _, _ in found) == sum(o == "doc" for _, o in expected)
    # a page whose charset is no charset is read as the page it is: its meta tag, then UTF-8
    pages = [p.read_bytes() for p in PAGES]
    reference = [web.extract(p.decode("utf-8"))[0] for p in pages]
    for n, name in enumerate(NOT_CHARSETS):
        for where in ("header", "meta"):
            (_, doc, _, _), = [f for f, (url, _) in zip(found, expected)
                               if url == f"https://bad.example.org/{where}/{name}"]
            assert doc["text"] == reference[n % len(pages)]
            assert doc["meta"]["charset"] == {"header": "meta", "meta": "detected"}[where]
    # content codings decoded: the same text as the page sent plain
    for url, page in [("br", 0), ("gzip", 1), ("zstd", 2), ("deflate", 0)]:
        assert texts[f"https://enc.example.org/{url}"] == reference[page]


def test_decode_html_takes_only_charsets_browsers_know():
    page = "<html><head><title>Größe</title></head><body>Übermaß</body></html>"
    for name in NOT_CHARSETS + ("utf-7", "utf-32", "x-user-defined", "replacement", "bogus"):
        assert web.decode_html(page.encode("utf-8"), f"text/html; charset={name}") == (page, "detected")
        meta = f'<meta charset="{name}">{page}'
        assert web.decode_html(meta.encode("utf-8"), None) == (meta, "detected")
    # WHATWG labels: iso-8859-1 and ascii are windows-1252, whose unassigned bytes are C1 controls
    assert web.decode_html(b"\x93q\x94 \x81", "text/html; charset=ISO-8859-1") == ("\u201cq\u201d \x81", "header")
    assert web.decode_html(b"caf\xe9", "text/html; charset=us-ascii") == ("café", "header")
    assert web.decode_html("Größe".encode("utf-8"), "text/html; charset=unicode-1-1-utf-8")[1] == "header"
    assert web.decode_html("日本".encode("shift_jis"), "text/html; charset=x-sjis") == ("日本", "header")
    # a meta tag read as ASCII cannot mean UTF-16: UTF-8
    meta = '<meta charset="utf-16"><p>Größe</p>'
    assert web.decode_html(meta.encode("utf-8"), None) == (meta, "meta")


def test_an_error_in_one_records_body_fails_that_record_only(monkeypatch):
    """Whatever one page raises past its reader (here decode_html, made to fail on one page),
    that page is dead-lettered with the error and the records after it are read."""
    data, expected = _bad_charset_warc(gzip=True)
    real = web.decode_html

    def fails_on_rot13(body, content_type):
        if "rot13" in (content_type or ""):
            raise RuntimeError("boom")
        return real(body, content_type)

    monkeypatch.setattr(web, "decode_html", fails_on_rot13)
    found = _read(data, "crawl.warc.gz")
    assert len(found) == len(expected)
    errors = [r for _, r, _, _ in found if isinstance(r, str)]
    assert errors[0] == "unreadable record: RuntimeError: boom" and len(errors) == 3


def _nested(depth: int) -> bytes:
    return (b"<html><head><title>nest</title></head><body><p>A paragraph before the nest, "
            b"long enough to be main text.</p>" + b"<div>" * depth + b"deep text" + b"</div>" * depth
            + b"</body></html>")


@pytest.mark.parametrize("extractor", web.EXTRACTORS)
def test_html_nested_deeper_than_browsers_build_is_dead_lettered_fast(extractor):
    import time

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    page = PAGES[0].read_bytes()
    for url, body in [("before", page), ("deep", _nested(200_000)), ("just-deep-enough", _nested(400)),
                      ("limit", _nested(web.MAX_HTML_DEPTH - 2)),  # html, body, 510 div: 512
                      ("over", _nested(web.MAX_HTML_DEPTH - 1)), ("after", page)]:
        _response(writer, f"https://deep.example.org/{url}", body)
    start = time.perf_counter()
    found = _read(buf.getvalue(), "deep.warc.gz", extractor)
    assert time.perf_counter() - start < 20  # 200k nested <div> took over 20 minutes
    results = dict(zip(["before", "deep", "400", "512", "513", "after"], [r for _, r, _, _ in found]))
    too_deep = (f"HTML nests deeper than MAX_HTML_DEPTH={web.MAX_HTML_DEPTH} elements "
                "(Chromium's HTML parser limit): not extracted")
    assert results["deep"] == too_deep and results["513"] == too_deep
    assert isinstance(results["before"], dict) and isinstance(results["after"], dict)
    if extractor == "resiliparse":  # (lxml, under trafilatura, stops building at depth 256)
        assert "deep text" in results["400"]["text"] and "deep text" in results["512"]["text"]


def test_depth_limit_refuses_no_real_page():
    import glob

    files = PAGES + [Path(f) for f in glob.glob("/usr/share/doc/**/*.html", recursive=True)][:300]
    for f in files:
        if f.is_file():
            web.parse_html(f.read_bytes().decode("utf-8", "replace"))  # no HTMLTooDeep


def test_bad_charsets_and_codings_keep_the_identity(tmp_path):
    """The same records through the job: every record in, each out as kept, duplicate or dead
    letter, gzip per record and uncompressed alike."""
    counts = {}
    for name, gzipped in [("a.warc.gz", True), ("b.warc", False)]:
        data, expected = _bad_charset_warc(gzipped)
        (tmp_path / name).write_bytes(data)
        counts[name] = (len(expected), sum(outcome != "doc" for _, outcome in expected))
    out = tmp_path / "out"
    stats = run(["--input", str(tmp_path / "*.warc*"), "--output", str(out), "--policy", "none",
                 "--vocab_size", "300", "--near_dedup", "false", "--max_record_bytes", str(SMALL_RECORD)])
    ident = stats["identity"]["docs"]
    assert stats["identity_holds"]
    assert ident["input"] == sum(n for n, _ in counts.values())
    assert ident["dead_letter"] == sum(d for _, d in counts.values()) == 4
    assert ident["kept"] + ident["duplicate"] + ident["dropped"] == ident["input"] - 4
    errors = sorted(d["error"] for d in _letters(out))
    assert [e.split(":")[0] for e in errors] == ["Content-Encoding gzip"] * 2 + [
        f"record exceeds max_record_bytes={SMALL_RECORD} once its Content-Encoding br is decoded"] * 2


def _one_record(gzipped: bool) -> bytes:
    buf = io.BytesIO()
    _response(WARCWriter(buf, gzip=gzipped), "https://docs.example.org/k", PAGES[-1].read_bytes())
    return buf.getvalue()


@pytest.mark.parametrize("how", ["uncompressed", "gzip member", "gzip stream"])
def test_a_record_cut_anywhere_is_a_dead_letter_never_lost(how):
    """A file whose last record is cut short, wherever: in its WARC header, right after it (where
    warcio stops without a word), in its HTTP headers or its payload. The record before it is a
    document and the cut one the dead letter for the rest of the file."""
    good, plain = _one_record(how != "uncompressed"), _one_record(False)
    warc_end = plain.index(b"\r\n\r\n") + 4
    http_end = plain.index(b"\r\n\r\n", warc_end) + 4
    cuts = [1, 9, 10, warc_end // 2, warc_end - 12, warc_end - 2, warc_end, warc_end + 1,
            warc_end + 20, http_end, http_end + 100, len(plain) // 2, len(plain) - 5]
    if how == "gzip stream":  # the compressed bytes cut, the gzip member with them
        whole = _one_record(True)
        cuts = [1, 5, 10, 11, 20, 40, 80, 200, len(whole) // 2, len(whole) - 20]
        # cut in the gzip trailer only: the record is whole (its Content-Length says so)
        found = _read(good + whole[:-1], "cut.warc")
        assert [isinstance(r, dict) for _, r, _, _ in found] == [True, True]
    for cut in cuts:
        if how == "uncompressed":
            data = good + plain[:cut]
        elif how == "gzip member":
            data = good + gzip_compress(plain[:cut])
        else:
            data = good + whole[:cut]
        found = _read(data, "cut.warc")
        assert [p for p, _, _, _ in found] == [0, len(good)], (cut, found)
        assert isinstance(found[0][1], dict), (cut, found)
        assert found[1][1].startswith(f"corrupt or truncated WARC from byte {len(good)}: "), (cut, found)


def test_blank_endings_are_no_record():
    good = _one_record(True)
    for ending in [b"", b"\n", b"\r\n\r\n", gzip_compress(b""), gzip_compress(b"\r\n"),
                   gzip_compress(b"") + gzip_compress(b"") + b"\r\n"]:
        found = _read(good + ending, "end.warc.gz")
        assert len(found) == 1 and isinstance(found[0][1], dict), (ending, found)
    plain = _one_record(False)
    assert len(_read(plain + b"\r\n\r\n", "end.warc")) == 1 and len(_read(plain[:-4], "end.warc")) == 1
