"""Load-time pretraining objectives: pure numpy functions of (tokens, seed, epoch, sample id).

Every objective draws its randomness from a generator seeded by (seed, epoch, sample id) only,
as fairseq's `MaskTokensDataset` does: the masking changes every epoch (RoBERTa's dynamic
masking) yet is exactly reproducible, and does not depend on which DataLoader worker, DDP rank
or batch a sequence lands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import numpy as np

from pipeline.shard_format import stable_hash

# Masking rates of BERT (Devlin et al. 2019, section 3.1) kept by RoBERTa (Liu et al. 2019,
# section 4.1, "dynamic masking"); the defaults of fairseq's MaskTokensDataset
# (mask_prob=0.15, leave_unmasked_prob=0.1, random_token_prob=0.1).
MASK_PROB = 0.15               # share of (maskable) positions chosen for prediction
LEAVE_UNMASKED_PROB = 0.1      # of the chosen: left as they are
RANDOM_TOKEN_PROB = 0.1        # of the chosen: replaced by a random token
MASK_TOKEN_SHARE = 1.0 - LEAVE_UNMASKED_PROB - RANDOM_TOKEN_PROB  # = 0.8: replaced by <mask>

# The label of a position that is not predicted: torch's cross_entropy default ignore_index.
IGNORE_INDEX = -100

# Separates the random streams of different objectives fed the same (seed, epoch, sample).
_MLM_STREAM = 1

SampleId = Union[int, str, tuple]


def sample_entropy(sample_id: SampleId) -> list[int]:
    """Non-negative integers naming a sample, the same in every process (no salted `hash()`).

    A sample id is an int, a str (hashed with `stable_hash`) or a tuple of them, e.g. the
    (shard name, sequence index within the shard) that `pretrain.data` gives every sequence.
    """
    if isinstance(sample_id, tuple):
        return [word for part in sample_id for word in sample_entropy(part)]
    if isinstance(sample_id, (int, np.integer)) and not isinstance(sample_id, bool):
        if sample_id < 0:
            raise ValueError(f"sample ids must be non-negative, got {sample_id}")
        return [int(sample_id)]
    if isinstance(sample_id, str):
        return [stable_hash(sample_id)]
    raise TypeError(f"a sample id is an int, a str or a tuple of them, got {sample_id!r}")


def sample_rng(seed: int, epoch: int, sample_id: SampleId, stream: int) -> np.random.Generator:
    """The generator of one (seed, epoch, sample, objective)."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be non-negative, got {seed}, {epoch}")
    return np.random.default_rng(
        np.random.SeedSequence([stream, int(seed), int(epoch), *sample_entropy(sample_id)]))


def mlm(tokens: np.ndarray, *, seed: int, epoch: int, sample_id: SampleId, vocab_size: int,
        special_ids: Mapping[str, int], mask_prob: float = MASK_PROB,
        leave_unmasked_prob: float = LEAVE_UNMASKED_PROB,
        random_token_prob: float = RANDOM_TOKEN_PROB) -> tuple[np.ndarray, np.ndarray]:
    """Masked language modelling of one sequence; returns (input_ids, labels), both int64.

    As fairseq's MaskTokensDataset: int(mask_prob * n + U[0,1)) positions are chosen without
    replacement among the n non-special positions (so the expected count is mask_prob * n
    exactly); each chosen one independently becomes <mask> (80%), a random token drawn
    uniformly from the non-special ids (10%) or stays as it is (10%). Labels hold the original
    token at chosen positions and IGNORE_INDEX elsewhere. Special tokens (pad, unk, bos, eos,
    mask) are never chosen and never drawn as random replacements.
    """
    if leave_unmasked_prob + random_token_prob > 1.0:
        raise ValueError("leave_unmasked_prob + random_token_prob must be at most 1")
    tokens = np.asarray(tokens)
    if tokens.ndim != 1:
        raise ValueError(f"mlm takes one 1-D sequence, got shape {tokens.shape}")
    specials = np.array(sorted(set(int(i) for i in special_ids.values())), dtype=np.int64)
    rng = sample_rng(seed, epoch, sample_id, _MLM_STREAM)

    input_ids = tokens.astype(np.int64, copy=True)
    labels = np.full(input_ids.shape, IGNORE_INDEX, dtype=np.int64)
    maskable = np.flatnonzero(~np.isin(input_ids, specials))
    num_mask = min(int(mask_prob * maskable.size + rng.random()), maskable.size)
    if num_mask == 0:
        return input_ids, labels
    chosen = rng.choice(maskable, num_mask, replace=False)
    labels[chosen] = input_ids[chosen]

    decision = rng.random(num_mask)
    randomized = chosen[decision < random_token_prob]
    masked = chosen[decision >= random_token_prob + leave_unmasked_prob]
    input_ids[masked] = special_ids["mask"]
    if randomized.size:
        input_ids[randomized] = _uniform_non_special(rng, randomized.size, vocab_size, specials)
    return input_ids, labels


def _uniform_non_special(rng: np.random.Generator, size: int, vocab_size: int,
                         specials: np.ndarray) -> np.ndarray:
    """Ids drawn uniformly from [0, vocab_size) minus `specials` (sorted, unique)."""
    specials = specials[specials < vocab_size]
    ids = rng.integers(0, vocab_size - specials.size, size=size, dtype=np.int64)
    for special in specials:  # shift past each special id in turn: a bijection onto the rest
        ids[ids >= special] += 1
    return ids
