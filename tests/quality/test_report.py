"""The HTML report: sections, escaping of hostile text, threshold marks, determinism, bounded
sampling, the file-system hooks, and a real run rendered by headless Chromium."""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from quality import report
from quality.report import SECTIONS, DocSample, error_class, render_report, stable_hash, write_report

XSS = "<script>alert(1)</script>"

RULES = [
    {"name": "lang", "signal": "lang", "allowed": ["en"]},
    {"name": "gopher_quality.word_count", "signal": "gopher_quality.word_count", "min": 50, "max": 100000},
    {"name": "gopher_quality.hash_word_ratio", "signal": "gopher_quality.hash_word_ratio", "max": 0.1},
]


def _row(i: int, outcome: str, reason=None, lang="en", words=120.0, hashes=0.0, head=None, **extra) -> dict:
    failures = []
    if lang != "en":
        failures.append("lang")
    if not 50 <= words <= 100000:
        failures.append("gopher_quality.word_count")
    if hashes > 0.1:
        failures.append("gopher_quality.hash_word_ratio")
    return {"id": f"src/doc-{i:04d}", "outcome": outcome, "reason": reason, "duplicate_of": None,
            "bytes": 100 + i, "source": "web" if i % 2 else "books",
            "signals": {"lang": lang, "lang_score": 0.9, "chars": 50.0 + 37 * i,
                        "gopher_quality.word_count": words, "gopher_quality.hash_word_ratio": hashes},
            "failures": failures, "head": head if head is not None else f"document {i}", **extra}


def synthetic() -> tuple[dict, dict, list[dict], list[dict]]:
    rows = [_row(i, "kept", words=60.0 + i) for i in range(20)]
    rows += [_row(20 + i, "dropped", "lang", lang="fr") for i in range(6)]
    rows += [_row(30 + i, "dropped", "gopher_quality.word_count", words=float(5 + i)) for i in range(6)]
    rows[-1]["head"] = XSS + " and more"
    rows += [_row(40, "dropped", "gopher_quality.hash_word_ratio", hashes=0.25)]
    rows += [_row(50 + i, "duplicate", "exact_duplicate", duplicate_of="src/doc-0001") for i in range(3)]
    rows += [{"id": "bad.jsonl:3", "outcome": "dead_letter", "reason": "read", "duplicate_of": None,
              "bytes": 40, "source": None}]
    dead = [{"id": "bad.jsonl:3", "stage": "read", "error": "malformed JSON: <b>bold</b> at column 7",
             "bytes": 40, "head": '{"text": "<img src=x onerror=alert(2)>', "file": "bad.jsonl", "line": 3}]
    outcomes = {"kept": {"docs": 20, "bytes": 2190}, "dropped": {"docs": 13, "bytes": 1500},
                "duplicate": {"docs": 3, "bytes": 453}, "dead_letter": {"docs": 1, "bytes": 40}}
    total = {u: sum(v[u] for v in outcomes.values()) for u in ("docs", "bytes")}
    dropped = {"lang": {"docs": 6, "bytes": 700}, "gopher_quality.word_count": {"docs": 6, "bytes": 700},
               "gopher_quality.hash_word_ratio": {"docs": 1, "bytes": 100}}
    stats = {
        "input": total, "outcomes": outcomes,
        "identity": {u: {"input": total[u], **{k: v[u] for k, v in outcomes.items()}, "sum": total[u],
                         "holds": True} for u in ("docs", "bytes")},
        "identity_holds": True,
        "funnel": [{"stage": "input", **total}, {"stage": "read", "docs": 36, "bytes": 4143},
                   {"stage": "selected", "docs": 23, "bytes": 2643},
                   {"stage": "tokenized", "docs": 20, "bytes": 2190, "tokens": 5000}],
        "reasons": {"dropped": dict(dropped),
                    "duplicate": {"exact_duplicate": {"docs": 3, "bytes": 453}},
                    "dead_letter": {"read": {"docs": 1, "bytes": 40}},
                    "kept": {"kept": {"docs": 20, "bytes": 2190}}},
        "would_drop": dict(dropped),
        "sources": {"books": {"kept": {"docs": 10, "bytes": 1000}},
                    XSS: {"dropped": {"docs": 1, "bytes": 1}}},
        "policy": {"name": "test", "rules": RULES},
        "shards": {"shards": 1, "samples": 20, "tokens": 5000, "bytes": 9999},
        "tokenizer": {"vocab_size": 1000, "sha256": "ab" * 32, "error": None},
    }
    manifest = {"format": "sieve-shards/1", "config": {"input": "synthetic <input>"}}
    return stats, manifest, rows, dead


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}">')
    return page[start: page.index("</section>", start)]


def test_every_section_is_present():
    stats, manifest, rows, dead = synthetic()
    page = render_report(stats, manifest, rows, dead)
    assert page.startswith("<!DOCTYPE html>")
    for sid, _ in SECTIONS:
        assert page.count(f'<section id="{sid}">') == 1, sid
    assert "holds" in _section(page, "summary")
    assert "5,000" in _section(page, "funnel")  # tokens
    assert "<svg" in _section(page, "funnel") and "<svg" in _section(page, "rules")
    assert "fr" in _section(page, "languages") and "<svg" in _section(page, "lengths")
    assert "src/doc-0001" in _section(page, "duplicates")
    assert "malformed JSON" in _section(page, "dead-letters")
    assert "books" in _section(page, "sources")


def test_hostile_text_is_escaped():
    stats, manifest, rows, dead = synthetic()
    rows[0]["id"] = '"><svg onload=alert(3)>'
    page = render_report(stats, manifest, rows, dead)
    assert XSS not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(page, "examples")
    assert "&lt;script&gt;" in _section(page, "sources")  # a source name is hostile too
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<b>bold" not in page
    assert "onload=alert(3)>" not in page
    # and the page forbids scripts and remote loads even if something slipped through
    assert "default-src 'none'" in page


def test_control_characters_and_surrogates_cannot_break_the_page():
    stats, manifest, rows, dead = synthetic()
    rows[30]["head"] = "nul\x00 bell\x07 lone\ud800 ok"
    page = render_report(stats, manifest, rows, dead)
    page.encode("utf-8")  # a lone surrogate would raise here
    assert "nul\ufffd bell\ufffd lone\ufffd ok" in page


def test_thresholds_are_marked_and_examples_show_the_tripping_value():
    stats, manifest, rows, dead = synthetic()
    page = render_report(stats, manifest, rows, dead)
    signals = _section(page, "signals")
    word_count = signals[signals.index('aria-label="Histogram of gopher_quality.word_count"'):]
    word_count = word_count[: word_count.index("</svg>")]
    assert word_count.count('class="thr"') == 2 and "min 50" in word_count and "max 100,000" in word_count
    assert "max 0.1" in signals
    examples = _section(page, "examples")
    assert re.search(r"gopher_quality.word_count = ([5-9]|10)</b>", examples)
    assert "50 ≤ x ≤ 100,000" in examples
    assert "lang = fr</b>" in examples and "in {en}" in examples
    assert "gopher_quality.hash_word_ratio = 0.25</b>" in examples
    rules = _section(page, "rules")
    assert rules.index("lang") < rules.index("gopher_quality.word_count") < rules.index("hash_word_ratio")


def test_deterministic_and_independent_of_row_order():
    stats, manifest, rows, dead = synthetic()
    first = render_report(stats, manifest, rows, dead)
    assert render_report(stats, manifest, list(rows), list(dead)) == first
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    assert render_report(stats, manifest, iter(shuffled), iter(dead)) == first


def test_identity_failure_is_loud():
    stats, manifest, rows, dead = synthetic()
    stats["identity"]["docs"].update(sum=35, holds=False)
    stats["identity_holds"] = False
    summary = _section(render_report(stats, manifest, rows, dead), "summary")
    assert "Accounting identity FAILS" in summary and "off by 2" in summary


def test_examples_are_the_smallest_hashes_at_most_five_per_rule():
    stats, manifest, rows, dead = synthetic()
    page = render_report(stats, manifest, rows, dead)
    examples = _section(page, "examples")
    lang_ids = sorted((r["id"] for r in rows if r["reason"] == "lang"), key=lambda i: (stable_hash(i), i))
    block = examples[examples.index('id="ex-lang"'): examples.index('id="ex-gopher_quality.word_count"')]
    shown = re.findall(r"<code>(src/doc-\d+)</code>", block)
    assert shown == lang_ids[:5]


def test_doc_sample_keeps_the_k_smallest_hashes_whatever_the_order():
    items = [(stable_hash(f"id-{i}"), float(i)) for i in range(5000)]
    expected = sorted(items)[:100]
    for seed in (0, 1):
        random.Random(seed).shuffle(items)
        sample = DocSample(100)
        for h, v in items:
            # "b" appears later and only on some documents; "c" dropped a quarter of them
            sample.add(h, 0, "c" if v % 4 == 0 else None, {"a": v, **({"b": -v} if v % 2 else {}), "c": v})
        values, flags = sample.result("a")
        assert list(values) == [v for _, v in expected] and not flags.any()
        values, _ = sample.result("b")
        assert list(values) == [-v for _, v in expected if v % 2]
        values, flags = sample.result("c")
        assert list(flags == report.DROPPED_HERE) == [v % 4 == 0 for _, v in expected]
        assert len(sample.result("missing")[0]) == 0


def test_histograms_read_a_bounded_sample():
    stats, manifest, rows, dead = synthetic()
    many = [_row(i, "kept", words=60.0 + i) for i in range(1000)]
    page = render_report(stats, manifest, many, dead, sample_values=50)
    assert "a sample of 50 (the documents with the smallest id hashes)" in _section(page, "signals")
    assert "1,000 documents" in _section(page, "signals")  # exact counts beside the sample


def test_error_classes_drop_particulars():
    assert error_class("invalid UTF-8 at byte 31") == error_class("invalid UTF-8 at byte 0")
    assert error_class("invalid UTF-8 at byte 0") == "invalid UTF-8 at byte N"
    assert error_class("malformed JSON: Unterminated string at column 26") == "malformed JSON"
    empty = "ValueError: empty text after normalization"
    assert error_class(empty) == empty  # an exception name alone says too little
    truncated = "corrupt or truncated stream after line 9: EOFError: x"
    assert error_class(truncated) == "corrupt or truncated stream after line N"


def _write_output(root: Path, stats, manifest, rows, dead) -> None:
    (root / "ledger").mkdir(parents=True)
    (root / "dead_letter").mkdir()
    (root / "stats.json").write_text(json.dumps(stats))
    (root / "manifest.json").write_text(json.dumps(manifest))
    half = len(rows) // 2
    for i, part in enumerate((rows[:half], rows[half:])):
        lines = "".join(json.dumps(r) + "\n" for r in part)
        (root / "ledger" / f"ledger-{i:05d}-of-00002.jsonl").write_text(lines)
    lines = "".join(json.dumps(d) + "\n" for d in dead)
    (root / "dead_letter" / "dead_letter-00000-of-00001.jsonl").write_text(lines)


def test_write_report_local_and_through_hooks(tmp_path):
    stats, manifest, rows, dead = synthetic()
    _write_output(tmp_path / "out", stats, manifest, rows, dead)
    path = write_report(str(tmp_path / "out"))
    assert path == str(tmp_path / "out" / "report.html")
    page = Path(path).read_text(encoding="utf-8")
    assert page == render_report(stats, manifest, rows, dead)

    # The same output behind a fake "mem://" file system, as a Beam FileSystems caller would pass.
    files = {f"mem://bucket/{p.relative_to(tmp_path / 'out')}": p.read_bytes()
             for p in (tmp_path / "out").rglob("*") if p.is_file() and p.name != "report.html"}
    written = {}

    class Sink(io.BytesIO):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def close(self):
            written[self.name] = self.getvalue()
            super().close()

    def opener(p, mode):
        if mode == "wb":
            return Sink(p)
        if p not in files:
            raise FileNotFoundError(p)
        return io.BytesIO(files[p])

    def lister(pattern):
        rx = re.compile(re.escape(pattern).replace(r"\*", "[^/]*"))
        return [p for p in files if rx.fullmatch(p)]

    assert write_report("mem://bucket/", opener, lister) == "mem://bucket/report.html"
    assert written["mem://bucket/report.html"].decode("utf-8") == page


def test_module_entry_point(tmp_path, capsys):
    stats, manifest, rows, dead = synthetic()
    _write_output(tmp_path / "out", stats, manifest, rows, dead)
    assert report.main([str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / "report.html")


# ---------------------------------------------------------------------------------------------
# A real pipeline run, rendered by headless Chromium

SAMPLE_EVERY = 9  # every 9th record of the bundled sample: ~300 documents from every source


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    from pipeline.__main__ import SAMPLE, run

    root = tmp_path_factory.mktemp("report_input")
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        lines = [line for i, line in enumerate(f) if i % SAMPLE_EVERY == 0]
    with gzip.open(root / "slice.jsonl.gz", "wt", encoding="utf-8") as f:
        f.writelines(lines)
    hostile = [json.dumps({"id": "xss", "source": "hostile", "text": XSS + " The committee met on "
                           "Tuesday to review the proposal and the budget."}),
               json.dumps([XSS]),  # not an object: a dead letter whose head is shown
               '{"id": "broken", "text": "' + XSS]
    (root / "hostile.jsonl").write_text("\n".join(hostile) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("report_run") / "out"
    run([f"--input={root}/*", f"--output={out}", "--vocab_size=1000", "--runner=FnApiRunner"])
    write_report(str(out))
    return out


def test_report_of_a_real_run(real_run):
    page = (real_run / "report.html").read_text(encoding="utf-8")
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in page
    assert "Accounting identity holds" in page
    assert "<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<svg") >= 10
    write_report(str(real_run))
    assert (real_run / "report.html").read_text(encoding="utf-8") == page  # same inputs, same bytes


def _png_pixels(data: bytes) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG as an array (height, width, channels), with the stdlib and numpy."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat.append(body)
    bpp = 3 if ctype == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            cur = (line + prev) % 256
        else:  # Average, Paeth: byte by byte
            cur, up = line.tolist(), prev.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    cur[i] = (cur[i] + (a + b) // 2) % 256
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) % 256
            cur = np.array(cur, dtype=np.int32)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)


def test_report_renders_in_headless_chromium(chromium, real_run, tmp_path):
    url = (real_run / "report.html").resolve().as_uri()
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in dom, sid
    assert dom.count("<svg") >= 10 and dom.count("<rect") > 100
    assert "<script" not in dom.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert "<title>Sieve report" in dom  # no script ran to change it

    png = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={png}", "--window-size=1280,4000", url], capture_output=True,
                   timeout=120, check=True)
    data = png.read_bytes()
    assert len(data) > 50_000
    pixels = _png_pixels(data)
    assert pixels.shape[:2] == (4000, 1280)
    rgb = pixels[..., :3].reshape(-1, 3)
    colors = np.unique(rgb[:: 97], axis=0)
    assert len(colors) > 50  # text, bars in several colours, anti-aliasing: not a blank page
    dark = np.count_nonzero(rgb.min(axis=1) < 128) / len(rgb)
    assert 0.002 < dark < 0.5  # some ink, not a black page
    # the outcome colours of the charts are on the page: kept green and dropped red
    for color in ((0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28)):
        assert np.any(np.all(rgb == color, axis=1)), color


def test_near_duplicate_clusters_are_shown():
    stats, manifest, rows, dead = synthetic()
    stats = {**stats, "near_dedup": {
        "bands": 14, "rows": 8, "num_perm": 112, "shingle_words": 5, "s_curve_midpoint": 0.719,
        "exact_check": False, "threshold": 0.8, "rounds": 3, "max_rounds": 16, "clusters": 2,
        "duplicates": 3, "sizes": {"2": 1, "3": 1},
        "largest": [{"size": 3, "keeper": "web/<k>", "keeper_source": "web",
                     "members": ["web/m1", "web/m2"], "keeper_head": "<script>x</script> text"}]}}
    page = _section(render_report(stats, manifest, rows, dead), "duplicates")
    assert "settled after 3 round(s)" in page and "Largest clusters" in page
    assert "web/&lt;k&gt;" in page and "<script>x" not in page
    off = _section(render_report(synthetic()[0], manifest, rows, dead), "duplicates")
    assert "Near-duplicate detection was off" in off
