"""Train the fastText quality classifier from JSONL files and report held-out precision, recall, AUC.

    python -m quality.train_classifier --positive P.jsonl.gz --negative N.jsonl.gz --out model.bin \\
        [--quantize] [--holdout 0.1] [--seed 0]

Each input line is a JSON object with a `text` field (.jsonl or .jsonl.gz; several files may be
given per class). A stable hash of each text (`classifier.holdout_position`) puts it in the
held-out set or not, so the split is the same whatever the seed, the file order or the machine.
The model is trained on the rest, then scored on the held-out texts; precision, recall and F1
are for "high quality iff P(hq) >= 0.5", and ROC AUC is the rank (Mann-Whitney) statistic.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence

from quality import classifier

# Held-out share of each class (DCLM's training script takes a `--valid_frac`; 10% is ours).
HOLDOUT_FRACTION = 0.1
# Decision threshold for precision/recall/F1: the argmax of a two-label softmax.
DECISION_THRESHOLD = 0.5


def read_texts(path: str) -> Iterator[str]:
    """The `text` field of every JSON line of a .jsonl or .jsonl.gz file (blank lines skipped)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            record = json.loads(line)
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str):
                raise ValueError(f"{path}:{lineno}: no string `text` field")
            yield text


def _read_all(paths: Sequence[str]) -> list[str]:
    return [t for p in paths for t in read_texts(p)]


def _size(path) -> str:
    n = os.path.getsize(path)
    return f"{n:,} bytes ({n / 2**20:.1f} MiB)"


def run(positive: Sequence[str], negative: Sequence[str], out: str, *, holdout: float = HOLDOUT_FRACTION,
        seed: int = 0, quantize: bool = False, epoch: int = classifier.EPOCH,
        lr: float = classifier.LR, dim: int = classifier.DIM,
        word_ngrams: int = classifier.WORD_NGRAMS, min_count: int = classifier.MIN_COUNT,
        bucket: int = classifier.BUCKET, quantize_cutoff: int = classifier.QUANTIZE_CUTOFF,
        log=print) -> dict:
    """Train, evaluate on the held-out split, save; returns the numbers it printed."""
    pos_train, pos_held = classifier.split_holdout(_read_all(positive), holdout)
    neg_train, neg_held = classifier.split_holdout(_read_all(negative), holdout)
    log(f"positive: {len(pos_train):,} train, {len(pos_held):,} held out; "
        f"negative: {len(neg_train):,} train, {len(neg_held):,} held out")
    t0 = time.perf_counter()
    trained = classifier.train(
        pos_train, neg_train, out, seed=seed, epoch=epoch, lr=lr, dim=dim,
        word_ngrams=word_ngrams, min_count=min_count, bucket=bucket, quantize=quantize,
        quantize_cutoff=quantize_cutoff)
    result = {"n_train_positive": trained.n_positive, "n_train_negative": trained.n_negative,
              "n_heldout_positive": len(pos_held), "n_heldout_negative": len(neg_held),
              "train_seconds": round(time.perf_counter() - t0, 2),
              "model_path": str(trained.model_path),
              "model_bytes": os.path.getsize(trained.model_path)}
    log(f"trained in {result['train_seconds']:.1f} s (seed {seed}, {epoch} epochs, "
        f"wordNgrams {word_ngrams}, dim {dim}, bucket {bucket:,}"
        f"{', quantized' if quantize else ''})")
    log(f"model: {trained.model_path}  {_size(trained.model_path)}")
    models = [("model", trained.model_path)]
    if trained.quantized_path is not None:
        result["quantized_path"] = str(trained.quantized_path)
        result["quantized_bytes"] = os.path.getsize(trained.quantized_path)
        log(f"quantized: {trained.quantized_path}  {_size(trained.quantized_path)}")
        models.append(("quantized", trained.quantized_path))

    held = pos_held + neg_held
    labels = [1] * len(pos_held) + [0] * len(neg_held)
    if not held:
        log("held-out set is empty: nothing to evaluate")
        return result
    for name, path in models:
        scores = classifier.QualityClassifier(path).score(held)
        p, r, f1 = classifier.precision_recall_f1(labels, scores, DECISION_THRESHOLD)
        auc = classifier.roc_auc(labels, scores)
        result[name] = {"precision": p, "recall": r, "f1": f1, "auc": auc}
        log(f"held-out ({name}, n={len(held):,}): precision {p:.4f}  recall {r:.4f}  "
            f"F1 {f1:.4f} at {DECISION_THRESHOLD}  ROC AUC "
            + ("n/a (one class only)" if auc != auc else f"{auc:.4f}"))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quality.train_classifier", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positive", nargs="+", required=True, help="high-quality JSONL[.gz] file(s)")
    ap.add_argument("--negative", nargs="+", required=True, help="low-quality JSONL[.gz] file(s)")
    ap.add_argument("--out", required=True, help="model path (.bin); --quantize adds the .ftz")
    ap.add_argument("--quantize", action="store_true", help="also write a quantized .ftz")
    ap.add_argument("--holdout", type=float, default=HOLDOUT_FRACTION,
                    help=f"held-out fraction, by text hash (default {HOLDOUT_FRACTION})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch", type=int, default=classifier.EPOCH)
    ap.add_argument("--lr", type=float, default=classifier.LR)
    ap.add_argument("--dim", type=int, default=classifier.DIM)
    ap.add_argument("--word-ngrams", type=int, default=classifier.WORD_NGRAMS)
    ap.add_argument("--min-count", type=int, default=classifier.MIN_COUNT)
    ap.add_argument("--bucket", type=int, default=classifier.BUCKET,
                    help="hashed n-gram rows (fastText default 2,000,000: an ~800 MB .bin at dim 100)")
    ap.add_argument("--quantize-cutoff", type=int, default=classifier.QUANTIZE_CUTOFF)
    args = ap.parse_args(argv)
    if not 0.0 <= args.holdout < 1.0:
        ap.error("--holdout must be in [0, 1)")
    try:
        run(args.positive, args.negative, args.out, holdout=args.holdout, seed=args.seed,
            quantize=args.quantize, epoch=args.epoch, lr=args.lr, dim=args.dim,
            word_ngrams=args.word_ngrams, min_count=args.min_count, bucket=args.bucket,
            quantize_cutoff=args.quantize_cutoff)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
