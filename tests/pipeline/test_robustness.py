"""The whole job on inputs that broke it at real scale: near-duplicate clusters of every size
through the report, fuzzed records in plain, gzip and zstd files, policies over signals no stage
records, stages that fail on too many documents, and a run whose accounting does not add up."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
import zstandard

from pipeline import accounting
from pipeline.__main__ import main, run, summary
from quality import policy as policies
from quality.signals import recorded_signals

CLUSTER_SIZES = (1, 2, 11, 40, 300)  # 11+ members once crashed the report ("11-15")


def _words(rng: random.Random, n: int) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "gu"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(n)]


def _cluster_corpus(path: Path) -> dict[int, str]:
    """One base text per cluster and members that each change 2 of its 200 words (Jaccard of
    word 5-grams about 0.9 to the base); returns {size: base id}."""
    rng = random.Random(7)
    vocab = _words(rng, 4000)
    rows, keepers = [], {}
    for c, size in enumerate(CLUSTER_SIZES):
        base = [rng.choice(vocab) for _ in range(200)]
        keepers[size] = f"clusters/c{c}-m0000"
        for m in range(size):
            words = list(base)
            if m:
                for pos in rng.sample(range(200), 2):
                    words[pos] = rng.choice(vocab)
            text = ". ".join(" ".join(words[i:i + 20]) for i in range(0, 200, 20)) + "."
            rows.append({"id": f"c{c}-m{m:04d}", "source": "clusters", "text": text})
    rng.shuffle(rows)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return keepers


def test_clusters_of_every_size_go_through_the_job_and_the_report(tmp_path):
    keepers = _cluster_corpus(tmp_path / "clusters.jsonl.gz")
    out = tmp_path / "out"
    code = main([f"--input={tmp_path}/clusters.jsonl.gz", f"--output={out}", "--policy=none",
                 "--vocab_size=400", "--num_shards=2"])
    assert code == 0
    stats = json.loads((out / "stats.json").read_text())
    assert accounting.problems(stats) == []
    near = stats["near_dedup"]
    assert near["clusters"] == 4 and near["duplicates"] == sum(CLUSTER_SIZES) - len(CLUSTER_SIZES)
    assert near["sizes"] == {"2": 1, "11-15": 1, "32-63": 1, "256-511": 1}
    rows = [json.loads(line) for p in (out / "clusters").glob("*.jsonl") for line in p.open()]
    assert sorted(r["size"] for r in rows) == [2, 11, 40, 300]
    assert {r["keeper"] for r in rows} == {keepers[s] for s in CLUSTER_SIZES if s > 1}
    page = (out / "report.html").read_text()
    for label in ("11-15", "32-63", "256-511"):
        assert f"<td>{label}</td>" in page
    assert page.index("<td>11-15</td>") < page.index("<td>32-63</td>") < page.index("<td>256-511</td>")


# ----------------------------------------------------------------------------------------------
# Fuzzed records
# ----------------------------------------------------------------------------------------------

ODD_TEXTS = ["\u202eright-to-left override\u202c then text", "e\u0301 combining, NFC differs",
             "emoji \U0001F600\U0001F680 and \u200d joiners", "\ue000 private use \U000F0000",
             "tab\tvertical\x0bform\x0cfeed", "line\u2028separator\u2029paragraph",
             "ÿ\u00ad soft hyphen", "﻿ a BOM inside the text", "z" * 5000,
             "Words and more words. " * 40]
JSON_VALUES = [None, True, False, 0, -1, 1.5, 1e308, "", "x", [], [1, "a", None], {}, {"k": [1]}]


def _fuzz_value(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(JSON_VALUES)
    if kind == 1:
        return rng.choice(ODD_TEXTS)
    if kind == 2:
        nest = rng.choice([1, 5, 40, 500])
        return json.loads("[" * nest + "]" * nest)
    if kind == 3:
        return {"n": rng.choice([10**30, -(10**18), 2**63, 1e-300])}
    if kind == 4:
        return "".join(chr(rng.choice([0, 1, 7, 27, 127, 0x85, 0xFFFE, 0xFFFF, 0x10FFFF]))
                       for _ in range(rng.randint(1, 20)))
    return rng.choice(ODD_TEXTS) + " " + " ".join(_words(rng, rng.randint(1, 300)))


SURROGATE_FIELDS = ("id", "source", "url", "meta value", "meta key")


def _fuzz_line(rng: random.Random, i: int) -> bytes:
    kind = rng.randrange(13)
    if kind == 12:  # a lone surrogate escape (legal JSON) in a field other than the text
        field = SURROGATE_FIELDS[i % len(SURROGATE_FIELDS)]
        record = {"id": f"u{i}", "source": "fuzz", "text": " ".join(_words(rng, 50)), "meta": {}}
        if field.startswith("meta"):
            record["meta"] = {"k\udcff": 1} if field == "meta key" else {"k": "v\udcff"}
        else:
            record[field] = f"x\udcff{i}"
        return json.dumps(record).encode("ascii")  # ensure_ascii: the surrogate as an escape
    if kind == 0:  # raw bytes that are not UTF-8, or binary junk
        return rng.randbytes(rng.randint(1, 400)).replace(b"\n", b"\x80").replace(b"\r", b"\x81") or b"\xff"
    if kind == 1:  # deep nesting in the JSON itself
        d = rng.choice([900, 5000, 50_000])
        return b'{"id": "d%d", "text": ' % i + b"[" * d + b"]" * d + b"}"
    if kind == 2:  # numbers beyond any float or the int conversion limit
        return b'{"id": %d, "text": "ok text", "meta": {"x": 1e999, "y": %s}}' % (i, b"9" * 5000)
    if kind == 3:  # raw NUL and control bytes inside a string
        return b'{"id": "n%d", "text": "a\x00b\x01c\x1bd"}' % i
    if kind == 4:  # very long line
        return json.dumps({"id": f"long{i}", "text": "word " * rng.choice([20_000, 80_000])}).encode()
    if kind == 5:  # truncated JSON
        return json.dumps({"id": f"t{i}", "text": "cut here"}).encode()[: rng.randint(1, 20)]
    if kind == 6:  # a bare CR inside the record (a CR/LF mix)
        return b'{"id": "cr%d", "text": "one\rtwo"}' % i
    if kind == 7:  # escaped surrogates, paired and lone
        return b'{"id": "s%d", "text": "pair \\ud83d\\ude00 lone \\udc00 end"}' % i
    record = {"id": _fuzz_value(rng) if kind == 8 else f"f{i}",
              "text": _fuzz_value(rng) if kind in (8, 9, 10) else " ".join(_words(rng, 50)),
              "source": _fuzz_value(rng) if kind == 9 else "fuzz",
              "url": _fuzz_value(rng) if kind == 10 else None,
              "meta": _fuzz_value(rng) if kind in (9, 11) else {}}
    return json.dumps(record, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def _write_fuzz(root: Path, n: int = 240) -> int:
    """Fuzzed records in a plain, a gzip and a zstd file (one with a BOM, one with CR/LF line
    ends); returns the number of records (non-blank lines)."""
    rng = random.Random(12)
    files = {"plain.jsonl": [], "gz.jsonl.gz": [], "zst.jsonl.zst": []}
    names = list(files)
    for i in range(n):
        files[names[i % 3]].append(_fuzz_line(rng, i))
    records = sum(1 for lines in files.values() for line in lines if line.strip(b" \t\r"))
    plain = b"\xef\xbb\xbf" + b"\n".join(files["plain.jsonl"]) + b"\n"
    (root / "plain.jsonl").write_bytes(plain)
    (root / "gz.jsonl.gz").write_bytes(gzip.compress(b"\r\n".join(files["gz.jsonl.gz"]) + b"\r\n", mtime=0))
    (root / "zst.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(
        b"\n".join(files["zst.jsonl.zst"])))  # no final newline
    return records


def test_fuzzed_records_all_end_with_an_outcome_and_the_job_exits_zero(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    n = _write_fuzz(inp)
    out = tmp_path / "out"
    code = main([f"--input={inp}/*", f"--output={out}", "--policy=none", "--vocab_size=300",
                 "--num_shards=2", "--max_record_bytes=200000"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    stats = json.loads((out / "stats.json").read_text())
    assert accounting.problems(stats) == []
    rows = [json.loads(line) for p in (out / "ledger").glob("*.jsonl") for line in p.open()]
    assert len(rows) == stats["input"]["docs"] == n
    assert {r["outcome"] for r in rows} <= {"kept", "dropped", "duplicate", "dead_letter"}
    assert sum(r["outcome"] == "kept" for r in rows) > 20
    # Readable records never fail annotate or tokenize: those would be Sieve's bugs.
    # (A text of control characters only is bad data too: "normalize", not "annotate".)
    assert not {r["reason"] for r in rows if r["outcome"] == "dead_letter"} - {"read", "normalize"}
    errors = " | ".join(r["error"] for r in rows if r["outcome"] == "dead_letter")
    for message in ("invalid UTF-8", "nested too deeply", "malformed JSON", "exceeds max_record_bytes",
                    *(f"{field} holds an unpaired surrogate escape" for field in ("id", "source", "url", "meta"))):
        assert message in errors, message
    assert (out / "report.html").stat().st_size > 0


# ----------------------------------------------------------------------------------------------
# Silent failures made loud
# ----------------------------------------------------------------------------------------------

def test_a_rule_over_an_unrecorded_signal_is_refused_before_any_work(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text("name: typo\nrules:\n  - {name: long, signal: gopher_quality.wordcount, min: 50}\n")
    with pytest.raises(ValueError, match="gopher_quality.wordcount") as err:
        run([f"--policy={spec}", f"--output={tmp_path / 'out'}"])
    assert "gopher_quality.word_count" in str(err.value)  # the known signals are listed
    assert not (tmp_path / "out").exists()
    policy = policies.from_mapping({"rules": [{"name": "q", "signal": "fasttext_quality.score", "min": 0.5}]})
    with pytest.raises(ValueError, match="quality_model"):
        policy.check_signals(recorded_signals(False), " (needs --quality_model)")
    policy.check_signals(recorded_signals(True))
    for name in ("gopher", "c4", "fineweb", "gopher_quality", "lang", "none"):
        policies.preset(name).check_signals(recorded_signals(False))


def test_a_stage_failing_on_too_many_documents_fails_the_run_after_writing(tmp_path, monkeypatch, capsys):
    from quality import signals

    real = signals.text_signals

    def broken(text):
        if "the" in text.split()[:40]:
            raise ZeroDivisionError("a signal bug")
        return real(text)

    monkeypatch.setattr(signals, "text_signals", broken)
    _cluster_corpus(tmp_path / "c.jsonl.gz")  # pseudo-words, no "the": these survive
    (tmp_path / "prose.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "text": f"the cat sat on mat {i}. " * 30})
                                    + "\n" for i in range(30)))
    out = tmp_path / "out"
    code = main([f"--input={tmp_path}/*.jsonl*", f"--output={out}", "--policy=none",
                 "--vocab_size=300", "--num_shards=2"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "annotate failed on 30 of" in printed and "ZeroDivisionError: a signal bug" in printed
    stats = json.loads((out / "stats.json").read_text())
    assert stats["identity_holds"] and stats["failures"]["stages"]["annotate"]["exceeded"]
    assert (out / "report.html").exists() and list((out / "shards").glob("*.tar"))
    assert stats["outcomes"]["kept"]["docs"] > 0


def test_a_stage_that_loses_documents_is_named_and_the_report_still_renders():
    from quality.report import render_report

    counts = {"outcomes": {k: {"docs": 0, "bytes": 0} for k in ("kept", "dropped", "duplicate", "dead_letter")},
              "reasons": {"duplicate": {"near_duplicate": {"docs": 10, "bytes": 100}}}, "sources": {}}
    counts["outcomes"]["kept"] = {"docs": 85, "bytes": 850}
    counts["outcomes"]["duplicate"] = {"docs": 10, "bytes": 100}
    stage_docs = {"read": 100, "annotated": 100, "selected": 100, "deduplicated": 88, "tokenized": 85}
    stats = accounting.build_stats(counts, {"docs": 100, "bytes": 1000}, {"tokens": 0}, {}, {},
                                   stage_docs, 0.001, [])
    problems = accounting.problems(stats)
    assert not stats["identity_holds"]
    assert any("5 unaccounted" in p for p in problems)
    assert any(p.startswith("stage deduplicated: 100 documents in, 10 left") and "2 lost" in p
               for p in problems)
    assert any(p.startswith("stage tokenized: 88 documents in, 0 left") and "3 lost" in p for p in problems)
    stats.update(shards={"shards": 0, "samples": 0, "tokens": 0}, tokenizer={"vocab_size": 0})
    text = summary(stats, 1.0, "out")
    assert "FAILED: stage deduplicated" in text and "FAILS" in text
    page = render_report(stats, {}, [], [])
    assert "Accounting identity FAILS" in page
    assert "Documents were lost inside the job, at: deduplicated, tokenized" in page
    assert "FAILS: 2 documents unaccounted for" in page
