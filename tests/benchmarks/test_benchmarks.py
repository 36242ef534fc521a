"""Quick modes of the hand-run benchmarks, so none rots: the multi-run stress check of the whole
job and the pieces of the real-corpus builder that need no download (its readers live in
workflows/sources.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from benchmarks import stress_runs
from pipeline.__main__ import SAMPLE
from workflows import sources


def test_stress_quick_mode_checks_runs_and_compares_their_bytes(tmp_path, capsys, monkeypatch):
    lines = gzip.open(SAMPLE, "rt", encoding="utf-8").readlines()[::10]  # ~270 documents
    (tmp_path / "slice.jsonl").write_text("".join(lines), encoding="utf-8")
    code = stress_runs.main(["--quick", "--input", str(tmp_path / "slice.jsonl"),
                             "--workdir", str(tmp_path / "w"), "--",
                             "--policy", "none", "--vocab_size", "2000"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [json.loads(line) for line in printed.splitlines() if line.startswith("{")]
    assert [r["mode"] for r in rows] == ["in process", "2 processes"]
    assert rows[0]["kept"] == rows[1]["kept"] > 0 and rows[0]["peak_rss_mb"] > 0
    assert "all 2 runs passed" in printed
    # Resumed: the finished runs are read back from results.jsonl and no job is started.
    started = []
    monkeypatch.setattr(stress_runs, "_run_job", lambda *a: started.append(a))
    again = stress_runs.stress(str(tmp_path / "slice.jsonl"), tmp_path / "w", 1, 2, [], resume=True)
    assert started == [] and again == rows
    # A run that differs is caught.
    rows[1] = {**rows[1], "ledger": "0" * 64, "problems": ["stage selected: 1 lost"]}
    assert stress_runs.verdict(rows) == ["run 1: stage selected: 1 lost",
                                         "run 1: ledger differ from run 0's"]


def test_real_corpus_helpers():
    assert [sources.lang_tag(x) for x in ("de-DE", "pt-BR", "C", "sr@latin", "zh_CN")] == \
        ["de", "pt_BR", "en", "sr_Latn", "zh_CN"]
    page = '.\\" a comment\n.TH LS 1\n.SH NAME\nls \\- list files\n.B bold "two words"\n.PP\nplain text'
    text = sources.roff_to_text(page)
    assert "comment" not in text and "ls - list files" in text and "bold two words" in text
    assert sources.rank("a") == sources.rank("a") != sources.rank("b")


def test_vs_datatrove_quick_mode_runs_the_three_sieve_jobs(tmp_path, capsys):
    from benchmarks import vs_datatrove

    lines = gzip.open(SAMPLE, "rt", encoding="utf-8").readlines()[::20]  # ~140 documents
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part.jsonl").write_text("".join(lines), encoding="utf-8")
    assert vs_datatrove.main(["--quick", "--input", str(tmp_path / "in" / "*.jsonl"),
                              "--workdir", str(tmp_path / "w"), "--workers", "1", "--scale", "2"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [r["job"] for r in rows] == ["sieve filters", "sieve filters + near dedup",
                                        "sieve near dedup (unfiltered)"]
    assert all(r["exit"] == 0 and r["identity"] and r["peak_rss_mb"] > 0 for r in rows)
    # --scale 2: every record and an edited copy of it, under a new id
    assert rows[2]["dropped"] == 0 and rows[2]["input_docs"] == 2 * len(lines)
    assert all(0 < r["shuffle_per_input_byte"] < 5 for r in rows)
    copies = [json.loads(x) for x in gzip.open(tmp_path / "w" / "input-x2" / "part-1.jsonl.gz", "rt")]
    assert copies and all(c["id"].endswith("~1") for c in copies)


def test_objectives_throughput_quick_mode_times_every_objective(capsys):
    from benchmarks import objectives_throughput
    from pretrain import objectives

    assert objectives_throughput.main(["--quick", "--no_hf"]) == 0
    out = capsys.readouterr().out
    for name in objectives.OBJECTIVES:
        assert f"| `{name}` | " in out
    assert "MFLOPs/token" in out


def test_loader_scaling_quick_mode(capsys):
    from benchmarks import loader_scaling

    assert loader_scaling.main(["--quick"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [(r["readers"], r["partitions"]) for r in rows] == [(1, 1), (1, 4), (2, 1), (2, 4)]
    one_stream = {r["readers"]: r for r in rows if r["partitions"] == 1}
    parted = {r["readers"]: r for r in rows if r["partitions"] == 4}
    # one global stream: every reader reads every shard; partitioned: each reads less
    assert one_stream[2]["max_shards_read"] == one_stream[1]["max_shards_read"] == 8
    assert parted[2]["max_shards_read"] < 8 and parted[2]["max_MB_read"] < one_stream[2]["max_MB_read"]
    assert all(r["sequences"] > 0 for r in rows)


def test_extraction_quality_quick_mode_scores_each_extractor(capsys):
    from benchmarks import extraction_quality
    from pipeline import web

    assert extraction_quality.main(["--quick"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["extractor"] for r in rows] == list(web.EXTRACTORS)
    for r in rows:  # two real pages with their rst sources: the text is found, navigation is not
        assert r["pages"] == 2 and r["recall"] > 0.7 and r["precision"] > 0.7, r


def test_web_corpus_builder_writes_warc_and_wet_the_readers_read_back(tmp_path):
    from benchmarks import web_corpus
    from pipeline import web

    html = Path(__file__).resolve().parents[1] / "data" / "html"
    records = [{"id": f"r{i}", "text": f"Text number {i}.", "url": f"https://x.org/{i}"} for i in range(5)]
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    assert web_corpus.main(["--html", str(html), "--jsonl", str(tmp_path / "*.jsonl.gz"),
                            "--out", str(tmp_path / "web")]) == 0
    found = []
    for path in sorted((tmp_path / "web").glob("*.gz")):
        with open(path, "rb") as stream:
            found += [r for _, r, _, _ in web.read_warc(stream, path=str(path), source="s",
                      max_doc_bytes=1 << 20, max_record_bytes=1 << 22, extractor="resiliparse")]
    assert len(found) == len(list(html.glob("*.html"))) + 5 and all(isinstance(d, dict) for d in found)
