"""Tests of pretrain.finetune: seeding, all weights trained on a copy, learning on a separable
fixture, encoder and decoder checkpoints, the CLI's JSON."""

import json
import math
import os
from dataclasses import asdict

import pytest
import torch

from pretrain import evaluate, finetune
from pretrain import model as model_lib
from pretrain.checkpoint import save_checkpoint
from tests.pretrain_helpers import SPECIAL_IDS, reuters_fixture, tiny_sentencepiece, write_shards

SEQ_LEN = 32


@pytest.fixture(scope="module")
def sp_model():
    return tiny_sentencepiece()


@pytest.fixture(scope="module")
def tokenizer(sp_model):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_proto=sp_model)


@pytest.fixture(scope="module")
def reuters(tmp_path_factory):
    return reuters_fixture(tmp_path_factory.mktemp("reuters"), train=96, test=24)


def tiny(tokenizer, kind="encoder", seed=0):
    torch.manual_seed(seed)
    return model_lib.Transformer(model_lib.preset("tiny", vocab_size=tokenizer.get_piece_size(),
                                                  kind=kind, max_len=64))


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_linear_warmup_then_decay_to_zero():
    f = lambda s: finetune.linear_warmup_decay(s, warmup=3, total=10)
    assert [f(s) for s in range(3)] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert f(3) == pytest.approx(1.0) and f(10) == 0.0 and f(9) == pytest.approx(1 / 7)
    assert all(f(s) > f(s + 1) for s in range(3, 10))


def test_head_is_robertas_and_seeded(tokenizer):
    m = tiny(tokenizer)
    head = finetune.Classifier(m).head
    layers = [type(c).__name__ for c in head.children()]
    assert layers == ["Dropout", "Linear", "Linear"] and head.dropout.p == finetune.FT_DROPOUT
    assert head.dense.weight.shape == (128, 128) and head.out_proj.weight.shape == (2, 128)
    x = torch.randn(3, 128)
    head.eval()
    expected = head.out_proj(torch.tanh(head.dense(x)))
    assert torch.equal(head(x), expected)  # dense -> tanh -> out_proj (dropout off in eval)
    ids = finetune.encode_texts(tokenizer, ["the cat sat", "token order"], seq_len=SEQ_LEN,
                                special=SPECIAL_IDS)
    heads = {}
    for seed in (0, 0, 1):
        clf, _ = finetune.train_classifier(m, ids, [0, 1], seed=seed, pad_id=SPECIAL_IDS["pad"])
        heads.setdefault(seed, []).append(snapshot(clf.head))
    a, b = heads[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = heads[1][0]
    assert not torch.equal(a["dense.weight"], c["dense.weight"])
    # the caller's global generator is left alone
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    finetune.train_classifier(m, ids, [0, 1], seed=5, pad_id=SPECIAL_IDS["pad"])
    assert torch.equal(torch.rand(1), before)


def test_input_and_pooling_match_the_probe_features(tokenizer):
    # Before any training the head reads exactly the probe's features: same rows, same pooling.
    texts = ["the cat sat on the mat", "token", "sentence order prediction and dogs"]
    for kind in ("encoder", "decoder", "encdec"):
        m = tiny(tokenizer, kind)
        feats = evaluate.features(m, tokenizer, texts, seq_len=SEQ_LEN, special=SPECIAL_IDS)
        clf = finetune.Classifier(m).eval()
        ids = finetune.encode_texts(tokenizer, texts, seq_len=SEQ_LEN, special=SPECIAL_IDS)
        x, real = finetune._pad(ids, SPECIAL_IDS["pad"], "cpu")
        captured = []
        hook = clf.head.register_forward_pre_hook(lambda mod, args: captured.append(args[0]))
        clf(x, real)
        hook.remove()
        torch.testing.assert_close(captured[0].double(), feats, rtol=1e-5, atol=1e-6)


def test_all_weights_trained_on_a_copy(tokenizer, reuters):
    m = tiny(tokenizer)
    before = snapshot(m)
    train, _ = evaluate.load_reuters(reuters)["grain"]
    ids = finetune.encode_texts(tokenizer, [t for t, _ in train], seq_len=SEQ_LEN,
                                special=SPECIAL_IDS)
    clf, info = finetune.train_classifier(m, ids, [y for _, y in train], seed=0,
                                          pad_id=SPECIAL_IDS["pad"])
    assert info["steps"] == finetune.FT_EPOCHS * math.ceil(len(train) / finetune.FT_BATCH)
    after = clf.encoder.state_dict()
    for name in ("tok_emb.weight", "pos_emb.weight", "blocks.0.attn.qkv.weight",
                 "blocks.1.mlp.fc.weight", "ln_f.weight"):
        assert not torch.equal(after[name], before[name]), name
    assert clf.encoder is not m
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())  # untouched
    assert m.training  # nor its mode


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_finetune_learns_the_fixture_and_is_seeded(tokenizer, reuters, kind):
    m = tiny(tokenizer, kind)
    before = snapshot(m)
    result = finetune.finetune(m, tokenizer, reuters, seq_len=SEQ_LEN, special=SPECIAL_IDS,
                               seeds=[0, 1], tasks=["grain"])
    assert list(result["tasks"]) == ["grain"]
    assert result["recipe"]["lr"] == finetune.FT_LR
    assert result["recipe"]["pooling"] == ("mean over text tokens, "
                                           + ("causal" if kind == "decoder" else "bidirectional"))
    r = result["tasks"]["grain"]
    assert r["train"] == 96 and r["test"] == 24 and [x["seed"] for x in r["runs"]] == [0, 1]
    assert r["majority_accuracy"] == pytest.approx(2 / 3)
    for run in r["runs"]:
        assert set(run) >= {"accuracy", "precision", "recall", "f1", "majority_accuracy",
                            "train_loss", "steps"}
        assert run["accuracy"] > run["majority_accuracy"] and run["f1"] > 0.5, run
    assert r["accuracy_mean"] == pytest.approx((r["runs"][0]["accuracy"] + r["runs"][1]["accuracy"]) / 2)
    accs = [x["accuracy"] for x in r["runs"]]
    assert r["accuracy_std"] == pytest.approx(abs(accs[0] - accs[1]) / math.sqrt(2))  # ddof=1
    assert r["runs"][0]["train_loss"] != r["runs"][1]["train_loss"]  # seeds differ
    again = finetune.finetune(m, tokenizer, reuters, seq_len=SEQ_LEN, special=SPECIAL_IDS,
                              seeds=[1], tasks=["grain"])
    assert again["tasks"]["grain"]["runs"][0] == r["runs"][1]  # same seed, same metrics
    assert again["tasks"]["grain"]["accuracy_std"] is None
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())


def test_summarize_sample_std():
    got = finetune.summarize([{"accuracy": a, "f1": f} for a, f in ((0.8, 0.5), (0.9, 0.7),
                                                                     (1.0, 0.6))])
    assert got["accuracy_mean"] == pytest.approx(0.9) and got["accuracy_std"] == pytest.approx(0.1)
    assert got["f1_mean"] == pytest.approx(0.6) and got["f1_std"] == pytest.approx(0.1)


def test_cli_on_encoder_and_decoder_checkpoints(tmp_path, tokenizer, sp_model, reuters, capsys):
    docs = [torch.tensor(tokenizer.encode("the cat sat on the mat")).numpy().astype("uint16")]
    shards = write_shards(tmp_path / "shards", docs, num_shards=1,
                          vocab_size=tokenizer.get_piece_size(), tokenizer=sp_model)
    for kind in ("encoder", "decoder"):
        m = tiny(tokenizer, kind)
        run = tmp_path / kind
        os.makedirs(run)
        path = str(run / "checkpoint.pt")
        save_checkpoint(path, {"model": m.state_dict(), "config": asdict(m.cfg),
                               "train_config": {"shards": shards, "seq_len": SEQ_LEN}})
        assert finetune.main(["--checkpoint", path, "--data", reuters, "--tasks", "grain",
                              "--seeds", "3", "4"]) == 0
        table = capsys.readouterr().out
        assert "| grain | 2 |" in table and "±" in table
        result = json.loads((run / finetune.RESULT).read_text())
        assert result["kind"] == kind and result["recipe"]["seq_len"] == SEQ_LEN
        g = result["tasks"]["grain"]
        assert [x["seed"] for x in g["runs"]] == [3, 4]
        assert g["accuracy_std"] is not None and g["f1_mean"] > 0.5
        assert g["accuracy_mean"] > g["majority_accuracy"]
    out = tmp_path / "elsewhere.json"
    assert finetune.main(["--checkpoint", path, "--data", reuters, "--tasks", "corn", "--seeds",
                          "0", "--seq_len", "16", "--shards", shards, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result["tasks"]) == ["corn"] and result["recipe"]["seq_len"] == 16
    assert result["tasks"]["corn"]["f1_std"] is None
    with pytest.raises(ValueError):
        finetune.finetune(m, tokenizer, reuters, seq_len=65, special=SPECIAL_IDS, seeds=[0])
