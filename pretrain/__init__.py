"""Pretrains transformer encoders on `sieve-shards/1` corpora: reader, objectives, model, loop.

The modules, in the order data flows through them:

    data.py        webdataset stream over a manifest's shards: seeded shard order per epoch,
                   split by DDP rank and DataLoader worker, documents packed into sequences
    objectives.py  load-time objectives as pure numpy functions of (tokens, seed, epoch,
                   sample id), so masking is dynamic per epoch yet independent of worker count
    model.py       a compact RoBERTa-style encoder (nanoGPT shape) with an MLM head
    train.py       the training loop: AdamW, warmup + cosine decay, clipping, logs, checkpoint
    __main__.py    `python -m pretrain --shards OUT_DIR ...`

Nothing here imports Apache Beam; the shard format comes from `pipeline.shard_format`.
"""
