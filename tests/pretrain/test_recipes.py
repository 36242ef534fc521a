"""Tests of ALBERT's factorized embedding, ELECTRA and continued pretraining (--init)."""

import os

import numpy as np
import pytest
import torch

from pretrain import __main__ as cli
from pretrain import objectives as obj
from pretrain import train as train_lib
from pretrain.checkpoint import model_from_checkpoint
from pretrain.config import TrainConfig
from pretrain.model import Transformer, preset
from tests.pretrain_helpers import SPECIAL_IDS, pattern_docs, sentence_starts, write_shards

VOCAB = 300
IGNORE = obj.IGNORE_INDEX


def _shards(path, seed=0, **kw):
    docs = pattern_docs(300, vocab_size=VOCAB, seed=seed, min_len=60, max_len=300, alphabet=32)
    return write_shards(path, docs, num_shards=3, vocab_size=VOCAB, starts=sentence_starts(docs),
                        **kw)


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory):
    return _shards(tmp_path_factory.mktemp("shards"))


def _rows(n=8, length=64, seed=0):
    rng = np.random.default_rng(seed)
    rows = rng.integers(len(SPECIAL_IDS), VOCAB, size=(n, length))
    rows[:, 0] = SPECIAL_IDS["bos"]
    return rows


# ---------------------------------------------------------------------------------------------
# ALBERT's factorized embedding

@pytest.mark.parametrize("kind", ["encoder", "decoder", "encdec"])
def test_factorized_embedding_parameters_and_flops(kind):
    d, e = 128, 32
    full = Transformer(preset("tiny", vocab_size=VOCAB, kind=kind))
    fact = Transformer(preset("tiny", vocab_size=VOCAB, kind=kind, emb_dim=e))
    # Embeddings shrink from (V + max_len) x d to (V + max_len) x E ...
    emb = lambda m: m.num_params(False) - m.num_params()
    assert emb(full) == (VOCAB + 512) * d and emb(fact) == (VOCAB + 512) * e
    # ... and the projections are counted as non-embedding parameters: E x d in, and (for the
    # decoder heads) d x E out; an encoder's MLM head dense maps d -> E instead of d -> d.
    emb_in, emb_out = e * d + d, d * e + e
    # encoder: emb_in, and the MLM head's dense (d x E + E instead of d x d + d) and LayerNorm
    proj = (emb_in + emb_out - (d * d + d) + 2 * (e - d) if kind == "encoder"
            else emb_in + emb_out)
    assert fact.num_params() - full.num_params() == proj
    T = 64
    delta = fact.flops_per_sequence(T) - full.flops_per_sequence(T)
    predicted = {"encoder": 0.15 * T, "decoder": T, "encdec": T}[kind]
    head = 6 * VOCAB * (e - d) * predicted
    extra = {"encoder": 6 * e * d * T + 6 * d * (e - d) * predicted,
             "decoder": 6 * e * d * T + 6 * d * e * predicted,
             "encdec": 2 * 6 * e * d * T + 6 * d * e * predicted}[kind]
    assert delta == pytest.approx(head + extra)
    x = torch.from_numpy(_rows())
    logits, _ = fact(x) if kind != "encdec" else fact(x, labels=x)
    assert logits.shape[-1] == VOCAB and fact.tok_emb.weight.shape == (VOCAB, e)


def test_factorized_embedding_trains_and_reloads(shards_dir, tmp_path):
    torch.set_num_threads(2)
    cfg = cli.parse_args(["--shards", shards_dir, "--out", str(tmp_path), "--steps", "30",
                          "--seq_len", "64", "--batch_size", "8", "--lr", "3e-3",
                          "--embedding_dim", "32", "--eval_tokens", "500"])
    summary = train_lib.train(cfg)
    assert summary["last_loss"] < summary["first_loss"] - 0.5
    ckpt = torch.load(summary["checkpoint"], map_location="cpu", weights_only=True)
    model = model_from_checkpoint(ckpt)
    assert model.cfg.emb_dim == 32 and model.emb_in is not None


# ---------------------------------------------------------------------------------------------
# ELECTRA

def test_electra_objective_masks_as_mlm_with_electra_proportions():
    rows = _rows(20_000, 64)
    kw = dict(seed=3, epoch=1, index=np.arange(len(rows)), vocab_size=VOCAB,
              special_ids=SPECIAL_IDS)
    out = obj.electra(rows, **kw)
    ref = obj.mlm(rows, **kw)
    assert np.array_equal(out["labels"], ref["labels"])  # the same positions as mlm's
    chosen = out["labels"] != IGNORE
    as_mask = (out["input_ids"][chosen] == SPECIAL_IDS["mask"]).mean()
    kept = (out["input_ids"][chosen] == rows[chosen]).mean()
    assert abs(as_mask - 0.85) < 0.01 and abs(kept - 0.15) < 0.01 and as_mask + kept == 1.0
    u = out["sample_u"]
    assert u.dtype == np.float32 and u.shape == rows.shape and 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01


def _electra(**kw):
    torch.manual_seed(0)
    return Transformer(preset("tiny", vocab_size=VOCAB, kind="encoder", generator_fraction=0.25,
                              **kw))


def _electra_batch(n=8, seed=0):
    rows = _rows(n, seed=seed)
    out = obj.electra(rows, seed=seed, epoch=0, index=np.arange(n), vocab_size=VOCAB,
                      special_ids=SPECIAL_IDS)
    return {k: torch.from_numpy(v) for k, v in out.items()}


def test_electra_generator_is_a_quarter_wide_with_tied_embeddings():
    m = _electra()
    g = m.generator
    assert g.cfg.d_model == 32 and g.cfg.n_layer == m.cfg.n_layer and g.cfg.n_head == 1
    assert g.tok_emb.weight is m.tok_emb.weight and g.pos_emb.weight is m.pos_emb.weight
    assert g.head.tok_emb[0].weight is m.tok_emb.weight and m.head is None
    assert g.emb_in.weight.shape == (32, 128)  # embeddings of the discriminator's size, projected
    # The shared tables count once.
    assert m.num_params(False) == sum(p.numel() for p in {id(p): p for p in m.parameters()}.values())
    # FLOPs: the discriminator's body and head at every token, plus the generator's.
    disc = Transformer(preset("tiny", vocab_size=VOCAB, kind="encoder"))
    T, d = 64, 128
    body = disc.flops_per_sequence(T) - (6 * VOCAB * d + 6 * d * d) * 0.15 * T
    assert m.flops_per_sequence(T) == pytest.approx(
        body + 6 * (d * d + d) * T + g.flops_per_sequence(T))


def test_electra_loss_is_mlm_plus_50_times_the_discriminator():
    m = _electra()
    batch = _electra_batch()
    out = m.electra_losses(batch["input_ids"], batch["labels"], batch["sample_u"])
    assert torch.allclose(out["loss"], out["generator_mlm"] + 50 * out["discriminator"])
    # Every real token is a discriminator target: the logits cover the whole row.
    assert out["logits"].shape == batch["input_ids"].shape
    # Sampling is a function of the inputs and the weights alone.
    torch.manual_seed(123)
    again = m.electra_losses(batch["input_ids"], batch["labels"], batch["sample_u"])
    assert torch.equal(out["loss"], again["loss"])
    other = m.electra_losses(batch["input_ids"], batch["labels"], 1 - batch["sample_u"])
    assert not torch.equal(out["discriminator"], other["discriminator"])
    # A random generator replaces nearly every masked position, never with a special token.
    masked = (batch["labels"] != IGNORE).float().mean()
    assert abs(float(out["replaced_share"]) - float(masked)) < 0.02
    _, loss = m(**{k: batch[k] for k in ("input_ids", "labels", "sample_u")})
    loss.backward()
    assert m.generator.blocks[0].mlp.fc.weight.grad.abs().sum() > 0
    assert m.blocks[0].mlp.fc.weight.grad.abs().sum() > 0


def test_electra_samples_by_inverse_cdf():
    """With a generator that puts all mass on one id, every masked position becomes that id."""
    m = _electra()
    with torch.no_grad():
        m.generator.head.bias.zero_()
        m.generator.head.bias[77] = 1e4
    batch = _electra_batch()
    masked = batch["labels"] != IGNORE
    seen, original_encode = {}, m.encode

    def encode(ids, *a, **k):
        seen["ids"] = ids
        return original_encode(ids, *a, **k)
    m.encode = encode
    out = m.electra_losses(batch["input_ids"], batch["labels"], batch["sample_u"])
    fake = seen["ids"]
    assert (fake[masked] == 77).all() and torch.equal(fake[~masked], batch["input_ids"][~masked])
    expect = (batch["labels"][masked] != 77).float().sum() / (fake != SPECIAL_IDS["pad"]).sum()
    assert float(out["replaced_share"]) == pytest.approx(float(expect))


def _resumes_exactly(shards_dir, tmp_path, objective, seq_len):
    """An 8-step run, and the same run stopped at step 3 and resumed: the same losses. Returns
    the whole run's summary and the resumed run's checkpoint."""
    torch.set_num_threads(2)
    base = dict(shards=shards_dir, objective=objective, seq_len=seq_len, batch_size=4,
                grad_accum=2, steps=8, lr=2e-3, warmup_steps=2, log_every=3, eval_tokens=500)
    whole = train_lib.train(TrainConfig(**base, out=str(tmp_path / "whole")))
    part = str(tmp_path / "part")
    first = train_lib.train(TrainConfig(**base, out=part, stop_at_step=3))
    rest = train_lib.train(TrainConfig(**base, out=part, resume=True))
    assert first["losses"] + rest["losses"] == whole["losses"]
    ckpt = torch.load(os.path.join(part, "checkpoint.pt"), map_location="cpu", weights_only=True)
    return whole, ckpt


def test_electra_trains_evaluates_and_resumes_exactly(shards_dir, tmp_path):
    whole, ckpt = _resumes_exactly(shards_dir, tmp_path, "electra", 32)
    ev = whole["eval"]
    assert ev["electra_loss"] == pytest.approx(ev["generator_mlm_loss"]
                                               + 50 * ev["discriminator_loss"])
    assert 0 <= ev["discriminator_accuracy"] <= 1 and ev["tokens"] > 0
    restored = model_from_checkpoint(ckpt)
    assert restored.generator is not None
    assert restored.generator.tok_emb.weight is restored.tok_emb.weight  # still tied


def _forty_steps(shards_dir, tmp_path, objective):
    torch.set_num_threads(2)
    return train_lib.train(TrainConfig(
        shards=shards_dir, out=str(tmp_path), objective=objective, seq_len=64, batch_size=8,
        steps=40, lr=3e-3, warmup_steps=4, log_every=10, eval_tokens=2000))


def test_electra_learns(shards_dir, tmp_path):
    summary = _forty_steps(shards_dir, tmp_path, "electra")
    assert summary["last_loss"] < summary["first_loss"] - 3.0, summary["losses"][::5]
    assert summary["eval"]["discriminator_accuracy"] > 0.85


def test_generator_fraction_is_an_electra_option(shards_dir, tmp_path):
    cfg = cli.parse_args(["--shards", shards_dir, "--objective", "electra",
                          "--generator_fraction", "0.5"])
    model = train_lib.build_model(cfg, {"tokenizer": {"vocab_size": VOCAB,
                                                      "special_ids": SPECIAL_IDS}})
    assert model.generator.cfg.d_model == 64
    cfg = cli.parse_args(["--shards", shards_dir, "--generator_fraction", "0.5"])
    with pytest.raises(ValueError, match="electra"):
        train_lib.build_model(cfg, {"tokenizer": {"vocab_size": VOCAB,
                                                  "special_ids": SPECIAL_IDS}})


def test_flops_budget_gives_objectives_equal_compute(shards_dir, tmp_path):
    args = ["--shards", shards_dir, "--seq_len", "32", "--batch_size", "4", "--flops", "4e10",
            "--eval_tokens", "100", "--stop_at_step", "1"]
    mlm = train_lib.train(cli.parse_args([*args, "--out", str(tmp_path / "mlm")]))
    electra = train_lib.train(cli.parse_args([*args, "--out", str(tmp_path / "electra"),
                                              "--objective", "electra"]))
    assert electra["flops_per_token"] > mlm["flops_per_token"]
    for run in (mlm, electra):  # the fewest steps that reach the budget
        per_step = run["flops_per_token"] * 4 * 32
        assert (run["total_steps"] - 1) * per_step < 4e10 <= run["total_steps"] * per_step
    assert electra["total_steps"] < mlm["total_steps"]
    with pytest.raises(ValueError, match="tokens or in FLOPs"):
        train_lib.train(cli.parse_args([*args, "--tokens", "1000", "--out", str(tmp_path / "x")]))


# ---------------------------------------------------------------------------------------------
# Continued pretraining: --init

def test_init_continues_from_a_checkpoint_on_another_corpus(shards_dir, tmp_path):
    torch.set_num_threads(2)
    args = ["--seq_len", "32", "--batch_size", "8", "--lr", "3e-3", "--eval_tokens", "300",
            "--log_every", "1"]
    general = train_lib.train(cli.parse_args(["--shards", shards_dir, "--out",
                                              str(tmp_path / "general"), "--steps", "40", *args]))
    # The task's own text: another corpus with the same tokenizer (here: same vocabulary).
    task = _shards(tmp_path / "task", seed=7)
    init = ["--shards", task, "--init", general["checkpoint"], "--steps", "5", *args]
    adapted = train_lib.train(cli.parse_args([*init, "--out", str(tmp_path / "adapted")]))
    fresh = train_lib.train(cli.parse_args(["--shards", task, "--out", str(tmp_path / "fresh"),
                                            "--steps", "5", *args]))
    # It starts where general pretraining ended, not from scratch; its schedule is its own.
    assert adapted["losses"][0] < fresh["losses"][0] - 1.0
    assert adapted["losses"][0] < general["first_loss"] - 1.0
    assert adapted["steps"] == adapted["total_steps"] == 5
    # Its first step's weights are the checkpoint's: with lr 0 nothing moves.
    frozen = train_lib.train(cli.parse_args([*init, "--out", str(tmp_path / "lr0"), "--lr",
                                             "0"]))
    a = torch.load(general["checkpoint"], weights_only=True)["model"]
    b = torch.load(frozen["checkpoint"], weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # Resuming the adapted run keeps its own progress (it does not re-read --init).
    again = train_lib.train(cli.parse_args([*init, "--out", str(tmp_path / "adapted"),
                                            "--resume", "--steps", "5"]))
    assert again["steps_this_run"] == 0


def test_init_checks_tokenizer_and_objective(shards_dir, tmp_path):
    general = train_lib.train(TrainConfig(shards=shards_dir, out=str(tmp_path / "g"), steps=1,
                                          seq_len=32, batch_size=4, eval_tokens=100))
    other = _shards(tmp_path / "other", seed=1, tokenizer=b"another tokenizer")
    # the manifest names another tokenizer; its file is left out, since training would refuse
    # these bytes at startup as a tokenizer sentencepiece cannot load (pretrain.verify)
    os.remove(os.path.join(other, "tokenizer.model"))
    with pytest.raises(ValueError, match="another tokenizer"):
        train_lib.train(TrainConfig(shards=other, out=str(tmp_path / "x"), steps=1, seq_len=32,
                                    init=general["checkpoint"]))
    with pytest.raises(ValueError, match="generator"):
        train_lib.train(TrainConfig(shards=shards_dir, out=str(tmp_path / "y"), steps=1,
                                    seq_len=32, objective="electra", init=general["checkpoint"]))
    with pytest.raises(ValueError, match="kind"):
        train_lib.train(TrainConfig(shards=shards_dir, out=str(tmp_path / "z"), steps=1,
                                    seq_len=32, objective="clm", init=general["checkpoint"]))


# ---------------------------------------------------------------------------------------------
# XLNet permuted LM

def _plm(rows, seed=0, epoch=0, index=None, **kw):
    index = np.arange(len(rows)) if index is None else index
    return obj.plm(rows, seed=seed, epoch=epoch, index=index, special_ids=SPECIAL_IDS, **kw)


def _factorization(out, b):
    """Row b's targets in their order and its context columns, read from the objective."""
    valid = out["labels"][b] != IGNORE
    targets = out["target_positions"][b][valid]
    context = np.setdiff1d(np.arange(out["input_ids"].shape[1]), targets)
    return targets, context


def test_plm_masks_follow_the_factorization_order():
    rows = _rows(n=12, length=50, seed=3)
    rows[2, 30:] = SPECIAL_IDS["pad"]
    rows[5, [10, 20]] = SPECIAL_IDS["eos"]
    out = _plm(rows, seed=4)
    P = obj.plm_targets(50)
    assert P == 9 and out["labels"].shape == out["target_positions"].shape == (12, P)
    assert out["attention_mask"].shape == (12, 50, 50) and out["query_mask"].shape == (12, P, 50)
    assert np.array_equal(out["input_ids"], rows)  # the text itself: no <mask> token
    for b in range(12):
        targets, context = _factorization(out, b)
        real = rows[b] != SPECIAL_IDS["pad"]
        n = int((~np.isin(rows[b], list(SPECIAL_IDS.values()))).sum())
        assert len(targets) in (n // 6, n // 6 + 1) and len(set(targets)) == len(targets)
        assert not np.isin(rows[b, targets], list(SPECIAL_IDS.values())).any()
        assert np.array_equal(out["labels"][b][: len(targets)], rows[b, targets])
        for p, t in enumerate(targets):
            # the query of the p-th target sees exactly what precedes it in the order: the
            # context (pads excepted) and the targets before it; never itself
            sees = np.flatnonzero(out["query_mask"][b, p])
            before = np.union1d(context[real[context]], targets[:p])
            assert np.array_equal(sees, before) and t not in sees
            # its content stream sees the same and itself
            assert np.array_equal(np.flatnonzero(out["attention_mask"][b, t]),
                                  np.union1d(before, [t]))
        for c in context:  # the context sees the context only
            expect = np.union1d(context[real[context]], [c])
            assert np.array_equal(np.flatnonzero(out["attention_mask"][b, c]), expect)
        # unused query rows: no label, position 0, a query that reads column 0 only
        assert (out["target_positions"][b][len(targets):] == 0).all()
        assert out["query_mask"][b, len(targets):, 0].all()
        assert out["query_mask"][b, len(targets):, 1:].sum() == 0


def test_plm_order_is_uniform_and_one_in_k_is_predicted():
    rows = np.tile(_rows(n=1, length=24, seed=1), (6000, 1))
    out = _plm(rows, seed=9, index=np.arange(6000))
    valid = out["labels"] != IGNORE
    assert valid.sum(1).mean() == pytest.approx(23 / 6, abs=0.05)  # int(23/6 + U), col 0 is bos
    chosen = np.zeros((6000, 24), dtype=bool)
    np.put_along_axis(chosen, out["target_positions"], valid, axis=1)
    share = chosen[:, 1:].mean(0)
    assert np.allclose(share, 1 / 6, atol=0.025) and not chosen[:, 0].any()
    first = out["target_positions"][:, 0]  # the first target in the order: any column alike
    assert np.allclose(np.bincount(first, minlength=24)[1:] / 6000, 1 / 23, atol=0.012)
    later = out["target_positions"][:, 1]
    assert (first != later).all() and abs(float(np.mean(first < later)) - 0.5) < 0.03


def test_plm_is_seeded_by_seed_epoch_and_index_and_respects_k():
    rows = _rows(n=6, length=40)
    a = _plm(rows, seed=1, epoch=2, index=np.arange(6) + 100)
    alone = _plm(rows[3:4], seed=1, epoch=2, index=np.array([103]))
    assert all(np.array_equal(alone[k][0], a[k][3]) for k in a)
    b = _plm(rows, seed=1, epoch=3, index=np.arange(6) + 100)
    assert not np.array_equal(a["target_positions"], b["target_positions"])
    k3 = _plm(rows, partial_k=3)
    assert k3["labels"].shape[1] == 14 and ((k3["labels"] != IGNORE).sum(1) >= 12).all()
    tiny = _plm(np.array([[SPECIAL_IDS["bos"], 50]]))  # one token: it stays context
    assert (tiny["labels"] == IGNORE).all()


def _xlnet(**kw):
    torch.manual_seed(0)
    return Transformer(preset("tiny", vocab_size=VOCAB, kind="decoder", two_stream=True,
                              **kw)).eval()


def test_two_stream_queries_never_see_their_target_or_later_ones():
    model = _xlnet()
    rows = _rows(n=2, length=40, seed=5)
    out = {k: torch.from_numpy(v) for k, v in _plm(rows, seed=2).items()}
    kw = {k: out[k] for k in ("attention_mask", "query_mask", "target_positions")}
    logits = lambda ids: model.two_stream_logits(ids, kw["attention_mask"], kw["query_mask"],
                                                 kw["target_positions"])
    base = logits(out["input_ids"])
    targets, _ = _factorization({k: v.numpy() for k, v in out.items()}, 0)
    p = 2
    changed = out["input_ids"].clone()
    changed[0, targets[p]] = (changed[0, targets[p]] + 1 - len(SPECIAL_IDS)) % (
        VOCAB - len(SPECIAL_IDS)) + len(SPECIAL_IDS)
    after = logits(changed)
    # queries up to p do not read token targets[p]; the ones after it in the order do
    assert torch.allclose(base[0, : p + 1], after[0, : p + 1], atol=1e-6)
    assert not torch.allclose(base[0, p + 1: len(targets)], after[0, p + 1: len(targets)])
    assert torch.equal(base[1], after[1])


@torch.no_grad()
def test_two_stream_identity_order_is_a_causal_lm():
    model = _xlnet()
    x = torch.from_numpy(_rows(n=1, length=20, seed=6))
    logits, _ = model(x)
    assert logits.shape == (1, 20, VOCAB)
    y = x.clone()
    y[0, 12:] = SPECIAL_IDS["eos"] + 10
    later, _ = model(y)
    assert torch.allclose(logits[0, :12], later[0, :12], atol=1e-6)  # logits[t] read <= t
    assert not torch.allclose(logits[0, 12], later[0, 12])
    # ... and they are the plm objective's masks for the order 0, 1, ..., T - 1
    labels = torch.full((1, 20), IGNORE)
    labels[0, :-1] = x[0, 1:]
    _, loss = model(x, labels=labels)
    causal = torch.ones(20, 20, dtype=torch.bool).tril()[None]
    explicit = model.two_stream_logits(x, causal, causal, torch.arange(1, 21)[None])
    assert torch.allclose(explicit, logits, atol=1e-6)
    assert float(loss) == pytest.approx(float(torch.nn.functional.cross_entropy(
        logits[0, :-1], x[0, 1:])), rel=1e-5)
    assert not model.causal_features  # features: full attention, as XLNet fine-tunes


def test_two_stream_flops_and_parameters():
    plain = Transformer(preset("tiny", vocab_size=VOCAB, kind="decoder"))
    model = _xlnet()
    assert model.num_params() - plain.num_params() == 128  # w, the query stream's start
    T, P, L, d = 60, 10, 2, 128
    stack = 12 * L * d * d
    expect = 6 * stack * (T + P) + 12 * L * d * (T + P) * T + 6 * VOCAB * d * P
    assert model.flops_per_sequence(T, P) == expect
    cfg = TrainConfig(shards="x", objective="plm", seq_len=T)
    assert train_lib.flops_per_token(model, cfg) == pytest.approx(expect / T)
    with pytest.raises(ValueError):
        Transformer(preset("tiny", vocab_size=VOCAB, kind="encoder", two_stream=True))


def test_plm_trains_evaluates_and_resumes_exactly(shards_dir, tmp_path):
    whole, ckpt = _resumes_exactly(shards_dir, tmp_path, "plm", 48)
    # scored as a causal LM in the identity order (bits per byte when the shards have text)
    assert whole["eval"]["loss"] > 0 and whole["eval"]["tokens"] > 0
    restored = model_from_checkpoint(ckpt)
    assert restored.cfg.two_stream and restored.query_emb is not None


def test_plm_learns(shards_dir, tmp_path):
    summary = _forty_steps(shards_dir, tmp_path, "plm")
    assert summary["last_loss"] < summary["first_loss"] - 1.5, summary["losses"][::5]
