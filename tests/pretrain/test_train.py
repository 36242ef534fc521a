"""Tests of pretrain.model / pretrain.train / the CLI: every kind learns, exact resume, DDP."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from pretrain import __main__ as cli
from pretrain import model as model_lib
from pretrain import train as train_lib
from pretrain.checkpoint import model_from_checkpoint
from pretrain.config import TrainConfig, model_kind
from tests.pretrain_helpers import pattern_docs, sample_shards, sentence_starts, write_shards

VOCAB = 300
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory):
    docs = pattern_docs(400, vocab_size=VOCAB, seed=0, min_len=60, max_len=300, alphabet=32)
    return write_shards(tmp_path_factory.mktemp("shards"), docs, num_shards=4, vocab_size=VOCAB,
                        starts=sentence_starts(docs))


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    """The bundled sample's English text (real documents), 4 shards, its own tokenizer."""
    return sample_shards(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def run(shards_dir, tmp_path_factory):
    torch.set_num_threads(2)
    cfg = TrainConfig(shards=shards_dir, out=str(tmp_path_factory.mktemp("run")),
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
    steps = [r for r in records if "tokens_per_s" in r]
    assert [r["step"] for r in steps] == [10, 20, 30, 40]
    assert all(r["tokens_per_s"] > 0 and "loss" in r and "lr" in r for r in steps)
    evals = [r for r in records if "eval_mlm_loss" in r]  # the held-out shard, at the end
    assert [r["step"] for r in evals] == [40] and evals[0]["eval_tokens"] > 0


@pytest.mark.parametrize("objective,kind", [("mlm", "encoder"), ("clm", "decoder"),
                                            ("t5", "encdec")])
def test_each_kind_learns_on_the_bundled_sample(sample_dir, tmp_path, objective, kind):
    torch.set_num_threads(2)
    cfg = TrainConfig(shards=sample_dir, out=str(tmp_path), objective=objective,
                                seq_len=64, batch_size=8, steps=50, lr=3e-3, warmup_steps=5,
                                log_every=25, eval_every=25, eval_tokens=2000, max_minutes=5)
    summary = train_lib.train(cfg)
    assert summary["last_loss"] < summary["first_loss"] - 0.5, summary["losses"][::10]
    ckpt = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["config"]["kind"] == kind and ckpt["step"] == 50
    restored = model_from_checkpoint(ckpt)
    assert restored.cfg.kind == kind
    # Held-out evaluation ran during (step 25) and after training, and improved.
    during, final = summary["evals"][0], summary["eval"]
    metric = {"encoder": "mlm_loss", "decoder": "bpb", "encdec": "t5_loss"}[kind]
    assert final[metric] < during[metric] + 0.05 and final["tokens"] > 0
    if kind == "decoder":
        assert 0 < final["bpb"] < 8 and final["bytes"] > 0


@pytest.mark.parametrize("objective", ["clm", "mlm", "t5"])
def test_resume_gives_the_uninterrupted_losses(shards_dir, tmp_path, objective):
    torch.set_num_threads(2)
    base = dict(shards=shards_dir, objective=objective, seq_len=32, batch_size=4, grad_accum=2,
                steps=10, lr=2e-3, warmup_steps=2, log_every=3, dropout=0.1, eval_tokens=500)
    whole = train_lib.train(TrainConfig(**base, out=str(tmp_path / "whole")))
    part = str(tmp_path / "part")
    first = train_lib.train(TrainConfig(**base, out=part, stop_at_step=4))
    assert first["steps"] == 4
    rest = train_lib.train(TrainConfig(**base, out=part, resume=True))
    assert rest["steps"] == 10 and rest["steps_this_run"] == 6
    assert first["losses"] + rest["losses"] == whole["losses"]  # exactly, not approximately
    a = torch.load(os.path.join(part, "checkpoint.pt"), weights_only=True)
    b = torch.load(os.path.join(tmp_path / "whole", "checkpoint.pt"), weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["data"] == b["data"]


def test_token_budget_sets_the_steps(shards_dir, tmp_path):
    cfg = TrainConfig(shards=shards_dir, out=str(tmp_path), seq_len=32, batch_size=4,
                                grad_accum=2, tokens=1000, log_every=1, eval_tokens=200)
    summary = train_lib.train(cfg)
    assert summary["steps"] == summary["total_steps"] == 4  # ceil(1000 / (4 * 2 * 32))


def test_checkpoint_loads_with_weights_only_and_restores_model(run):
    cfg, summary = run
    ckpt = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)
    assert ckpt["step"] == 40 and ckpt["data"]["epoch"] >= 0 and ckpt["data"]["position"] > 0
    assert set(ckpt) >= {"model", "optimizer", "schedule", "rng", "data", "train_config"}
    restored = model_from_checkpoint(ckpt).eval()
    fresh = model_lib.Transformer(model_lib.ModelConfig(**ckpt["config"])).eval()
    x = torch.randint(5, VOCAB, (2, 64))
    assert not torch.allclose(restored(x)[0], fresh(x)[0])
    fresh.load_state_dict(ckpt["model"])
    assert torch.equal(restored(x)[0], fresh(x)[0])
    optimizer = train_lib.make_optimizer(restored, 1e-3)
    optimizer.load_state_dict(ckpt["optimizer"])


def test_ddp_two_processes_on_cpu(shards_dir, tmp_path):
    """torchrun with 2 processes (gloo): lockstep batches, one checkpoint, averaged losses."""
    out = tmp_path / "ddp"
    with socket.socket() as sock:  # a free port, so parallel or repeated runs do not collide
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", port, "-m", "pretrain", "--shards", shards_dir, "--out", str(out),
           "--steps", "3", "--seq_len", "32", "--batch_size", "4", "--grad_accum", "2",
           "--log_every", "1", "--eval_tokens", "300", "--objective", "clm"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout and done.stdout.count("done: 3 of 3 steps") == 1
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    # 3 steps x 2 micro-batches x 4 sequences x 2 ranks, counted over all ranks.
    assert ckpt["data"]["position"] == 48 and ckpt["data"]["world_size"] == 2
    records = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert [r["step"] for r in records if "tokens_per_s" in r] == [1, 2, 3]


def test_padding_is_masked_out():
    torch.manual_seed(0)
    m = model_lib.Transformer(model_lib.preset("tiny", vocab_size=50)).eval()
    x = torch.randint(5, 50, (1, 10))
    padded = torch.cat([x, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    assert torch.allclose(m(x)[0], m(padded)[0][:, :10], atol=1e-5)


def test_preset_sizes():
    small = model_lib.Transformer(model_lib.preset("small", vocab_size=1000))
    assert 24e6 < small.num_params() < 27e6
    base = model_lib.Transformer(model_lib.preset("base", vocab_size=32000, kind="decoder"))
    assert 84e6 < base.num_params() < 86e6 and 105e6 < base.num_params(False) < 115e6


def test_cli(shards_dir, tmp_path, capsys):
    assert cli.main(["--shards", shards_dir, "--out", str(tmp_path), "--steps", "3",
                     "--seq_len", "32", "--batch_size", "4", "--log_every", "1"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint:" in out and "held-out mlm_loss" in out
    assert os.path.exists(tmp_path / "checkpoint.pt") and os.path.exists(tmp_path / "eval.json")
    assert len(open(tmp_path / "metrics.jsonl").readlines()) == 4  # 3 steps + the evaluation


@pytest.mark.parametrize("objective,extra", [("sop", []), ("clm", []), ("prefix", []),
                                             ("plm", ["--param", "partial_k=4"]),
                                             ("t5", ["--param", "noise_density=0.2"]),
                                             ("mlm", ["--packing", "full_sentences",
                                                      "--param", "mask_prob=0.3"])])
def test_cli_trains_other_objectives(shards_dir, tmp_path, capsys, objective, extra):
    assert cli.main(["--shards", shards_dir, "--out", str(tmp_path), "--steps", "3",
                     "--seq_len", "32", "--batch_size", "4", "--objective", objective,
                     "--eval_tokens", "300", *extra]) == 0
    ckpt = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["data"]["objective"] == objective and ckpt["step"] == 3


def test_cli_checks_kind_and_parameters(shards_dir):
    with pytest.raises(SystemExit):
        cli.parse_args(["--shards", shards_dir, "--param", "noise_density=0.2"])
    with pytest.raises(SystemExit):
        cli.parse_args(["--shards", shards_dir, "--objective", "clm", "--model_kind", "encoder"])
    cfg = cli.parse_args(["--shards", shards_dir, "--objective", "span", "--param",
                          "max_span_words=5", "--param", "geometric_p=0.3", "--tokens", "1e6"])
    assert cfg.objective_params == {"max_span_words": 5, "geometric_p": 0.3}
    assert cfg.tokens == 1_000_000 and model_kind(cfg) == "encoder"


def test_cli_defaults_are_the_config_defaults(shards_dir):
    """Every TrainConfig field a user can set has a flag, and the flags' defaults are the
    dataclass's: `python -m pretrain --shards D` is exactly TrainConfig(shards=D)."""
    import dataclasses

    from pretrain.config import TrainConfig

    assert cli.parse_args(["--shards", shards_dir]) == TrainConfig(shards=shards_dir)
    settable = {f.name for f in dataclasses.fields(TrainConfig)} - {"objective_params", "train_shards"}
    assert settable <= set(vars(cli.parse_args(["--shards", shards_dir])).keys())


def test_causal_mask_hides_the_future():
    torch.manual_seed(0)
    for kind in ("encoder", "decoder"):
        m = model_lib.Transformer(model_lib.preset("tiny", vocab_size=50, kind=kind)).eval()
        x = torch.randint(5, 50, (1, 12))
        y = x.clone()
        y[0, 8:] = torch.randint(5, 50, (4,))
        h = lambda ids, causal: m.encode(ids, causal=causal)[0, :8]
        assert torch.allclose(h(x, True), h(y, True), atol=1e-5)
        assert not torch.allclose(h(x, False), h(y, False), atol=1e-5)
    # The decoder is causal by default; with a padding mask, too.
    dec = model_lib.Transformer(model_lib.preset("tiny", vocab_size=50, kind="decoder")).eval()
    padded = torch.cat([x, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    assert torch.allclose(dec(x)[0][0, :8], dec(y)[0][0, :8], atol=1e-5)
    assert torch.allclose(dec(padded)[0][0, :12], dec(x)[0][0], atol=1e-5)


def test_encdec_decoder_is_causal_and_reads_the_encoder():
    torch.manual_seed(0)
    m = model_lib.Transformer(model_lib.preset("tiny", vocab_size=50, kind="encdec")).eval()
    src, tgt = torch.randint(5, 50, (1, 10)), torch.randint(5, 50, (1, 6))
    logits, loss = m(src, labels=tgt)
    assert logits.shape == (1, 6, 50) and loss.item() > 0
    later = tgt.clone()
    later[0, 4:] = torch.randint(5, 50, (2,))
    # Decoder position t sees labels < t only (shifted right), so positions 0..4 agree.
    assert torch.allclose(m(src, labels=later)[0][0, :5], logits[0, :5], atol=1e-5)
    other = torch.randint(5, 50, (1, 10))
    assert not torch.allclose(m(other, labels=tgt)[0], logits, atol=1e-4)
