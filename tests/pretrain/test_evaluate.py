"""Tests of pretrain.evaluate: bits per byte by hand, fixed masks, ARFF, the probe, the CLI."""

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


@pytest.mark.parametrize("kind", ["encoder", "decoder", "encdec", "two_stream"])
def test_probe_on_a_separable_fixture(tmp_path, tokenizer, kind):
    data_dir = reuters_fixture(tmp_path)
    torch.manual_seed(0)
    options = {"kind": "decoder", "two_stream": True} if kind == "two_stream" else {"kind": kind}
    m = model_lib.Transformer(model_lib.preset("tiny", vocab_size=tokenizer.get_piece_size(),
                                               **options))
    result = evaluate.probe(m, tokenizer, data_dir, seq_len=64, special=SPECIAL_IDS)
    assert set(result) == {"grain", "corn"}
    for task, r in result.items():
        assert r["train"] == 60 and r["test"] == 30
        assert set(r) >= {"accuracy", "f1", "precision", "recall", "majority_accuracy"}
    assert result["grain"]["accuracy"] >= 0.9 and result["grain"]["f1"] >= 0.8, result
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
