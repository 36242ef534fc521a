"""How pretraining's loader scales with readers (DDP ranks x DataLoader workers), run by hand.

For 1, 2 and 4 readers, each a process as under torchrun, every reader streams its share of one
epoch (`pretrain.data.SieveStream`, objective mlm, stream packing) on synthetic sieve-shards/1
shards, with one global stream (`--partitions 1`, every reader reads every shard) and with
canonical partitions (`--partitions C`, each reader reads the shards of its own ranges). Printed:
wall time, sequences/s over all readers, shard bytes each reader read (mean, max), and the
arithmetic for 8 ranks x 8 workers. This machine has 2 cores, so 4 concurrent readers share them:
read the bytes column as the scaling figure and the rate as what 2 cores give.

    python -m benchmarks.loader_scaling                 # about 25 s
    python -m benchmarks.loader_scaling --quick         # seconds; run by tests/benchmarks
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time

import numpy as np

from pipeline import shard_format
from pretrain import data

VOCAB = 8000


def synthetic_shards(out_dir: str, num_shards: int, docs_per_shard: int, seed: int = 0) -> str:
    """Random-token documents (geometric lengths, mean ~600 tokens) in num_shards shards."""
    rng = np.random.default_rng(seed)
    shards = []
    for s in range(num_shards):
        members, tokens = [], 0
        for d in range(docs_per_shard):
            n = int(rng.geometric(1 / 600)) + 10
            ids = rng.integers(len(shard_format.SPECIAL_IDS), VOCAB, size=n).astype(np.uint16)
            tokens += n
            doc_id = f"synthetic/{s:04d}-{d:06d}"
            members += shard_format.sample_members(shard_format.sample_key(doc_id), ids,
                                                   {"id": doc_id, "sentence_starts": [0]}, None)
        shards.append((members, docs_per_shard, tokens))
    shard_format.write_local(out_dir, shards, tokenizer_sha256="0" * 64, vocab_size=VOCAB,
                             special_ids=shard_format.SPECIAL_IDS, config={"synthetic": True})
    return out_dir


def _read(args) -> dict:
    shards_dir, rank, world, seq_len, batch_size, partitions = args
    opened = []
    original = data.read_shard
    data.read_shard = lambda url: opened.append(url) or original(url)
    stream = data.SieveStream(shards_dir, seq_len=seq_len, batch_size=batch_size, seed=0,
                              epoch=0, rank=rank, world_size=world, partitions=partitions)
    start = time.perf_counter()
    sequences = sum(int(b["index"].numel()) for b in stream.reader_batches(0, 1))
    seconds = time.perf_counter() - start
    return {"sequences": sequences, "seconds": seconds,
            "bytes": sum(os.path.getsize(u) for u in opened), "shards": len(opened)}


def measure(shards_dir: str, readers: int, partitions: int, seq_len: int, batch_size: int) -> dict:
    ctx = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with ctx.Pool(readers) as pool:
        parts = pool.map(_read, [(shards_dir, r, readers, seq_len, batch_size, partitions)
                                 for r in range(readers)])
    wall = time.perf_counter() - start
    total = sum(p["sequences"] for p in parts)
    return {"readers": readers, "partitions": partitions, "wall_s": round(wall, 2),
            "sequences": total, "sequences_per_s": round(total / wall),
            "mean_MB_read": round(np.mean([p["bytes"] for p in parts]) / 1e6, 1),
            "max_MB_read": round(max(p["bytes"] for p in parts) / 1e6, 1),
            "max_shards_read": max(p["shards"] for p in parts)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", default=None, help="a sieve-shards/1 directory (default: synthetic)")
    ap.add_argument("--num_shards", type=int, default=32)
    ap.add_argument("--docs_per_shard", type=int, default=400)
    ap.add_argument("--seq_len", type=int, default=128)
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--readers", default="1,2,4")
    ap.add_argument("--canonical", type=int, default=8, help="partitions of the partitioned runs")
    ap.add_argument("--quick", action="store_true", help="a tiny corpus and 1, 2 readers")
    args = ap.parse_args(argv)
    if args.quick:
        args.num_shards, args.docs_per_shard, args.readers, args.canonical = 8, 20, "1,2", 4
    readers = [int(r) for r in args.readers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        shards_dir = args.shards or synthetic_shards(tmp, args.num_shards, args.docs_per_shard)
        manifest = data.read_manifest(shards_dir)
        corpus_mb = sum(os.path.getsize(data.files.join(shards_dir, s["path"]))
                        for s in manifest["shards"]) / 1e6
        print(f"corpus: {len(manifest['shards'])} shards, {manifest['totals']['tokens']:,} tokens, "
              f"{corpus_mb:.1f} MB; seq_len {args.seq_len}, batch {args.batch_size}, objective mlm")
        rows = []
        for n in readers:
            for partitions in (1, args.canonical):
                row = measure(shards_dir, n, partitions, args.seq_len, args.batch_size)
                rows.append(row)
                print(json.dumps(row))
    print("| readers | partitions | wall s | sequences/s (all readers) | MB read per reader (mean / max) | most shards one reader read |")
    print("|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['readers']} | {r['partitions']} | {r['wall_s']} | {r['sequences_per_s']:,} | "
              f"{r['mean_MB_read']} / {r['max_MB_read']} | {r['max_shards_read']} |")
    one = next(r for r in rows if r["readers"] == 1 and r["partitions"] == 1)
    rate = one["sequences_per_s"]
    print(f"\n8 ranks x 8 workers = 64 readers. One global stream: each reader decodes the whole "
          f"corpus ({corpus_mb:.1f} MB here), 64 x in all, and the loader's total can never pass "
          f"one reader's read-and-pack rate (~{rate:,} sequences/s here). With --partitions 64 "
          f"each reads about 1/64 ({corpus_mb / 64:.2f} MB here, plus a partial shard at each "
          f"end of its range), the corpus is decoded about once, and the total grows with the "
          f"readers up to 64 x one reader's rate (~{64 * rate:,} sequences/s) where cores allow.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
