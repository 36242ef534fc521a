"""Streams `sieve-shards/1` shards into packed, objective-applied training batches.

The pipeline (webdataset stages, run inside each DataLoader worker):

    manifest shards, in a seeded permutation of (seed, epoch)
      -> split by DDP rank, then by DataLoader worker (whole shards, never parts)
      -> tar members: only `<key>.tokens.npy` (np.load, allow_pickle=False) and `<key>.json`
         (json.loads) are read; every other member is skipped unread, nothing is unpickled
      -> packing within each shard, RoBERTa FULL-SENTENCES style: the shard's documents, each
         followed by eos, are concatenated and cut into blocks of seq_len - 1 tokens, and each
         block gets bos in front (fairseq's TokenBlockDataset + PrependTokenDataset). The final
         partial block of each shard is DROPPED, so no sequence holds padding.
      -> the objective (e.g. `objectives.mlm`), seeded by (seed, epoch, sample id)

A packed sequence's identity is (shard name, index of the sequence within that shard): it
depends on the shard's contents alone, not on worker count, rank or shard order, and so does
the objective's randomness.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Union

import numpy as np
import torch
import webdataset as wds

from pipeline import shard_format
from pretrain import objectives

Objective = Callable[..., tuple[np.ndarray, np.ndarray]]

# Separates the shard-order random stream from the objectives' streams.
_SHARD_ORDER_STREAM = 0


def read_manifest(shards_dir: str) -> dict:
    with open(os.path.join(shards_dir, shard_format.MANIFEST), "rb") as f:
        return shard_format.load_manifest(f.read())


def shard_order(shard_paths: list[str], *, seed: int, epoch: int) -> list[str]:
    """The shards in the order of one epoch: a permutation seeded by (seed, epoch) only."""
    rng = np.random.default_rng(np.random.SeedSequence([_SHARD_ORDER_STREAM, seed, epoch]))
    return [shard_paths[i] for i in rng.permutation(len(shard_paths))]


def _is_wanted_member(fname: str) -> bool:
    # Selected before the member's bytes are even read: a `.pickle`/`.pyd` never gets near a
    # decoder. webdataset splits a member name at the first "." of its basename.
    ext = os.path.basename(fname).partition(".")[2].lower()
    return ext in (shard_format.TOKENS_EXT, shard_format.META_EXT)


def decode_samples(samples: Iterable[dict]) -> Iterator[dict]:
    """Raw member bytes -> {shard, key, tokens, meta}; a document without tokens is an error."""
    for sample in samples:
        if shard_format.TOKENS_EXT not in sample:
            raise ValueError(f"{sample['__url__']}: sample {sample['__key__']!r} has no "
                             f".{shard_format.TOKENS_EXT} member")
        tokens = shard_format.decode_tokens(sample[shard_format.TOKENS_EXT])
        if tokens.ndim != 1 or tokens.dtype.kind != "u":
            raise ValueError(f"{sample['__url__']}: {sample['__key__']!r} tokens are "
                             f"{tokens.dtype} {tokens.shape}, expected 1-D unsigned ints")
        meta = json.loads(sample[shard_format.META_EXT]) if shard_format.META_EXT in sample else {}
        yield {"shard": os.path.basename(sample["__url__"]), "key": sample["__key__"],
               "tokens": tokens, "meta": meta}


def pack_sequences(docs: Iterable[dict], *, seq_len: int, bos_id: int,
                   eos_id: int) -> Iterator[dict]:
    """Documents -> {shard, index, tokens[seq_len]} blocks, packed within each shard."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2 (bos + one token), got {seq_len}")
    body = seq_len - 1
    shard, index, pieces, buffered = None, 0, [], 0
    for doc in docs:
        if doc["shard"] != shard:  # a new shard: its predecessor's partial block is dropped
            shard, index, pieces, buffered = doc["shard"], 0, [], 0
        pieces += [doc["tokens"].astype(np.int64), np.array([eos_id], dtype=np.int64)]
        buffered += doc["tokens"].size + 1
        if buffered < body:
            continue
        flat = np.concatenate(pieces)
        full = flat.size // body
        for block in flat[:full * body].reshape(full, body):
            yield {"shard": shard, "index": index,
                   "tokens": np.concatenate([np.array([bos_id], dtype=np.int64), block])}
            index += 1
        pieces, buffered = [flat[full * body:]], flat.size - full * body


def apply_objective(seqs: Iterable[dict], *, objective: Objective, seed: int,
                    epoch: int) -> Iterator[dict]:
    for seq in seqs:
        input_ids, labels = objective(seq["tokens"], seed=seed, epoch=epoch,
                                      sample_id=(seq["shard"], seq["index"]))
        yield {"shard": seq["shard"], "index": seq["index"],
               "input_ids": input_ids, "labels": labels}


def make_objective(name: Union[str, Objective], manifest: Mapping[str, Any]) -> Objective:
    """An objective by name ("mlm"), bound to the manifest's vocabulary; callables pass through."""
    if callable(name):
        return name
    tokenizer = manifest["tokenizer"]
    if name == "mlm":
        return functools.partial(objectives.mlm, vocab_size=int(tokenizer["vocab_size"]),
                                 special_ids=dict(tokenizer["special_ids"]))
    raise ValueError(f"unknown objective {name!r}; known: mlm")


def make_dataset(shards_dir: str, *, seq_len: int, seed: int, epoch: int,
                 objective: Union[str, Objective] = "mlm") -> wds.DataPipeline:
    """One epoch of packed sequences with the objective applied, as an IterableDataset."""
    manifest = read_manifest(shards_dir)
    special = manifest["tokenizer"]["special_ids"]
    urls = [os.path.join(shards_dir, s["path"]) for s in manifest["shards"]]
    if not urls:
        raise ValueError(f"{shards_dir}: the manifest lists no shards")
    return wds.DataPipeline(
        wds.SimpleShardList(shard_order(urls, seed=seed, epoch=epoch)),  # seed=None: no reshuffle
        wds.split_by_node,
        wds.split_by_worker,
        wds.tarfile_to_samples(select_files=_is_wanted_member),
        decode_samples,
        functools.partial(pack_sequences, seq_len=seq_len, bos_id=special["bos"],
                          eos_id=special["eos"]),
        functools.partial(apply_objective, objective=make_objective(objective, manifest),
                          seed=seed, epoch=epoch),
    )


def collate(items: list[dict]) -> dict:
    """Stacks a list of sequences into a batch; keeps each sequence's (shard, index) identity."""
    return {"input_ids": torch.from_numpy(np.stack([it["input_ids"] for it in items])),
            "labels": torch.from_numpy(np.stack([it["labels"] for it in items])),
            "shard": [it["shard"] for it in items],
            "index": torch.tensor([it["index"] for it in items], dtype=torch.int64)}


def make_loader(shards_dir: str, seq_len: int, batch_size: int, seed: int, epoch: int,
                num_workers: int = 0, objective: Union[str, Objective] = "mlm",
                pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader over one epoch. Batches form within a worker; the last one may be short.

    The set of sequences and each one's objective output are the same for any num_workers;
    only their order and grouping into batches change with it.
    """
    dataset = make_dataset(shards_dir, seq_len=seq_len, seed=seed, epoch=epoch,
                           objective=objective)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers,
                                       collate_fn=collate, pin_memory=pin_memory)
