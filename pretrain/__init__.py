"""Pretrains and evaluates transformers on `sieve-shards/1` corpora: reader, objectives, models.

The modules, in the order data flows through them:

    files.py       file access: local paths directly, URLs (gs://, s3://, ...) through fsspec
    data.py        webdataset stream over a manifest's shards: one seeded global order per
                   epoch, packed into numbered sequences, batches dealt to DDP ranks and
                   DataLoader workers so the order never depends on them; resumable state
    verify.py      the input checked against its manifest: shards exist, each shard's size,
                   sha256 and counts as it is read, token ids below the vocabulary, tokenizer
    objectives.py  load-time objectives (the registry `OBJECTIVES`: mlm, wwm, span, t5, sop,
                   electra, plm, clm, prefix), vectorized numpy functions of (tokens, sentence
                   starts, seed, epoch, sequence index)
    config.py      TrainConfig (what a run is asked to do), the objective's model kind, autocast
    model.py       one compact transformer family (nanoGPT shape, one shared Block): encoder
                   (MLM and SOP heads; ELECTRA generator + discriminator), decoder (causal or
                   prefix-LM mask; XLNet's two-stream attention for plm), encoder-decoder (T5);
                   ALBERT's factorized embedding
    train.py       the training loop: AdamW, warmup + cosine decay, accumulation, clipping, bf16,
                   compile, DDP, logs with tokens/s and MFU, exact-resume checkpoints
    checkpoint.py  save and load runs (torch.load with weights_only=True)
    evaluate.py    held-out bits per byte / fixed-mask MLM / T5 loss / ELECTRA's loss (each
                   objective's `evaluation`), the Reuters probe
    finetune.py    `python -m pretrain.finetune`: a checkpoint fine-tuned on the probe's tasks
    __main__.py    `python -m pretrain --shards OUT_DIR ...`

Nothing here imports Apache Beam; the shard format comes from `pipeline.shard_format`.
"""
