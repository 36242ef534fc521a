"""fastText quality classifier: preparation, metrics, held-out split, training, determinism, CLI."""

import gzip
import hashlib
import json
import math

import numpy as np
import pytest

from quality import classifier
from quality.train_classifier import main as train_main

# Small models keep the tests fast: fastText's default 2M hashed rows make an ~800 MB .bin, and
# product quantization runs k-means over up to 65,536 rows (~40 s); a 2,000-row cutoff takes ~1 s.
BUCKET = 20_000
QUANTIZE_CUTOFF = 2_000

SHARED = "the of and to a in is it that was for on with as by at this from".split()
PROSE = ("river morning letter sister garden walked thought evening house quiet window "
         "remember voice little heart friend answered door smiled together journey").split()
LEGAL = ("license copyright permission warranty software distribute granted notice "
         "merchantability liability provided conditions binary source redistribution "
         "upstream version fixed bump debian package").split()


def synthetic(n, vocab, seed, words=80):
    """n texts of `words` words: half from the shared function words, half from `vocab`."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        own = rng.choice(vocab, size=words // 2)
        common = rng.choice(SHARED, size=words - words // 2)
        toks = list(own) + list(common)
        rng.shuffle(toks)
        lines = [" ".join(toks[i:i + 12]) for i in range(0, len(toks), 12)]
        out.append("\n".join(lines))
    return out


@pytest.fixture(scope="module")
def data():
    pos = synthetic(300, PROSE, seed=1)
    neg = synthetic(300, LEGAL, seed=2)
    return pos, neg


def test_prepare_text_joins_lines_and_keeps_case():
    assert classifier.prepare_text("  Hello World\nsecond  line\r\nthird\n\n") == \
        "Hello World second  line third"
    assert "\n" not in classifier.prepare_text("a\u2028b\x85c\rd")


def test_roc_auc_hand_computed():
    # positives 0.9, 0.7, 0.3; negatives 0.8, 0.3. Pairs won by the positive:
    # 0.9 beats both (2), 0.7 beats 0.3 (1), 0.3 ties 0.3 (0.5) -> 3.5 of 6.
    labels = [1, 0, 1, 0, 1]
    scores = [0.9, 0.8, 0.7, 0.3, 0.3]
    assert classifier.roc_auc(labels, scores) == pytest.approx(3.5 / 6)
    assert classifier.roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 1.0
    assert classifier.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert classifier.roc_auc([1, 0, 1, 0], [0.5] * 4) == 0.5
    assert math.isnan(classifier.roc_auc([1, 1], [0.2, 0.3]))


def test_roc_auc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.random(200), 1)  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
    assert classifier.roc_auc(labels, scores) == pytest.approx(pairwise / (len(pos) * len(neg)))


def test_precision_recall_f1():
    labels = [1, 1, 1, 0, 0]
    scores = [0.9, 0.6, 0.2, 0.5, 0.1]  # predicted positive: 0.9, 0.6, 0.5 (>= 0.5)
    p, r, f1 = classifier.precision_recall_f1(labels, scores, 0.5)
    assert (p, r) == pytest.approx((2 / 3, 2 / 3))
    assert f1 == pytest.approx(2 / 3)
    assert classifier.precision_recall_f1([1, 0], [0.1, 0.2], 0.5) == (0.0, 0.0, 0.0)


def test_holdout_split_is_stable_and_by_text():
    texts = [f"document number {i}" for i in range(2000)]
    train, held = classifier.split_holdout(texts, 0.1)
    assert len(train) + len(held) == 2000
    assert 150 < len(held) < 250
    _, held_reversed = classifier.split_holdout(list(reversed(texts)), 0.1)
    assert sorted(held_reversed) == sorted(held)
    # identical after preparation -> same side
    assert classifier.holdout_position("a\nb") == classifier.holdout_position("a b")
    # a fixed value: the hash is blake2b, not Python's per-process salted hash()
    assert classifier.holdout_position("hello") == pytest.approx(
        int.from_bytes(hashlib.blake2b(classifier.HOLDOUT_SALT + b"hello", digest_size=8)
                       .digest(), "big") / 2**64)


def test_train_separates_held_out_and_scores_are_probabilities(tmp_path, data):
    pos, neg = data
    pos_train, pos_held = classifier.split_holdout(pos, 0.2)
    neg_train, neg_held = classifier.split_holdout(neg, 0.2)
    trained = classifier.train(pos_train, neg_train, tmp_path / "m.bin", bucket=BUCKET)
    assert trained.quantized_path is None
    assert (trained.n_positive, trained.n_negative) == (len(pos_train), len(neg_train))
    scores = classifier.QualityClassifier(trained.model_path).score(pos_held + neg_held)
    assert all(0.0 <= s <= 1.0 for s in scores)
    labels = [1] * len(pos_held) + [0] * len(neg_held)
    assert classifier.roc_auc(labels, scores) > 0.9
    assert classifier.QualityClassifier(trained.model_path).score([]) == []


def test_training_is_deterministic_with_one_thread(tmp_path, data):
    pos, neg = data
    a = classifier.train(pos, neg, tmp_path / "a.bin", seed=7, bucket=BUCKET)
    b = classifier.train(pos, neg, tmp_path / "b.bin", seed=7, bucket=BUCKET)
    c = classifier.train(pos, neg, tmp_path / "c.bin", seed=8, bucket=BUCKET)
    probe = synthetic(20, PROSE + LEGAL, seed=3)
    sa = classifier.QualityClassifier(a.model_path).score(probe)
    sb = classifier.QualityClassifier(b.model_path).score(probe)
    assert sa == sb
    assert a.model_path.read_bytes() == b.model_path.read_bytes()
    assert a.model_path.read_bytes() != c.model_path.read_bytes()  # the seed matters


def test_quantized_model_scores(tmp_path, data):
    pos, neg = data
    trained = classifier.train(pos[:250], neg[:250], tmp_path / "q.bin", bucket=BUCKET,
                               quantize=True, quantize_cutoff=QUANTIZE_CUTOFF)
    assert trained.quantized_path == tmp_path / "q.ftz"
    assert trained.quantized_path.stat().st_size < trained.model_path.stat().st_size / 5
    held_pos, held_neg = pos[250:], neg[250:]
    scores = classifier.QualityClassifier(trained.quantized_path).score(held_pos + held_neg)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert classifier.roc_auc([1] * len(held_pos) + [0] * len(held_neg), scores) > 0.9
    again = classifier.train(pos[:250], neg[:250], tmp_path / "q2.bin", bucket=BUCKET,
                             quantize=True, quantize_cutoff=QUANTIZE_CUTOFF)
    assert again.quantized_path.read_bytes() == trained.quantized_path.read_bytes()


def test_train_needs_both_classes(tmp_path):
    with pytest.raises(ValueError, match="both classes"):
        classifier.train(["some text"], ["", "  \n "], tmp_path / "x.bin", bucket=BUCKET)


def test_model_without_hq_label_is_refused(tmp_path):
    path = tmp_path / "other.bin"
    import fasttext

    train_file = tmp_path / "t.txt"
    train_file.write_text("__label__a x y\n__label__b z w\n")
    fasttext.train_supervised(input=str(train_file), bucket=0, verbose=0, thread=1).save_model(str(path))
    with pytest.raises(ValueError, match="__label__hq"):
        classifier.QualityClassifier(path).score(["x"])


def write_jsonl(path, texts, compress):
    lines = "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        path.write_text(lines, encoding="utf-8")


def test_cli_end_to_end(tmp_path, data, capsys):
    pos, neg = data
    write_jsonl(tmp_path / "pos.jsonl.gz", pos, compress=True)
    write_jsonl(tmp_path / "neg.jsonl", neg, compress=False)
    out = tmp_path / "models" / "quality.bin"
    rc = train_main(["--positive", str(tmp_path / "pos.jsonl.gz"),
                     "--negative", str(tmp_path / "neg.jsonl"), "--out", str(out),
                     "--holdout", "0.2", "--seed", "0", "--bucket", str(BUCKET),
                     "--quantize", "--quantize-cutoff", str(QUANTIZE_CUTOFF)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert out.exists() and out.with_suffix(".ftz").exists()
    assert "held-out (model" in printed and "held-out (quantized" in printed
    assert "ROC AUC" in printed and "bytes" in printed
    auc = float(printed.split("held-out (model")[1].split("ROC AUC")[1].split()[0])
    assert auc > 0.9


def test_cli_rejects_records_without_text(tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    write_jsonl(tmp_path / "ok.jsonl", ["a b c"], compress=False)
    rc = train_main(["--positive", str(tmp_path / "bad.jsonl"), "--negative",
                     str(tmp_path / "ok.jsonl"), "--out", str(tmp_path / "m.bin")])
    assert rc == 2
    assert "no string `text` field" in capsys.readouterr().err
