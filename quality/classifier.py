"""fastText quality classifier (the DCLM recipe): train on high- versus low-quality text, score P(high).

DCLM (Li et al., 2024, "DataComp-LM"; mlfoundations/dclm `baselines/train_fasttext_classifier.py`
and its README) trains `fasttext.train_supervised` with word bigrams (`wordNgrams=2`) and every
other hyperparameter at fastText's supervised defaults, on lines labelled `__label__hq` (high
quality) and `__label__cc` (Common Crawl, low quality). At scoring time it only joins the lines of
the stripped text with single spaces (`quality_prediction_enrichers_calc_fasttext.py`): no
lowercasing, no tokenization; fastText itself splits on whitespace. `prepare_text` does the same,
for training and scoring alike, so that both see the same tokens.

Determinism: fastText's supervised training is Hogwild SGD over `thread` threads, so runs with
more than one thread differ; with `thread=1` and a fixed `seed` (which seeds both the matrix
initialisation and the SGD sampling) two trainings on the same file give byte-identical models
(checked in tests/quality/test_classifier.py). The training file's line order is itself an input,
so `train` shuffles with a numpy generator seeded by `seed`.

The metrics at the end (ROC AUC as a Mann-Whitney rank statistic, precision/recall/F1) are plain
numpy, so held-out evaluation needs nothing beyond this module.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The signal name documents get (ARCHITECTURE.md, "Contracts": `fasttext_quality.score`).
SIGNAL = "fasttext_quality.score"
# DCLM's label space (dclm baselines/README.md: "__label__hq" high quality, "__label__cc" low).
POSITIVE_LABEL = "__label__hq"
NEGATIVE_LABEL = "__label__cc"

# Hyperparameters: DCLM's OH-2.5+ELI5 classifier used `--wordNgrams 2` and "did not deviate from
# [the] default values" otherwise (dclm baselines/README.md). The defaults below are fastText's
# supervised defaults (fastText `train_supervised`: lr 0.1, dim 100, ws 5, epoch 5, minCount 1,
# bucket 2,000,000, loss softmax), which are also the defaults of DCLM's training script.
WORD_NGRAMS = 2
LR = 0.1
DIM = 100
EPOCH = 5
MIN_COUNT = 1
BUCKET = 2_000_000  # hashed n-gram rows: with dim 100 the .bin is ~800 MB whatever the data
# One thread: Hogwild SGD with more threads is not reproducible (see the module docstring).
THREAD = 1
# Quantization as in fastText's text classification tutorial ("-qnorm -retrain -cutoff 100000"):
# keep the 100k input rows with the largest norms, retrain them once, normalise before quantizing.
QUANTIZE_CUTOFF = 100_000
QUANTIZE_DSUB = 2  # fastText default sub-vector size for product quantization
# Salt for the held-out split hash, so that the split is unrelated to any other hash of the text.
HOLDOUT_SALT = b"sieve-quality-holdout/1\x00"


def prepare_text(text: str) -> str:
    """One fastText line: the stripped text's lines joined by single spaces (DCLM's scoring prep)."""
    return " ".join(text.strip().splitlines())


def holdout_position(text: str) -> float:
    """A stable number in [0, 1) from the prepared text (blake2b, not Python's salted hash()).

    A text is held out when this is below the held-out fraction, so the split does not depend on
    file order, the training seed or the process, and texts identical after preparation (exact
    duplicates) always fall on the same side.
    """
    digest = hashlib.blake2b(HOLDOUT_SALT + prepare_text(text).encode("utf-8"), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2.0**64


def split_holdout(texts: Iterable[str], fraction: float) -> tuple[list[str], list[str]]:
    """(train, held_out) by `holdout_position`; order inside each part is kept."""
    train_part, held = [], []
    for t in texts:
        (held if holdout_position(t) < fraction else train_part).append(t)
    return train_part, held


def write_training_file(positive_texts: Iterable[str], negative_texts: Iterable[str],
                        path: str | os.PathLike, *, seed: int = 0) -> tuple[int, int]:
    """Write fastText's labelled format, shuffled by `seed`; returns (n_positive, n_negative).

    Texts that are empty after `prepare_text` carry no tokens and are skipped.
    """
    lines = [(POSITIVE_LABEL, p) for p in map(prepare_text, positive_texts) if p]
    n_pos = len(lines)
    lines += [(NEGATIVE_LABEL, p) for p in map(prepare_text, negative_texts) if p]
    n_neg = len(lines) - n_pos
    # fastText's single thread reads the file front to back every epoch: an unshuffled file
    # (all positives, then all negatives) would end each epoch on one class.
    order = np.random.default_rng(seed).permutation(len(lines))
    with open(path, "w", encoding="utf-8") as f:
        for i in order:
            label, text = lines[i]
            f.write(f"{label} {text}\n")
    return n_pos, n_neg


@dataclass(frozen=True)
class TrainedModel:
    """Paths written by `train`: the full model and, when quantized, the `.ftz` beside it."""

    model_path: Path
    quantized_path: Path | None
    n_positive: int
    n_negative: int


def train(positive_texts: Iterable[str], negative_texts: Iterable[str],
          out_path: str | os.PathLike, *, seed: int = 0, epoch: int = EPOCH, lr: float = LR,
          dim: int = DIM, word_ngrams: int = WORD_NGRAMS, min_count: int = MIN_COUNT,
          bucket: int = BUCKET, thread: int = THREAD, quantize: bool = False,
          quantize_cutoff: int = QUANTIZE_CUTOFF) -> TrainedModel:
    """Train a `__label__hq` versus `__label__cc` classifier and save it to `out_path` (.bin).

    With `quantize`, also writes `out_path` with suffix `.ftz`: the same model pruned to
    `quantize_cutoff` rows, retrained once on the same file and product-quantized.
    """
    import fasttext  # fasttext-community

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sieve-fasttext-") as tmp:
        train_file = os.path.join(tmp, "train.txt")
        n_pos, n_neg = write_training_file(positive_texts, negative_texts, train_file, seed=seed)
        if n_pos == 0 or n_neg == 0:
            raise ValueError(f"need texts of both classes (got {n_pos} positive, {n_neg} negative)")
        model = fasttext.train_supervised(
            input=train_file, lr=lr, dim=dim, epoch=epoch, minCount=min_count,
            wordNgrams=word_ngrams, bucket=bucket, thread=thread, seed=seed, verbose=0)
        model.save_model(str(out_path))
        quantized_path = None
        if quantize:
            quantized_path = out_path.with_suffix(".ftz")
            model.quantize(input=train_file, retrain=True, qnorm=True, cutoff=quantize_cutoff,
                           dsub=QUANTIZE_DSUB, thread=thread, verbose=0)
            model.save_model(str(quantized_path))
    return TrainedModel(out_path, quantized_path, n_pos, n_neg)


class QualityClassifier:
    """Scores texts with P(`__label__hq`) from a trained model (.bin or .ftz), loaded lazily."""

    def __init__(self, model_path: str | os.PathLike):
        self.model_path = str(model_path)
        self._model = None

    def _load(self):
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(self.model_path)
            labels = set(self._model.get_labels())
            if POSITIVE_LABEL not in labels:
                raise ValueError(f"{self.model_path} has no {POSITIVE_LABEL} label: {sorted(labels)}")
        return self._model

    def score(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        model = self._load()
        # k=-1: every label with its probability, so P(hq) is read directly rather than as
        # 1 - P(top label) (which DCLM does, and which is only right with exactly two labels).
        labels, probs = model.predict([prepare_text(t) for t in texts], k=-1)
        out = []
        for row_labels, row_probs in zip(labels, probs):
            p = 0.0
            for label, prob in zip(row_labels, row_probs):
                if label == POSITIVE_LABEL:
                    p = float(prob)
                    break
            # fastText reports exp(log(p + 1e-5)), which can exceed 1 by up to 1e-5.
            out.append(min(max(p, 0.0), 1.0))
        return out


# --------------------------------------------------------------------------- metrics
def roc_auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney U statistic: P(score of a positive > score of a negative),
    ties counted one half (average ranks). NaN when either class is absent."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(s.size, dtype=np.float64)
    # Average rank (1-based) for each run of tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    avg = (starts + 1 + ends) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def precision_recall_f1(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                        threshold: float = 0.5) -> tuple[float, float, float]:
    """Precision, recall and F1 of "positive iff score >= threshold" (0.0 where undefined)."""
    y = np.asarray(labels, dtype=bool)
    pred = np.asarray(scores, dtype=np.float64) >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
