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
