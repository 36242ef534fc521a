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
`weka`: `usr/share/doc/weka/examples/Reuters{Grain,Corn}-{train,test}.arff`). One fixed recipe:
frozen features (the mean of the last hidden states over the document's tokens for encoders and
the encdec encoder, the last token's for decoders; documents cut at seq_len), standardized with
the training set's mean and deviation, then an L2-regularized logistic regression fitted by
full-batch L-BFGS in float64 from zeros (deterministic). Reported: accuracy, precision, recall
and F1 of the positive class on the test split, and the majority-class accuracy for scale.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator
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
PROBE_L2 = 1e-3           # logistic regression penalty on the (standardized) weights
PROBE_MAX_ITER = 200
PROBE_BATCH = 32


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
    """[bos] + tokens[:seq_len - 2] + [eos] per text: the input of the probe and of fine-tuning."""
    return [[special["bos"]] + sp.encode(t)[:seq_len - 2] + [special["eos"]] for t in texts]


def pad_rows(rows, pad_id: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, real) (B, longest row): the rows padded with pad_id, and where the real tokens are."""
    width = max(len(r) for r in rows)
    x = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        x[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    x = x.to(device)
    return x, x != pad_id


def pooled_features(model, input_ids, real) -> torch.Tensor:
    """(B, d): the last real token's hidden state under causal attention when
    `model.causal_features` (decoders), else the mean over real tokens (bidirectional)."""
    causal = model.causal_features
    h = model.encode(input_ids, attention_mask=real, causal=causal)
    if causal:
        return h[torch.arange(h.shape[0], device=h.device), real.sum(1) - 1]
    m = real[..., None].to(h.dtype)
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
            out.append(pooled_features(model, x, real).float())
    model.train(was_training)
    return torch.cat(out).double().cpu()


def logistic_probe(train_x, train_y, test_x, test_y, l2: float = PROBE_L2,
                   max_iter: int = PROBE_MAX_ITER) -> dict:
    """The fixed recipe: standardize, L2 logistic regression by full-batch L-BFGS from zeros."""
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    xs, ts = (train_x - mean) / std, (test_x - mean) / std
    y = torch.as_tensor(train_y, dtype=torch.float64)
    w = torch.zeros(xs.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(xs @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = (ts @ w + b > 0).long()
    return {**binary_metrics(pred, test_y), "train": len(train_y), "test": len(test_y)}


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
    majority = max(float(truth.float().mean()), 1 - float(truth.float().mean()))
    return {"accuracy": float((pred == truth).float().mean()), "precision": precision,
            "recall": recall, "f1": f1, "majority_accuracy": majority}


def probe(model, sp, probe_dir: str, *, seq_len: int, special: dict, device: str = "cpu",
          autocast: Callable = contextlib.nullcontext) -> dict:
    """{task: metrics} for grain and corn; features are computed once per distinct text."""
    tasks = load_reuters(probe_dir)
    texts = sorted({t for train, test in tasks.values() for t, _ in train + test})
    feats = features(model, sp, texts, seq_len=seq_len, special=special, device=device,
                     autocast=autocast)
    row = {t: i for i, t in enumerate(texts)}
    out = {}
    for task, (train, test) in tasks.items():
        pick = lambda rows: (feats[[row[t] for t, _ in rows]], [y for _, y in rows])
        out[task] = logistic_probe(*pick(train), *pick(test))
    return out


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
                                          special=special, device=device, autocast=autocast)
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
