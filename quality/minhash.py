"""Near-duplicate science: shingles, MinHash signatures, LSH bands, Jaccard.

Plain functions on plain data (stdlib, numpy, datasketch, xxhash); `pipeline/dedup/` is the
Beam wiring around them. URL keys, sub-document units and cluster-size buckets are in
`quality.dedup`.

Shingles. A document's shingles are its word 5-grams (`SHINGLE_WORDS`, as FineWeb and
datatrove's MinHash dedup use): the words are `quality.text.words` of the case-folded text with
the punctuation tokens left out, so "Hello, World!" and "hello world" shingle alike while the
word regex stays the one the rest of Sieve documents. A document with fewer than five words has
one shingle (all its words); one with no word has none and is never a near duplicate (exact dedup
still sees it). Shingles are a set: a repeated 5-gram counts once.

Hashes. Each distinct word is hashed once with xxh3-64; a shingle's 64-bit hash is a polynomial
of its five word hashes mod 2**64 (`shingle_hash` is the scalar definition, `shingle_hashes` the
vectorized one), finished with the MurmurHash3 64-bit mixer. Exact Jaccard compares these 64-bit
hashes (a false match needs a 64-bit collision). The MinHash signature reads the top 32 bits.

Signatures. `signatures` computes, in bulk with numpy, exactly what datasketch 2.0's
`MinHash(num_perm, seed, scheme="affine32", hashfunc=lambda s: shingle_hash(s) >> 32)` gives
after `update_batch(shingles)`: the same permutations (taken from a datasketch MinHash), the
same MurmurHash3 pre-mix, the same uint32 arithmetic. A test checks the equality, so a
`datasketch.LeanMinHash` can be built from any signature (`to_lean_minhash`).

LSH. `num_perm = bands * rows`; band `i` of a signature is hashed to a bucket key that also holds
`i`, so two documents are candidates when any band agrees. Default 14 bands x 8 rows (FineWeb):
a pair at Jaccard s becomes a candidate with probability 1 - (1 - s**8)**14 (0.92 at 0.80, 0.99 at
0.85, 0.08 at 0.50). `bands_rows_for_threshold` derives bands and rows for a target threshold with
datasketch's own optimizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import xxhash

from quality.text import WORD_RE

SHINGLE_WORDS = 5  # word 5-grams, as FineWeb / datatrove MinhashConfig(n_grams=5)
DEFAULT_BANDS = 14  # FineWeb's MinHash dedup: 14 buckets (bands) x 8 hashes (rows) = 112 perms
DEFAULT_ROWS = 8
DEFAULT_SEED = 1  # datasketch's default MinHash seed
DEFAULT_THRESHOLD = 0.8  # exact-Jaccard check: a candidate pair below this is not a duplicate

_MASK64 = (1 << 64) - 1
_POLY = 0x9E3779B97F4A7C15  # odd multiplier (2**64 / golden ratio) for the shingle polynomial
_WORD_SEED = 0x5EED
# The word alternative of `quality.text.WORD_RE` alone: findall gives exactly WORD_RE's word
# tokens (every token that starts with a letter or digit) without the punctuation ones.
_WORDS_ONLY_RE = re.compile(WORD_RE.pattern.split("|")[0])
_BULK_CELLS = 1 << 22  # shingles x permutations per numpy block in `signatures` (16 MB of uint32)


# ----------------------------------------------------------------------------------------------
# Shingles and their hashes
# ----------------------------------------------------------------------------------------------

def shingle_words(text: str) -> list[str]:
    """The words shingles are made of: case-folded `quality.text.words`, punctuation left out."""
    return _WORDS_ONLY_RE.findall(text.casefold())


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    """The document's set of word n-grams (one shingle of all words when there are fewer)."""
    words = shingle_words(text)
    if not words:
        return set()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def word_hash(word: str) -> int:
    return xxhash.xxh3_64_intdigest(word.encode("utf-8"), seed=_WORD_SEED)


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def shingle_hash(shingle: Sequence[str]) -> int:
    """64-bit hash of one shingle (the scalar definition; `shingle_hashes` is the fast one)."""
    h = 0
    for word in shingle:
        h = (h * _POLY + word_hash(word)) & _MASK64
    return _fmix64_int((h + len(shingle)) & _MASK64)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def shingle_hashes(text: str, n: int = SHINGLE_WORDS) -> np.ndarray:
    """Sorted distinct 64-bit shingle hashes (uint64) of `text`: `shingle_hash` of every shingle."""
    return word_shingle_hashes(shingle_words(text), n)


def word_shingle_hashes(words: Sequence[str], n: int = SHINGLE_WORDS) -> np.ndarray:
    """`shingle_hashes` from the words: each distinct word hashed once, the n-gram polynomial
    vectorized."""
    if not words:
        return np.empty(0, dtype=np.uint64)
    distinct = {w: xxhash.xxh3_64_intdigest(w.encode("utf-8"), seed=_WORD_SEED) for w in set(words)}
    wh = np.fromiter(map(distinct.__getitem__, words), dtype=np.uint64, count=len(words))
    k = min(n, len(words))
    m = len(words) - k + 1
    poly = np.uint64(_POLY)
    with np.errstate(over="ignore"):
        h = np.zeros(m, dtype=np.uint64)
        for j in range(k):
            h = h * poly + wh[j:j + m]
        h = _fmix64(h + np.uint64(k))
    return np.unique(h)


# ----------------------------------------------------------------------------------------------
# MinHash signatures (datasketch's affine32 scheme, in bulk)
# ----------------------------------------------------------------------------------------------

_PERMUTATIONS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def permutations(num_perm: int, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's (a, b) uint32 permutation parameters for `num_perm` and `seed`."""
    key = (num_perm, seed)
    if key not in _PERMUTATIONS:
        from datasketch import MinHash

        a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        _PERMUTATIONS[key] = (np.ascontiguousarray(a, dtype=np.uint32),
                              np.ascontiguousarray(b, dtype=np.uint32))
    return _PERMUTATIONS[key]


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def datasketch_hashfunc(shingle: Sequence[str]) -> int:
    """The 32-bit hash datasketch would be given per shingle to reproduce `signatures`."""
    return shingle_hash(shingle) >> 32


def signatures(hash_sets: Sequence[np.ndarray], num_perm: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """MinHash signatures, one row (uint32, `num_perm` wide) per document, of its shingle hashes
    (`shingle_hashes` output). A document without shingles gets datasketch's empty signature
    (all 2**32 - 1)."""
    a, b = permutations(num_perm, seed)
    out = np.full((len(hash_sets), num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
    block = max(1, _BULK_CELLS // num_perm)
    start = 0
    while start < len(hash_sets):
        # A block of documents whose shingles together fit in one matrix (a long document alone).
        stop, cells = start, 0
        while stop < len(hash_sets) and (stop == start or cells + len(hash_sets[stop]) <= block):
            cells += len(hash_sets[stop])
            stop += 1
        docs = [i for i in range(start, stop) if len(hash_sets[i])]
        if docs:
            flat = np.concatenate([hash_sets[i] for i in docs])
            hv = _fmix32((flat >> np.uint64(32)).astype(np.uint32))
            with np.errstate(over="ignore"):
                # permutations x shingles: reduceat along the contiguous axis is the fast one
                phv = a[:, None] * hv[None, :]
                phv += b[:, None]  # uint32 wrap-around is the modulo 2**32
            offsets = np.cumsum([0] + [len(hash_sets[i]) for i in docs[:-1]])
            out[docs] = np.minimum.reduceat(phv, offsets, axis=1).T
        start = stop
    return out


def signature(text: str, num_perm: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    return signatures([shingle_hashes(text)], num_perm, seed)[0]


def datasketch_signature(text: str, num_perm: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """The reference: a plain datasketch MinHash of the same shingles (slow; for tests/benchmarks)."""
    from datasketch import MinHash

    m = MinHash(num_perm=num_perm, seed=seed, scheme="affine32", hashfunc=datasketch_hashfunc)
    m.update_batch(shingles(text))
    return m.hashvalues


def to_lean_minhash(sig: np.ndarray, seed: int = DEFAULT_SEED):
    """A `datasketch.LeanMinHash` holding `sig` (for `jaccard()` estimates or a MinHashLSH index)."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=sig, scheme="affine32")


# ----------------------------------------------------------------------------------------------
# LSH bands
# ----------------------------------------------------------------------------------------------

def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[bytes]:
    """One bucket key per band: the band's index (2 bytes) then the xxh3-64 of its rows.

    Bytes rather than ints: a 64-bit digest does not fit Beam's signed-int coder, and the band
    index must be part of the key (equal rows in different bands are not a match)."""
    if len(sig) < bands * rows:
        raise ValueError(f"signature of {len(sig)} values is shorter than {bands} x {rows}")
    raw = np.ascontiguousarray(sig[:bands * rows]).view(np.uint8).reshape(bands, rows * 4)
    return [i.to_bytes(2, "big") + xxhash.xxh3_64_digest(raw[i].tobytes()) for i in range(bands)]


def collision_probability(s: float, bands: int, rows: int) -> float:
    """Probability that a pair at Jaccard `s` shares at least one band: 1 - (1 - s**r)**b."""
    return 1.0 - (1.0 - s ** rows) ** bands


def lsh_threshold(bands: int, rows: int) -> float:
    """The Jaccard where the S-curve is steepest, about (1/b)**(1/r) (0.72 for 14 x 8)."""
    return (1.0 / bands) ** (1.0 / rows)


def bands_rows_for_threshold(threshold: float, num_perm: int = DEFAULT_BANDS * DEFAULT_ROWS,
                             false_positive_weight: float = 0.5,
                             false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimizing datasketch's weighted sum of the
    false-positive and false-negative areas under the S-curve (`MinHashLSH`'s own optimizer)."""
    from datasketch.lsh import _optimal_param

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    return _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted distinct shingle-hash arrays (1.0 for two empty sets)."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def text_jaccard(x: str, y: str, n: int = SHINGLE_WORDS) -> float:
    return jaccard(shingle_hashes(x, n), shingle_hashes(y, n))
