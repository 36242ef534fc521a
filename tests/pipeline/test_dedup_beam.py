"""pipeline.dedup on Beam's FnApiRunner: clusters, transitivity, convergence within the round
bound, keepers, accounting, sub-document and URL dedup, in-process = multi-process, hot keys."""

from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline import dedup, local_runner
from pipeline.__main__ import SAMPLE
from quality import minhash as mh
from quality.normalize import dedup_key, normalize_text

RUNNER = "FnApiRunner"  # DirectRunner would first try to download Prism
ROUNDS = 6  # small inputs converge in one or two rounds; fewer unrolled rounds run faster


def run_collect(tmp: Path, build, inputs, *options: str) -> tuple[dict[str, list], object]:
    """Runs `build(pcoll)` (a dict of named outputs) on `inputs`; returns each output's rows
    (read back from files, so multi-process runs work too) and the pipeline result."""
    tmp.mkdir(parents=True, exist_ok=True)
    local_runner.install()  # as `python -m pipeline` does: FnApiRunner's worker data loss
    p = beam.Pipeline(runner=RUNNER, options=PipelineOptions(list(options)))
    # reshuffle: several bundles, so that multi-process runs spread keys over the workers
    outs = build(p | "Inputs" >> beam.Create(inputs, reshuffle=True))
    for name, pc in outs.items():
        (pc | f"Json {name}" >> beam.Map(lambda r: json.dumps(r, sort_keys=True, default=repr))
         | f"Write {name}" >> beam.io.WriteToText(str(tmp / name), shard_name_template="",
                                                  num_shards=1))
    result = p.run()
    result.wait_until_finish()
    rows = {}
    for name in outs:
        path = tmp / name
        rows[name] = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return rows, result


def metric(result, kind: str, name: str):
    values = [m.committed for m in result.metrics().query()[kind] if m.key.metric.name == name]
    if kind == "counters":
        return sum(values)
    return max((v.max for v in values), default=None)


def make_doc(doc_id: str, text: str, **extra) -> dict:
    text = normalize_text(text)
    return {"id": doc_id, "text": text, "source": extra.pop("source", "test"),
            "url": extra.pop("url", None), "meta": {}, "signals": extra.pop("signals", {}),
            "bytes": len(text.encode("utf-8")), "dedup_key": dedup_key(text), **extra}


def words(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"w{rng.randrange(10**6)}" for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# Connected components
# ----------------------------------------------------------------------------------------------

def test_transitivity_gives_one_cluster_although_the_ends_are_not_similar(tmp_path):
    # B is A shifted by 20 words, C is B shifted by 20: A~B and B~C (J 0.90), A and C at 0.82,
    # below the exact check's 0.85, so A-C is never a link; still one cluster, keeper A.
    w = words(440, seed=1)
    a, b, c = (" ".join(w[s:s + 400]) for s in (0, 20, 40))
    assert mh.text_jaccard(a, b) > 0.9 and mh.text_jaccard(b, c) > 0.9
    assert mh.text_jaccard(a, c) < 0.85
    other = " ".join(words(400, seed=2))
    docs = [make_doc("a", a), make_doc("b", b), make_doc("c", c), make_doc("x", other)]
    rows, result = run_collect(tmp_path, lambda d: d | dedup.NearDedup(exact_check=True, threshold=0.85, max_rounds=ROUNDS),
                               docs)
    assert sorted(d["id"] for d in rows["docs"]) == ["a", "x"]
    assert {r["id"]: r["duplicate_of"] for r in rows["duplicate"]} == {"b": "a", "c": "a"}
    assert all(r["reason"] == "near_duplicate" and r["outcome"] == "duplicate" for r in rows["duplicate"])
    (cluster,) = rows["clusters"]
    assert cluster["keeper"] == "a" and cluster["size"] == 3 and cluster["members"] == ["b", "c"]
    (stats,) = rows["stats"]
    assert stats["clusters"] == 1 and stats["duplicates"] == 2 and stats["sizes"] == {"3": 1}
    assert metric(result, "counters", "exact_check.pairs") >= 2


def test_components_of_a_chain_converge_within_the_bound(tmp_path):
    rng = random.Random(3)
    names = [f"n{i:04d}" for i in range(1000)]
    rng.shuffle(names)  # a chain whose ids are in random order ...
    chain = list(zip(names, names[1:]))
    ordered = [(f"m{i:04d}", f"m{i + 1:04d}") for i in range(999)]  # ... and the slowest: in order
    edges = chain + ordered + [("z1", "z2"), ("z2", "z1"), ("z3", "z2")]
    rows, result = run_collect(tmp_path, lambda e: dedup.ConnectedComponents(max_rounds=16).expand(e),
                               edges)
    labels = dict(rows["labels"])
    assert len(labels) == 999 + 999 + 2
    assert {labels[n] for n in names if n != "n0000"} == {"n0000"}
    assert {labels[f"m{i:04d}"] for i in range(1, 1000)} == {"m0000"}
    assert labels["z2"] == labels["z3"] == "z1"
    (rounds,) = rows["rounds"]
    assert rounds["rounds"] <= 16 and rounds["changes_per_round"][-1] == 0
    assert rounds["rounds"] == 11  # log2(1000) + 1 for the ordered chain
    assert metric(result, "counters", "cc_rounds") == rounds["rounds"]


def test_components_fail_loudly_when_the_round_bound_is_hit(tmp_path):
    chain = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(100)]
    with pytest.raises(Exception, match="did not converge within max_rounds=3"):
        run_collect(tmp_path, lambda e: dedup.ConnectedComponents(max_rounds=3).expand(e), chain)


# ----------------------------------------------------------------------------------------------
# Keepers, exact check, accounting
# ----------------------------------------------------------------------------------------------

def test_keeper_is_the_best_signal_then_the_smallest_id(tmp_path):
    w = words(300, seed=4)
    base = " ".join(w)
    variants = [" ".join(w[:150] + [f"edit{i}"] + w[150:]) for i in range(4)]
    sig = "fasttext_quality.score"
    docs = [make_doc("a", base, signals={sig: 0.2}),
            make_doc("b", variants[0], signals={sig: 0.9}),
            make_doc("c", variants[1], signals={sig: 0.9}),
            make_doc("d", variants[2], signals={}),  # no signal: never the keeper
            make_doc("e", variants[3], signals={sig: float("nan")})]
    rows, _ = run_collect(tmp_path / "signal", lambda d: d | dedup.NearDedup(keeper_signal=sig, max_rounds=ROUNDS), docs)
    assert [d["id"] for d in rows["docs"]] == ["b"]
    assert {r["id"]: r["duplicate_of"] for r in rows["duplicate"]} == {"a": "b", "c": "b", "d": "b", "e": "b"}
    rows, _ = run_collect(tmp_path / "id", lambda d: d | dedup.NearDedup(max_rounds=ROUNDS), docs)
    assert [d["id"] for d in rows["docs"]] == ["a"]
    assert dedup._rank(1.0) < dedup._rank(0.5) < dedup._rank(0.0) == dedup._rank(-0.0) < dedup._rank(-2)
    assert dedup._rank(-1e300) < dedup._rank(None) == dedup._rank("x") == dedup._rank(float("nan"))


def test_exact_check_rejects_candidates_below_the_threshold(tmp_path):
    # 4 bands x 2 rows: a pair at Jaccard ~0.5 is almost surely a candidate; the check drops it.
    w = words(400, seed=5)
    a, b = " ".join(w[:300]), " ".join(w[100:400])
    assert 0.45 < mh.text_jaccard(a, b) < 0.55
    docs = [make_doc("a", a), make_doc("b", b)]
    build = lambda check: lambda d: d | dedup.NearDedup(bands=4, rows=2, exact_check=check, max_rounds=ROUNDS)  # noqa: E731
    rows, _ = run_collect(tmp_path / "off", build(False), docs)
    assert [r["id"] for r in rows["duplicate"]] == ["b"]
    rows, result = run_collect(tmp_path / "on", build(True), docs)
    assert rows["duplicate"] == [] and len(rows["docs"]) == 2
    assert metric(result, "counters", "exact_check.rejected") >= 1


def test_lsh_threshold_alone_derives_bands_and_rows():
    nd = dedup.NearDedup(lsh_threshold=0.8)
    assert (nd.settings.bands, nd.settings.rows) == mh.bands_rows_for_threshold(0.8) == (9, 12)
    nd = dedup.NearDedup(exact_check=True, threshold=0.9)
    assert (nd.settings.bands, nd.settings.rows, nd.settings.threshold) == (14, 8, 0.9)
    with pytest.raises(ValueError):
        dedup.NearDedup(bands=14)
    with pytest.raises(ValueError):
        dedup.NearDedup(bands=14, rows=8, lsh_threshold=0.8)


def sample_corpus(every: int = 9, variants: int = 120, seed: int = 0) -> list[dict]:
    """A slice of the bundled sample plus edited copies (near duplicates), exact copies, URLs."""
    rng = random.Random(seed)
    docs = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            rec = json.loads(line)
            if i % every == 0:
                url = f"https://example.org/{i // 180}" if (i // every) % 10 == 0 else None
                docs.append(make_doc(rec["id"], rec["text"], source=rec.get("source", "sample"),
                                     url=url, signals={"score": round(rng.random(), 3)}))
    long_docs = [d for d in docs if len(d["text"].split()) > 200]
    for k in range(variants):
        base = rng.choice(long_docs)
        ws = base["text"].split(" ")
        for _ in range(rng.randrange(1, 8)):  # a few word substitutions, in place
            ws[rng.randrange(len(ws))] = f"edit{rng.randrange(1000)}"
        text = " ".join(ws)
        if k % 5 == 0:
            text = "Cookie notice: this site uses cookies.\n\n" + text
        if k % 7 == 0:
            text = base["text"]  # an exact copy
        docs.append(make_doc(f"zz-variant/{k:04d}", text, signals={"score": round(rng.random(), 3)}))
    return docs


def _all_dedup(docs, keeper_signal=None):
    exact = docs | "Exact" >> dedup.ExactDedup(keeper_signal)
    url = exact["docs"] | "Url" >> dedup.UrlDedup(keeper_signal)
    near = url["docs"] | "Near" >> dedup.NearDedup(exact_check=True, keeper_signal=keeper_signal)
    para = near["docs"] | "Para" >> dedup.SubdocDedup()
    dup = (exact["duplicate"], url["duplicate"], near["duplicate"]) | "Dups" >> beam.Flatten()
    return {"docs": para["docs"], "duplicate": dup, "dropped": para["dropped"],
            "clusters": near["clusters"], "stats": near["stats"]}


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return sample_corpus()


@pytest.fixture(scope="module")
def in_process(corpus, tmp_path_factory):
    return run_collect(tmp_path_factory.mktemp("inproc"), _all_dedup, corpus)


def test_accounting_identity_with_duplicates_counted(corpus, in_process):
    rows, _ = in_process
    ids = [d["id"] for d in rows["docs"]] + [r["id"] for r in rows["duplicate"] + rows["dropped"]]
    assert sorted(ids) == sorted(d["id"] for d in corpus)  # every input exactly once
    size = {d["id"]: d["bytes"] for d in corpus}
    assert sum(d["bytes"] for d in rows["docs"]) + sum(r["bytes"] for r in rows["duplicate"] + rows["dropped"]) \
        == sum(size.values())
    reasons = {r["reason"] for r in rows["duplicate"]}
    assert reasons == {"exact_duplicate", "url_duplicate", "near_duplicate"}
    kept = {d["id"] for d in rows["docs"]} | {r["id"] for r in rows["dropped"]}
    assert all(r["duplicate_of"] in kept or r["reason"] != "near_duplicate" for r in rows["duplicate"])
    (stats,) = rows["stats"]
    near = [r for r in rows["duplicate"] if r["reason"] == "near_duplicate"]
    assert stats["duplicates"] == len(near) > 50
    assert sum(c["size"] - 1 for c in rows["clusters"]) == len(near)
    assert stats["largest"][0]["size"] == max(c["size"] for c in rows["clusters"])
    assert sum(stats["sizes"].values()) == stats["clusters"] == len(rows["clusters"])


def test_same_clusters_and_keepers_in_process_and_multi_process(corpus, in_process, tmp_path):
    rows, _ = in_process
    multi, _ = run_collect(tmp_path, _all_dedup, corpus, "--direct_running_mode=multi_processing",
                           "--direct_num_workers=2")
    for name in ("docs", "duplicate", "dropped", "clusters", "stats"):
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        assert sorted(map(key, multi[name])) == sorted(map(key, rows[name])), name


def test_same_decisions_from_files_in_both_modes(tmp_path):
    """Read from JSONL files as the job does, in several files and bundles."""
    from pipeline.read import ReadDocuments

    docs = sample_corpus(every=3, variants=400, seed=1)
    for i in range(4):
        with gzip.open(tmp_path / f"part-{i}.jsonl.gz", "wt", encoding="utf-8") as f:
            for d in docs[i::4]:
                f.write(json.dumps({"id": d["id"], "text": d["text"], "source": "s"}) + "\n")

    def build(unused):
        p = unused.pipeline
        read = p | ReadDocuments(str(tmp_path / "part-*.jsonl.gz"), max_doc_bytes=1 << 24,
                                 max_record_bytes=1 << 25)
        near = read.docs | dedup.NearDedup(max_rounds=ROUNDS)
        return {"dup": near["duplicate"] | beam.Map(lambda r: [r["id"], r["duplicate_of"]])}

    one, _ = run_collect(tmp_path / "one", build, [0])
    two, _ = run_collect(tmp_path / "two", build, [0], "--direct_running_mode=multi_processing",
                         "--direct_num_workers=2")
    assert len(one["dup"]) > 100 and sorted(one["dup"]) == sorted(two["dup"])


def test_exact_dedup_keeps_the_smallest_id_of_each_text(corpus, tmp_path):
    rows, _ = run_collect(tmp_path, lambda docs: docs | dedup.ExactDedup(), corpus)
    groups = {}
    for d in corpus:
        groups.setdefault(d.get("dedup_key") or dedup_key(d["text"]), []).append(d["id"])
    expected = sorted((i, min(ids)) for ids in groups.values() for i in ids if i != min(ids))
    assert sorted((r["id"], r["duplicate_of"]) for r in rows["duplicate"]) == expected
    assert len(expected) >= 10


# ----------------------------------------------------------------------------------------------
# URL and sub-document dedup
# ----------------------------------------------------------------------------------------------

def test_url_dedup(tmp_path):
    docs = [make_doc("b", "two", url="HTTP://Example.com/page/"), make_doc("a", "one", url="http://example.com/page#top"),
            make_doc("c", "three", url="http://example.com/other"), make_doc("d", "four")]
    rows, _ = run_collect(tmp_path, lambda d: d | dedup.UrlDedup(), docs)
    assert sorted(d["id"] for d in rows["docs"]) == ["a", "c", "d"]
    assert [(r["id"], r["duplicate_of"], r["reason"]) for r in rows["duplicate"]] == [("b", "a", "url_duplicate")]


def test_paragraph_dedup_keeps_the_first_occurrence_by_id(tmp_path):
    boiler = "Subscribe to our newsletter!"
    docs = [make_doc("b", f"Intro of b.\n\n{boiler}\n\nBody of b."),
            make_doc("a", f"{boiler}\n\nBody of a.\n\nsubscribe to our NEWSLETTER"),
            make_doc("c", f"{boiler.upper()}"),
            make_doc("d", "Nothing shared here.")]
    rows, result = run_collect(tmp_path, lambda d: d | dedup.SubdocDedup(), docs)
    out = {d["id"]: d for d in rows["docs"]}
    assert out["a"]["text"] == f"{boiler}\n\nBody of a."  # its own second copy goes too
    assert out["b"]["text"] == "Intro of b.\n\nBody of b."
    assert out["d"]["text"] == "Nothing shared here." and out["d"]["signals"]["dedup.paragraph_removed"] == 0
    removed = len(docs[0]["text"].encode()) - len(out["b"]["text"].encode())
    assert out["b"]["signals"]["dedup.paragraph_removed_bytes"] == removed
    assert out["b"]["bytes"] == docs[0]["bytes"]  # the input size stays, for the accounting
    assert out["b"]["dedup_key"] == dedup_key(out["b"]["text"])
    (dropped,) = rows["dropped"]
    assert dropped["id"] == "c" and dropped["reason"] == "paragraph_dedup_empty"
    assert metric(result, "counters", "paragraph.removed") == 3


def test_three_sentence_span_dedup(tmp_path):
    shared = "The cat sat. The dog ran. The bird flew."
    docs = [make_doc("a", f"{shared} Then a ended."), make_doc("b", f"B starts here. {shared}"),
            make_doc("c", "One. Two. Three. Four.")]
    rows, _ = run_collect(tmp_path, lambda d: d | dedup.SubdocDedup(unit="sentence_span"), docs)
    out = {d["id"]: d for d in rows["docs"]}
    assert out["a"]["text"] == docs[0]["text"]
    assert out["b"]["text"] == "B starts here."
    assert out["b"]["signals"]["dedup.sentence_span_removed"] == 1
    assert out["c"]["text"] == docs[2]["text"]


# ----------------------------------------------------------------------------------------------
# Hot keys
# ----------------------------------------------------------------------------------------------

HOT_COPIES = 100_000


def test_hot_keys_100000_copies_never_sit_on_one_key(tmp_path):
    """100,000 documents share one paragraph, and 100,000 are the same document. Paragraph
    dedup finds each paragraph's owner with CombinePerKey(min); exact and near dedup group with
    the bounded combiner, so no key ever holds more than `hot_key_values` + 1 values (the
    runner's metrics show the peak), and the copies are still all found."""
    limit = 500
    shared = "This paragraph is repeated in every single one of the documents of the corpus."
    copy = "the same document text copied one hundred thousand times over into the corpus"

    def generate(k):
        for i in range(k * 1000, (k + 1) * 1000):
            name = "".join(chr(97 + i // 26 ** k % 26) for k in range(4))  # CCNet maps digits to 0
            yield make_doc(f"p{i:06d}", f"Unique paragraph {name}.\n\n{shared}")
            yield make_doc(f"d{i:06d}", copy)

    def build(seeds):
        docs = seeds | "Generate" >> beam.FlatMap(generate)
        para = (docs | "Only p" >> beam.Filter(lambda d: d["id"][0] == "p")
                | "Para" >> dedup.SubdocDedup())
        same = docs | "Only d" >> beam.Filter(lambda d: d["id"][0] == "d")
        exact = same | "Exact" >> dedup.ExactDedup(hot_key_values=limit)
        near = same | "Near" >> dedup.NearDedup(bands=2, rows=4, hot_key_values=limit, max_rounds=ROUNDS)
        changed = para["docs"] | "Changed" >> beam.Filter(lambda d: d["signals"]["dedup.paragraph_removed"])
        count = lambda name: beam.combiners.Count.Globally().with_input_types(dict)  # noqa: E731
        return {"para_changed": changed | "N changed" >> count("c"),
                "exact_dups": exact["duplicate"] | "N exact" >> count("e"),
                "near_dups": near["duplicate"] | "N near" >> count("n"),
                "exact_kept": exact["docs"] | "Exact ids" >> beam.Map(lambda d: d["id"]),
                "near_stats": near["stats"]}

    start = time.monotonic()
    rows, result = run_collect(tmp_path, build, list(range(HOT_COPIES // 1000)))
    elapsed = time.monotonic() - start
    assert rows["para_changed"] == [HOT_COPIES - 1]
    assert rows["exact_dups"] == [HOT_COPIES - 1] and rows["exact_kept"] == ["d000000"]
    assert rows["near_dups"] == [HOT_COPIES - 1]
    assert rows["near_stats"][0]["largest"][0]["size"] == HOT_COPIES
    assert metric(result, "distributions", "values_held_per_key") == limit + 1
    assert metric(result, "counters", "hot_keys") >= 3  # exact group, 2 buckets, star centre
    assert elapsed < 300


def test_bounded_group_matches_a_plain_set_however_inputs_are_split_and_merged():
    """Count, min and max are exact and the values are kept while there are at most `limit`,
    whatever the order of adds and merges (what lifting and bundles do)."""
    import random

    from pipeline.dedup.keys import BoundedGroup

    rng = random.Random(7)
    for trial in range(300):
        limit = rng.choice([1, 2, 3, 5, 8])
        values = [f"n{rng.randrange(12):02d}" for _ in range(rng.randrange(0, 14))]
        fn = BoundedGroup(limit)
        parts = [fn.create_accumulator() for _ in range(rng.randrange(1, 4))]
        for v in values:
            i = rng.randrange(len(parts))
            parts[i] = fn.add_input(parts[i], v)
        while len(parts) > 1:
            k = rng.randrange(1, len(parts))
            parts = [fn.merge_accumulators(parts[:k + 1])] + parts[k + 1:]
        acc = fn.extract_output(parts[0])
        assert acc[0] == len(values)
        if not values:
            assert BoundedGroup.bounds(acc) == (None, None)
            continue
        assert BoundedGroup.bounds(acc) == (min(values), max(values))
        if len(set(values)) <= limit:
            assert acc[3] == set(values)
        assert acc[4] <= limit + 1
