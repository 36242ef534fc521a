"""Parquet input (`.parquet`, read by row group): every row ends as a document or a dead letter
with its reason, and a file that is not Parquet is one dead letter."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.__main__ import run

GOOD = "This is an ordinary English sentence about the weather, the river and the trees. " * 12


def test_parquet_rows_become_documents_or_named_dead_letters(tmp_path):
    rows = [{"id": f"r{i}", "text": f"Document {i}. {GOOD}", "url": f"https://x.org/{i}",
             "meta": {"n": i}} for i in range(20)]
    rows += [{"id": "empty", "text": "  ", "url": None, "meta": None},
             {"id": "null", "text": None, "url": None, "meta": None},
             {"id": "huge", "text": "x" * 5000, "url": None, "meta": None}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "part.parquet", row_group_size=6)
    (tmp_path / "broken.parquet").write_bytes((tmp_path / "part.parquet").read_bytes()[:300])
    out = tmp_path / "out"
    stats = run(["--input", str(tmp_path / "*.parquet"), "--output", str(out), "--policy", "none",
                 "--vocab_size", "500", "--max_doc_bytes", "4000", "--near_dedup", "false"])
    ident = stats["identity"]["docs"]
    assert stats["identity_holds"] and ident["input"] == 24  # 23 rows + 1 unreadable file
    assert ident["kept"] == 20 and ident["dead_letter"] == 4
    letters = [json.loads(line) for f in (out / "dead_letter").glob("*.jsonl")
               for line in f.read_text().splitlines()]
    errors = sorted(d["error"].split(":")[0] for d in letters)
    assert errors == ["cannot open Parquet", "document of 5000 bytes exceeds max_doc_bytes=4000",
                      "empty text", "no string field 'text'"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["samples"] == 20
    ledger = [json.loads(line) for f in (out / "ledger").glob("*.jsonl") for line in f.read_text().splitlines()]
    kept = [r for r in ledger if r["outcome"] == "kept"]
    assert all(r["id"].startswith("part.parquet/r") for r in kept)  # source = the file's path, as for JSONL


def _read(path, **kw) -> tuple[list[dict], list[dict]]:
    """ReadFile on one file, without a pipeline: (documents, dead letters)."""
    from pipeline.read import ReadFile

    reader = ReadFile("text", "id", kw.get("max_doc_bytes", 1 << 20), kw.get("max_record_bytes", 1 << 22),
                      root=str(path.parent) + "/")
    out = list(reader.process((str(path), 0, None)))
    return [o for o in out if isinstance(o, dict)], [o.value for o in out if not isinstance(o, dict)]


def test_one_bad_value_fails_its_own_row_and_meta_types_become_json(tmp_path):
    import datetime
    import decimal

    text = pa.array([f"Row {i}. {GOOD}".encode() for i in range(6)] + [b"caf\xe9 \xff broken"],
                    pa.binary()).view(pa.string())  # invalid UTF-8 under a string type
    meta = pa.array([{"when": datetime.datetime(2024, 5, 1, 12, 30), "price": decimal.Decimal("1.10"),
                      "blob": b"\x00\xff", "word": b"plain"}] * 7)
    tags = pa.array([[("lang", "en")]] * 7, pa.map_(pa.string(), pa.string()))
    pq.write_table(pa.table({"id": list(range(7)), "text": text, "meta": meta}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": ["m"], "text": [GOOD], "meta": tags.slice(0, 1)}), tmp_path / "b.parquet")
    pq.write_table(pa.table({"id": ["x"], "text": pa.array([GOOD.encode()], pa.binary())}),
                   tmp_path / "c.parquet")
    docs, dead = _read(tmp_path / "a.parquet")
    assert [d["id"] for d in docs] == [f"a.parquet/#{i}" for i in range(6)]  # integer ids: #n
    assert [d["error"] for d in dead] == ["invalid UTF-8 at byte 3 of column 'text'"] and dead[0]["line"] == 7
    assert docs[0]["meta"] == {"when": "2024-05-01T12:30:00", "price": "1.10",
                               "blob": {"base64": "AP8="}, "word": "plain"}
    docs, dead = _read(tmp_path / "b.parquet")
    assert docs[0]["meta"] == {"lang": "en"} and not dead  # a map is an object, not dropped
    docs, dead = _read(tmp_path / "c.parquet")
    assert docs[0]["text"] == GOOD and not dead  # a binary text column holding UTF-8


def test_a_row_group_too_large_for_its_rows_is_dead_lettered_unread(tmp_path):
    big = "word " * (2 << 20)  # 10 MiB in one row, a few KB compressed
    pq.write_table(pa.table({"id": ["bomb"], "text": [big]}), tmp_path / "bomb.parquet",
                   compression="zstd")
    pq.write_table(pa.table({"id": ["ok", "long"], "text": [GOOD, big]}), tmp_path / "mixed.parquet",
                   compression="zstd")
    assert (tmp_path / "bomb.parquet").stat().st_size < 100_000
    docs, dead = _read(tmp_path / "bomb.parquet", max_record_bytes=8 << 20, max_doc_bytes=1 << 20)
    assert not docs and len(dead) == 1
    assert dead[0]["error"].startswith("row group 0 inflates to ") and "not read" in dead[0]["error"]
    # Within the bound per row on average: read, the long value measured in Arrow, never copied out.
    docs, dead = _read(tmp_path / "mixed.parquet", max_record_bytes=8 << 20, max_doc_bytes=1 << 20)
    assert [d["id"] for d in docs] == ["mixed.parquet/ok"]
    assert [d["error"] for d in dead] == [f"document of {len(big)} bytes exceeds max_doc_bytes={1 << 20}"]
