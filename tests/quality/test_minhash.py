"""quality.minhash: shingles, signatures equal to datasketch's, bands, Jaccard, sub-document units."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from pipeline.__main__ import SAMPLE
from quality import dedup as qdedup
from quality import minhash as mh
from quality.normalize import normalize_text


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    texts = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 25 == 0:
                texts.append(normalize_text(json.loads(line)["text"]))
    return texts


def test_shingles_are_casefolded_word_5grams_without_punctuation():
    assert mh.shingle_words("Hello, World! It's well-known... 42") == [
        "hello", "world", "it's", "well-known", "42"]
    assert mh.shingles("A b, c. D e f") == {("a", "b", "c", "d", "e"), ("b", "c", "d", "e", "f")}
    assert mh.shingles("HELLO world") == mh.shingles("hello,   World!")
    assert mh.shingles("only three words") == {("only", "three", "words")}
    assert mh.shingles("... --- !!!") == set()
    assert len(mh.shingle_hashes("... !!!")) == 0


def test_shingle_words_are_the_word_tokens_of_quality_text(sample_texts):
    from quality.text import words

    for text in sample_texts + ["-abc a'-b x--y 'quoted' it's ... 3.14 naïve_ok"]:
        assert mh.shingle_words(text) == [w for w in words(text.casefold()) if w[0].isalnum() or w[0] == "_"]


def test_vectorized_shingle_hashes_equal_the_scalar_definition(sample_texts):
    for text in sample_texts[:40] + ["one two", "a b c d e", "x " * 50]:
        ref = np.unique(np.array([mh.shingle_hash(s) for s in mh.shingles(text)], dtype=np.uint64))
        assert np.array_equal(mh.shingle_hashes(text), ref)


def test_signatures_equal_datasketch_minhash(sample_texts):
    texts = sample_texts[:30] + ["short text", "", "!!!", "word " * 3000]
    sigs = mh.signatures([mh.shingle_hashes(t) for t in texts], 112)
    for text, sig in zip(texts, sigs):
        assert np.array_equal(sig, mh.datasketch_signature(text, 112)), text[:60]
    # Other seeds and widths too; and through MinHash.bulk, datasketch's own bulk path.
    ref = MinHash.bulk([list(mh.shingles(t)) for t in texts[:5]], num_perm=64, seed=7,
                       hashfunc=mh.datasketch_hashfunc)
    mine = mh.signatures([mh.shingle_hashes(t) for t in texts[:5]], 64, seed=7)
    assert all(np.array_equal(r.hashvalues, s) for r, s in zip(ref, mine))


def test_bulk_blocks_do_not_change_signatures(sample_texts, monkeypatch):
    hashes = [mh.shingle_hashes(t) for t in sample_texts[:20]]
    whole = mh.signatures(hashes, 112)
    monkeypatch.setattr(mh, "_BULK_CELLS", 112 * 50)  # blocks of ~50 shingles: many blocks
    assert np.array_equal(mh.signatures(hashes, 112), whole)


def test_lean_minhash_estimates_jaccard():
    rng = random.Random(0)
    words = [f"w{rng.randrange(10**6)}" for _ in range(2000)]
    a, b = " ".join(words[:1500]), " ".join(words[300:])
    exact = mh.text_jaccard(a, b)
    est = mh.to_lean_minhash(mh.signature(a, 256)).jaccard(mh.to_lean_minhash(mh.signature(b, 256)))
    assert exact == pytest.approx(1196 / 1996, abs=1e-3)  # 1,196 shared 5-grams of 1,996
    assert est == pytest.approx(exact, abs=0.08)


def test_band_keys():
    sig = mh.signature("a b c d e f g h", 112)
    keys = mh.band_keys(sig, 14, 8)
    assert len(keys) == 14 and len(set(keys)) == 14
    assert [k[:2] for k in keys] == [i.to_bytes(2, "big") for i in range(14)]
    other = sig.copy()
    other[8 * 3] ^= 1  # one row of band 3 differs: only that band's key changes
    changed = [i for i, (x, y) in enumerate(zip(keys, mh.band_keys(other, 14, 8))) if x != y]
    assert changed == [3]
    with pytest.raises(ValueError):
        mh.band_keys(sig[:100], 14, 8)


def test_s_curve_and_threshold_derivation():
    assert mh.collision_probability(0.8, 14, 8) == pytest.approx(0.9236, abs=1e-4)
    assert mh.collision_probability(0.85, 14, 8) == pytest.approx(0.9884, abs=1e-4)
    assert mh.lsh_threshold(14, 8) == pytest.approx(0.719, abs=1e-3)
    for t in (0.5, 0.7, 0.8, 0.9):
        lsh = MinHashLSH(threshold=t, num_perm=112)
        assert mh.bands_rows_for_threshold(t, 112) == (lsh.b, lsh.r)
    with pytest.raises(ValueError):
        mh.bands_rows_for_threshold(1.0)


def test_exact_jaccard():
    a = np.array([1, 2, 3, 4], dtype=np.uint64)
    b = np.array([3, 4, 5], dtype=np.uint64)
    assert mh.jaccard(a, b) == pytest.approx(2 / 5)
    assert mh.jaccard(a, a) == 1.0
    assert mh.jaccard(a[:0], b[:0]) == 1.0
    x = "one two three four five six seven"
    assert mh.text_jaccard(x, x.upper() + "!") == 1.0
    assert mh.text_jaccard(x, "one two three four five six eight") == pytest.approx(2 / 4)


def test_ccnet_normalization_and_paragraph_units():
    assert qdedup.ccnet_normalize("  Héllo,  WORLD 2024!\n") == "hello world 0000"
    text = "First para.\nstill first.\n\n\nSecond, para 1!\n\n...\n\nsecond para 2"
    units = qdedup.dedup_units(text)
    assert [text[s:e] for _, (s, e) in units] == [
        "First para.\nstill first.", "Second, para 1!", "second para 2"]
    assert units[1][0] == units[2][0]  # equal after normalization; "..." is no unit
    out, removed = qdedup.remove_spans(text, [units[1][1]])
    assert out == "First para.\nstill first.\n\n...\n\nsecond para 2"
    assert removed == len(text.encode()) - len(out.encode())
    assert qdedup.remove_spans(text, []) == (text, 0)


def test_three_sentence_spans():
    text = "One is here. Two is here. Three is here. Four is here."
    units = qdedup.dedup_units(text, "sentence_span")
    assert [text[s:e] for _, (s, e) in units] == [
        "One is here. Two is here. Three is here.", "Two is here. Three is here. Four is here."]
    assert qdedup.dedup_units("Only one. And two.", "sentence_span") == []
    with pytest.raises(ValueError):
        qdedup.dedup_units(text, "line")


def test_url_key():
    assert qdedup.url_key("HTTP://Example.COM:80/a/b/#frag") == "http://example.com/a/b"
    assert qdedup.url_key("https://example.com/a?x=1") == "https://example.com/a?x=1"
    assert qdedup.url_key("https://example.com:8443/") == "https://example.com:8443"
    assert qdedup.url_key(None) is None and qdedup.url_key("  ") is None
    assert qdedup.url_key("http://x:99999/") == "http://x:99999/"  # bad port: the URL as given
