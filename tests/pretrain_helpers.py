"""Builds small synthetic `sieve-shards/1` directories for the pretrain tests."""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np

from pipeline import shard_format

SPECIAL_IDS = shard_format.SPECIAL_IDS
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


SAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "pipeline", "sample",
                      "sample.jsonl.gz")


def sample_shards(out_dir, *, num_docs: int = 400, max_chars: int = 3000, vocab_size: int = 1000,
                  num_shards: int = 4) -> str:
    """Shards of the bundled sample's real English text, without Beam: the `num_docs` English
    documents with the smallest hash of their id, cut at `max_chars`, a unigram sentencepiece
    model of `vocab_size` trained on them (Sieve's special ids), `.txt` members included."""
    import gzip
    import json

    import sentencepiece as spm

    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    english = [r for r in rows if (r.get("meta") or {}).get("lang") == "en"]
    chosen = sorted(english, key=lambda r: shard_format.stable_hash(str(r["id"])))[:num_docs]
    texts = [r["text"][:max_chars] for r in chosen]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([line for t in texts for line in t.split("\n") if line.strip()]),
        model_writer=model, vocab_size=vocab_size, model_type="unigram", pad_id=0, unk_id=1,
        bos_id=2, eos_id=3, control_symbols=["<mask>"], hard_vocab_limit=False, num_threads=1,
        shuffle_input_sentence=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    dtype = shard_format.token_dtype(sp.get_piece_size())
    docs = [np.array(sp.encode(t), dtype=dtype) for t in texts]
    return write_shards(out_dir, docs, num_shards=num_shards, vocab_size=sp.get_piece_size(),
                        tokenizer=model.getvalue(), texts=texts)


def reuters_fixture(out_dir, *, train: int = 60, test: int = 30, seed: int = 0) -> str:
    """A tiny stand-in for weka's Reuters{Grain,Corn}-{train,test}.arff, in the same ARFF dialect
    (quoted text with \\n and \\' escapes, then a 0/1 class): grain documents use one set of
    words, others another, corn is a subset of grain."""
    rng = np.random.default_rng(seed)
    grain_words = ["corpora", "token", "sentence", "order", "prediction"]
    other_words = ["cat", "sat", "mat", "dogs", "running"]
    filler = ["the", "and", "on", "quickly"]
    out_dir = str(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    for split, n in (("train", train), ("test", test)):
        rows = []
        for i in range(n):
            grain = i % 3 == 0
            corn = grain and i % 2 == 0
            words = list(rng.choice((grain_words if grain else other_words) + filler, size=12))
            text = " ".join(words[:6]) + "\n" + " ".join(words[6:]) + " it's"
            rows.append((text.replace("\n", "\\n").replace("'", "\\'"), grain, corn))
        for task, col in (("Grain", 1), ("Corn", 2)):
            with open(os.path.join(out_dir, f"Reuters{task}-{split}.arff"), "w") as f:
                f.write(f"@relation 'Reuters-21578 {task} {split} (synthetic)'\n\n"
                        "@attribute Text string\n@attribute class-att {0,1}\n\n@data\n\n")
                for row in rows:
                    f.write(f"'{row[0]}',{int(row[col])}\n")
    return out_dir


def write_shards(out_dir, docs: list[np.ndarray], *, num_shards: int, vocab_size: int,
                 extra_members=None, starts: list[list[int]] | None = None,
                 tokenizer: bytes | None = None, texts: list[str] | None = None) -> str:
    """Writes docs as shards + manifest.json under out_dir; returns out_dir as str.

    extra_members: {shard index: [(member name, bytes), ...]} appended after a shard's samples.
    starts: each document's sentence start offsets (default: [0]).
    tokenizer: a sentencepiece model written as tokenizer.model beside the manifest.
    texts: each document's clean text, written as its `.txt` member.
    """
    out_dir = str(out_dir)
    per_shard: list[list[tuple[str, np.ndarray]]] = [[] for _ in range(num_shards)]
    for i, tokens in enumerate(docs):
        doc_id = f"synthetic/doc-{i:05d}"
        doc_starts = starts[i] if starts is not None else [0]
        text = texts[i] if texts is not None else None
        per_shard[shard_format.shard_index(doc_id, num_shards)].append(
            (doc_id, tokens, doc_starts, text))
    shards = []
    for index, shard_docs in enumerate(per_shard):
        members = []
        for doc_id, tokens, doc_starts, text in sorted(shard_docs, key=lambda d: d[0]):
            meta = {"id": doc_id, "source": "synthetic", "lang": "en", "signals": {},
                    "sentence_starts": list(doc_starts)}
            members += shard_format.sample_members(shard_format.sample_key(doc_id), tokens, meta,
                                                   text)
        members += (extra_members or {}).get(index, [])
        shards.append((members, len(shard_docs), sum(d[1].size for d in shard_docs)))
    shard_format.write_local(out_dir, shards, tokenizer_sha256=(
        hashlib.sha256(tokenizer).hexdigest() if tokenizer else "0" * 64),
        vocab_size=vocab_size, special_ids=SPECIAL_IDS, config={"synthetic": True})
    if tokenizer is not None:
        with open(os.path.join(out_dir, shard_format.TOKENIZER_MODEL), "wb") as f:
            f.write(tokenizer)
    return out_dir
