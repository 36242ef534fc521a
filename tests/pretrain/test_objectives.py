"""Tests of pretrain.objectives: statistics over 100k sequences, determinism, reference semantics."""

import numpy as np
import pytest

from pretrain import objectives as obj
from tests.pretrain_helpers import SPECIAL_IDS

VOCAB = 1000
SPECIALS = np.array(sorted(SPECIAL_IDS.values()))
MASK, BOS, EOS, PAD = (SPECIAL_IDS[k] for k in ("mask", "bos", "eos", "pad"))
N, T = 100_000, 128
IGNORE = obj.IGNORE_INDEX


def _batch(n=N, length=T, seed=0):
    """bos, then ordinary tokens with eos/unk/pad sprinkled in: specials must stay put."""
    rng = np.random.default_rng(seed)
    seq = rng.integers(len(SPECIAL_IDS), VOCAB, size=(n, length))
    seq[:, 0] = BOS
    cols = rng.integers(1, length, size=(n, 4))
    seq[np.arange(n)[:, None], cols] = [EOS, EOS, 1, PAD]
    return seq


@pytest.fixture(scope="module")
def tokens():
    return _batch()


@pytest.fixture(scope="module")
def word_starts():
    # About 60% of the ordinary pieces begin a word: a mean word length of ~1.7 pieces.
    table = np.random.default_rng(1).random(VOCAB) < 0.6
    table[SPECIALS] = False
    return table


def _run(name, tokens, starts=None, seed=0, epoch=0, index=None, **kw):
    index = np.arange(len(tokens)) if index is None else index
    return obj.OBJECTIVES[name].fn(tokens, starts, seed=seed, epoch=epoch, index=index,
                                   vocab_size=VOCAB, special_ids=SPECIAL_IDS, **kw)


def _check_80_10_10(tokens, out, tol=0.01):
    inputs, labels = out["input_ids"], out["labels"]
    special = np.isin(tokens, SPECIALS)
    chosen = labels != IGNORE
    assert not (chosen & special).any(), "a special token was chosen"
    assert (inputs[special] == tokens[special]).all(), "a special token was changed"
    assert (labels[chosen] == tokens[chosen]).all()
    assert (inputs[~chosen] == tokens[~chosen]).all()
    replaced = chosen & (inputs != tokens) & (inputs != MASK)
    assert not np.isin(inputs[replaced], SPECIALS).any(), "a random token was special"
    n = chosen.sum()
    as_mask = (chosen & (inputs == MASK)).sum() / n
    # a random draw equal to the original (1 in 995) counts as kept: correct for it
    as_random = replaced.sum() / n / (1 - 1 / (VOCAB - len(SPECIALS)))
    assert abs(as_mask - 0.8) < tol and abs(as_random - 0.1) < tol
    assert abs((1 - as_mask - as_random) - 0.1) < tol
    return chosen.sum() / (~special).sum()


def test_mlm_statistics_match_fairseq(tokens):
    out = _run("mlm", tokens)
    frac = _check_80_10_10(tokens, out)
    assert abs(frac - 0.15) < 0.003
    n = (~np.isin(tokens, SPECIALS)).sum(axis=1)
    count = (out["labels"] != IGNORE).sum(axis=1)
    assert ((count == np.floor(0.15 * n)) | (count == np.floor(0.15 * n) + 1)).all()


def test_random_replacements_cover_all_non_special_ids_uniformly():
    keys = obj.row_keys(0, 0, np.arange(200_000), 9)
    ids = obj._random_tokens(keys, np.arange(200_000), np.zeros(200_000, dtype=np.int64), 0, 20,
                             {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 7})
    counts = np.bincount(ids, minlength=20)
    assert set(np.flatnonzero(counts)) == set(range(20)) - {0, 1, 2, 3, 4, 7}
    nonzero = counts[counts > 0]
    assert nonzero.min() / nonzero.max() > 0.95


def test_wwm_masks_whole_words(tokens, word_starts):
    out = _run("wwm", tokens, word_starts=word_starts)
    frac = _check_80_10_10(tokens, out)
    assert abs(frac - 0.15) < 0.003
    special = np.isin(tokens, SPECIALS)
    starts = obj.word_start_positions(tokens, word_starts, special)
    owner = np.maximum.accumulate(np.where(starts, np.arange(T), 0), axis=1)
    chosen = out["labels"] != IGNORE
    # every piece of a chosen word is chosen, and one decision (mask or not) covers the word
    assert np.array_equal(chosen, np.take_along_axis(chosen, owner, axis=1))
    is_mask = out["input_ids"] == MASK
    assert np.array_equal(is_mask, np.take_along_axis(is_mask, owner, axis=1) & chosen)
    words = (starts & ~special).sum(axis=1)
    chosen_words = (starts & chosen).sum(axis=1)
    assert ((chosen_words == np.floor(0.15 * words)) | (chosen_words == np.floor(0.15 * words) + 1)).all()


def test_span_length_distribution_is_spanbert():
    lengths, probs = obj.span_length_distribution()
    assert lengths.tolist() == list(range(1, 11))
    assert abs((lengths * probs).sum() - 3.8) < 0.05  # SpanBERT section 3.1: mean 3.8


def test_span_statistics(tokens, word_starts):
    out = _run("span", tokens, word_starts=word_starts)
    frac = _check_80_10_10(tokens, out, tol=0.015)  # decisions per span: fewer draws
    assert abs(frac - 0.15) < 0.003
    chosen = out["labels"] != IGNORE
    special = np.isin(tokens, SPECIALS)
    starts = obj.word_start_positions(tokens, word_starts, special)
    # masked runs: whole words (they start at a word start), one 80/10/10 decision each
    run_start = chosen & ~np.concatenate([np.zeros((N, 1), bool), chosen[:, :-1]], axis=1)
    assert starts[run_start].all()
    owner = np.maximum.accumulate(np.where(run_start, np.arange(T), 0), axis=1)
    is_mask = out["input_ids"] == MASK
    assert np.array_equal(is_mask, np.take_along_axis(is_mask, owner, axis=1) & chosen)


def test_span_mean_length_is_about_3_8_words(word_starts):
    # SpanBERT's setting: 512-token rows without inner boundaries (spans stop at specials, and
    # the last span of a row is cut by the budget: short rows see shorter spans). Runs of
    # masked words are spans, now and then two abutting ones merged.
    rows = _batch(20_000, 512, seed=3)
    rows[:, 1:][np.isin(rows[:, 1:], SPECIALS)] = 7
    out = _run("span", rows, word_starts=word_starts)
    chosen = out["labels"] != IGNORE
    starts = obj.word_start_positions(rows, word_starts, np.isin(rows, SPECIALS))
    run_start = chosen & ~np.concatenate([np.zeros((len(rows), 1), bool), chosen[:, :-1]], axis=1)
    mean_words = (starts & chosen).sum() / run_start.sum()
    assert abs(mean_words - 3.8) < 0.2, mean_words
    assert abs(chosen.mean() * 512 / 511 - 0.15) < 0.003


def test_t5_noise_density_spans_and_sentinels(tokens):
    out = _run("t5", tokens)
    noise = out["noise_mask"]
    num_noise, num_spans = obj.t5_lengths(T)
    assert (num_noise, num_spans) == (19, 6)  # round(128 * 0.15), round(19 / 3)
    assert (noise.sum(axis=1) == num_noise).all()
    first = noise & ~np.concatenate([np.zeros((N, 1), bool), noise[:, :-1]], axis=1)
    assert (first.sum(axis=1) == num_spans).all()
    assert abs(noise.mean() - 0.15) < 0.003 and abs(num_noise / num_spans - 3) < 0.2
    end = obj.T5_EXTRA_IDS + VOCAB
    sentinels = end - 1 - np.arange(num_spans)
    inputs, targets = out["input_ids"], out["labels"]
    assert inputs.shape == (N, T - num_noise + num_spans)
    assert targets.shape == (N, num_noise + num_spans)
    assert (inputs[inputs >= VOCAB].reshape(N, num_spans) == sentinels).all()  # in order
    assert (targets[targets >= VOCAB].reshape(N, num_spans) == sentinels).all()
    assert targets[0, 0] == end - 1
    # inputs + targets give back the sequence
    for r in range(50):
        spans, cur = {}, None
        for t in targets[r]:
            cur = t if t >= VOCAB else cur
            if t < VOCAB:
                spans.setdefault(cur, []).append(t)
        rebuilt = [t for s in inputs[r] for t in (spans[s] if s >= VOCAB else [s])]
        assert rebuilt == tokens[r].tolist()
    # span lengths: mean 3 per row, all >= 1
    run_id = np.cumsum(first, axis=1)
    lengths = np.array([np.bincount(run_id[r][noise[r]])[1:] for r in range(2000)])
    assert (lengths >= 1).all() and abs(lengths.mean() - num_noise / num_spans) < 1e-9


def test_t5_does_not_always_mask_the_tail():
    # The reference starts with non-noise and ends with noise: with one span the last token is
    # always noise. Here the one span of a short row sits anywhere, uniformly.
    short = _batch(40_000, 8)
    noise = _run("t5", short)["noise_mask"]
    assert (noise.sum(axis=1) == 1).all()
    where = noise.mean(axis=0)
    assert np.abs(where - 1 / 8).max() < 0.01, where
    longer = _run("t5", _batch(20_000, 64))["noise_mask"]
    assert abs(longer[:, 0].mean() - longer[:, -1].mean()) < 0.02
    assert longer[:, -1].mean() < 0.5


def _sop_rows(n=N, length=64, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(len(SPECIAL_IDS), VOCAB, size=(n, length))
    tokens[:, 0] = BOS
    ends = rng.integers(3, length, size=n)  # content [1, end), eos at end, pad after
    cols = np.arange(length)
    tokens[cols >= ends[:, None]] = PAD
    tokens[np.arange(n), ends] = np.where(ends < length, EOS, tokens[np.arange(n), ends % length])
    starts = (rng.random((n, length)) < 0.12) & (cols >= 1) & (cols < ends[:, None])
    starts[:, 1] = True
    starts[: n // 10, 2:] = False  # a tenth of the rows: one sentence only
    return tokens, starts, ends


def test_sop_swaps_half_the_pairs_at_sentence_starts():
    tokens, starts, ends = _sop_rows()
    out = obj.sop(tokens, starts, seed=0, epoch=0, index=np.arange(N), special_ids=SPECIAL_IDS)
    labels, inputs, types = out["sop_labels"], out["input_ids"], out["token_type_ids"]
    assert abs(labels[labels != IGNORE].mean() - 0.5) < 0.01
    assert inputs.shape == (N, 65)
    for r in range(3000):
        end = ends[r]
        seq = inputs[r]
        sep = np.flatnonzero(seq[1:] == EOS)[0] + 1  # the inserted separator comes first
        first, second = seq[1:sep], seq[sep + 1:end + 1]
        a, b = (second, first) if labels[r] == 1 else (first, second)
        assert np.array_equal(np.concatenate([[BOS], a, b]), tokens[r, :end])
        assert np.array_equal(seq[end + 1:], tokens[r, end:])
        split = a.size + 1
        if starts[r, 2:end].any():
            assert starts[r, split], "split not at a sentence start"
        assert (types[r, :sep + 1] == 0).all() and (types[r, sep + 1:end + 1] == 1).all()
        assert (types[r, end + 2:] == 0).all()


def test_sop_mlm_is_sop_then_mlm():
    tokens, starts, _ = _sop_rows(2000)
    kw = dict(seed=4, epoch=1, index=np.arange(2000), special_ids=SPECIAL_IDS)
    both = obj.sop_mlm(tokens, starts, vocab_size=VOCAB, **kw)
    order = obj.sop(tokens, starts, **kw)
    original = np.where(both["labels"] != IGNORE, both["labels"], both["input_ids"])
    assert np.array_equal(original, order["input_ids"])
    assert np.array_equal(both["sop_labels"], order["sop_labels"])


def test_clm_and_prefix():
    tokens = _batch(1000, 32)
    tokens[:5, 20:] = PAD
    out = _run("clm", tokens)
    assert np.array_equal(out["labels"][:, :-1][tokens[:, 1:] != PAD], tokens[:, 1:][tokens[:, 1:] != PAD])
    assert (out["labels"][:, -1] == IGNORE).all() and (out["labels"][:5, 19:] == IGNORE).all()
    pre = _run("prefix", tokens)
    p = pre["prefix_len"]
    n = (tokens != PAD).sum(axis=1)
    assert ((p >= 1) & (p <= n - 1)).all()
    assert len(set(p.tolist())) > 20
    cols = np.arange(32)
    for r in range(200):
        m = pre["attention_mask"][r]
        assert np.array_equal(m, (cols[None, :] <= cols[:, None]) | (cols[None, :] < p[r]))
        lab = pre["labels"][r]
        assert (lab[: p[r] - 1] == IGNORE).all()
        assert np.array_equal(lab[p[r] - 1:], out["labels"][r, p[r] - 1:])


@pytest.mark.parametrize("name", list(obj.OBJECTIVES))
def test_deterministic_per_seed_epoch_index_and_independent_of_the_batch(name, word_starts):
    tokens, starts, _ = _sop_rows(64, 48, seed=2)
    if name not in ("sop", "clm"):
        tokens = _batch(64, 48, seed=2)
    kw = {"word_starts": word_starts} if obj.OBJECTIVES[name].needs_word_starts else {}
    index = np.arange(1000, 1064)
    a = _run(name, tokens, starts, seed=5, epoch=2, index=index, **kw)
    b = _run(name, tokens.copy(), starts, seed=5, epoch=2, index=index, **kw)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    alone = _run(name, tokens[7:8], starts[7:8], seed=5, epoch=2, index=index[7:8], **kw)
    assert all(np.array_equal(alone[k][0], a[k][7]) for k in a)
    if name == "clm":
        return  # no randomness
    for other in (_run(name, tokens, starts, seed=5, epoch=3, index=index, **kw),
                  _run(name, tokens, starts, seed=6, epoch=2, index=index, **kw),
                  _run(name, tokens, starts, seed=5, epoch=2, index=index + 1, **kw)):
        assert not all(np.array_equal(a[k], other[k]) for k in a)


def test_input_is_not_modified_and_specials_only_rows_work():
    seq = np.array([[2, 10, 11, 3]], dtype=np.uint16)
    before = seq.copy()
    out = _run("mlm", seq)
    assert np.array_equal(seq, before) and out["input_ids"].dtype == np.int64
    only_specials = np.array([[2, 3, 0, 0]])
    out = _run("mlm", only_specials)
    assert np.array_equal(out["input_ids"], only_specials) and (out["labels"] == IGNORE).all()


def test_keys_reject_negative_inputs():
    with pytest.raises(ValueError):
        obj.row_keys(0, 0, np.array([-1]), 1)
    with pytest.raises(ValueError):
        obj.row_keys(-1, 0, np.array([1]), 1)


@pytest.mark.parametrize("name", list(obj.OBJECTIVES))
def test_spec_says_what_the_model_is_given(name, word_starts):
    """Each spec's model kind exists, and the batch its objective makes holds every array the
    trainer hands the model (input_ids, labels and the spec's `model_inputs`)."""
    from pretrain import data, model

    spec = obj.OBJECTIVES[name]
    assert spec.kind in model.KINDS
    manifest = {"tokenizer": {"special_ids": SPECIAL_IDS, "vocab_size": VOCAB}}
    bound = data.Objective(name, manifest, word_starts=word_starts if spec.needs_word_starts else None)
    tokens = _batch(n=8)
    starts = np.zeros_like(tokens, dtype=bool)
    starts[:, [1, 40, 90]] = True
    out = bound(tokens, starts, seed=0, epoch=0, index=np.arange(8))
    assert {"input_ids", "labels"} | {key for key, _ in spec.model_inputs} <= set(out)
    assert set(dict(spec.model_options)) <= set(model.ModelConfig.__dataclass_fields__)
    if spec.model_lengths is not None:
        input_len, target_len = spec.model_lengths(T, {})
        assert 0 < input_len <= T and 0 < target_len < T
    ev = spec.evaluation
    if ev.objective is None:  # bits per byte reads causal windows: a decoder's
        assert spec.kind == "decoder"
    else:  # scored by an objective of its own kind, with parameters that objective takes
        assert obj.OBJECTIVES[ev.objective].kind == spec.kind
        assert set(ev.keep_params) <= set(obj.OBJECTIVES[ev.objective].params)
    assert obj.OBJECTIVES[obj.KIND_DEFAULT_OBJECTIVE[spec.kind]].kind == spec.kind
