"""Load-time pretraining objectives: pure, vectorized numpy functions of a batch of sequences.

Every objective takes `tokens` (B, T) (one packed sequence per row), `sentence_starts` (B, T)
bool (true where a sentence begins; only `sop` reads it), `seed`, `epoch` and `index` (B,): the
global index of each sequence in its epoch. It returns a dict of numpy arrays, one row per
sequence. A row's output depends only on that row's tokens and (seed, epoch, index): never on the
other rows of the batch, the batch size, the DataLoader worker or the DDP rank. This is fairseq's
`MaskTokensDataset` property (masking seeded by (seed, epoch, index): dynamic per epoch yet exactly
reproducible), kept while masking a whole batch at once.

Randomness is counter-based: the uniform number of row r, draw d and column c is SplitMix64's
finalizer (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number generators"; the
constants of Stafford's "Mix13") applied to a key of (stream, seed, epoch, index) plus (d, c).
Each value is a pure function of its coordinates, so whole batches are drawn with a few numpy
operations and no per-sequence generator objects.

Objectives, by name (`OBJECTIVES`):
    mlm     BERT/RoBERTa masked LM with fairseq MaskTokensDataset semantics
    wwm     the same, choosing whole words (sentencepiece pieces starting with U+2581)
    span    SpanBERT span masking (geometric span lengths in words)
    t5      T5 span corruption (sentinels, inputs and targets)
    sop     ALBERT sentence-order prediction, followed by MLM as ALBERT trains it
    electra ELECTRA replaced-token detection: MLM masks plus the generator's sampling noise
    plm     XLNet permuted LM: a random factorization order, its last 1/K predicted, two-stream masks
    clm     causal LM (next-token targets)
    prefix  prefix LM: a random split, targets after it, a bidirectional-prefix attention mask
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

# ---------------------------------------------------------------------------------------------
# Constants, with their sources.

# BERT (Devlin et al. 2019, section 3.1 "Task #1: Masked LM") kept by RoBERTa (Liu et al. 2019,
# section 4.1, dynamic masking); fairseq MaskTokensDataset defaults mask_prob=0.15,
# leave_unmasked_prob=0.1, random_token_prob=0.1.
MASK_PROB = 0.15
LEAVE_UNMASKED_PROB = 0.1
RANDOM_TOKEN_PROB = 0.1

# SpanBERT (Joshi et al. 2020, section 3.1): span lengths in words from Geo(p = 0.2) clipped at
# l_max = 10 (mean 3.8 words), 15% of the tokens, 80/10/10 decided per span.
SPAN_GEOMETRIC_P = 0.2
SPAN_MIN_WORDS = 1
SPAN_MAX_WORDS = 10

# T5 (Raffel et al. 2020, section 3.3.4 and table 4 "i.i.d. -> span corruption"): noise density
# 0.15, mean noise span length 3 (reference: t5/data/preprocessors.py random_spans_noise_mask).
# Sentinels are the vocabulary's last ids counting down: <extra_id_0> = vocab_size - 1 of a
# sentencepiece vocabulary extended by 100 extra ids (seqio SentencePieceVocabulary(extra_ids=100)).
T5_NOISE_DENSITY = 0.15
T5_MEAN_SPAN = 3.0
T5_EXTRA_IDS = 100

# ALBERT (Lan et al. 2020, section 4.1 / create_pretraining_data.py): two consecutive segments of
# one document, swapped with probability 0.5.
SOP_SWAP_PROB = 0.5

# ELECTRA (Clark et al. 2020, section 3.1 and appendix table 6): mask 15% of the tokens (Small and
# Base); the reference's pretrain_helpers.mask puts [MASK] at 85% of them and leaves 15% as
# they are (no random tokens: the generator's samples are the replacements).
ELECTRA_MASK_PROB = 0.15
ELECTRA_LEAVE_UNMASKED_PROB = 0.15
ELECTRA_RANDOM_TOKEN_PROB = 0.0
# The generator keeps the discriminator's depth and takes a fraction of its width (section 3.2:
# 1/4 to 1/2 of the discriminator's size works best; the reference's configure_pretraining.py
# generator_hidden_size = 0.25). Its loss weight lambda = 50 (section 3.1).
ELECTRA_GENERATOR_FRACTION = 0.25
ELECTRA_DISC_WEIGHT = 50.0

# XLNet (Yang et al. 2019, section 2.3 "partial prediction"): only the last 1/K of a random
# factorization order is predicted; K = 6 (appendix, table 7 of pretraining hyperparameters:
# "Partial prediction K 6");
# the reference's train.py trains seq_len=512 with num_predict=85 (512 / 85 = 6.0).
XLNET_PARTIAL_K = 6

# The label of a position that is not predicted: torch's cross_entropy default ignore_index.
IGNORE_INDEX = -100

# Random streams: one per use, so objectives fed the same (seed, epoch, index) draw independently.
_STREAM_MLM, _STREAM_WWM, _STREAM_SPAN, _STREAM_T5, _STREAM_SOP, _STREAM_PREFIX = 1, 2, 3, 4, 5, 6
_STREAM_ELECTRA, _STREAM_PLM = 7, 8
# Draw numbers inside a stream.
_DRAW_COUNT, _DRAW_CHOOSE, _DRAW_REPLACE = 0, 1, 3

# ---------------------------------------------------------------------------------------------
# Counter-based random numbers.

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0 ** -53


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (bijective on uint64); wraps modulo 2**64 by design."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def row_keys(seed: int, epoch: int, index, stream: int) -> np.ndarray:
    """One uint64 key per row from (stream, seed, epoch, index); index: int or (B,) ints."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be non-negative, got {seed}, {epoch}")
    index = np.atleast_1d(np.asarray(index))
    if index.size and (index.dtype.kind not in "iu" or index.min() < 0):
        raise ValueError("sequence indices must be non-negative integers")
    key = np.full(index.shape, np.uint64(stream))
    for word in (np.uint64(seed), np.uint64(epoch), index.astype(np.uint64)):
        key = _mix((key + _GOLDEN) ^ word)
    return key


def bits(keys: np.ndarray, draw: int, columns) -> np.ndarray:
    """(B, columns) uint64 random words: a pure function of (row key, draw, column).

    columns: a count (columns 0..n-1 of every row) or an int array of columns per row (B, k).
    """
    offset = np.uint64((draw * 0x94D049BB133111EB) % 2 ** 64)
    if np.isscalar(columns):
        cols = np.arange(columns, dtype=np.uint64)[None, :]
    else:
        cols = np.asarray(columns).astype(np.uint64)
    return _mix(keys[:, None] ^ _mix(cols * _GOLDEN + offset))


def uniform(keys: np.ndarray, draw: int, columns) -> np.ndarray:
    """(B, columns) float64 uniform in [0, 1) from `bits` (53 of the 64 bits)."""
    return (bits(keys, draw, columns) >> _S11).astype(np.float64) * _TO_UNIT


def _below(words: np.ndarray, prob: float) -> np.ndarray:
    """words (uint32) < prob * 2**32: a Bernoulli(prob) per word without converting to floats."""
    if prob >= 1.0:
        return np.ones(words.shape, dtype=bool)
    return words < np.uint32(min(int(round(prob * 2 ** 32)), 2 ** 32 - 1))


# ---------------------------------------------------------------------------------------------
# Helpers shared by the masking objectives.

def _as_batch(tokens: np.ndarray) -> np.ndarray:
    tokens = np.asarray(tokens)
    if tokens.ndim == 1:
        tokens = tokens[None, :]
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (batch, length), got shape {tokens.shape}")
    return tokens.astype(np.int64, copy=False)


def _special_table(vocab_size: int, special_ids: Mapping[str, int]) -> np.ndarray:
    table = np.zeros(vocab_size, dtype=bool)
    table[[i for i in special_ids.values() if 0 <= i < vocab_size]] = True
    return table


def _is_special(tokens: np.ndarray, special_ids: Mapping[str, int]) -> np.ndarray:
    return np.isin(tokens, np.fromiter(set(special_ids.values()), dtype=np.int64))


def _hi32(words: np.ndarray) -> np.ndarray:
    return (words >> np.uint64(32)).astype(np.uint32)


def _choose_exact(words: np.ndarray, eligible: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Per row, the `count` eligible columns with the smallest random keys: a uniform choice
    without replacement. Keys are 32-bit with the column in the low bits, so they never tie."""
    T = words.shape[1]
    col_bits = max(1, int(T - 1).bit_length())
    low = np.uint32((1 << col_bits) - 1)
    key = (_hi32(words) & ~low) | np.arange(T, dtype=np.uint32)
    key = np.where(eligible, key, np.uint32(0xFFFFFFFF))
    k = np.clip(count, 0, T)
    threshold = np.take_along_axis(np.sort(key, axis=1), np.maximum(k - 1, 0)[:, None], axis=1)
    return eligible & (key <= threshold) & (k > 0)[:, None]


def _random_tokens(keys: np.ndarray, rows: np.ndarray, cols: np.ndarray, draw: int,
                   vocab_size: int, special_ids: Mapping[str, int]) -> np.ndarray:
    """Ids uniform over the non-special ids of [0, vocab_size) (fairseq: weights[specials] = 0),
    one per (row, column) pair, drawn only where needed."""
    ordinary = np.flatnonzero(~_special_table(vocab_size, special_ids)).astype(np.uint64)
    words = bits(keys[rows], draw, cols[:, None])[:, 0] >> np.uint64(32)
    return ordinary[(words * np.uint64(ordinary.size)) >> np.uint64(32)].astype(np.int64)


def _apply_80_10_10(tokens, chosen, decision, keys, *, vocab_size, special_ids,
                    leave_unmasked_prob, random_token_prob):
    """Inputs and labels from a chosen-position mask and per-position decision words (uint32).

    decision < random_token_prob -> random token; < + leave_unmasked_prob -> kept; else <mask>.
    For span objectives the caller gives every position of a span the same decision word.
    """
    if leave_unmasked_prob + random_token_prob > 1.0:
        raise ValueError("leave_unmasked_prob + random_token_prob must be at most 1")
    labels = np.where(chosen, tokens, IGNORE_INDEX)
    randomized = chosen & _below(decision, random_token_prob)
    masked = chosen & ~_below(decision, random_token_prob + leave_unmasked_prob)
    inputs = np.where(masked, special_ids["mask"], tokens)
    rows, cols = np.nonzero(randomized)
    if rows.size:
        inputs[rows, cols] = _random_tokens(keys, rows, cols, _DRAW_REPLACE, vocab_size,
                                            special_ids)
    return inputs, labels


def _prob_round(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """int(x + U[0,1)): fairseq's probabilistic rounding, so the expectation is exactly x."""
    return np.floor(x + u).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# mlm, wwm

def mlm(tokens, sentence_starts=None, *, seed: int, epoch: int, index, vocab_size: int,
        special_ids: Mapping[str, int], mask_prob: float = MASK_PROB,
        leave_unmasked_prob: float = LEAVE_UNMASKED_PROB,
        random_token_prob: float = RANDOM_TOKEN_PROB) -> dict:
    """Masked LM; returns {input_ids, labels} (B, T) int64.

    fairseq MaskTokensDataset semantics: int(mask_prob * n + U[0,1)) of a row's n non-special
    positions are chosen without replacement; each chosen one becomes <mask> (80%), a token
    drawn uniformly from the non-special ids (10%), or stays (10%). Labels hold the original
    token where chosen, IGNORE_INDEX elsewhere. Special tokens are never chosen.
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    keys = row_keys(seed, epoch, index, _STREAM_MLM)
    eligible = ~_is_special(tokens, special_ids)
    count = _prob_round(mask_prob * eligible.sum(axis=1), uniform(keys, _DRAW_COUNT, 1)[:, 0])
    words = bits(keys, _DRAW_CHOOSE, T)  # high half: choice keys; low half: 80/10/10 decisions
    chosen = _choose_exact(words, eligible, count)
    inputs, labels = _apply_80_10_10(
        tokens, chosen, words.astype(np.uint32), keys, vocab_size=vocab_size,
        special_ids=special_ids, leave_unmasked_prob=leave_unmasked_prob,
        random_token_prob=random_token_prob)
    return {"input_ids": inputs, "labels": labels}


def word_start_positions(tokens: np.ndarray, word_starts: np.ndarray,
                         special: np.ndarray) -> np.ndarray:
    """(B, T) bool: where a word begins. A word starts at a piece that starts with U+2581, at
    every special token, right after one, and at column 0: so specials are words of their own
    and no word crosses a document or segment boundary."""
    starts = word_starts[tokens] | special
    starts[:, 0] = True
    starts[:, 1:] |= special[:, :-1]
    return starts


def _word_start_index(starts: np.ndarray) -> np.ndarray:
    """(B, T): for each position, the column where its word starts."""
    cols = np.broadcast_to(np.arange(starts.shape[1]), starts.shape)
    return np.maximum.accumulate(np.where(starts, cols, 0), axis=1)


def wwm(tokens, sentence_starts=None, *, seed: int, epoch: int, index, vocab_size: int,
        special_ids: Mapping[str, int], word_starts: np.ndarray, mask_prob: float = MASK_PROB,
        leave_unmasked_prob: float = LEAVE_UNMASKED_PROB,
        random_token_prob: float = RANDOM_TOKEN_PROB) -> dict:
    """Whole-word masking; returns {input_ids, labels}.

    As fairseq MaskTokensDataset with mask_whole_words: int(mask_prob * w + U) of a row's w
    maskable words are chosen; the 80/10/10 decision is drawn per word and applies to all its
    pieces; random replacements are drawn per piece. `word_starts` is the vocabulary's lookup
    table (`pretrain.data.word_start_table`). The expected share of masked tokens is mask_prob.
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    keys = row_keys(seed, epoch, index, _STREAM_WWM)
    special = _is_special(tokens, special_ids)
    starts = word_start_positions(tokens, np.asarray(word_starts, dtype=bool), special)
    eligible_starts = starts & ~special
    count = _prob_round(mask_prob * eligible_starts.sum(axis=1),
                        uniform(keys, _DRAW_COUNT, 1)[:, 0])
    words = bits(keys, _DRAW_CHOOSE, T)
    chosen_starts = _choose_exact(words, eligible_starts, count)
    owner = _word_start_index(starts)
    chosen = np.take_along_axis(chosen_starts, owner, axis=1)
    decision = np.take_along_axis(words.astype(np.uint32), owner, axis=1)
    inputs, labels = _apply_80_10_10(
        tokens, chosen, decision, keys, vocab_size=vocab_size,
        special_ids=special_ids, leave_unmasked_prob=leave_unmasked_prob,
        random_token_prob=random_token_prob)
    return {"input_ids": inputs, "labels": labels}


# ---------------------------------------------------------------------------------------------
# span (SpanBERT)

def span_length_distribution(p: float = SPAN_GEOMETRIC_P, lo: int = SPAN_MIN_WORDS,
                             hi: int = SPAN_MAX_WORDS) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, probabilities): Geo(p) on lo..hi renormalized, as SpanBERT's len_distrib."""
    lengths = np.arange(lo, hi + 1)
    probs = p * (1 - p) ** (lengths - lo)
    return lengths, probs / probs.sum()


def span(tokens, sentence_starts=None, *, seed: int, epoch: int, index, vocab_size: int,
         special_ids: Mapping[str, int], word_starts: np.ndarray, mask_prob: float = MASK_PROB,
         geometric_p: float = SPAN_GEOMETRIC_P, max_span_words: int = SPAN_MAX_WORDS,
         leave_unmasked_prob: float = LEAVE_UNMASKED_PROB,
         random_token_prob: float = RANDOM_TOKEN_PROB) -> dict:
    """SpanBERT span masking; returns {input_ids, labels}.

    As SpanBERT's masking scheme: a budget of mask_prob of the row's maskable tokens (rounded
    probabilistically as fairseq does; SpanBERT takes the ceiling); repeatedly an anchor token
    is drawn uniformly, rejected if already masked, moved back to its word's start, and a span of
    Geo(p)-clipped length in words is masked from there, token by token until the budget is
    spent. Spans stop at special tokens (document and segment boundaries). Every contiguous
    masked run gets one 80/10/10 decision (SpanBERT decides per merged span; abutting spans are
    merged here too); random replacements are drawn per token.
    All rows draw their spans together, one span per row per round.
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    keys = row_keys(seed, epoch, index, _STREAM_SPAN)
    special = _is_special(tokens, special_ids)
    starts = word_start_positions(tokens, np.asarray(word_starts, dtype=bool), special)
    eligible = ~special
    n_eligible = eligible.sum(axis=1)
    budget = np.minimum(_prob_round(mask_prob * n_eligible, uniform(keys, _DRAW_COUNT, 1)[:, 0]),
                        n_eligible)

    lengths, probs = span_length_distribution(geometric_p, SPAN_MIN_WORDS, max_span_words)
    cdf = np.cumsum(probs)
    cols = np.arange(T)
    # Eligible columns compacted to the left of each row: anchor k of a row is column order[k].
    order = np.argsort(~eligible, axis=1, kind="stable")
    owner = _word_start_index(starts)                         # column of each position's word start
    word_no = np.cumsum(starts, axis=1) - 1                   # word number of each position
    start_cols = np.argsort(~starts, axis=1, kind="stable")   # word w starts at start_cols[w]
    n_words = starts.sum(axis=1)
    # First special column at or after each position (T if none): spans stop there.
    next_special = np.where(special, cols, T)
    next_special = np.minimum.accumulate(next_special[:, ::-1], axis=1)[:, ::-1]

    mask = np.zeros((B, T), dtype=bool)
    remaining = budget.copy()
    max_rounds = 4 * T + 16  # anchors are rejected at most once per masked token, in practice
    for r in range(max_rounds):
        rows = np.flatnonzero(remaining > 0)
        if rows.size == 0:
            break
        u = uniform(keys[rows], 10 + r, 2)
        anchor_k = np.minimum((u[:, 0] * n_eligible[rows]).astype(np.int64), n_eligible[rows] - 1)
        anchor = order[rows, anchor_k]
        fresh = ~mask[rows, anchor]                           # SpanBERT: `if anchor in mask: continue`
        length = lengths[np.minimum(np.searchsorted(cdf, u[:, 1], side="right"), lengths.size - 1)]
        left = owner[rows, anchor]
        last_word = np.minimum(word_no[rows, left] + length, n_words[rows])
        padded = np.concatenate([start_cols[rows], np.full((rows.size, 1), T)], axis=1)
        right = np.take_along_axis(padded, last_word[:, None], axis=1)[:, 0]
        right = np.minimum(right, next_special[rows, left])
        in_span = (cols >= left[:, None]) & (cols < right[:, None]) & fresh[:, None]
        new = in_span & ~mask[rows]
        new &= np.cumsum(new, axis=1) <= remaining[rows, None]
        mask[rows] |= new
        remaining[rows] -= new.sum(axis=1)

    run_start = mask & ~np.concatenate([np.zeros((B, 1), dtype=bool), mask[:, :-1]], axis=1)
    run_owner = np.maximum.accumulate(np.where(run_start, cols, 0), axis=1)
    decision = np.take_along_axis(bits(keys, 2, T).astype(np.uint32), run_owner, axis=1)
    inputs, labels = _apply_80_10_10(
        tokens, mask, decision, keys, vocab_size=vocab_size,
        special_ids=special_ids, leave_unmasked_prob=leave_unmasked_prob,
        random_token_prob=random_token_prob)
    return {"input_ids": inputs, "labels": labels}


# ---------------------------------------------------------------------------------------------
# t5

def t5_lengths(length: int, noise_density: float = T5_NOISE_DENSITY,
               mean_span: float = T5_MEAN_SPAN) -> tuple[int, int]:
    """(noise tokens, noise spans) of a length, exactly as the reference computes them."""
    num_noise = int(np.round(length * noise_density))
    num_noise = min(max(num_noise, 1), length - 1)
    num_spans = max(int(np.round(num_noise / mean_span)), 1)
    return num_noise, num_spans


def _random_segmentation(u: np.ndarray, num_items: int, num_segments: int) -> np.ndarray:
    """(B, num_segments) positive lengths summing to num_items, each composition equally likely.

    The reference's `_random_segmentation`: shuffle num_segments - 1 "first of a segment" marks
    among the num_items - 1 gaps. `u` holds (B, num_items - 1) uniforms (the shuffle keys).
    """
    B = u.shape[0]
    if num_segments == 1:
        return np.full((B, 1), num_items)
    marks = np.argsort(np.argsort(u[:, :num_items - 1], axis=1), axis=1) < num_segments - 1
    first = np.concatenate([np.zeros((B, 1), dtype=np.int64), marks.astype(np.int64)], axis=1)
    segment = np.cumsum(first, axis=1) + (np.arange(B) * num_segments)[:, None]
    return np.bincount(segment.ravel(), minlength=B * num_segments).reshape(B, num_segments)


def t5_noise_mask(keys: np.ndarray, length: int, noise_density: float = T5_NOISE_DENSITY,
                  mean_span: float = T5_MEAN_SPAN) -> np.ndarray:
    """(B, length) bool noise mask of round(density * length) tokens in round(n / mean) spans.

    The reference (random_spans_noise_mask) interleaves num_spans non-noise and num_spans noise
    spans starting with non-noise, so the last token is ALWAYS noise: on a short sequence with a
    single span, only its tail is ever masked (its `random_roll` option rolls the mask instead,
    which splits a span across the ends and changes the span count). The fix here: num_spans + 1
    non-noise segments whose first and last may be empty (a random segmentation of
    num_nonnoise + 2 items, minus one at each end), so a noise span is as likely at the head as
    at the tail, the number of spans stays exact, and outputs keep a fixed length.
    """
    num_noise, num_spans = t5_lengths(length, noise_density, mean_span)
    num_nonnoise = length - num_noise
    if num_nonnoise < num_spans - 1:
        raise ValueError(f"length {length} cannot hold {num_spans} separated noise spans")
    B = keys.shape[0]
    noise_len = _random_segmentation(uniform(keys, 0, max(num_noise - 1, 1)), num_noise, num_spans)
    plain_len = _random_segmentation(uniform(keys, 1, num_nonnoise + 1), num_nonnoise + 2,
                                     num_spans + 1)
    plain_len[:, 0] -= 1
    plain_len[:, -1] -= 1
    seg_len = np.zeros((B, 2 * num_spans + 1), dtype=np.int64)
    seg_len[:, 0::2], seg_len[:, 1::2] = plain_len, noise_len
    values = np.tile(np.arange(2 * num_spans + 1) % 2 == 1, B)
    return np.repeat(values, seg_len.ravel()).reshape(B, length)


def t5(tokens, sentence_starts=None, *, seed: int, epoch: int, index, vocab_size: int,
       special_ids: Mapping[str, int] | None = None, noise_density: float = T5_NOISE_DENSITY,
       mean_span: float = T5_MEAN_SPAN, extra_ids: int = T5_EXTRA_IDS) -> dict:
    """T5 span corruption; returns {input_ids, labels, noise_mask}.

    vocab_size is the tokenizer's; the model's vocabulary is vocab_size + extra_ids, and the
    sentinel of the i-th noise span (i = 0, 1, ...) is vocab_size + extra_ids - 1 - i.
    input_ids: the row with each noise span replaced by its sentinel ((B, T - noise + spans));
    labels: each span's sentinel followed by its tokens ((B, noise + spans)); every row of a
    batch has the same lengths since they depend on T only. No eos is appended (rows are packed).
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    num_noise, num_spans = t5_lengths(T, noise_density, mean_span)
    if num_spans > extra_ids:
        raise ValueError(f"{num_spans} noise spans need more than extra_ids={extra_ids} sentinels")
    keys = row_keys(seed, epoch, index, _STREAM_T5)
    noise = t5_noise_mask(keys, T, noise_density, mean_span)
    first = noise & ~np.concatenate([np.zeros((B, 1), dtype=bool), noise[:, :-1]], axis=1)
    sentinel = vocab_size + extra_ids - np.cumsum(first, axis=1)
    # Two slots per position: (sentinel if a span starts here, the token itself).
    slot_value = np.stack([sentinel, tokens], axis=2).reshape(B, 2 * T)
    keep_in = np.stack([first, ~noise], axis=2).reshape(B, 2 * T)
    keep_out = np.stack([first, noise], axis=2).reshape(B, 2 * T)
    return {"input_ids": slot_value[keep_in].reshape(B, T - num_noise + num_spans),
            "labels": slot_value[keep_out].reshape(B, num_noise + num_spans),
            "noise_mask": noise}


# ---------------------------------------------------------------------------------------------
# sop

def sop(tokens, sentence_starts, *, seed: int, epoch: int, index,
        special_ids: Mapping[str, int], swap_prob: float = SOP_SWAP_PROB, **_) -> dict:
    """ALBERT sentence-order prediction; returns {input_ids (B, T+1), token_type_ids, sop_labels}.

    A row is `bos, segment text, [eos], [pad...]` from one document (`doc_sentences` packing).
    As ALBERT's create_pretraining_data.py, the text is cut at a sentence start chosen uniformly
    among those inside it (A: the sentences before, B: the rest); when no sentence starts inside
    (one long sentence), at a uniform token position instead, so A and B are still consecutive
    text of one document (ALBERT would take B from another document here, which is NSP, not SOP).
    With swap_prob the output is `bos B eos A ...` (label 1), else `bos A eos B ...` (label 0):
    one eos is inserted as the separator, so rows grow by one column. token_type_ids are 0 up to
    the separator and 1 after it, through the row's closing eos. Rows with fewer than 2 text tokens keep their order, get a pad
    appended and label IGNORE_INDEX.
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    starts = np.asarray(sentence_starts, dtype=bool).reshape(B, T)
    cols = np.arange(T)
    keys = row_keys(seed, epoch, index, _STREAM_SOP)
    u = uniform(keys, 0, 2)
    stop = (tokens == special_ids["eos"]) | (tokens == special_ids["pad"])
    stop[:, 0] = False
    end = np.where(stop.any(axis=1), np.argmax(stop, axis=1), T)  # text is columns [1, end)
    valid = end - 1 >= 2
    inside = starts & (cols >= 2) & (cols < end[:, None])
    n_inside = inside.sum(axis=1)
    k = np.minimum((u[:, 0] * n_inside).astype(np.int64), np.maximum(n_inside - 1, 0))
    by_sentence = np.argsort(~inside, axis=1, kind="stable")[np.arange(B), k]
    by_token = 2 + np.minimum((u[:, 0] * np.maximum(end - 2, 1)).astype(np.int64),
                              np.maximum(end - 3, 0))
    split = np.where(n_inside > 0, by_sentence, by_token)
    swap = valid & (u[:, 1] < swap_prob)

    # Output column j takes tokens[src[j]]; src == -1 is the separator.
    j = np.arange(T + 1)[None, :]
    split_c, end_c = split[:, None], end[:, None]
    len_a, len_b = split_c - 1, end_c - split_c
    straight = np.where(j < split_c, j, np.where(j == split_c, -1, j - 1))
    swapped = np.where(j == 0, 0,
              np.where(j <= len_b, split_c + j - 1,
              np.where(j == len_b + 1, -1,
              np.where(j <= len_b + 1 + len_a, j - len_b - 1, j - 1))))
    src = np.where(swap[:, None], swapped, straight)
    src = np.where(valid[:, None], src, np.minimum(j, T))  # invalid: column T is a pad below
    padded = np.concatenate([tokens, np.full((B, 1), special_ids["pad"])], axis=1)
    out = np.take_along_axis(padded, np.maximum(src, 0), axis=1)
    out = np.where(src == -1, special_ids["eos"], out)
    sep_col = np.where(swap, len_b[:, 0] + 1, split)
    ends_in_eos = padded[np.arange(B), np.minimum(end, T)] == special_ids["eos"]
    last_b = end_c + ends_in_eos[:, None]  # segment B's closing eos belongs to it, as in ALBERT
    token_type = ((j > sep_col[:, None]) & (j <= last_b) & valid[:, None]).astype(np.int64)
    labels = np.where(valid, swap.astype(np.int64), IGNORE_INDEX)
    return {"input_ids": out, "token_type_ids": token_type, "sop_labels": labels}


def sop_mlm(tokens, sentence_starts, *, seed: int, epoch: int, index, vocab_size: int,
            special_ids: Mapping[str, int], swap_prob: float = SOP_SWAP_PROB,
            mask_prob: float = MASK_PROB, leave_unmasked_prob: float = LEAVE_UNMASKED_PROB,
            random_token_prob: float = RANDOM_TOKEN_PROB) -> dict:
    """ALBERT's pretraining input: `sop`, then `mlm` over the reordered row (ALBERT section 4.1).

    Returns {input_ids, labels, token_type_ids, sop_labels}, each with T + 1 columns.
    """
    out = sop(tokens, sentence_starts, seed=seed, epoch=epoch, index=index,
              special_ids=special_ids, swap_prob=swap_prob)
    masked = mlm(out["input_ids"], seed=seed, epoch=epoch, index=index, vocab_size=vocab_size,
                 special_ids=special_ids, mask_prob=mask_prob,
                 leave_unmasked_prob=leave_unmasked_prob, random_token_prob=random_token_prob)
    return {**masked, "token_type_ids": out["token_type_ids"], "sop_labels": out["sop_labels"]}


# ---------------------------------------------------------------------------------------------
# electra

def electra(tokens, sentence_starts=None, *, seed: int, epoch: int, index, vocab_size: int,
            special_ids: Mapping[str, int], mask_prob: float = ELECTRA_MASK_PROB,
            leave_unmasked_prob: float = ELECTRA_LEAVE_UNMASKED_PROB,
            random_token_prob: float = ELECTRA_RANDOM_TOKEN_PROB) -> dict:
    """ELECTRA replaced-token detection's input; returns {input_ids, labels, sample_u}.

    The positions are chosen exactly as `mlm` chooses them for the same (seed, epoch, index)
    (same stream), with ELECTRA's 85% <mask> / 15% unchanged; `sample_u` (B, T) float32 holds
    one uniform per position from its own stream, with which the model samples the generator's
    replacement at each masked position (`Transformer.electra_losses`).
    """
    out = mlm(tokens, seed=seed, epoch=epoch, index=index, vocab_size=vocab_size,
              special_ids=special_ids, mask_prob=mask_prob,
              leave_unmasked_prob=leave_unmasked_prob, random_token_prob=random_token_prob)
    keys = row_keys(seed, epoch, index, _STREAM_ELECTRA)
    out["sample_u"] = uniform(keys, 0, out["input_ids"].shape[1]).astype(np.float32)
    return out


# ---------------------------------------------------------------------------------------------
# plm (XLNet)

def plm_targets(length: int, partial_k: float = XLNET_PARTIAL_K) -> int:
    """Query rows of a row of `length` tokens: the most targets it can have, ceil(length / K)."""
    if partial_k < 1:
        raise ValueError(f"partial_k must be at least 1, got {partial_k}")
    return max(1, math.ceil(length / partial_k))


def plm(tokens, sentence_starts=None, *, seed: int, epoch: int, index,
        special_ids: Mapping[str, int], partial_k: float = XLNET_PARTIAL_K, **_) -> dict:
    """XLNet permuted LM with partial prediction; returns {input_ids (B, T), labels (B, P),
    target_positions (B, P), attention_mask (B, T, T) bool, query_mask (B, P, T) bool},
    P = `plm_targets(T, partial_k)`.

    A factorization order is drawn per row: int(n / K + U[0,1)) of its n non-special tokens (at
    most n - 1, so one stays context) are the targets, chosen uniformly without replacement and
    ordered by their random keys; every other token (specials included) comes before them. This
    is the last 1/K of a uniform random order, with the context made mutually visible as the
    reference's `_local_perm` does (non-targets take the smallest rank: seen by all, seeing no
    target). The input is the text itself: no <mask> token.

    Two-stream attention (section 2.2): `attention_mask[b, i, j]`, the content stream, lets
    position i see j when rank(j) <= rank(i) (context: rank -1; the p-th target: rank p), so a
    target's content sees itself; `query_mask[b, p, j]`, the query stream of the p-th target,
    when rank(j) < p: exactly the tokens before it in the order, never itself. Pad keys are
    masked (but a content row always sees itself). Rows with fewer than P targets fill the rest
    with label IGNORE_INDEX, position 0 and a query that sees column 0 only.
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    P = plm_targets(T, partial_k)
    keys = row_keys(seed, epoch, index, _STREAM_PLM)
    eligible = ~_is_special(tokens, special_ids)
    n = eligible.sum(axis=1)
    count = _prob_round(n / partial_k, uniform(keys, _DRAW_COUNT, 1)[:, 0])
    count = np.clip(count, 0, np.minimum(P, np.maximum(n - 1, 0)))
    # Distinct 32-bit keys (the column in the low bits), ineligible columns last: the sorted
    # order's first `count` columns are the targets in their factorization order.
    col_bits = max(1, int(T - 1).bit_length())
    low = np.uint32((1 << col_bits) - 1)
    key = (_hi32(bits(keys, _DRAW_CHOOSE, T)) & ~low) | np.arange(T, dtype=np.uint32)
    key = np.where(eligible, key, np.uint32(0xFFFFFFFF))
    order = np.argsort(key, axis=1, kind="stable")[:, :P]
    if order.shape[1] < P:  # T < P only when T == 0
        order = np.pad(order, ((0, 0), (0, P - order.shape[1])))
    p = np.arange(P)
    valid = p[None, :] < count[:, None]
    rows = np.arange(B)[:, None]
    # Ranks fit int16 (P <= T < 2**15 for any max_len here): the (B, T, T) comparisons then move
    # a quarter of the bytes of int64 ones.
    rank_type = np.int16 if P < 2 ** 15 else np.int64
    rank = np.full((B, T), -1, dtype=rank_type)
    rank[np.broadcast_to(rows, (B, P))[valid], order[valid]] = np.broadcast_to(p, (B, P))[valid]
    positions = np.where(valid, order, 0)
    labels = np.where(valid, tokens[rows, positions], IGNORE_INDEX)
    real_key = (tokens != special_ids["pad"])[:, None, :]
    content = rank[:, None, :] <= rank[:, :, None]
    content &= real_key
    diagonal = np.arange(T)
    content[:, diagonal, diagonal] = True  # a content row always sees itself, pad or not
    query = rank[:, None, :] < p.astype(rank_type)[None, :, None]
    query &= real_key
    unused = ~valid
    if unused.any():
        query[unused] = False
        query[unused, 0] = True
    return {"input_ids": tokens.copy(), "labels": labels, "target_positions": positions,
            "attention_mask": content, "query_mask": query}


def _plm_model_lengths(seq_len: int, params: Mapping) -> tuple[int, int]:
    """The content stream's tokens and the query stream's rows (the model's target length)."""
    return seq_len, plm_targets(seq_len, params.get("partial_k", XLNET_PARTIAL_K))


# ---------------------------------------------------------------------------------------------
# clm, prefix

def _next_token_labels(tokens: np.ndarray, pad_id: int) -> np.ndarray:
    labels = np.full(tokens.shape, IGNORE_INDEX, dtype=np.int64)
    labels[:, :-1] = tokens[:, 1:]
    labels[labels == pad_id] = IGNORE_INDEX
    return labels


def clm(tokens, sentence_starts=None, *, seed: int = 0, epoch: int = 0, index=None,
        special_ids: Mapping[str, int], **_) -> dict:
    """Causal LM; returns {input_ids, labels}: labels[t] = tokens[t + 1] (GPT, Radford et al.
    2018), IGNORE_INDEX at the last column and wherever the next token is pad. Deterministic."""
    tokens = _as_batch(tokens)
    return {"input_ids": tokens.copy(), "labels": _next_token_labels(tokens, special_ids["pad"])}


def prefix(tokens, sentence_starts=None, *, seed: int, epoch: int, index,
           special_ids: Mapping[str, int], **_) -> dict:
    """Prefix LM; returns {input_ids, labels, prefix_len (B,), attention_mask (B, T, T) bool}.

    A split point P is drawn uniformly in [1, n - 1] for a row of n non-pad tokens (T5's
    "prefix LM" objective, Raffel et al. 2020 section 3.2.3, splits at a uniform point). Columns
    < P are the prefix: they attend to each other both ways (UniLM, Dong et al. 2019, figure 1);
    the rest attend causally. Labels are next-token targets of the continuation only: labels[t]
    = tokens[t + 1] for t >= P - 1. attention_mask[b, i, j] says whether query i may attend to
    key j (True: attend), as torch's scaled_dot_product_attention takes a boolean mask.
    """
    tokens = _as_batch(tokens)
    B, T = tokens.shape
    keys = row_keys(seed, epoch, index, _STREAM_PREFIX)
    n = (tokens != special_ids["pad"]).sum(axis=1)
    span_ = np.maximum(n - 1, 1)
    p = 1 + np.minimum((uniform(keys, 0, 1)[:, 0] * span_).astype(np.int64), span_ - 1)
    cols = np.arange(T)
    labels = _next_token_labels(tokens, special_ids["pad"])
    labels[cols[None, :] < (p - 1)[:, None]] = IGNORE_INDEX
    attend = (cols[None, None, :] <= cols[None, :, None]) | (cols[None, None, :] < p[:, None, None])
    return {"input_ids": tokens.copy(), "labels": labels, "prefix_len": p,
            "attention_mask": attend}


# ---------------------------------------------------------------------------------------------
# Registry

@dataclass(frozen=True)
class Evaluation:
    """How held-out data scores a model trained with an objective (`pretrain.evaluate`).

    `objective` None: bits per byte of causal windows (every document token predicted once).
    Otherwise the loss of that objective's function under fixed noise (evaluate.EVAL_SEED, epoch
    0, the row number) on stream-packed rows, keeping only the training parameters named in
    `keep_params`: models of one kind then compare under the same masks whatever objective of
    that kind trained them (an encoder trained with wwm, span or sop is scored by MLM).
    `metric` is the result's key.
    """
    metric: str
    objective: Optional[str] = None
    keep_params: tuple[str, ...] = ()
    model_loss: bool = False  # scored by the model's own losses (ELECTRA), not cross-entropy


BITS_PER_BYTE = Evaluation("bpb")
FIXED_MASK_MLM = Evaluation("mlm_loss", "mlm")
# ELECTRA's discriminator has no MLM head: its loss (generator MLM + 50 x discriminator) under
# fixed masks and fixed sampling noise.
FIXED_NOISE_ELECTRA = Evaluation("electra_loss", "electra", model_loss=True)
# T5's sentinel count must match the vocabulary it was trained with; its noise is its task.
FIXED_NOISE_T5 = Evaluation("t5_loss", "t5", ("noise_density", "mean_span", "extra_ids"))


@dataclass(frozen=True)
class ObjectiveSpec:
    """Everything the loader, the model builder, the trainer and the evaluator need of an objective,
    so that a new objective is one entry of `OBJECTIVES`."""
    fn: Callable[..., dict]
    params: tuple[str, ...]            # tunable keyword parameters (CLI: --param NAME=VALUE)
    kind: str                          # the model kind that trains it (pretrain.model.KINDS)
    evaluation: Evaluation             # its held-out metric
    needs_word_starts: bool = False
    needs_vocab_size: bool = False     # draws random tokens or sentinels from the vocabulary
    extra_columns: int = 0             # columns the objective adds to each row
    packing: Optional[str] = None      # the packing it requires, if any
    # (batch key, model keyword) pairs the model takes besides input_ids and labels
    model_inputs: tuple[tuple[str, str], ...] = ()
    # keyword options of the model it trains (pretrain.model.ModelConfig fields)
    model_options: tuple[tuple[str, object], ...] = ()
    # ids it adds to the tokenizer's vocabulary, from its parameters (T5's sentinels)
    extra_vocab: Optional[Callable[[Mapping], int]] = None
    # (input length, target length) the model runs on for a packed sequence of seq_len, from its
    # parameters, for FLOPs; None: (seq_len, no separate target)
    model_lengths: Optional[Callable[[int, Mapping], tuple[int, Optional[int]]]] = None


def _t5_extra_vocab(params: Mapping) -> int:
    return int(params.get("extra_ids", T5_EXTRA_IDS))


def _t5_model_lengths(seq_len: int, params: Mapping) -> tuple[int, int]:
    """Encoder inputs (the kept tokens and one sentinel per span) and decoder targets (the noise
    tokens and one sentinel per span) of a sequence of seq_len."""
    noise, spans = t5_lengths(seq_len, **{k: v for k, v in params.items()
                                          if k in ("noise_density", "mean_span")})
    return seq_len - noise + spans, noise + spans


_MASKING = ("mask_prob", "leave_unmasked_prob", "random_token_prob")
OBJECTIVES: dict[str, ObjectiveSpec] = {
    "mlm": ObjectiveSpec(mlm, _MASKING, "encoder", FIXED_MASK_MLM, needs_vocab_size=True),
    "wwm": ObjectiveSpec(wwm, _MASKING, "encoder", FIXED_MASK_MLM, needs_word_starts=True,
                         needs_vocab_size=True),
    "span": ObjectiveSpec(span, _MASKING + ("geometric_p", "max_span_words"), "encoder",
                          FIXED_MASK_MLM, needs_word_starts=True, needs_vocab_size=True),
    "t5": ObjectiveSpec(t5, ("noise_density", "mean_span", "extra_ids"), "encdec", FIXED_NOISE_T5,
                        needs_vocab_size=True, packing="stream", extra_vocab=_t5_extra_vocab,
                        model_lengths=_t5_model_lengths),
    "sop": ObjectiveSpec(sop_mlm, ("swap_prob",) + _MASKING, "encoder", FIXED_MASK_MLM,
                         needs_vocab_size=True, extra_columns=1, packing="doc_sentences",
                         model_inputs=(("sop_labels", "sop_labels"),),
                         model_options=(("sop_head", True),)),
    "electra": ObjectiveSpec(electra, _MASKING, "encoder", FIXED_NOISE_ELECTRA,
                             needs_vocab_size=True, model_inputs=(("sample_u", "sample_u"),),
                             model_options=(("generator_fraction", ELECTRA_GENERATOR_FRACTION),)),
    # Scored as every decoder: bits per byte, in the identity order (`Transformer` two-stream).
    "plm": ObjectiveSpec(plm, ("partial_k",), "decoder", BITS_PER_BYTE,
                         model_inputs=(("attention_mask", "attn_mask"), ("query_mask", "query_mask"),
                                       ("target_positions", "target_positions")),
                         model_options=(("two_stream", True),), model_lengths=_plm_model_lengths),
    "clm": ObjectiveSpec(clm, (), "decoder", BITS_PER_BYTE),
    "prefix": ObjectiveSpec(prefix, (), "decoder", BITS_PER_BYTE,
                            model_inputs=(("attention_mask", "attn_mask"),)),
}
# The objective a model of each kind is evaluated as when its own objective is not known.
KIND_DEFAULT_OBJECTIVE = {"encoder": "mlm", "decoder": "clm", "encdec": "t5"}
