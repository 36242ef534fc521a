"""Builds small synthetic `sieve-shards/1` directories for the pretrain tests."""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np

from pipeline import shard_format

SPECIAL_IDS = {"pad": 0, "unk": 1, "bos": 2, "eos": 3, "mask": 4}
NUM_SPECIAL = len(SPECIAL_IDS)


def pattern_docs(num_docs: int, *, vocab_size: int, seed: int = 0, min_len: int = 40,
                 max_len: int = 300, alphabet: int | None = None) -> list[np.ndarray]:
    """Documents that repeat a short random pattern: learnable by copying from context.

    alphabet: draw the patterns from only the first `alphabet` ordinary ids, with Zipf-like
    frequencies, so that even a few steps of training find structure (default: all ids).
    """
    rng = np.random.default_rng(seed)
    ids = np.arange(NUM_SPECIAL, vocab_size if alphabet is None else NUM_SPECIAL + alphabet)
    weights = 1.0 / np.arange(1, ids.size + 1) if alphabet is not None else None
    weights = None if weights is None else weights / weights.sum()
    docs = []
    for _ in range(num_docs):
        pattern = rng.choice(ids, size=rng.integers(3, 9), p=weights)
        length = int(rng.integers(min_len, max_len))
        docs.append(np.resize(pattern, length).astype(shard_format.token_dtype(vocab_size)))
    return docs


def sentence_starts(docs: list[np.ndarray], *, seed: int = 0, min_len: int = 3,
                    max_len: int = 20) -> list[list[int]]:
    """Synthetic sentence start offsets for each document: sentences of min_len..max_len."""
    rng = np.random.default_rng(seed)
    out = []
    for doc in docs:
        starts, pos = [], 0
        while pos < doc.size:
            starts.append(pos)
            pos += int(rng.integers(min_len, max_len + 1))
        out.append(starts)
    return out


def tiny_sentencepiece(vocab_size: int = 200) -> bytes:
    """A real unigram sentencepiece model with Sieve's special ids, trained on a few KB."""
    import sentencepiece as spm

    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "mat", "running", "quickly", "unbelievable", "dogs",
             "and", "pretraining", "corpora", "token", "sentence", "order", "prediction"]
    lines = [" ".join(rng.choice(words, size=int(rng.integers(4, 12)))) for _ in range(400)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", pad_id=0, unk_id=1, bos_id=2, eos_id=3,
        control_symbols=["<mask>"], hard_vocab_limit=False, num_threads=1,
        shuffle_input_sentence=False, minloglevel=2)
    return model.getvalue()


def write_shards(out_dir, docs: list[np.ndarray], *, num_shards: int, vocab_size: int,
                 extra_members=None, starts: list[list[int]] | None = None,
                 tokenizer: bytes | None = None) -> str:
    """Writes docs as shards + manifest.json under out_dir; returns out_dir as str.

    extra_members: {shard index: [(member name, bytes), ...]} appended after a shard's samples.
    starts: each document's sentence start offsets (default: [0]).
    tokenizer: a sentencepiece model written as tokenizer.model beside the manifest.
    """
    out_dir = str(out_dir)
    os.makedirs(os.path.join(out_dir, shard_format.SHARDS_DIR), exist_ok=True)
    per_shard: list[list[tuple[str, np.ndarray]]] = [[] for _ in range(num_shards)]
    for i, tokens in enumerate(docs):
        doc_id = f"synthetic/doc-{i:05d}"
        doc_starts = starts[i] if starts is not None else [0]
        per_shard[shard_format.shard_index(doc_id, num_shards)].append((doc_id, tokens, doc_starts))
    entries = []
    for index, shard_docs in enumerate(per_shard):
        members = []
        for doc_id, tokens, doc_starts in sorted(shard_docs, key=lambda d: d[0]):
            meta = {"id": doc_id, "source": "synthetic", "lang": "en", "signals": {},
                    "sentence_starts": list(doc_starts)}
            members += shard_format.sample_members(shard_format.sample_key(doc_id), tokens, meta)
        members += (extra_members or {}).get(index, [])
        buf = io.BytesIO()
        shard_format.write_tar(buf, members)
        name = shard_format.shard_name(index)
        with open(os.path.join(out_dir, shard_format.SHARDS_DIR, name), "wb") as f:
            f.write(buf.getvalue())
        entries.append({"name": name, "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
                        "samples": len(shard_docs),
                        "tokens": int(sum(t.size for _, t, _ in shard_docs)),
                        "bytes": len(buf.getvalue())})
    if tokenizer is not None:
        with open(os.path.join(out_dir, shard_format.TOKENIZER_MODEL), "wb") as f:
            f.write(tokenizer)
    manifest = shard_format.build_manifest(shards=entries, tokenizer_sha256=(
        hashlib.sha256(tokenizer).hexdigest() if tokenizer else "0" * 64),
                                           vocab_size=vocab_size, special_ids=SPECIAL_IDS,
                                           config={"synthetic": True})
    with open(os.path.join(out_dir, shard_format.MANIFEST), "wb") as f:
        f.write(shard_format.dump_manifest(manifest))
    return out_dir
