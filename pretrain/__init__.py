"""Pretrains transformer encoders on `sieve-shards/1` corpora: reader, objectives, model, loop.

The modules, in the order data flows through them:

    data.py        webdataset stream over a manifest's shards: one seeded global order per
                   epoch, packed into numbered sequences, batches dealt to DDP ranks and
                   DataLoader workers so the order never depends on them; resumable state
    objectives.py  load-time objectives (mlm, wwm, span, t5, sop, clm, prefix) as vectorized
                   numpy functions of (tokens, sentence starts, seed, epoch, sequence index)
    model.py       a compact RoBERTa-style encoder (nanoGPT shape) with an MLM head, optional
                   SOP head, causal and prefix-LM attention masks
    train.py       the training loop: AdamW, warmup + cosine decay, clipping, logs, checkpoint
    __main__.py    `python -m pretrain --shards OUT_DIR ...`

Nothing here imports Apache Beam; the shard format comes from `pipeline.shard_format`.
"""
