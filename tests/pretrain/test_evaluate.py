"""Tests of pretrain.evaluate: bits per byte by hand, fixed masks, ARFF, the probe (pooling,
AUROC and AP by hand, cross-validated L2, baselines), the CLI."""

import math

import numpy as np
import pytest
import torch

from pretrain import evaluate
from pretrain import model as model_lib
from pretrain import train as train_lib
from pretrain.config import TrainConfig
from tests.pretrain_helpers import (SPECIAL_IDS, pattern_docs, reuters_fixture, tiny_sentencepiece,
                                    write_shards)

V = 16


class NextIdOracle(torch.nn.Module):
    """A stand-in decoder: P(next = (current + 1) mod V) = 1/2, every other id 1/(2 (V - 1))."""

    cfg = model_lib.ModelConfig(vocab_size=V, kind="decoder")

    def forward(self, input_ids):
        probs = torch.full((*input_ids.shape, V), 0.5 / (V - 1))
        probs.scatter_(2, ((input_ids + 1) % V)[..., None], 0.5)
        return probs.log(), None


def test_bits_per_byte_by_hand(tmp_path):
    # Document 1: tokens 5..12 (8 tokens), text "héllo!!" = 8 UTF-8 bytes. With seq_len 4 it is
    # two windows: inputs [bos 5 6 7] -> targets [5 6 7 8], inputs [8 9 10 11] -> [9 10 11 12].
    # Only the first target (5 after bos = 2) is not the oracle's favourite: NLL = ln(2 (V - 1))
    # + 7 ln 2. Document 2: tokens [9] after bos, text "ab" (2 bytes): NLL = ln(2 (V - 1)).
    docs = [np.arange(5, 13, dtype=np.uint16), np.array([9], dtype=np.uint16)]
    shards = write_shards(tmp_path, docs, num_shards=1, vocab_size=V, texts=["héllo!!", "ab"])
    read = evaluate.read_documents(shards)
    assert sorted(d["bytes"] for d in read) == [2, 8]
    nll = 2 * math.log(2 * (V - 1)) + 7 * math.log(2)
    expected = nll / (math.log(2) * 10)  # = (2 log2(30) + 7) / 10 = 1.6814...
    got = evaluate.held_out_loss(NextIdOracle(), read, seq_len=4, special=SPECIAL_IDS)
    assert got["tokens"] == 9 and got["bytes"] == 10
    assert got["bpb"] == pytest.approx(expected, rel=1e-6)
    assert got["bpb"] == pytest.approx((2 * math.log2(30) + 7) / 10, rel=1e-6)
    assert evaluate.bits_per_byte(3 * math.log(256), 6) == pytest.approx(4.0)
    # The windows do not depend on seq_len: every token is predicted once whatever the cut,
    # only the context changes (which this oracle ignores).
    again = evaluate.held_out_loss(NextIdOracle(), read, seq_len=3, special=SPECIAL_IDS)
    assert again["bpb"] == pytest.approx(expected, rel=1e-6)


def test_bytes_from_the_tokenizer_without_text(tmp_path):
    sp_model = tiny_sentencepiece()
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=sp_model)
    text = "the cat sat on the mat"
    docs = [np.array(sp.encode(text), dtype=np.uint16)]
    shards = write_shards(tmp_path, docs, num_shards=1, vocab_size=sp.get_piece_size(),
                          tokenizer=sp_model)
    assert evaluate.read_documents(shards)[0]["bytes"] == len(text.encode("utf-8"))


def test_encoder_evaluation_uses_fixed_masks(tmp_path):
    docs = pattern_docs(40, vocab_size=100, seed=3, min_len=20, max_len=80)
    shards = write_shards(tmp_path, docs, num_shards=2, vocab_size=100)
    read = evaluate.read_documents(shards, max_tokens=None)
    torch.manual_seed(0)
    enc = model_lib.Transformer(model_lib.preset("tiny", vocab_size=100))
    a = evaluate.held_out_loss(enc, read, seq_len=32, special=SPECIAL_IDS, batch_size=4)
    b = evaluate.held_out_loss(enc, read, seq_len=32, special=SPECIAL_IDS, batch_size=7)
    assert a["mlm_loss"] == pytest.approx(b["mlm_loss"], rel=1e-5) and a["tokens"] == b["tokens"]
    assert a["tokens"] > 0 and enc.training  # the mode is restored
    encdec = model_lib.Transformer(model_lib.preset("tiny", vocab_size=200, kind="encdec"))
    t5 = evaluate.held_out_loss(encdec, read, seq_len=32, special=SPECIAL_IDS, vocab_size=100)
    assert t5["t5_loss"] > 0 and t5["sequences"] == a["sequences"]
    # an encoder trained with wwm, span or sop is scored by the same fixed-mask MLM
    for objective in ("wwm", "span", "sop"):
        got = evaluate.held_out_loss(enc, read, seq_len=32, special=SPECIAL_IDS, batch_size=4,
                                     objective=objective, objective_params={"mask_prob": 0.3})
        assert got == a
    with pytest.raises(ValueError):
        evaluate.held_out_loss(enc, read, seq_len=32, special=SPECIAL_IDS, objective="clm")


def test_split_shards_holds_out_the_last():
    manifest = {"shards": [{"name": f"shard-00000{i}.tar"} for i in (2, 0, 1)]}
    assert evaluate.split_shards(manifest, 1) == (["shard-000000.tar", "shard-000001.tar"],
                                                  ["shard-000002.tar"])
    assert evaluate.split_shards(manifest, 3)[1] == []
    assert evaluate.split_shards(manifest, 0)[1] == []


def test_read_arff(tmp_path):
    path = tmp_path / "x.arff"
    path.write_text("% a comment\n@relation 'r'\n@attribute Text string\n"
                    "@attribute class-att {0,1}\n\n@data\n"
                    "'it\\'s a \"test\"\\nline two, with a comma',1\n"
                    "'back\\\\slash',0\n")
    assert evaluate.read_arff(str(path)) == [("it's a \"test\"\nline two, with a comma", 1),
                                             ("back\\slash", 0)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=tiny_sentencepiece())


KINDS = {"encoder": {"kind": "encoder"}, "decoder": {"kind": "decoder"},
         "encdec": {"kind": "encdec"}, "two_stream": {"kind": "decoder", "two_stream": True}}


def tiny_model(tokenizer, kind, seed=0):
    torch.manual_seed(seed)
    return model_lib.Transformer(model_lib.preset("tiny", vocab_size=tokenizer.get_piece_size(),
                                                  **KINDS[kind]))


@pytest.mark.parametrize("kind", list(KINDS))
def test_pooling_is_the_mean_over_text_tokens(tokenizer, kind):
    # Every kind: the mean of the last hidden states over the text's own tokens, never bos, eos
    # or pad (nor mask), under the kind's attention; a row's features do not depend on its batch.
    m = tiny_model(tokenizer, kind).eval()
    texts = ["the cat sat on the mat and the dogs", "token", "sentence order prediction"]
    rows = evaluate.encode_texts(tokenizer, texts, seq_len=64, special=SPECIAL_IDS)
    assert all(r[0] == SPECIAL_IDS["bos"] and r[-1] == SPECIAL_IDS["eos"] for r in rows)
    feats = evaluate.features(m, tokenizer, texts, seq_len=64, special=SPECIAL_IDS)
    x, real = evaluate.pad_rows(rows, SPECIAL_IDS["pad"])
    with torch.no_grad():
        h = m.encode(x, attention_mask=real, causal=kind == "decoder").double()
    for i, row in enumerate(rows):
        expected = h[i, 1:len(row) - 1].mean(0)  # the text tokens: after bos, before eos
        torch.testing.assert_close(feats[i], expected, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(feats[i], h[i, :len(row)].mean(0), atol=1e-4)  # not bos/eos
        if kind == "decoder":
            assert not torch.allclose(feats[i], h[i, len(row) - 1], atol=1e-4)  # not the eos
        alone = evaluate.features(m, tokenizer, [texts[i]], seq_len=64, special=SPECIAL_IDS)[0]
        torch.testing.assert_close(alone, feats[i], rtol=1e-4, atol=1e-5)  # pad left out


def test_content_mask_skips_control_tokens():
    s = SPECIAL_IDS
    ids = torch.tensor([[s["bos"], 7, s["mask"], 8, s["unk"], s["eos"], s["pad"]],
                        [s["bos"], s["eos"], s["pad"], s["pad"], s["pad"], s["pad"], s["pad"]]])
    real = ids != s["pad"]
    got = evaluate.content_mask(ids, real, SPECIAL_IDS)
    assert got.tolist() == [[False, True, False, True, True, False, False],  # unk is text
                            [True, True, False, False, False, False, False]]  # empty: the real ones


def test_auroc_and_average_precision_by_hand():
    # Positives score 0.9, 0.8, 0.4; negatives 0.8, 0.4, 0.1 (two ties across the classes).
    # AUROC: pairs won + half the tied ones = (3 + 2.5 + 1.5) / 9 = 7/9. AP: the steps at 0.9
    # (P 1, R 1/3), 0.8 (P 2/3, R 2/3) and 0.4 (P 3/5, R 1): (1 + 2/3 + 3/5) / 3 = 34/45.
    scores, labels = [0.9, 0.8, 0.8, 0.4, 0.4, 0.1], [1, 0, 1, 1, 0, 0]
    assert evaluate.auroc(scores, labels) == pytest.approx(7 / 9)
    assert evaluate.average_precision(scores, labels) == pytest.approx(34 / 45)
    assert evaluate.auroc([3, 2, 1], [1, 0, 0]) == 1.0
    assert evaluate.auroc([1, 2, 3], [1, 0, 0]) == 0.0
    assert evaluate.auroc([5, 5, 5, 5], [1, 0, 1, 0]) == 0.5  # all tied: chance
    assert evaluate.average_precision([5, 5, 5, 5], [1, 0, 0, 0]) == pytest.approx(0.25)  # the rate
    assert evaluate.average_precision([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert math.isnan(evaluate.auroc([1, 2], [0, 0]))
    assert math.isnan(evaluate.average_precision([1, 2], [0, 0]))
    # the order of the rows does not matter
    perm = [4, 1, 5, 0, 3, 2]
    shuffled = [scores[i] for i in perm], [labels[i] for i in perm]
    assert evaluate.auroc(*shuffled) == pytest.approx(7 / 9)
    # F1 at each cut: 0.9 -> 2/4, 0.8 -> 4/6, 0.4 -> 6/8 (best), 0.1 -> 6/9: the cut lies halfway
    # between 0.4 and 0.1
    cut, f1 = evaluate.best_f1_threshold(scores, labels)
    assert cut == pytest.approx(0.25) and f1 == pytest.approx(0.75)


def planted(n, seed):
    """Separable by x0 - x1 alone (= 0.5 y), which a large L2 misses: x0 and x1 share a nuisance
    z of SD 1, so the class means differ along x0 only, by half a nuisance SD; 10% positives."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 10 == 0).astype(np.int64)
    z = rng.normal(size=n)
    x = np.column_stack([z + 0.5 * y, z, rng.normal(size=(n, 6))])
    return torch.from_numpy(x), y


def test_cross_validation_picks_a_small_l2_where_a_large_one_predicts_one_class():
    (tx, ty), (vx, vy) = planted(400, 0), planted(200, 1)
    got = evaluate.logistic_probe(tx, ty, vx, vy)
    assert got["l2"] <= 1e-3 and got["cv_average_precision"] > 0.9, got
    assert got["auroc"] > 0.99 and got["average_precision"] > 0.95 and got["f1"] > 0.9, got
    heavy = evaluate.logistic_probe(tx, ty, vx, vy, l2=1.0)
    assert heavy["l2"] == 1.0 and heavy["average_precision"] < 0.6, heavy
    xs, vs = evaluate._standardize(tx, vx)
    w, b = evaluate.fit_logistic(xs, ty, 1.0)
    assert bool(((vs @ w + b) < 0).all())  # at 1.0 every logit is negative: one class
    assert evaluate.logistic_probe(tx, ty, vx, vy) == got  # deterministic
    folds = evaluate.stratified_folds(ty, 5)
    assert sorted(np.bincount(folds[ty == 1])) == [8] * 5  # the 40 positives dealt evenly


def test_bag_of_words_features_by_hand():
    train, test = [[5, 5, 6], [6, 7]], [[5, 9], []]
    (tr, te) = evaluate.tfidf(train, test)
    idf = {5: math.log(3 / 2) + 1, 6: 1.0, 7: math.log(3 / 2) + 1, 9: math.log(3) + 1}
    a = np.array([(1 + math.log(2)) * idf[5], idf[6]])
    a /= np.linalg.norm(a)
    assert tr.indices.tolist() == [5, 6, 6, 7] and tr.data[:2] == pytest.approx(a)
    assert te.indices.tolist() == [5, 9] and np.linalg.norm(te.data) == pytest.approx(1.0)
    assert len(te) == 2 and te.shape == (2, 10)
    w = torch.arange(10, dtype=torch.float64)
    dense = np.zeros(tr.shape)
    dense[[0, 0, 1, 1], tr.indices] = tr.data
    torch.testing.assert_close(tr @ w, torch.from_numpy(dense) @ w)
    assert tr.take([1]).indices.tolist() == [6, 7]
    assert tr.take(np.array([False, True])).shape == (1, 10)


def test_random_model_is_the_seeded_initialization(tokenizer):
    m = tiny_model(tokenizer, "decoder", seed=3)
    torch.manual_seed(99)
    before = torch.rand(1)
    torch.manual_seed(99)
    r = evaluate.random_model(m, 3)
    assert torch.equal(torch.rand(1), before)  # the caller's generator is left alone
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in r.state_dict().items())
    assert not torch.equal(evaluate.random_model(m, 4).tok_emb.weight, m.tok_emb.weight)


@pytest.mark.parametrize("kind", list(KINDS))
def test_probe_on_a_separable_fixture(tmp_path, tokenizer, kind):
    data_dir = reuters_fixture(tmp_path)
    m = tiny_model(tokenizer, kind)
    baselines = kind == "decoder"  # the baselines do not depend on the kind: once is enough
    result = evaluate.probe(m, tokenizer, data_dir, seq_len=64, special=SPECIAL_IDS,
                            baselines=baselines)
    assert set(result) == {"grain", "corn"}
    for task, r in result.items():
        assert r["train"] == 60 and r["test"] == 30
        assert set(r) >= {"auroc", "average_precision", "accuracy", "f1", "precision", "recall",
                          "majority_accuracy", "positive_rate", "l2", "cv_average_precision",
                          "threshold"}
        assert r["l2"] in evaluate.PROBE_L2_GRID
        assert all(isinstance(v, (int, float)) for v in r.values())  # the study averages them
        assert baselines == all(f"{p}_{k}" in r for p in ("random", "bow")
                                for k in evaluate.BASELINE_KEYS)
    g = result["grain"]
    assert g["auroc"] >= 0.95 and g["accuracy"] >= 0.9 and g["f1"] >= 0.8, result
    if baselines:
        assert g["bow_auroc"] >= 0.95 and g["random_auroc"] == g["auroc"]  # m is untrained
        evaluate._BASELINES.clear()  # once more from scratch, baselines included
        again = evaluate.probe(m, tokenizer, data_dir, seq_len=64, special=SPECIAL_IDS)
        assert again == result  # one fixed recipe: deterministic


def test_evaluate_cli_and_probe_after_training(tmp_path, capsys):
    sp_model = tiny_sentencepiece()
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=sp_model)
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "dogs", "and", "token", "order"]
    texts = [" ".join(rng.choice(words, size=40)) for _ in range(60)]
    docs = [np.array(sp.encode(t), dtype=np.uint16) for t in texts]
    shards = write_shards(tmp_path / "shards", docs, num_shards=3, vocab_size=sp.get_piece_size(),
                          tokenizer=sp_model, texts=texts)
    probe_dir = reuters_fixture(tmp_path / "reuters")
    summary = train_lib.train(TrainConfig(
        shards=shards, out=str(tmp_path / "run"), objective="clm", seq_len=32, batch_size=4,
        steps=3, probe_data=probe_dir))
    final = summary["eval"]
    assert final["bpb"] > 0 and set(final["probe"]) == {"grain", "corn"}
    assert evaluate.main(["--checkpoint", summary["checkpoint"]]) == 0
    out = capsys.readouterr().out
    assert '"bpb"' in out


def test_gpu_benchmark_smoke_mode_runs_on_cpu(capsys):
    from benchmarks import gpu_pretrain

    assert gpu_pretrain.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "| tiny | decoder |" in out and "short training" in out and '"bpb"' in out
    assert "Error" not in out and "skipped" not in out
