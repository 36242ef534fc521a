"""Tests of pretrain.model / pretrain.train / the CLI: loss falls, checkpoints reload safely."""

import json
import os

import pytest
import torch

from pretrain import __main__ as cli
from pretrain import model as model_lib
from pretrain import train as train_lib
from tests.pretrain_helpers import pattern_docs, write_shards

VOCAB = 300


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory):
    docs = pattern_docs(400, vocab_size=VOCAB, seed=0, min_len=60, max_len=300, alphabet=32)
    return write_shards(tmp_path_factory.mktemp("shards"), docs, num_shards=4, vocab_size=VOCAB)


@pytest.fixture(scope="module")
def run(shards_dir, tmp_path_factory):
    torch.set_num_threads(2)
    cfg = train_lib.TrainConfig(shards=shards_dir, out=str(tmp_path_factory.mktemp("run")),
                                model="tiny", seq_len=64, batch_size=16, steps=40,
                                max_minutes=5, lr=2e-3, warmup_steps=4, log_every=10)
    return cfg, train_lib.train(cfg)


def test_loss_falls(run):
    _, summary = run
    losses = summary["losses"]
    assert len(losses) == 40
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.5, (first, last)


def test_metrics_logged(run):
    cfg, _ = run
    with open(os.path.join(cfg.out, train_lib.METRICS)) as f:
        records = [json.loads(line) for line in f]
    assert [r["step"] for r in records] == [10, 20, 30, 40]
    assert all(r["tokens_per_s"] > 0 and "loss" in r and "lr" in r for r in records)


def test_checkpoint_loads_with_weights_only_and_restores_model(run):
    cfg, summary = run
    ckpt = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["step"] == 40 and ckpt["data"]["epoch"] >= 0 and ckpt["data"]["position"] > 0
    restored = train_lib.model_from_checkpoint(ckpt).eval()
    fresh = model_lib.Encoder(model_lib.ModelConfig(**ckpt["config"])).eval()
    x = torch.randint(5, VOCAB, (2, 64))
    assert not torch.allclose(restored(x)[0], fresh(x)[0])
    fresh.load_state_dict(ckpt["model"])
    assert torch.equal(restored(x)[0], fresh(x)[0])
    optimizer = train_lib.make_optimizer(restored, 1e-3)
    optimizer.load_state_dict(ckpt["optimizer"])


def test_resume_continues_from_checkpoint(run, tmp_path):
    cfg, _ = run
    import shutil
    out = str(tmp_path / "resumed")
    shutil.copytree(cfg.out, out)
    resumed = train_lib.train(train_lib.TrainConfig(**{**cfg.__dict__, "out": out,
                                                       "steps": 45, "resume": True}))
    assert resumed["steps"] == 45 and resumed["steps_this_run"] == 5


def test_padding_is_masked_out():
    torch.manual_seed(0)
    m = model_lib.Encoder(model_lib.preset("tiny", vocab_size=50)).eval()
    x = torch.randint(5, 50, (1, 10))
    padded = torch.cat([x, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    assert torch.allclose(m(x)[0], m(padded)[0][:, :10], atol=1e-5)


def test_small_preset_size():
    m = model_lib.Encoder(model_lib.preset("small", vocab_size=1000))
    assert 24e6 < m.num_params() < 27e6


def test_cli(shards_dir, tmp_path, capsys):
    assert cli.main(["--shards", shards_dir, "--out", str(tmp_path), "--steps", "3",
                     "--seq_len", "32", "--batch_size", "4", "--log_every", "1"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint:" in out and os.path.exists(tmp_path / "checkpoint.pt")
    assert len(open(tmp_path / "metrics.jsonl").readlines()) == 3


@pytest.mark.parametrize("objective,extra", [("sop", []), ("clm", []), ("prefix", []),
                                             ("mlm", ["--packing", "full_sentences",
                                                      "--param", "mask_prob=0.3"])])
def test_cli_trains_other_objectives(shards_dir, tmp_path, capsys, objective, extra):
    assert cli.main(["--shards", shards_dir, "--out", str(tmp_path), "--steps", "3",
                     "--seq_len", "32", "--batch_size", "4", "--objective", objective,
                     *extra]) == 0
    ckpt = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["data"]["objective"] == objective and ckpt["step"] == 3


def test_cli_refuses_objectives_without_a_model(shards_dir, tmp_path, capsys):
    assert cli.main(["--shards", shards_dir, "--out", str(tmp_path), "--objective", "t5"]) == 2
    assert "issue 6" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.parse_args(["--shards", shards_dir, "--param", "noise_density=0.2"])
    cfg = cli.parse_args(["--shards", shards_dir, "--objective", "span", "--param",
                          "max_span_words=5", "--param", "geometric_p=0.3"])
    assert cfg.objective_params == {"max_span_words": 5, "geometric_p": 0.3}


def test_causal_mask_hides_the_future():
    torch.manual_seed(0)
    m = model_lib.Encoder(model_lib.preset("tiny", vocab_size=50)).eval()
    x = torch.randint(5, 50, (1, 12))
    y = x.clone()
    y[0, 8:] = torch.randint(5, 50, (4,))
    full = model_lib.IGNORE_INDEX * torch.ones_like(x)
    full[0, :8] = 7  # predict at the first 8 positions only
    la, _ = m(x, labels=full, causal=True)
    lb, _ = m(y, labels=full, causal=True)
    assert torch.allclose(la, lb, atol=1e-5)
    lc, _ = m(y, labels=full)
    assert not torch.allclose(la, lc, atol=1e-5)
