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
    assert all(r["id"].startswith("part/r") for r in kept)  # source = the file name, as for JSONL
