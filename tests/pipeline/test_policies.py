"""Policies in the pipeline: C4 line transform accounting, top-fraction selection by a Beam-
computed cut of the fastText quality score, and Beam counters per rule."""

from __future__ import annotations

import gzip
import json

import pytest

from pipeline.__main__ import SAMPLE, run
from quality import classifier
from quality.policy import PolicyError, from_mapping, top_fraction_cut
from quality.rules import Policy, Rule

EVERY = 5


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("in") / "slice.jsonl.gz"
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f, gzip.open(path, "wt", encoding="utf-8") as g:
        g.writelines(line for i, line in enumerate(f) if i % EVERY == 0)
    return path


def _run(slice_file, out, *extra):
    return run([f"--input={slice_file}", f"--output={out}", "--vocab_size=1000",
                "--runner=FnApiRunner", *extra])


def test_top_fraction_cut():
    counts = {0.9: 1, 0.8: 2, 0.5: 3, 0.1: 4}  # 10 documents
    assert top_fraction_cut(counts, 0.1) == 0.9
    assert top_fraction_cut(counts, 0.2) == 0.8   # 2 wanted: 0.9 and one of the two 0.8s -> both
    assert top_fraction_cut(counts, 0.3) == 0.8
    assert top_fraction_cut(counts, 1.0) == 0.1
    assert top_fraction_cut({}, 0.5) is None


def test_top_fraction_rules_must_be_resolved():
    pol = from_mapping({"rules": [{"name": "q", "signal": "s", "top_fraction": 0.25}]})
    with pytest.raises(ValueError, match="resolve"):
        pol.first_failure({"s": 0.3})
    resolved = pol.resolve({"q": 0.5})
    assert resolved.first_failure({"s": 0.4}) == "q"
    assert resolved.first_failure({"s": 0.5}) is None
    assert resolved.to_dict()["rules"][0] == {"name": "q", "signal": "s", "min": 0.5, "top_fraction": 0.25}
    with pytest.raises(ValueError, match=r"rule 'q'.*'top_fraction' must be in \(0, 1\]"):
        from_mapping({"rules": [{"name": "q", "signal": "s", "top_fraction": 1.5}]})


def test_a_policy_with_a_schema_error_is_refused_before_any_work(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text("name: typo\nrules:\n  - {name: long, signal: gopher_quality.word_count, minimum: 50}\n")
    with pytest.raises(PolicyError,
                       match=r"typo.yaml.*rule 'long'.*unknown key 'minimum' \(did you mean 'min'\?\)"):
        run([f"--policy={spec}", f"--output={tmp_path / 'out'}"])
    assert not (tmp_path / "out").exists()


def test_a_refused_policy_leaves_a_previous_run_in_place(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text("rules:\n  - {name: long, signal: chars, min: '50'}\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.json").write_text("{}")
    with pytest.raises(PolicyError, match="'min' must be a number"):
        run([f"--policy={spec}", f"--output={out}"])
    assert (out / "stats.json").exists()


def test_c4_transform_removes_lines_and_accounts_bytes(slice_file, tmp_path):
    stats = _run(slice_file, tmp_path / "c4", "--policy=c4")
    assert stats["identity_holds"]
    removed = stats["transform"]["c4_lines"]
    assert removed["kept"]["docs"] == stats["outcomes"]["kept"]["docs"]
    assert removed["kept"]["removed_bytes"] > 0 and removed["kept"]["removed_lines"] > 0
    rows = [json.loads(l) for p in (tmp_path / "c4" / "ledger").glob("*.jsonl") for l in p.open()]
    kept = [r for r in rows if r["outcome"] == "kept"]
    assert sum(r["transform"]["removed_bytes"] for r in kept) == removed["kept"]["removed_bytes"]
    # The shards hold the cleaned text: as many bytes as were kept, less what the transform removed.
    import webdataset as wds

    urls = sorted(str(p) for p in (tmp_path / "c4" / "shards").glob("*.tar"))
    text_bytes = sum(len(s["txt"]) for s in wds.WebDataset(urls, shardshuffle=False))
    assert text_bytes < stats["outcomes"]["kept"]["bytes"] - removed["kept"]["removed_bytes"] + 1


def test_top_fraction_of_quality_score_is_cut_by_beam(slice_file, tmp_path):
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    pos = [r["text"] for r in recs if r["source"] in ("gutenberg", "python-docs")][::3]
    neg = [r["text"] for r in recs if r["source"] in ("debian-copyright", "debian-changelog")][::3]
    model = classifier.train(pos, neg, tmp_path / "q.bin", bucket=20_000).model_path
    policy = tmp_path / "top.yaml"
    policy.write_text("name: top\nrules:\n  - {name: quality, signal: fasttext_quality.score, top_fraction: 0.2}\n")
    stats = _run(slice_file, tmp_path / "top", f"--policy={policy}", f"--quality_model={model}")
    assert stats["identity_holds"]
    n = stats["funnel"][2]["docs"]  # annotated documents
    cut = stats["policy"]["rules"][0]["min"]
    rows = [json.loads(l) for p in (tmp_path / "top" / "ledger").glob("*.jsonl") for l in p.open()]
    scores = [r["signals"]["fasttext_quality.score"] for r in rows if "signals" in r]
    assert len(scores) == n
    for r in rows:
        if "signals" in r:
            assert (r["outcome"] == "dropped") == (r["signals"]["fasttext_quality.score"] < cut)
    # The cut is the highest value that keeps at least the fraction: documents tied at the cut
    # are all kept, and without that tie group fewer than the fraction would pass.
    assert sum(s >= cut for s in scores) >= 0.2 * n > sum(s > cut for s in scores)
    with pytest.raises(ValueError, match="quality_model"):
        _run(slice_file, tmp_path / "missing", f"--policy={policy}")


def test_policy_sources_are_recorded(slice_file, tmp_path):
    stats = _run(slice_file, tmp_path / "g", "--policy=gopher")
    assert all(r.get("source") for r in stats["policy"]["rules"])


def test_beam_counters_per_rule_match_stats(slice_file, tmp_path):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    from pipeline import graph
    from pipeline.__main__ import pipeline_options
    from pipeline.options import SieveOptions

    out = tmp_path / "counters"
    options = pipeline_options([f"--input={slice_file}", f"--output={out}", "--vocab_size=1000"])
    p = beam.Pipeline(options=options)
    graph.build(p, options.view_as(SieveOptions), str(slice_file), str(slice_file))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed
                for c in result.metrics().query(MetricsFilter().with_namespace("select"))["counters"]}
    stats = json.loads((out / "stats.json").read_text())
    for reason, v in stats["reasons"]["dropped"].items():
        assert counters[f"dropped.{reason}"] == v["docs"]
        assert counters[f"dropped_bytes.{reason}"] == v["bytes"]
    for rule, v in stats["would_drop"].items():
        assert counters[f"would_drop.{rule}"] == v["docs"]


def test_dedup_options_keep_the_identity(slice_file, tmp_path):
    stats = _run(slice_file, tmp_path / "dd", "--policy=lang", "--subdoc_dedup=paragraph",
                 "--exact_jaccard_check=true", "--dedup_keeper_signal=gopher_quality.word_count")
    assert stats["identity_holds"]
    near = stats["near_dedup"]
    assert near["exact_check"] and near["keeper_signal"] == "gopher_quality.word_count"
    assert 1 <= near["rounds"] <= near["max_rounds"]
    reasons = stats["reasons"]["duplicate"]
    assert reasons["near_duplicate"]["docs"] == near["duplicates"] > 0
    assert stats["subdoc_dedup"]["paragraph"]["kept"]["removed_bytes"] > 0
    # clusters/: one row per cluster, named by its keeper, agreeing with the ledger.
    clusters = [json.loads(line) for f in sorted((tmp_path / "dd" / "clusters").glob("clusters-*.jsonl"))
                for line in f.read_text().splitlines()]
    ledger = [json.loads(line) for f in sorted((tmp_path / "dd" / "ledger").glob("*.jsonl"))
              for line in f.read_text().splitlines()]
    near_of = {}
    for r in ledger:
        if r.get("reason") == "near_duplicate":
            near_of.setdefault(r["duplicate_of"], []).append(r["id"])
    assert len(clusters) == near["clusters"] and {c["id"] for c in clusters} == set(near_of)
    for c in clusters:
        assert c["keeper"] == c["id"] and c["size"] == len(near_of[c["id"]]) + 1
        assert set(c["members"]) <= set(near_of[c["id"]]) | {c["id"]}
    off = _run(slice_file, tmp_path / "off", "--policy=lang", "--near_dedup=false")
    assert off["near_dedup"] is None and "near_duplicate" not in off["reasons"].get("duplicate", {})
    assert not (tmp_path / "off" / "clusters").exists()


def test_inverted_policy_writes_what_the_policy_drops(slice_file, tmp_path):
    common = ("--policy=gopher", "--near_dedup=false", "--url_dedup=false")
    normal = _run(slice_file, tmp_path / "normal", *common)
    inverted = _run(slice_file, tmp_path / "inverted", *common, "--invert_policy=true")
    assert normal["identity_holds"] and inverted["identity_holds"]

    def ledger(name):
        return [json.loads(l) for p in (tmp_path / name / "ledger").glob("*.jsonl") for l in p.open()]

    def ids(rows, *outcomes, reason=None):
        return {r["id"] for r in rows if r["outcome"] in outcomes
                and (reason is None or r.get("reason") == reason)}

    a, b = ledger("normal"), ledger("inverted")
    rejected = {r["id"] for r in a if r["outcome"] == "dropped"}
    assert rejected and ids(b, "kept", "duplicate") == rejected
    assert ids(b, "dropped", reason="passed_policy") == ids(a, "kept", "duplicate")
    # What the inverted run writes carries the rules each document fails, never none.
    assert all(r["failures"] for r in b if r["outcome"] == "kept")
