"""Tokenizer stages: train sentencepiece on a hash-chosen sample of kept documents, then encode.

The sample is chosen on small records: the `tokenizer_sample_docs` kept documents with the
smallest hash of their id (a Beam combiner over (hash, id, characters), so no worker holds more
than its share plus the running top-N), cut to the first ones in hash order whose texts fit in
`tokenizer_sample_chars`. Only then are those documents' texts collected. Training runs on sorted
input with a fixed thread count, so the model is the same on every runner and machine.
"""

from __future__ import annotations

import hashlib
import io

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pipeline import records, shard_format
from pipeline.files import create_file
from quality.text import sentences

# Reserved ids, the same in every Sieve tokenizer so objectives need no lookup table.
SPECIAL_IDS = shard_format.SPECIAL_IDS  # the ids trained into every Sieve tokenizer
MASK_PIECE = "<mask>"
# Characters of each sampled document used for training: no single document dominates.
SAMPLE_CHARS_PER_DOC = 20_000
# Threads of sentencepiece training. The model depends on the thread count (its E-step sums in
# per-thread parts; measured: 1, 2 and 4 threads give three different models, each the same on
# every rerun), so it is fixed here, never taken from the machine's core count.
TRAIN_THREADS = 4
# sentencepiece skips training lines longer than this many bytes (its default is 4192).
MAX_SENTENCE_BYTES = 8192
# Unigram LM (Kudo 2018) as in T5 and ALBERT; 0.9995 character coverage is sentencepiece's
# recommendation for languages with large character sets and harmless for English.
MODEL_TYPE = "unigram"
CHARACTER_COVERAGE = 0.9995


def train_sentencepiece(texts: list[str], vocab_size: int) -> bytes:
    """Trains a unigram sentencepiece model on `texts`, one sentence per training line.

    Training reads an iterator and writes to memory: a model trained from a file records that
    file's (temporary) path in its trainer spec, which would make two runs' models differ.
    """
    import sentencepiece as spm

    def training_lines():
        for text in texts:
            for sentence in sentences(text):
                yield sentence.replace("\n", " ")

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=training_lines(), model_writer=model, vocab_size=vocab_size,
        model_type=MODEL_TYPE, character_coverage=CHARACTER_COVERAGE,
        pad_id=SPECIAL_IDS["pad"], unk_id=SPECIAL_IDS["unk"], bos_id=SPECIAL_IDS["bos"],
        eos_id=SPECIAL_IDS["eos"], control_symbols=[MASK_PIECE], hard_vocab_limit=False,
        num_threads=TRAIN_THREADS, shuffle_input_sentence=False, max_sentence_length=MAX_SENTENCE_BYTES,
        minloglevel=2)
    return model.getvalue()


def vocab_text(model: bytes) -> bytes:
    """The `.vocab` companion file: one `piece<TAB>score` per id, as sentencepiece writes it."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    return "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n"
                   for i in range(sp.get_piece_size())).encode("utf-8")


def check_special_ids(model: bytes) -> int:
    """Vocabulary size of a model, after checking it reserves Sieve's special ids."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_proto=model)
    found = {"pad": sp.pad_id(), "unk": sp.unk_id(), "bos": sp.bos_id(), "eos": sp.eos_id(),
             "mask": sp.piece_to_id(MASK_PIECE)}
    if found != SPECIAL_IDS:
        raise ValueError(f"tokenizer special ids {found} differ from Sieve's {SPECIAL_IDS}")
    return sp.get_piece_size()


class TrainTokenizer(beam.DoFn):
    """The sample's (hash, id, text) records and the chosen ids in; a dict {model, error,
    sample} out, the model written beside the shards. `sample` counts the chosen documents and
    those whose text arrived: they must be equal (`pipeline.accounting.problems` fails a run
    where they are not), since a sample that lost or repeated a text trains another model."""

    def __init__(self, vocab_size: int, output: str):
        self.vocab_size = vocab_size
        self.output = output

    def process(self, sample, chosen):
        rows = sorted(sample)
        texts = [text for _, _, text in rows]
        counts = {"chosen": len(chosen), "collected": len(rows),
                  "distinct": len({doc_id for _, doc_id, _ in rows}),
                  "chars": sum(map(len, texts))}
        if not texts:
            yield {"model": None, "error": "no kept documents to train a tokenizer on", "sample": counts}
            return
        try:
            model = train_sentencepiece(texts, self.vocab_size)
        except Exception as e:
            yield {"model": None, "error": f"tokenizer training failed: {type(e).__name__}: {e}",
                   "sample": counts}
            return
        _write(FileSystems.join(self.output, shard_format.TOKENIZER_MODEL), model)
        _write(FileSystems.join(self.output, shard_format.TOKENIZER_VOCAB), vocab_text(model))
        yield {"model": model, "error": None, "sample": counts}


class LoadTokenizer(beam.DoFn):
    """A given model path in; the same {model, error} dict out, copied beside the shards."""

    def __init__(self, output: str):
        self.output = output

    def process(self, path):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            model = f.read()
        check_special_ids(model)
        _write(FileSystems.join(self.output, shard_format.TOKENIZER_MODEL), model)
        _write(FileSystems.join(self.output, shard_format.TOKENIZER_VOCAB), vocab_text(model))
        yield {"model": model, "error": None}


def tokenizer_info(tok: dict) -> dict:
    sample = {"sample": tok["sample"]} if "sample" in tok else {}
    if tok["model"] is None:
        return {"sha256": None, "vocab_size": 0, "error": tok["error"], **sample}
    return {"sha256": hashlib.sha256(tok["model"]).hexdigest(),
            "vocab_size": check_special_ids(tok["model"]), "error": None, **sample}


def _write(path: str, data: bytes) -> None:
    with create_file(path) as f:
        f.write(data)


def _sample_hash(doc_id: str) -> int:
    return shard_format.stable_hash("tokenizer-sample:" + doc_id)


def sample_candidate(cand: dict) -> tuple[int, str, int]:
    """(hash, id, characters it would give) of a kept document's dedup candidate record (`id`,
    `chars`: its text's length): the small record the sample is chosen on."""
    return _sample_hash(cand["id"]), cand["id"], min(cand["chars"], SAMPLE_CHARS_PER_DOC)


def choose_sample(candidates: list, max_chars: int) -> frozenset:
    """Ids of the candidates, in hash order, up to and including the one that reaches
    `max_chars` (so at least one document whenever there is one)."""
    chosen, total = [], 0
    for _, doc_id, chars in sorted(candidates):
        if total >= max_chars:
            break
        chosen.append(doc_id)
        total += chars
    return frozenset(chosen)


def sample_text(doc: dict, chosen: frozenset):
    """(hash, id, text) of a chosen document, the training input."""
    if doc["id"] in chosen:
        yield _sample_hash(doc["id"]), doc["id"], doc["text"][:SAMPLE_CHARS_PER_DOC]


def encode_document(sp, text: str, dtype: np.dtype) -> tuple[np.ndarray, list[int]]:
    """Token ids of a document and the token offset where each sentence starts."""
    pieces = sp.encode(sentences(text)) if text else []
    starts, total = [], 0
    for ids in pieces:
        starts.append(total)
        total += len(ids)
    tokens = np.fromiter((t for ids in pieces for t in ids), dtype=dtype, count=total)
    return tokens, starts


class Encoder:
    """Encodes kept documents with the run's model ({model, error}, a side input): a document
    gains `tokens` and `sentence_starts`, or becomes a dead letter (no model, or an error)."""

    def __init__(self):
        self._sp = None
        self._model = None
        self.tokens = Metrics.counter("tokenize", "tokens")

    def __call__(self, doc: dict, tok: dict) -> tuple[str, dict]:
        """("docs", tokenized document) or (records.DEAD_LETTER_TAG, dead letter)."""
        if tok["model"] is None:
            return records.DEAD_LETTER_TAG, records.dead_letter(
                doc["id"], records.TOKENIZE_STAGE, tok["error"], doc["bytes"], doc["text"], source=doc["source"])
        model = tok["model"]
        # The side input is the same object for every element of a bundle: compare identity
        # first, bytes only when it changes (hashing the model per document cost 4% of a run).
        if model is not self._model and model != self._model:
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_proto=model)
        self._model = model
        dtype = shard_format.token_dtype(self._sp.get_piece_size())
        try:
            tokens, starts = encode_document(self._sp, doc["text"], dtype)
        except Exception as e:
            return records.DEAD_LETTER_TAG, records.dead_letter(
                doc["id"], records.TOKENIZE_STAGE, f"{type(e).__name__}: {e}", doc["bytes"], doc["text"],
                source=doc["source"])
        self.tokens.inc(len(tokens))
        return "docs", {**doc, "tokens": tokens, "sentence_starts": starts}
