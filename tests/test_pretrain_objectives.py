"""Tests of pretrain.objectives.mlm: fairseq MaskTokensDataset statistics and determinism."""

import numpy as np
import pytest

from pretrain import objectives
from tests.pretrain_helpers import SPECIAL_IDS

VOCAB = 1000
SPECIALS = np.array(sorted(SPECIAL_IDS.values()))


def _sequence(rng, length=128):
    # bos, then ordinary tokens with some eos/unk/pad sprinkled in: specials must stay put
    seq = rng.integers(len(SPECIAL_IDS), VOCAB, size=length)
    seq[0] = SPECIAL_IDS["bos"]
    seq[rng.choice(np.arange(1, length), 6, replace=False)] = [3, 3, 1, 0, 3, 1]
    return seq


def _mask(seq, sample_id, seed=0, epoch=0):
    return objectives.mlm(seq, seed=seed, epoch=epoch, sample_id=sample_id, vocab_size=VOCAB,
                          special_ids=SPECIAL_IDS)


def test_mlm_statistics_match_fairseq():
    rng = np.random.default_rng(123)
    maskable = chosen = as_mask = as_random = unchanged = 0
    for i in range(3000):
        seq = _sequence(rng)
        inputs, labels = _mask(seq, ("shard-000000.tar", i))
        special = np.isin(seq, SPECIALS)
        predicted = labels != objectives.IGNORE_INDEX
        assert not (predicted & special).any(), "a special token was chosen"
        assert (inputs[special] == seq[special]).all(), "a special token was changed"
        assert (labels[predicted] == seq[predicted]).all()
        assert (inputs[~predicted] == seq[~predicted]).all()
        n = int((~special).sum())
        assert int(predicted.sum()) in (int(0.15 * n), int(0.15 * n) + 1)
        replaced = predicted & (inputs != seq) & (inputs != SPECIAL_IDS["mask"])
        assert not np.isin(inputs[replaced], SPECIALS).any(), "random token was a special"
        assert ((inputs[replaced] >= 0) & (inputs[replaced] < VOCAB)).all()
        maskable += n
        chosen += int(predicted.sum())
        as_mask += int((inputs[predicted] == SPECIAL_IDS["mask"]).sum())
        as_random += int(replaced.sum())
        unchanged += int((predicted & (inputs == seq)).sum())
    assert abs(chosen / maskable - 0.15) < 0.005
    assert as_mask + as_random + unchanged == chosen
    assert abs(as_mask / chosen - 0.8) < 0.015
    assert abs(as_random / chosen - 0.1) < 0.015
    assert abs(unchanged / chosen - 0.1) < 0.015


def test_random_tokens_cover_all_non_special_ids_uniformly():
    rng = np.random.default_rng(0)
    draws = objectives._uniform_non_special(rng, 200_000, 20, np.array([0, 1, 2, 3, 4, 7]))
    counts = np.bincount(draws, minlength=20)
    assert set(np.flatnonzero(counts)) == set(range(20)) - {0, 1, 2, 3, 4, 7}
    nonzero = counts[counts > 0]
    assert nonzero.min() / nonzero.max() > 0.9


def test_mlm_is_deterministic_per_seed_epoch_and_sample():
    seq = _sequence(np.random.default_rng(1))
    a = _mask(seq, ("shard-000003.tar", 17), seed=5, epoch=2)
    b = _mask(seq.copy(), ("shard-000003.tar", 17), seed=5, epoch=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for other in (_mask(seq, ("shard-000003.tar", 17), seed=5, epoch=3),
                  _mask(seq, ("shard-000003.tar", 18), seed=5, epoch=2),
                  _mask(seq, ("shard-000004.tar", 17), seed=5, epoch=2),
                  _mask(seq, ("shard-000003.tar", 17), seed=6, epoch=2)):
        assert not np.array_equal(a[1], other[1])


def test_mlm_input_is_not_modified_and_short_sequences_work():
    seq = np.array([2, 10, 11, 3], dtype=np.uint16)
    before = seq.copy()
    inputs, labels = _mask(seq, 0)
    assert np.array_equal(seq, before)
    assert inputs.dtype == labels.dtype == np.int64
    only_specials = np.array([2, 3, 0, 0])
    inputs, labels = _mask(only_specials, 1)
    assert np.array_equal(inputs, only_specials) and (labels == objectives.IGNORE_INDEX).all()


def test_sample_ids_must_be_stable_types():
    with pytest.raises(TypeError):
        objectives.sample_entropy(1.5)
    assert objectives.sample_entropy(("a", 3)) == objectives.sample_entropy(("a", 3))
