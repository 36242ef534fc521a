"""The study corpus: the smoke build from the bundled sample (layout, disjointness, determinism,
accounting) and the pure helpers of the real build."""

from __future__ import annotations

import gzip
import json

import pytest

from workflows import sources, study_corpus as sc


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    return sc.from_sample(a), sc.from_sample(b)


def _ids(path):
    return [r["id"] for r in sc.read_jsonl_gz(path)]


def test_sample_layout_and_held_out_book(built):
    paths, _ = built
    files = [*paths["train"], *paths["eval"].values(), paths["positive"], paths["negative"]]
    assert sorted(paths["eval"]) == ["docs", "novels"] and all(p.exists() for p in files)
    train = [r for p in paths["train"] for r in sc.read_jsonl_gz(p)]
    assert not [r for r in train if r["meta"].get("book") == sc.SAMPLE_EVAL_BOOK]
    novels = sc.read_jsonl_gz(paths["eval"]["novels"])
    assert novels and {r["meta"]["book"] for r in novels} == {sc.SAMPLE_EVAL_BOOK}
    for domain, p in paths["eval"].items():
        assert sum(map(sc.text_bytes, sc.read_jsonl_gz(p))) <= sc.SAMPLE_EVAL_CAP
    record = train[0]
    assert set(record) == {"id", "text", "source", "url", "meta"}
    assert {"licence", "origin"} <= set(record["meta"])
    # Eval disjoint from train and classifier files, by id and by text (the build checked it too).
    eval_ids = {i for p in paths["eval"].values() for i in _ids(p)}
    others = {i for p in [*paths["train"], paths["positive"], paths["negative"]] for i in _ids(p)}
    assert eval_ids and not eval_ids & others
    assert sc.check_disjoint(paths)["overlaps"] == 0
    # Negatives are training documents that are not positives, as many as the positives.
    pos, neg = set(_ids(paths["positive"])), set(_ids(paths["negative"]))
    assert len(neg) == len(pos) and neg <= {r["id"] for r in train} and not neg & pos


def test_sample_build_is_byte_identical(built):
    a, b = built
    for key in ("positive", "negative", "sources_json", "sources_md"):
        assert a[key].read_bytes() == b[key].read_bytes(), key
    for pa, pb in zip([*a["train"], *a["eval"].values()], [*b["train"], *b["eval"].values()]):
        assert pa.read_bytes() == pb.read_bytes(), pa


def test_sample_sources_json_counts_match_files_and_every_input(built):
    paths, _ = built
    summary = json.loads(paths["sources_json"].read_text(encoding="utf-8"))
    root = paths["sources_json"].parent
    for rel, f in summary["files"].items():
        recs = sc.read_jsonl_gz(root / rel)
        assert f["docs"] == len(recs) and f["text_bytes"] == sum(map(sc.text_bytes, recs)), rel
    split_files = {"train": paths["train"], "classifier/positive": [paths["positive"]],
                   "classifier/negative": [paths["negative"]],
                   **{f"eval/{d}": [p] for d, p in paths["eval"].items()}}
    for name, ps in split_files.items():
        recs = [r for p in ps for r in sc.read_jsonl_gz(p)]
        split = summary["splits"][name]
        assert split["docs"] == len(recs)
        assert {s: v["docs"] for s, v in split["sources"].items()} == {
            s: sum(r["source"] == s for r in recs) for s in {r["source"] for r in recs}}
    # Every input document is in exactly one of train / an eval domain / a left-out reason.
    with gzip.open(sc.SAMPLE, "rt", encoding="utf-8") as f:
        inputs = [json.loads(line) for line in f]
    placed = {}
    for name, ps in split_files.items():
        if name != "classifier/negative" and name != "classifier/positive":
            for p in ps:
                for i in _ids(p):
                    assert i not in placed, i
                    placed[i] = name
    acc = summary["accounting"]
    assert sum(n for places in acc.values() for n in places.values()) == len(inputs)
    assert len(placed) == len(inputs) - sum(n for places in acc.values()
                                            for k, n in places.items() if k.startswith("left out"))
    for source, places in acc.items():
        assert places.get("train", 0) == sum(
            1 for i, where in placed.items() if where == "train" and i.startswith(source + "/"))
    md = paths["sources_md"].read_text(encoding="utf-8")
    assert "## train" in md and "Disjointness" in md and "not disjoint from train" in md


def test_sample_max_train_docs_caps_by_rank(tmp_path):
    paths = sc.from_sample(tmp_path, max_train_docs=300)
    summary = json.loads(paths["sources_json"].read_text(encoding="utf-8"))
    assert summary["splits"]["train"]["docs"] == 300
    left = sum(p.get("left out: beyond max_train_docs", 0) for p in summary["accounting"].values())
    assert left == 2731 - 300 - sum(summary["splits"][f"eval/{d}"]["docs"] for d in paths["eval"]) \
        - sum(p.get("left out: beyond the eval cap", 0) for p in summary["accounting"].values())


def _doc(i, text):
    return {"id": i, "text": text, "source": "s", "url": None, "meta": {}}


def test_overlaps_finds_planted_paragraphs_and_whole_texts():
    para = " ".join(f"word{i}" for i in range(60))  # > 200 characters
    ev = [_doc("e1", "Intro line.\n\n" + para + "\n\nOutro."), _doc("e2", "short eval text"),
          _doc("e3", "nothing shared " * 30)]
    others = [_doc("t1", "Some text before " + para.replace(" ", "\n  ", 5) + " and after."),
              _doc("t2", "short   eval\ntext"), _doc("t3", "unrelated " * 50)]
    assert sc.overlaps(ev, others) == [("e1", "t1", "paragraph"), ("e2", "t2", "text")]
    # Paragraphs under the floor are not units; the whole text still is.
    short = [_doc("e", "a b c d e f g h i j k l")]
    assert sc.overlaps(short, [_doc("t", "x a b c d e f g h i j k l y")]) == [("e", "t", "text")]
    assert sc.overlaps(ev, [_doc("t", para[:150])]) == []


def test_check_disjoint_fails_on_a_planted_overlap(built, tmp_path):
    paths, _ = built
    novel = sc.read_jsonl_gz(paths["eval"]["novels"])[0]
    para = max(novel["text"].split("\n\n"), key=len)
    assert len(para) >= sc.MIN_PARAGRAPH_CHARS
    planted = dict(paths, train=[tmp_path / "part-0.jsonl.gz"])
    sc.write_jsonl_gz(planted["train"][0], [_doc("t/x", "Before.\n\n" + para + "\n\nAfter.")])
    with pytest.raises(sc.ContaminationError, match=novel["id"]):
        sc.check_disjoint(planted)


def test_fill_rank_and_family():
    recs = [_doc(str(i), "x" * 10) for i in range(10)]
    assert len(sc.fill(recs, 35)) == 3 and sc.fill(recs, 5) == []
    sized = [_doc("a", "x" * 5), _doc("b", "x" * 100), _doc("c", "x" * 5), _doc("d", "x" * 9)]
    assert [r["id"] for r in sc.fill(sized, 20)] == ["a", "c", "d"]  # skips what does not fit
    assert [r["id"] for r in sc.fill(sized, 10)] == ["a", "c"]  # full: stops reading
    ordered = sc.by_rank(recs)
    assert ordered == sc.by_rank(list(reversed(recs))) and ordered != recs
    assert [sc.family(s) for s in ("handbook-pt_BR", "gnome-docs-sr_Latn", "ddtp-en", "ddtp-de",
                                   "python-docs", "man-ja", "linux-doc")] == \
        ["handbook-*", "gnome-docs-*", "ddtp-en", "ddtp-*", "python-docs", "man-*", "linux-doc"]
    assert 0 <= sc.fraction("a") < 1 and sc.fraction("a") != sc.fraction("b")


def test_real_build_places_whole_books_and_directories():
    def rec(source, rid, **meta):
        return {"id": rid, "text": "t", "source": source, "url": "", "meta": meta}
    # Both copies of Pride and Prejudice are one book; eval and positive books stay apart.
    pp = [rec("gutenberg", "g/a", book="prideprejudice"), rec("gutenberg", "g/b",
                                                             book="pride-and-prejudice")]
    assert {sc._place(r) for r in pp} == {"train"}
    assert sc._place(rec("gutenberg", "g/c", book="persuasion")) == "eval/novels"
    assert sc._place(rec("gutenberg", "g/d", book="great-expectations")) == "positive/gutenberg"
    places = {sc._place(rec("linux-doc", f"linux-doc/{d}/page{i}", lang="en"))
              for d in ("networking", "hwmon") for i in range(5)}
    assert len(places) <= 2  # one place per directory
    assert sc._place(rec("enwiki", "enwiki/1")) == "eval/wiki"
    assert sc._place({**rec("enwiki", "enwiki/2"), "text": "#REDIRECT [[X]]"}) == "redirect"


def test_wikitext_to_text():
    src = ("{{Infobox|a={{nested}}}}\n'''Bold''' is a [[political philosophy|philosophy]] "
           "of [[state]]s.<ref>cite</ref>\n== History ==\n* item [http://x.org label]\n"
           "[[File:A.png|thumb|a [[caption]] link]]\n{| class=x\n| cell\n|}\n[[Category:Y]]")
    assert sources.wikitext_to_text(src) == \
        "Bold is a philosophy of states.\nHistory\nitem label"
