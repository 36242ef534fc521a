"""Evaluation: held-out loss on fixed data (bits per byte, fixed-mask MLM) and a downstream probe.

Held-out loss on documents that training never reads (see `split_shards`), by the `evaluation`
of the objective that trained the model (`objectives.OBJECTIVES`), which follows its kind:

    decoder  bits per byte: each document is [bos] + its tokens, cut into non-overlapping
             windows of seq_len inputs; every document token is predicted exactly once (the eos
             is not: it covers no text). bpb = sum of token NLL in nats / (ln 2 * UTF-8 bytes of
             the document's clean text, the `.txt` member; without it, the bytes of the tokens
             decoded by the tokenizer beside the manifest). The text is fixed and the bytes do not
             depend on the tokenizer, so arms with different tokenizers compare. Prefix-LM models
             are evaluated the same way, with the prefix being bos alone (a causal mask).
    encoder  MLM loss (nats per masked token) under fixed masks: the documents in shard order,
             `stream`-packed, masked by `objectives.mlm` with EVAL_SEED, epoch 0 and the row
             number, so every evaluation (and every arm with the same tokenizer) sees the same
             masks, whatever objective (mlm, wwm, span, sop) the encoder was trained with.
    encdec   T5 span-corruption loss (nats per target token) under fixed noise the same way.
    electra  (an encoder with a generator) its own loss under fixed masks and sampling noise:
             generator MLM + 50 x discriminator loss, with both parts and the accuracy.

Downstream probe (`probe`): Reuters-21578 grain and corn (ModApte splits as shipped with Debian's
`weka`: `usr/share/doc/weka/examples/Reuters{Grain,Corn}-{train,test}.arff`; 1,554 training
documents with 103 grain and 45 corn positives, 604 test). One fixed recipe, the same for every
model kind: frozen features are the mean of the last hidden states over the document's text
tokens (no bos, eos, pad or mask; documents cut at seq_len), under causal attention for decoders
and bidirectional attention for encoders, the encdec's encoder and the plm model's content
stream. An L2 logistic regression (full-batch L-BFGS in float64 from zeros: deterministic) on
features standardized by the training rows; its L2 chosen from PROBE_L2_GRID by stratified
5-fold cross-validation on the training split, scored by average precision; the decision
threshold is the one of best F1 on the out-of-fold scores. Reported on the test split: AUROC and
average precision first, then accuracy, precision, recall and F1 at that threshold, the
majority-class accuracy and the positive rate, with the chosen L2. Beside them, the same probe on
the same architecture with random weights (`random_*`) and on a tf-idf bag of the same tokens
(`bow_*`), so that a reader can tell whether pretraining put anything into the features.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from pipeline import shard_format
from pretrain import data, files, objectives, verify
from pretrain.checkpoint import load_checkpoint, model_from_checkpoint
from pretrain.config import EVAL_TOKENS, TrainConfig, autocast_for
from pretrain.objectives import IGNORE_INDEX

EVAL_SEED = 20_240_601    # seeds the fixed evaluation masks (any constant; never changed)
EVAL_BATCH = 16
PROBE_TASKS = ("grain", "corn")
# Pooling reads the text's own tokens only: never these control tokens (the manifest's special
# ids), whose states say "a document starts / ends here" rather than what it is about. Under
# training's stream packing the eos is the separator before an unrelated document, and its state
# was what the old last-token decoder probe read (issue 32: last-token grain/corn AUROC 0.77 /
# 0.78 against mean pooling's 0.92 / 0.89; pretrain/README.md, Evaluate, measures a tiny decoder
# of 3,000 steps: 0.825 / 0.777 against 0.890 / 0.861, both with the cross-validated L2).
# unk stands for text and counts as content.
POOL_EXCLUDE = ("pad", "bos", "eos", "mask")
# The logistic regression's penalty l2 * |w|^2 (beside the mean log loss) is chosen per task and
# feature set by cross-validation on the training split, from decades 1e-6 .. 1e0. Why a grid
# and not one value: the fixed 1e-3 of the old recipe drove every prediction negative on trained
# features (issue 32: grain F1 0.067 at 1e-3, 0.549 at 1e-5, AUROC 0.83 throughout), because a
# trained model's features have one dominant direction and the signal needs large weights, and
# the best value differs by model and feature set (README, Evaluate: 1e-5 .. 1e-2 chosen). 1e0
# shrinks every weight to about 0 (the majority class), 1e-6 is almost unpenalized;
# scikit-learn's default C = 1 is l2 = 1 / (2 n), about 3e-4 at n = 1,554, inside the grid.
# Decades: the scores move smoothly with log l2, and 7 values x 5 folds keep one task's fits to
# seconds on the CPU (measured: 6 s on 2 busy cores for 1,554 x 128 features).
PROBE_L2_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1e0)
# Stratified folds: 5, scikit-learn's default cv; corn's 45 training positives give 9 per fold.
# Folds are scored by average precision, not F1 (which needs a threshold) nor AUROC (which the
# 93-97% negatives dominate): with rare positives AP reads the top of the ranking, where a
# classifier of the positive class lives (Saito & Rehmsmeier 2015, PLoS ONE 10(3)).
PROBE_CV_FOLDS = 5
PROBE_CV_SEED = 0         # the folds' numpy default_rng seed (any constant; never changed)
PROBE_MAX_ITER = 200      # L-BFGS iterations per fit (the old recipe's)
# L-BFGS's memory: 10 pairs, scipy's L-BFGS-B default (maxcor=10), which scikit-learn's lbfgs
# solver uses; torch's default of 100 costs most of a small fit's time in the two-loop recursion.
PROBE_LBFGS_HISTORY = 10
PROBE_BATCH = 32
# What each baseline adds to a task's metrics, as random_<key> and bow_<key>.
BASELINE_KEYS = ("auroc", "average_precision", "f1", "accuracy", "l2")


def bits_per_byte(nll_nats: float, num_bytes: int) -> float:
    """Sum of token NLL in nats over the UTF-8 bytes of the text those tokens encode, in bits."""
    return nll_nats / (math.log(2) * num_bytes)


# ---------------------------------------------------------------------------------------------
# Held-out data

def split_shards(manifest: dict, holdout: int) -> tuple[list[str], list[str]]:
    """(training shard names, held-out shard names): the last `holdout` shards by name are held
    out when the manifest has more than `holdout` shards; otherwise nothing is."""
    names = sorted(s["name"] for s in manifest["shards"])
    if holdout <= 0 or len(names) <= holdout:
        return names, []
    return names[:-holdout], names[-holdout:]


def read_documents(shards_dir: str, names: Optional[Iterable[str]] = None,
                   max_tokens: Optional[int] = EVAL_TOKENS) -> list[dict]:
    """Documents of the named shards (default: all), in name then id order, as {tokens, bytes}:
    whole documents until `max_tokens` is reached. bytes: the UTF-8 size of the `.txt` member,
    else of the tokens decoded with the tokenizer beside the manifest, else None (no bpb)."""
    manifest = data.read_manifest(shards_dir)
    by_name = {s["name"]: s for s in manifest["shards"]}
    names = sorted(by_name) if names is None else list(names)
    vocab_size = int(manifest["tokenizer"]["vocab_size"])
    sp, docs, total = None, [], 0
    for name in names:
        samples: dict[str, dict] = {}
        url = files.join(shards_dir, by_name[name]["path"])
        with verify.open_verified(url, by_name[name]) as f:  # size and sha256 of the manifest
            for member, payload in shard_format.read_tar(f):
                key, _, ext = os.path.basename(member).partition(".")
                if ext in (shard_format.TOKENS_EXT, shard_format.TEXT_EXT):
                    samples.setdefault(key, {})[ext] = payload
        for key, sample in samples.items():
            tokens = shard_format.decode_tokens(sample[shard_format.TOKENS_EXT])
            verify.check_token_ids(url, key, tokens, vocab_size)
            tokens = tokens.astype(np.int64)
            if tokens.size == 0:
                continue
            if shard_format.TEXT_EXT in sample:
                size = len(sample[shard_format.TEXT_EXT])
            else:
                sp = sp if sp is not None else run_tokenizer(shards_dir, manifest, required=False)
                size = len(sp.decode(tokens.tolist()).encode("utf-8")) if sp else None
            docs.append({"key": key, "tokens": tokens, "bytes": size})
            total += tokens.size
            if max_tokens is not None and total >= max_tokens:
                return docs
    return docs


def run_tokenizer(shards_dir: str, manifest: dict, required: bool = True):
    """The sentencepiece model beside the manifest, checked against the manifest's sha256
    (`verify.check_tokenizer`); False when absent and not required."""
    import sentencepiece as spm

    path = verify.tokenizer_path(shards_dir, manifest)
    if not files.exists(path):
        if not required:
            return False
        raise FileNotFoundError(f"{path}: the probe needs the run's tokenizer")
    return spm.SentencePieceProcessor(model_proto=verify.check_tokenizer(shards_dir, manifest))


def causal_windows(docs: list[dict], seq_len: int, bos_id: int, pad_id: int
                   ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(inputs, labels) rows of seq_len: [bos] + each document cut into non-overlapping windows;
    every document token is a label exactly once; the tail of a last window is pad/IGNORE."""
    for doc in docs:
        full = np.concatenate([[bos_id], doc["tokens"]])
        for lo in range(0, full.size - 1, seq_len):
            inputs = np.full(seq_len, pad_id, dtype=np.int64)
            labels = np.full(seq_len, IGNORE_INDEX, dtype=np.int64)
            piece = full[lo:lo + seq_len + 1]
            inputs[:piece.size - 1], labels[:piece.size - 1] = piece[:-1], piece[1:]
            yield inputs, labels


def packed_rows(docs: list[dict], seq_len: int, special: dict) -> np.ndarray:
    """The documents in order, `stream`-packed as training packs them: (N, seq_len) int64."""
    stream = data.pack_stream(({"tokens": d["tokens"], "starts": [0]} for d in docs),
                              length=seq_len, bos_id=special["bos"], eos_id=special["eos"])
    rows = [build()[0] for _, build in stream]
    return np.stack(rows) if rows else np.zeros((0, seq_len), dtype=np.int64)


def _batches(rows: list, size: int):
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


@torch.no_grad()
def held_out_loss(model, docs: list[dict], *, seq_len: int, special: dict, device: str = "cpu",
                  objective: Optional[str] = None, objective_params: Optional[dict] = None,
                  vocab_size: Optional[int] = None, autocast: Callable = contextlib.nullcontext,
                  batch_size: int = EVAL_BATCH) -> dict:
    """The held-out metrics of `model` (a pretrain.model.Transformer, or anything with its
    `cfg.kind` and call signature) on `docs` (from `read_documents`), by the `evaluation` of
    the objective that trained it (`objectives.OBJECTIVES`; when None, its kind's default)."""
    kind = model.cfg.kind
    if objective is None:
        objective = ("electra" if getattr(model, "generator", None) is not None
                     else objectives.KIND_DEFAULT_OBJECTIVE[kind])
    spec = objectives.OBJECTIVES[objective]
    if spec.kind != kind:
        raise ValueError(f"objective {objective!r} trains a {spec.kind} model, not a {kind}")
    evaluation = spec.evaluation
    was_training = model.training
    model.eval()
    try:
        if evaluation.objective is None:
            return _bpb(model, docs, seq_len, special, device, autocast, batch_size)
        rows = packed_rows(docs, seq_len, special)
        index = np.arange(len(rows))
        vocab = vocab_size or model.cfg.vocab_size
        params = {k: v for k, v in (objective_params or {}).items() if k in evaluation.keep_params}
        out = objectives.OBJECTIVES[evaluation.objective].fn(
            rows, seed=EVAL_SEED, epoch=0, index=index, vocab_size=vocab, special_ids=special,
            **params)
        name = evaluation.metric
        if evaluation.model_loss:  # ELECTRA: its own losses under fixed masks and noise
            return _electra_loss(model, out, name, device, autocast, batch_size)
        nll, count = 0.0, 0
        for lo in range(0, len(rows), batch_size):
            x = torch.from_numpy(out["input_ids"][lo:lo + batch_size]).to(device)
            y = torch.from_numpy(out["labels"][lo:lo + batch_size]).to(device)
            with autocast():
                logits, _ = model(x, labels=y) if kind == "encdec" else model(x)
            if kind == "encoder":
                logits, y = logits[y != IGNORE_INDEX], y[y != IGNORE_INDEX]
            nll += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                                   ignore_index=IGNORE_INDEX, reduction="sum").item()
            count += int((y != IGNORE_INDEX).sum())
        return {name: nll / max(count, 1), "tokens": count, "sequences": len(rows)}
    finally:
        model.train(was_training)


def _electra_loss(model, out: dict, name: str, device, autocast, batch_size) -> dict:
    """Means over the held-out rows of `Transformer.electra_losses`, each batch weighted by its
    masked tokens (the generator's loss) or its real tokens (the discriminator's)."""
    sums, masked, real = {"generator_mlm": 0.0, "discriminator": 0.0,
                          "discriminator_accuracy": 0.0}, 0, 0
    for lo in range(0, len(out["input_ids"]), batch_size):
        batch = {k: torch.from_numpy(out[k][lo:lo + batch_size]).to(device)
                 for k in ("input_ids", "labels", "sample_u")}
        with autocast():
            losses = model.electra_losses(**batch)
        n_masked = int((batch["labels"] != IGNORE_INDEX).sum())
        n_real = int((batch["input_ids"] != model.cfg.pad_id).sum())
        sums["generator_mlm"] += float(losses["generator_mlm"]) * n_masked
        sums["discriminator"] += float(losses["discriminator"]) * n_real
        sums["discriminator_accuracy"] += float(losses["discriminator_accuracy"]) * n_real
        masked, real = masked + n_masked, real + n_real
    result = {"generator_mlm_loss": sums["generator_mlm"] / max(masked, 1),
              "discriminator_loss": sums["discriminator"] / max(real, 1),
              "discriminator_accuracy": sums["discriminator_accuracy"] / max(real, 1)}
    result[name] = result["generator_mlm_loss"] + model.cfg.disc_weight * result["discriminator_loss"]
    return {**result, "tokens": real, "sequences": len(out["input_ids"])}


def _bpb(model, docs, seq_len, special, device, autocast, batch_size) -> dict:
    rows = list(causal_windows(docs, seq_len, special["bos"], special["pad"]))
    nll, count = 0.0, 0
    for chunk in _batches(rows, batch_size):
        x = torch.from_numpy(np.stack([r[0] for r in chunk])).to(device)
        y = torch.from_numpy(np.stack([r[1] for r in chunk])).to(device)
        with autocast():
            logits, _ = model(x)
        nll += F.cross_entropy(logits.float().flatten(0, 1), y.flatten(),
                               ignore_index=IGNORE_INDEX, reduction="sum").item()
        count += int((y != IGNORE_INDEX).sum())
    out = {"loss": nll / max(count, 1), "tokens": count}
    if all(d["bytes"] for d in docs):  # else no text and no tokenizer: bytes unknown
        out["bytes"] = sum(d["bytes"] for d in docs)
        out[objectives.BITS_PER_BYTE.metric] = bits_per_byte(nll, out["bytes"])
    return out


# ---------------------------------------------------------------------------------------------
# Downstream probe: Reuters-21578 grain / corn

_ARFF_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "'": "'", '"': '"', "\\": "\\", "%": "%"}


def _arff_value(text: str, i: int) -> tuple[str, int]:
    """One ARFF value starting at text[i]: quoted (backslash escapes) or bare; returns (value,
    index after it and its comma)."""
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] in "'\"":
        quote, out, i = text[i], [], i + 1
        while i < len(text) and text[i] != quote:
            if text[i] == "\\" and i + 1 < len(text):
                out.append(_ARFF_ESCAPES.get(text[i + 1], text[i + 1]))
                i += 2
            else:
                out.append(text[i])
                i += 1
        value, i = "".join(out), i + 1
    else:
        j = text.find(",", i)
        j = len(text) if j < 0 else j
        value, i = text[i:j].strip(), j
    while i < len(text) and text[i] in " \t":
        i += 1
    return value, i + 1 if i < len(text) and text[i] == "," else i


def read_arff(path: str) -> list[tuple[str, int]]:
    """(text, label) rows of a two-attribute ARFF file (a string, then a {0,1} class)."""
    rows, in_data = [], False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("%"):
                continue
            if not in_data:
                in_data = line.strip().lower() == "@data"
                continue
            text, i = _arff_value(line, 0)
            label, _ = _arff_value(line, i)
            rows.append((text, int(label)))
    return rows


def load_reuters(directory: str) -> dict:
    """{task: (train rows, test rows)} from Reuters{Grain,Corn}-{train,test}.arff."""
    out = {}
    for task in PROBE_TASKS:
        paths = [os.path.join(directory, f"Reuters{task.capitalize()}-{split}.arff")
                 for split in ("train", "test")]
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"probe data missing: {', '.join(missing)} (Debian package "
                                    f"weka, usr/share/doc/weka/examples/)")
        out[task] = tuple(read_arff(p) for p in paths)
    return out


def encode_texts(sp, texts: Iterable[str], *, seq_len: int, special: dict) -> list[list[int]]:
    """[bos] + tokens[:seq_len - 2] + [eos] per text: the input of the probe and of fine-tuning.
    The control tokens frame the text as training framed documents; pooling reads only the
    text's own tokens (`content_mask`)."""
    return [[special["bos"]] + sp.encode(t)[:seq_len - 2] + [special["eos"]] for t in texts]


def pad_rows(rows, pad_id: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, real) (B, longest row): the rows padded with pad_id, and where the real tokens are."""
    width = max(len(r) for r in rows)
    x = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        x[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    x = x.to(device)
    return x, x != pad_id


def content_mask(input_ids, real, special: Optional[dict] = None) -> torch.Tensor:
    """(B, T) bool: the real tokens that are text, i.e. not one of POOL_EXCLUDE's control tokens
    (`special`: the manifest's special ids; default shard_format.SPECIAL_IDS, every Sieve
    tokenizer's). A row without a text token (an empty document) keeps its real tokens, so that
    its mean exists."""
    special = shard_format.SPECIAL_IDS if special is None else special
    control = torch.tensor([int(special[k]) for k in POOL_EXCLUDE if k in special],
                           dtype=input_ids.dtype, device=input_ids.device)
    real = real.bool()
    mask = real & ~torch.isin(input_ids, control)
    empty = ~mask.any(1, keepdim=True)
    return torch.where(empty, real, mask)


def pooled_features(model, input_ids, real, special: Optional[dict] = None) -> torch.Tensor:
    """(B, d): the mean of the last hidden states over the text tokens (`content_mask`: no bos,
    eos, pad or mask), for every kind. Attention: causal when `model.causal_features` (decoders,
    as they were trained), else bidirectional (encoders, the encdec's encoder, and the plm model's
    content stream, as XLNet fine-tunes). The features of the probe and of fine-tuning."""
    h = model.encode(input_ids, attention_mask=real, causal=model.causal_features)
    m = content_mask(input_ids, real, special)[..., None].to(h.dtype)
    return (h * m).sum(1) / m.sum(1)


@torch.no_grad()
def features(model, sp, texts: list[str], *, seq_len: int, special: dict, device: str = "cpu",
             autocast: Callable = contextlib.nullcontext, batch_size: int = PROBE_BATCH) -> torch.Tensor:
    """(N, d) float64 frozen features (`pooled_features`) of `encode_texts`' rows."""
    was_training = model.training
    model.eval()
    out = []
    for chunk in _batches(encode_texts(sp, texts, seq_len=seq_len, special=special), batch_size):
        x, real = pad_rows(chunk, special["pad"], device)
        with autocast():
            out.append(pooled_features(model, x, real, special).float())
    model.train(was_training)
    return torch.cat(out).double().cpu()


def random_model(model, seed: int):
    """The same architecture with untrained weights: `Transformer(model.cfg)` built after
    `torch.manual_seed(seed)`, as `pretrain.train` builds a run's model (so with the run's seed it
    is the trained model's own initialization); the caller's generator is left alone."""
    from pretrain.model import Transformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Transformer(model.cfg)


# --- Ranking and threshold metrics (numpy, vectorized; scikit-learn's definitions) ------------

def _labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores for {y.size} labels")
    return s, y


def auroc(scores, labels) -> float:
    """Area under the ROC curve: the chance that a positive scores above a negative, ties
    counting 1/2 (Mann-Whitney U / (P N), from average ranks). NaN without both classes."""
    s, y = _labels(scores, labels)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    first = np.r_[True, sorted_s[1:] != sorted_s[:-1]]    # the first of each run of ties
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], s.size]                        # exclusive
    ranks = np.empty(s.size)
    ranks[order] = ((starts + ends + 1) / 2)[np.cumsum(first) - 1]  # 1-based average ranks
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _steps(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(distinct scores from the highest, true and false positives at or above each, positives):
    tied scores form one step, as a threshold cannot split them."""
    s, y = _labels(scores, labels)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[s[1:] != s[:-1], True]                     # the last of each run of ties
    return s[last], np.cumsum(y)[last], np.cumsum(~y)[last], int(y.sum())


def average_precision(scores, labels) -> float:
    """sum_k (R_k - R_(k-1)) P_k over the distinct thresholds from the highest, without
    interpolation (scikit-learn's `average_precision_score`); the area under the
    precision-recall curve, whose chance level is the positive rate. NaN without positives."""
    _, tp, fp, pos = _steps(scores, labels)
    if pos == 0:
        return float("nan")
    recall = tp / pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * tp / (tp + fp)))


def best_f1_threshold(scores, labels) -> tuple[float, float]:
    """(threshold, F1): the cut with the best F1 of the positive class when predicting positive
    at score >= threshold; the threshold is halfway to the next lower distinct score (the
    highest such cut of equal F1). +inf (nothing positive) without positives."""
    thresholds, tp, fp, pos = _steps(scores, labels)
    if pos == 0:
        return float("inf"), 0.0
    f1 = 2 * tp / (tp + fp + pos)
    k = int(np.argmax(f1))
    cut = (thresholds[k] + thresholds[k + 1]) / 2 if k + 1 < thresholds.size else thresholds[k]
    return float(cut), float(f1[k])


def binary_metrics(pred, truth) -> dict:
    """Accuracy, precision, recall and F1 of the positive class (1) of 0/1 predictions against
    0/1 truth, and the majority-class accuracy of the truth (what always guessing one class gets)."""
    pred = torch.as_tensor(pred, dtype=torch.long)
    truth = torch.as_tensor(truth, dtype=torch.long)
    tp = int(((pred == 1) & (truth == 1)).sum())
    fp = int(((pred == 1) & (truth == 0)).sum())
    fn = int(((pred == 0) & (truth == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rate = float(truth.double().mean())
    return {"accuracy": float((pred == truth).double().mean()), "precision": precision,
            "recall": recall, "f1": f1, "majority_accuracy": max(rate, 1 - rate)}


# --- The logistic regression and its cross-validation -----------------------------------------

class SparseRows:
    """A sparse (n, d) float64 matrix in compressed rows (numpy indptr, indices, data) with what
    the probe needs: row subsets (`take`) and x @ w, differentiable in w (a gather and an
    index_add, deterministic on the CPU). The bag-of-words baseline's features."""

    def __init__(self, indptr, indices, data, num_cols: int):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.data = np.asarray(data, dtype=np.float64)
        self.shape = (self.indptr.size - 1, int(num_cols))
        lengths = np.diff(self.indptr)
        self._rows = torch.from_numpy(np.repeat(np.arange(self.shape[0]), lengths))
        self._cols = torch.from_numpy(self.indices)
        self._vals = torch.from_numpy(self.data)

    def __len__(self) -> int:
        return self.shape[0]

    def take(self, rows) -> "SparseRows":
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        pick = (np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
                if rows.size else np.zeros(0, dtype=np.int64))
        return SparseRows(np.r_[0, np.cumsum(ends - starts)], self.indices[pick], self.data[pick],
                          self.shape[1])

    def __matmul__(self, w: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.shape[0], dtype=w.dtype)
        return out.index_add(0, self._rows, w[self._cols] * self._vals)


def _take(x, rows):
    return x.take(rows) if isinstance(x, SparseRows) else x[torch.as_tensor(rows)]


def _standardize(train_x, *others):
    """The training rows' mean and deviation applied to every set (dense features)."""
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    return [(x - mean) / std for x in (train_x, *others)]


def fit_logistic(x, y, l2: float,
                 max_iter: int = PROBE_MAX_ITER) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, b) minimizing mean log loss + l2 * |w|^2 (b unpenalized) by full-batch L-BFGS in
    float64 from zeros: deterministic. x: a float64 tensor or `SparseRows`."""
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=PROBE_LBFGS_HISTORY,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(x @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    with one_thread():
        opt.step(closure)
    return w.detach(), b.detach()


@contextlib.contextmanager
def one_thread():
    """torch on one CPU thread for the probe's small fits (restored after): each fit is a few
    hundred small ops, which several threads slow down (measured on 2 busy cores: a 48 x 128 fit
    0.05 s on one thread, 0.16 to 3.4 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def stratified_folds(labels, k: int, seed: int = PROBE_CV_SEED) -> np.ndarray:
    """Fold number (0..k-1) per example: each class in a `default_rng(seed)` permutation, dealt
    round-robin, so every fold holds its share of the rare positives."""
    y = np.asarray(labels).astype(bool)
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    for cls in (False, True):
        members = np.flatnonzero(y == cls)
        fold[rng.permutation(members)] = np.arange(members.size) % k
    return fold


def logistic_probe(train_x, train_y, test_x, test_y, *, standardize: bool = True,
                   l2: Optional[float] = None, grid: Sequence[float] = PROBE_L2_GRID,
                   folds: int = PROBE_CV_FOLDS, seed: int = PROBE_CV_SEED,
                   max_iter: int = PROBE_MAX_ITER) -> dict:
    """The probe's recipe on one task: an L2 logistic regression (`fit_logistic`) on features
    standardized by the training rows (unless `standardize` is false: the bag of words).

    On the training split only, stratified k-fold cross-validation picks the L2 of `grid` with
    the best mean average precision over the held-out folds (the largest of equals), unless `l2`
    is given; the out-of-fold scores at that L2 give the decision threshold of best F1
    (`best_f1_threshold`). A fit on the whole training split at that L2 then scores the test
    split: AUROC and average precision (threshold-free) first, then accuracy, precision, recall
    and F1 at the threshold, the majority-class accuracy and the positive rate (AP's chance
    level). Without two examples of each class in training there is no CV: the grid's largest L2
    (or `l2`) and the logistic's own cut, 0.
    """
    y = np.asarray(train_y).astype(np.int64)
    ty = np.asarray(test_y).astype(np.int64)
    candidates = tuple(grid) if l2 is None else (float(l2),)
    k = min(folds, int(y.sum()), int((1 - y).sum()))
    cv, chosen, threshold = {}, max(candidates), 0.0
    if k >= 2:
        fold = stratified_folds(y, k, seed)
        oof = {c: np.zeros(y.size) for c in candidates}
        per_fold = {c: [] for c in candidates}
        for f in range(k):
            fit_rows, held = fold != f, fold == f
            xf, xh = _take(train_x, fit_rows), _take(train_x, held)
            if standardize:
                xf, xh = _standardize(xf, xh)
            for c in candidates:
                w, b = fit_logistic(xf, y[fit_rows], c, max_iter)
                oof[c][held] = (xh @ w + b).numpy()
                per_fold[c].append(average_precision(oof[c][held], y[held]))
        cv = {c: float(np.mean(v)) for c, v in per_fold.items()}
        best = max(cv.values())
        chosen = max(c for c in candidates if cv[c] >= best)
        threshold, _ = best_f1_threshold(oof[chosen], y)
    xs, ts = _standardize(train_x, test_x) if standardize else (train_x, test_x)
    w, b = fit_logistic(xs, y, chosen, max_iter)
    scores = (ts @ w + b).numpy()
    out = {"auroc": auroc(scores, ty), "average_precision": average_precision(scores, ty),
           **binary_metrics((scores >= threshold).astype(np.int64), ty),
           "positive_rate": float(ty.mean()) if ty.size else float("nan"),
           "l2": chosen, "cv_average_precision": cv.get(chosen, float("nan")),
           "threshold": threshold, "train": int(y.size), "test": int(ty.size)}
    return out


# --- Baselines: random weights and a bag of words ---------------------------------------------

def text_tokens(sp, texts: Iterable[str], *, seq_len: int) -> list[list[int]]:
    """The tokens the model reads of each text (`encode_texts` without bos and eos)."""
    return [sp.encode(t)[:seq_len - 2] for t in texts]


def tfidf(train_rows: Sequence[Sequence[int]],
          *others: Sequence[Sequence[int]]) -> list[SparseRows]:
    """Bag-of-words features of token-id rows as scikit-learn's TfidfVectorizer(sublinear_tf=
    True) computes them: (1 + ln count) x idf, idf = ln((1 + n) / (1 + df)) + 1 with the document
    frequencies df of the n training rows (labels are not read), each row scaled to unit L2 norm.
    Returns the training rows' features, then each of `others`'."""
    width = 1 + max((max(r) for rows in (train_rows, *others) for r in rows if len(r)), default=0)
    df = np.zeros(width)
    for r in train_rows:
        df[np.unique(np.asarray(r, dtype=np.int64))] += 1
    idf = np.log((1 + len(train_rows)) / (1 + df)) + 1
    out = []
    for rows in (train_rows, *others):
        indptr, indices, data = [0], [], []
        for r in rows:
            ids, counts = np.unique(np.asarray(r, dtype=np.int64), return_counts=True)
            v = (1 + np.log(counts)) * idf[ids]
            norm = np.sqrt((v * v).sum())
            indices.append(ids)
            data.append(v / norm if norm > 0 else v)
            indptr.append(indptr[-1] + ids.size)
        out.append(SparseRows(indptr, np.concatenate(indices) if indices else [],
                              np.concatenate(data) if data else [], width))
    return out


def probe(model, sp, probe_dir: str, *, seq_len: int, special: dict, device: str = "cpu",
          autocast: Callable = contextlib.nullcontext, seed: int = 0,
          baselines: bool = True) -> dict:
    """{task: metrics} for grain and corn (`logistic_probe` on the frozen features; computed
    once per distinct text). With `baselines`, each task's metrics also hold the same probe on
    the features of `random_model(model, seed)` (`random_*`: pass the run's seed for the
    model's own initialization) and on a bag of words of the same tokens (`tfidf`, not
    standardized; `bow_*`), each with its own cross-validated L2 (BASELINE_KEYS of each).
    Baselines are deterministic, so a process computes each once (`_BASELINES`): a study's arms
    share the tokenizer, so its bag of words is fitted once, its random weights once per seed."""
    tasks = load_reuters(probe_dir)
    texts = sorted({t for train, test in tasks.values() for t, _ in train + test})
    row = {t: i for i, t in enumerate(texts)}
    splits = {task: ([row[t] for t, _ in train], [y for _, y in train],
                     [row[t] for t, _ in test], [y for _, y in test])
              for task, (train, test) in tasks.items()}
    kw = dict(seq_len=seq_len, special=special, device=device, autocast=autocast)

    def on(x):  # the probe of every task on features x (N, d), rows as `texts`
        return {task: logistic_probe(x[tr], ytr, x[te], yte)
                for task, (tr, ytr, te, yte) in splits.items()}

    def bag_of_words():
        tokens = text_tokens(sp, texts, seq_len=seq_len)
        out = {}
        for task, (tr, ytr, te, yte) in splits.items():
            bow_tr, bow_te = tfidf([tokens[i] for i in tr], [tokens[i] for i in te])
            out[task] = logistic_probe(bow_tr, ytr, bow_te, yte, standardize=False)
        return out

    out = on(features(model, sp, texts, **kw))
    if baselines:
        common = (hashlib.sha256(repr(sorted(tasks.items())).encode()).hexdigest(),
                  hashlib.sha256(sp.serialized_model_proto()).hexdigest(), seq_len,
                  tuple(sorted((k, int(v)) for k, v in special.items())))
        found = {
            "random_": _memo(("random", *common, repr(model.cfg), seed, str(device)),
                             lambda: on(features(random_model(model, seed).to(device), sp,
                                                 texts, **kw))),
            "bow_": _memo(("bow", *common), bag_of_words)}
        for task, result in out.items():
            for prefix, per_task in found.items():
                result.update({prefix + k: per_task[task][k] for k in BASELINE_KEYS})
    return out


_BASELINES: dict = {}  # (what, data, tokenizer, ...) -> {task: metrics}; see `probe`
BASELINE_MEMO_SIZE = 16   # entries kept (each a few numbers per task); the oldest goes first


def _memo(key: tuple, compute: Callable[[], dict]) -> dict:
    if key not in _BASELINES:
        while len(_BASELINES) >= BASELINE_MEMO_SIZE:
            _BASELINES.pop(next(iter(_BASELINES)))
        _BASELINES[key] = compute()
    return copy.deepcopy(_BASELINES[key])


# ---------------------------------------------------------------------------------------------
# A run's evaluations

class Evaluator:
    """The held-out documents (read once) and the probe, for evaluations during and after a run.

    Held-out data: `eval_shards` (a second pipeline output, which must share the training
    tokenizer) read whole up to eval_tokens; else the training output's last `holdout_shards`
    shards by name, which training then never reads; else (a single shard) none.
    """

    def __init__(self, cfg: TrainConfig, manifest: dict, heldout: list[str]):
        self.cfg, self.manifest, self.docs, self.source = cfg, manifest, [], None
        if cfg.eval_shards:
            other = data.read_manifest(cfg.eval_shards)
            if other["tokenizer"]["sha256"] != manifest["tokenizer"]["sha256"]:
                raise ValueError(f"{cfg.eval_shards} was tokenized with another tokenizer than "
                                 f"{cfg.shards}: write it with --tokenizer {cfg.shards}/tokenizer.model")
            self.docs = read_documents(cfg.eval_shards, None, cfg.eval_tokens)
            self.source = cfg.eval_shards
        elif heldout:
            self.docs = read_documents(cfg.shards, heldout, cfg.eval_tokens)
            self.source = f"{cfg.shards} shards {', '.join(heldout)}"

    def __call__(self, model, device: str, autocast, final: bool = False) -> dict:
        tok = self.manifest["tokenizer"]
        special = {k: int(v) for k, v in tok["special_ids"].items()}
        out = {}
        if self.docs:
            out.update(held_out_loss(
                model, self.docs, seq_len=self.cfg.seq_len, special=special, device=device,
                objective=self.cfg.objective, objective_params=self.cfg.objective_params,
                vocab_size=int(tok["vocab_size"]),
                autocast=autocast))
        if final and self.cfg.probe_data:
            sp = run_tokenizer(self.cfg.shards, self.manifest)
            out["probe"] = probe(model, sp, self.cfg.probe_data, seq_len=self.cfg.seq_len,
                                 special=special, device=device, autocast=autocast,
                                 seed=self.cfg.seed)
        return out


def run_evaluation(model, cfg: TrainConfig, final: bool = True) -> dict:
    """Evaluates a model as a run with `cfg` would (used by `python -m pretrain.evaluate`)."""
    manifest = data.read_manifest(cfg.shards)
    _, heldout = split_shards(manifest, cfg.holdout_shards)
    return Evaluator(cfg, manifest, heldout)(model, cfg.device, autocast_for(cfg, cfg.device), final)


# ---------------------------------------------------------------------------------------------
# Command line: evaluate a checkpoint after the fact

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pretrain.evaluate",
                                description="Held-out loss and the Reuters probe of a checkpoint.")
    p.add_argument("--checkpoint", required=True, help="RUN_DIR/checkpoint.pt")
    p.add_argument("--shards", default=None,
                   help="training pipeline output (default: the checkpoint's); its tokenizer is "
                        "used by the probe, and its held-out shards unless --eval_shards")
    p.add_argument("--eval_shards", default=None,
                   help="a second pipeline output to evaluate on (default: the shards the run "
                        "held out)")
    p.add_argument("--eval_tokens", type=int, default=None, help="cap on held-out tokens")
    p.add_argument("--probe_data", default=None, help="directory of Reuters*.arff files")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    ckpt = load_checkpoint(args.checkpoint, args.device)
    tcfg = ckpt["train_config"]
    tcfg.update({k: v for k, v in (("shards", args.shards), ("eval_shards", args.eval_shards),
                                   ("eval_tokens", args.eval_tokens), ("device", args.device),
                                   ("probe_data", args.probe_data)) if v is not None})
    model = model_from_checkpoint(ckpt).to(args.device)
    cfg = TrainConfig(**{k: v for k, v in tcfg.items()
                                   if k in TrainConfig.__dataclass_fields__})
    result = run_evaluation(model, cfg, final=True)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
