"""Builds hostile input files: every kind of bad record the reader must dead-letter, not crash on."""

from __future__ import annotations

import functools
import gzip
import json
import random
from pathlib import Path

import zstandard

GOOD_TEXT = ("The committee met on Tuesday to review the proposal. Members discussed the budget, "
             "the schedule and the staffing plan in some detail, and they agreed that the work "
             "should begin in the spring. ")
GOOD_CHARS = 1500


@functools.lru_cache(maxsize=1)
def _prose() -> str:
    """Real, non-repetitive English prose (Gutenberg chapters of the bundled sample), so that
    good records pass every rule set, repetition rules included."""
    from pipeline.__main__ import SAMPLE

    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        chapters = [json.loads(line)["text"] for line in f if '"gutenberg/tokenizers/' in line]
    return " ".join(" ".join(c.split()) for c in chapters[5:60])


def good_record(i: int, source: str = "hostile") -> dict:
    start = i * GOOD_CHARS
    return {"id": f"good-{i}", "source": source, "text": _prose()[start:start + GOOD_CHARS]}


def write_hostile_inputs(directory: Path, *, huge_bytes: int = 20 * 1024 * 1024) -> dict:
    """Writes several files; returns the number of records and the errors expected among them."""
    directory.mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = [json.dumps(good_record(i)).encode() for i in range(5)]
    lines += [
        b'{"id": "bad-utf8", "text": "caf\xe9 \xff\xfe"}',                      # invalid UTF-8
        b'{"id": "broken", "text": "unterminated',                              # malformed JSON
        b'[1, 2, 3]',                                                           # not an object
        json.dumps({"id": "no-text", "body": "where is the text"}).encode(),    # missing text
        json.dumps({"id": "num-text", "text": 42}).encode(),                    # text not a string
        json.dumps({"id": "empty", "text": ""}).encode(),                       # empty
        json.dumps({"id": "blank", "text": " \n\t "}).encode(),                 # whitespace only
        json.dumps({"id": "controls", "text": "\x00\x01\x02\u200b"}).encode(),  # empty once cleaned
        b'{"id": "raw-nul", "text": "a\x00b"}',                                 # raw NUL in JSON
        json.dumps({"id": "nul-escaped", "text": GOOD_TEXT * 3 + "\x00\x00 end."}).encode(),
        json.dumps({"id": "surrogate", "text": "x\ud800y"}).encode(),           # unpaired surrogate
        json.dumps({"id": "good-0", "text": "a record reusing an id " + GOOD_TEXT}).encode(),
        b'{"id": "huge", "text": "' + b"word " * (huge_bytes // 5) + b'"}',      # 20 MB document
        b'{"id": "deep", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",      # RecursionError
        b'{"id": "nan-meta", "text": "fine text", "meta": {"score": NaN}}',      # not strict JSON
        b'{"id": "deep-meta", "text": "fine text", "meta": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}",
    ]
    junk = random.Random(0).randbytes(3000).replace(b"\n", b" ")
    lines.append(junk)                                                          # binary junk
    (directory / "hostile.jsonl").write_bytes(b"\n".join(lines) + b"\n\n")

    # A gzip stream cut in the middle: the records before the cut survive, the rest is one letter.
    full = gzip.compress(b"".join(json.dumps(good_record(100 + i, "trunc")).encode() + b"\n"
                                  for i in range(40)), mtime=0)
    (directory / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    # Not gzip at all, despite the name.
    (directory / "fake.jsonl.gz").write_bytes(b"this is not gzip data\n" * 10)
    # A good zstd file and a corrupt one.
    zst = zstandard.ZstdCompressor().compress(b"".join(
        json.dumps(good_record(200 + i, "zstd")).encode() + b"\n" for i in range(6)))
    (directory / "good.jsonl.zst").write_bytes(zst)
    (directory / "corrupt.jsonl.zst").write_bytes(zst[:12] + b"\x00garbage" * 8)
    (directory / "empty.jsonl").write_bytes(b"")
    return {"expected_errors": ["invalid UTF-8", "malformed JSON", "not an object", "no string field",
                                "empty text", "empty text after normalization", "unpaired surrogate",
                                "duplicate record id", "exceeds max_record_bytes",
                                "gzip stream ended inside a member (truncated)",
                                "incorrect header check", "zstd", "nested too deeply",
                                "NaN or Infinity", "meta nests deeper"]}
