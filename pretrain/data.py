"""Streams `sieve-shards/1` shards as packed, objective-applied batches: deterministic, resumable.

One global stream per epoch, defined the same way in every process:

    shards in a permutation seeded by (seed, epoch)
      -> each shard read whole with webdataset: only `<key>.tokens.npy` (np.load,
         allow_pickle=False) and `<key>.json` members; every other member is skipped unread,
         nothing is unpickled; its bytes hashed as they are read and checked against the
         manifest before any of its documents is used (`pretrain.verify`)
      -> its documents in a permutation seeded by (seed, epoch, shard name)
      -> packed into sequences of seq_len tokens (see PACKINGS), numbered 0, 1, 2, ... (the
         global sequence index)
      -> sequences [start + b*B, start + (b+1)*B) form global batch b

Global batch b belongs to DDP rank b % world_size; a rank's k-th batch (b = k*world + rank) is
made by its DataLoader worker k % num_workers, and since a DataLoader takes batches from its
workers round-robin, every rank sees its batches in global order whatever num_workers is. Every
worker reads and packs the whole stream (reading is cheap next to training) but materializes and
applies the objective only to its own batches. The objective is seeded by (seed, epoch, global
sequence index), so a sequence's masking does not depend on workers, ranks or batch size either.

Canonical partitions (`partitions` C > 1, stream packing): the epoch's document stream above is
cut into C equal token ranges, each packed on its own; global batch b is local batch b // C of
partition b % C. The order depends on C, never on the readers; a reader (rank, worker) gets the
batches b with (b - first) % (R x W) = its number, so when R x W divides C it reads only the
shards its C / (R x W) ranges overlap, about 1 / (R x W) of them, instead of every shard. With
R x W not dividing C the order is the same and readers read more. See `SieveStream.partition_plan`.

Resume: the state is (epoch, position), position = sequences of the epoch already consumed by all
ranks together; a stream started at `start=position` yields exactly what the uninterrupted one
would have from there (with the same batch size and world size, also the same batches).
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Optional

import numpy as np
import torch
import webdataset as wds

from pipeline import shard_format
from pretrain import files, objectives, verify

# Packing modes (RoBERTa, Liu et al. 2019, section 4.2; fairseq TokenBlockDataset break_mode):
#   stream          documents, each followed by eos, concatenated and cut every seq_len - 1
#                   tokens wherever that falls (fairseq break_mode "none", GPT-style); bos first.
#                   No padding; only the epoch's last partial sequence is dropped.
#   full_sentences  RoBERTa FULL-SENTENCES (break_mode "complete"): whole sentences packed
#                   greedily, crossing document boundaries with eos between documents; padded.
#   doc_sentences   RoBERTa DOC-SENTENCES (break_mode "complete_doc"): the same, but a sequence
#                   never crosses a document boundary; padded. The packing SOP needs.
# In the sentence modes a sentence longer than a sequence is cut into full-length pieces.
PACKINGS = ("stream", "full_sentences", "doc_sentences")

# Random streams of the loader, apart from the objectives' streams.
_SHARD_ORDER_STREAM = 0
_DOC_ORDER_STREAM = 1

# sentencepiece marks a piece that begins a word with U+2581 (Kudo & Richardson 2018, sec. 3.1).
WORD_BOUNDARY = "\u2581"


def read_manifest(shards_dir: str) -> dict:
    """The manifest of a local directory or of a URL (`pretrain.files`: gs://, s3://, ...)."""
    return shard_format.load_manifest(files.read_bytes(files.join(shards_dir, shard_format.MANIFEST)))


def shard_order(shard_paths: list[str], *, seed: int, epoch: int) -> list[str]:
    """The shards in the order of one epoch: a permutation seeded by (seed, epoch) only."""
    rng = np.random.default_rng(np.random.SeedSequence([_SHARD_ORDER_STREAM, seed, epoch]))
    return [shard_paths[i] for i in rng.permutation(len(shard_paths))]


def doc_order(num_docs: int, *, seed: int, epoch: int, shard: str) -> np.ndarray:
    """The documents of one shard in the order of one epoch: seeded by (seed, epoch, shard)."""
    rng = np.random.default_rng(np.random.SeedSequence(
        [_DOC_ORDER_STREAM, seed, epoch, shard_format.stable_hash(shard)]))
    return rng.permutation(num_docs)


def word_start_table(model: str | bytes) -> np.ndarray:
    """Boolean lookup over the vocabulary: does this piece begin a word (starts with U+2581)?

    Control and unknown pieces are not word starts (the objectives treat specials separately).
    model: a path to a sentencepiece model or its bytes.
    """
    import sentencepiece as spm

    sp = (spm.SentencePieceProcessor(model_proto=model) if isinstance(model, bytes)
          else spm.SentencePieceProcessor(model_file=model))
    return np.array([sp.id_to_piece(i).startswith(WORD_BOUNDARY)
                     and not (sp.is_control(i) or sp.is_unknown(i))
                     for i in range(sp.get_piece_size())], dtype=bool)


def _is_wanted_member(fname: str) -> bool:
    # Selected before the member's bytes are even read: a `.pickle`/`.pyd` never gets near a
    # decoder. webdataset splits a member name at the first "." of its basename.
    ext = os.path.basename(fname).partition(".")[2].lower()
    return ext in (shard_format.TOKENS_EXT, shard_format.META_EXT)


def decode_samples(samples: Iterable[dict], vocab_size: Optional[int] = None) -> Iterator[dict]:
    """Raw member bytes -> {key, tokens, starts}; a document without tokens is an error, and so
    is a token id not below `vocab_size` (when given: the manifest's tokenizer's)."""
    for sample in samples:
        if shard_format.TOKENS_EXT not in sample:
            raise ValueError(f"{sample['__url__']}: sample {sample['__key__']!r} has no "
                             f".{shard_format.TOKENS_EXT} member")
        try:
            tokens = shard_format.decode_tokens(sample[shard_format.TOKENS_EXT])
        except ValueError as e:  # not an .npy array, or a pickled one (refused)
            raise verify.InputError(f"{sample['__url__']}: sample {sample['__key__']!r}: its "
                                    f".{shard_format.TOKENS_EXT} member cannot be read: {e}") from e
        if tokens.ndim != 1 or tokens.dtype.kind != "u":
            raise ValueError(f"{sample['__url__']}: {sample['__key__']!r} tokens are "
                             f"{tokens.dtype} {tokens.shape}, expected 1-D unsigned ints")
        verify.check_token_ids(sample["__url__"], sample["__key__"], tokens, vocab_size)
        meta = json.loads(sample[shard_format.META_EXT]) if shard_format.META_EXT in sample else {}
        starts = [s for s in meta.get("sentence_starts", [0]) if 0 <= s < tokens.size]
        yield {"key": sample["__key__"], "tokens": tokens, "starts": starts}


def read_shard(url: str) -> list[dict]:
    """All documents of one shard, in the shard's own (id) order: a local path or a URL, opened
    by `pretrain.files` (fsspec) and read by webdataset's tar iterators.

    A `verify.ShardURL` is checked as it is read: the bytes are hashed on their way to the tar
    reader, and once the shard is read to its end its size, sha256, document and token counts
    must be its manifest entry's and its ids below the vocabulary size (`verify.InputError`)."""
    entry, vocab_size = getattr(url, "entry", None), getattr(url, "vocab_size", None)
    with verify.open_verified(url, entry) as stream:
        members = wds.tariterators.tar_file_expander([{"url": url, "stream": stream}],
                                                     select_files=_is_wanted_member)
        docs = list(decode_samples(wds.tariterators.group_by_keys(members), vocab_size))
    verify.check_counts(url, docs, entry)
    return docs


def epoch_documents(urls: list[str], *, seed: int, epoch: int, shuffle: bool = True,
                    first_shard: int = 0) -> Iterator[dict]:
    """The epoch's documents: shards in `shard_order`, documents shuffled within each shard.

    A shard is read whole (its tokens, not its text) so that its documents can be permuted
    exactly; memory holds one shard at a time.
    """
    for url in shard_order(urls, seed=seed, epoch=epoch)[first_shard:]:
        docs = read_shard(url)
        order = (doc_order(len(docs), seed=seed, epoch=epoch, shard=files.basename(url))
                 if shuffle else range(len(docs)))
        for i in order:
            yield docs[i]


# A packed sequence, lazily: (index, build) where build() -> (tokens int64, sentence starts bool).
Packed = tuple[int, Callable[[], tuple[np.ndarray, np.ndarray]]]


def pack_stream(docs: Iterable[dict], *, length: int, bos_id: int, eos_id: int,
                first_index: int = 0, skip_tokens: int = 0) -> Iterator[Packed]:
    """`stream` packing: [bos] + the next length - 1 tokens of docs-with-eos, every time.

    first_index/skip_tokens: resume inside the stream (the first `skip_tokens` tokens of `docs`
    are discarded and the first sequence is numbered `first_index`).
    """
    body = length - 1
    index, pieces, flags, buffered = first_index, [], [], -skip_tokens
    for doc in docs:
        n = doc["tokens"].size
        tok = np.empty(n + 1, dtype=np.int64)
        tok[:n], tok[n] = doc["tokens"], eos_id
        start = np.zeros(n + 1, dtype=bool)
        start[doc["starts"]] = True
        pieces.append(tok)
        flags.append(start)
        buffered += n + 1
        if buffered < body:
            continue
        flat, flat_starts = np.concatenate(pieces), np.concatenate(flags)
        offset = flat.size - buffered  # tokens still to discard when resuming
        full = buffered // body
        for k in range(full):
            lo = offset + k * body
            seq = np.empty(length, dtype=np.int64)
            seq[0], seq[1:] = bos_id, flat[lo:lo + body]
            st = np.zeros(length, dtype=bool)
            st[1:] = flat_starts[lo:lo + body]
            yield index, (lambda s=seq, t=st: (s, t))
            index += 1
        rest = offset + full * body
        pieces, flags, buffered = [flat[rest:]], [flat_starts[rest:]], flat.size - rest


def pack_sentences(docs: Iterable[dict], *, length: int, bos_id: int, eos_id: int, pad_id: int,
                   cross_documents: bool) -> Iterator[Packed]:
    """`full_sentences` (cross_documents) or `doc_sentences` packing; rows padded with pad_id."""
    body = length - 1
    index, cur, cur_len = 0, [], 0

    def emit(parts):
        def build():
            seq = np.full(length, pad_id, dtype=np.int64)
            st = np.zeros(length, dtype=bool)
            seq[0], pos = bos_id, 1
            for arr, lo, hi, is_start in parts:
                seq[pos:pos + hi - lo] = arr[lo:hi]
                st[pos] = is_start
                pos += hi - lo
            return seq, st
        return build

    for doc in docs:
        n = doc["tokens"].size
        arr = np.empty(n + 1, dtype=np.int64)
        arr[:n], arr[n] = doc["tokens"], eos_id
        bounds = sorted(set(doc["starts"]) | {0}) + [n + 1]  # the eos closes the last sentence
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            for piece_lo in range(lo, hi, body):  # a sentence longer than a row is cut
                piece_hi = min(piece_lo + body, hi)
                if cur_len + piece_hi - piece_lo > body:
                    yield index, emit(cur)
                    index, cur, cur_len = index + 1, [], 0
                cur.append((arr, piece_lo, piece_hi, piece_lo == lo))
                cur_len += piece_hi - piece_lo
        if not cross_documents and cur:
            yield index, emit(cur)
            index, cur, cur_len = index + 1, [], 0
    if cur:
        yield index, emit(cur)


def _token_skip(manifest: Mapping[str, Any], urls_in_order: list[str], offset: int) -> tuple[int, int]:
    """(first shard to read, tokens to discard in it) to start the epoch's document stream at
    token `offset`, from the manifest's counts (tokens + one eos per document) alone: shards
    wholly before it are not read at all (a resumed stream, a partition's range)."""
    if offset == 0:  # the start: every shard is read, even one the manifest counts as empty
        return 0, 0
    sizes = {s["name"]: int(s["tokens"]) + int(s["samples"]) for s in manifest["shards"]}
    seen = 0
    for k, url in enumerate(urls_in_order):
        size = sizes[files.basename(url)]
        if seen + size > offset:
            return k, offset - seen
        seen += size
    return len(urls_in_order), 0


class Objective:
    """An objective by name with its parameters bound: batch (tokens, starts, index) -> arrays."""

    def __init__(self, name: str, manifest: Mapping[str, Any], params: Optional[dict] = None,
                 word_starts: Optional[np.ndarray] = None):
        if name not in objectives.OBJECTIVES:
            raise ValueError(f"unknown objective {name!r}; known: {', '.join(objectives.OBJECTIVES)}")
        self.name, self.spec = name, objectives.OBJECTIVES[name]
        params = dict(params or {})
        unknown = set(params) - set(self.spec.params)
        if unknown:
            raise ValueError(f"objective {name!r} takes parameters {list(self.spec.params)}, "
                             f"not {sorted(unknown)}")
        tokenizer = manifest["tokenizer"]
        bound = {"special_ids": dict(tokenizer["special_ids"]), **params}
        if self.spec.needs_vocab_size:
            bound["vocab_size"] = int(tokenizer["vocab_size"])
        if self.spec.needs_word_starts:
            if word_starts is None:
                raise ValueError(f"objective {name!r} needs word starts: {shard_format.TOKENIZER_MODEL}"
                                 f" beside the manifest, or word_starts=")
            bound["word_starts"] = word_starts
        self.params = params
        self.fn = functools.partial(self.spec.fn, **bound)

    def __call__(self, tokens: np.ndarray, starts: np.ndarray, *, seed: int, epoch: int,
                 index: np.ndarray) -> dict:
        return self.fn(tokens, starts, seed=seed, epoch=epoch, index=index)


def load_word_starts(shards_dir: str, manifest: Mapping[str, Any]) -> Optional[np.ndarray]:
    """The word-start table of the tokenizer beside the manifest (checked against the
    manifest's sha256: `verify.check_tokenizer`), or None when there is none."""
    model = verify.check_tokenizer(shards_dir, manifest)
    return word_start_table(model) if model is not None else None


class SieveStream(torch.utils.data.IterableDataset):
    """One epoch of batches for one DDP rank, split among DataLoader workers (batch_size=None).

    Each item is a dict of tensors: the objective's arrays plus `index` (the global sequence
    index of every row) and `batch` (the global batch number). drop_last=False: every sequence
    of the epoch appears exactly once over all ranks and workers (the last batch may be short
    and ranks may get one batch more than others); drop_last=True: only full rounds (one full
    batch for every rank) are yielded, as DDP needs ranks in lockstep.
    """

    def __init__(self, shards_dir: str, *, seq_len: int, batch_size: int, seed: int, epoch: int,
                 objective: str | Objective = "mlm", objective_params: Optional[dict] = None,
                 packing: Optional[str] = None, rank: int = 0, world_size: int = 1,
                 start: int = 0, drop_last: bool = False, shuffle: bool = True,
                 word_starts: Optional[np.ndarray] = None, shards: Optional[list[str]] = None,
                 partitions: int = 1):
        super().__init__()
        self.shards_dir, self.manifest = shards_dir, read_manifest(shards_dir)
        # shards: names of the manifest's shards to read (default all; training leaves out the
        # held-out ones). The global order is then a permutation of these alone. Each URL
        # carries its manifest entry and the vocabulary size: read_shard checks them.
        vocab_size = int(self.manifest["tokenizer"]["vocab_size"])
        entries = [s for s in self.manifest["shards"] if shards is None or s["name"] in shards]
        self.urls = [verify.ShardURL(files.join(shards_dir, s["path"]), s, vocab_size)
                     for s in entries]
        if not self.urls:
            raise ValueError(f"{shards_dir}: the manifest lists no shards"
                             + ("" if shards is None else f" among {list(shards)}"))
        verify.check_shards_exist(shards_dir, [s["path"] for s in entries])  # before any batch
        if not isinstance(objective, Objective):
            if word_starts is None and objectives.OBJECTIVES.get(objective, None) is not None \
                    and objectives.OBJECTIVES[objective].needs_word_starts:
                word_starts = load_word_starts(shards_dir, self.manifest)
            objective = Objective(objective, self.manifest, objective_params, word_starts)
        self.objective = objective
        required = objective.spec.packing
        packing = packing or required or "stream"
        if packing not in PACKINGS:
            raise ValueError(f"unknown packing {packing!r}; known: {', '.join(PACKINGS)}")
        if required and packing != required:
            raise ValueError(f"objective {objective.name!r} needs packing {required!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.length = seq_len - objective.spec.extra_columns  # rows as packed
        if self.length < 2:
            raise ValueError(f"seq_len {seq_len} is too short")
        self.packing, self.batch_size, self.seed, self.epoch = packing, batch_size, seed, epoch
        self.rank, self.world_size, self.start = rank, world_size, start
        self.drop_last, self.shuffle = drop_last, shuffle
        self.special = self.manifest["tokenizer"]["special_ids"]
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        if partitions > 1 and packing != "stream":
            raise ValueError(f"partitions > 1 needs stream packing, not {packing!r}")
        if partitions > 1 and start % batch_size:
            raise ValueError(f"with partitions, a stream resumes at a batch boundary: start "
                             f"{start} is not a multiple of batch size {batch_size}")
        self.partitions = partitions

    def sequences(self) -> Iterator[Packed]:
        """The epoch's packed sequences from `start` on, each (global index, build)."""
        kw = dict(length=self.length, bos_id=self.special["bos"], eos_id=self.special["eos"])
        if self.packing == "stream":
            ordered = shard_order(self.urls, seed=self.seed, epoch=self.epoch)
            first, skip = _token_skip(self.manifest, ordered, self.start * (self.length - 1))
            docs = epoch_documents(self.urls, seed=self.seed, epoch=self.epoch,
                                   shuffle=self.shuffle, first_shard=first)
            yield from pack_stream(docs, **kw, first_index=self.start, skip_tokens=skip)
            return
        docs = epoch_documents(self.urls, seed=self.seed, epoch=self.epoch, shuffle=self.shuffle)
        for index, build in pack_sentences(docs, **kw, pad_id=self.special["pad"],
                                           cross_documents=self.packing == "full_sentences"):
            if index >= self.start:
                yield index, build

    def _make_batch(self, b: int, rows: list[tuple[int, np.ndarray, np.ndarray]]) -> dict:
        index = np.array([r[0] for r in rows], dtype=np.int64)
        out = self.objective(np.stack([r[1] for r in rows]), np.stack([r[2] for r in rows]),
                             seed=self.seed, epoch=self.epoch, index=index)
        batch = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
        batch["index"] = torch.from_numpy(index)
        batch["batch"] = torch.tensor(b)
        return batch

    # ------------------------------------------------------------------------------------------
    # Canonical partitions (partitions > 1, stream packing)

    def partition_plan(self) -> dict:
        """The epoch cut into `partitions` equal token ranges of the global document stream
        (shards in `shard_order`, documents in `doc_order`, each followed by eos), each packed on
        its own into the same number of sequences. Global batch b is local batch b // C of
        partition b % C: a pure function of (seed, epoch, partitions, batch size), whatever the
        number of ranks and workers; only the last tokens of each range (less than a sequence)
        are not used. Full batches come first; the last round has `last` sequences per batch."""
        ordered = shard_order(self.urls, seed=self.seed, epoch=self.epoch)
        sizes = {s["name"]: int(s["tokens"]) + int(s["samples"]) for s in self.manifest["shards"]}
        total = sum(sizes[files.basename(u)] for u in ordered)
        C, B, body = self.partitions, self.batch_size, self.length - 1
        per_partition = total // C // body  # sequences in each partition
        if per_partition == 0:
            raise ValueError(f"{total} tokens cannot fill {C} partitions of one {self.length}-token "
                             f"sequence: use fewer partitions")
        full, last = divmod(per_partition, B)
        return {"ordered": ordered, "range_tokens": total // C, "body": body,
                "full_batches": C * full, "last": last, "batches": C * full + (C if last else 0)}

    def _partition_sequences(self, plan: dict, partition: int, first_sequence: int) -> Iterator:
        """Partition `partition`'s sequences from its `first_sequence` on, as (tokens, starts):
        only the shards its token range overlaps are read."""
        body = plan["body"]
        offset = partition * plan["range_tokens"] + first_sequence * body
        first, skip = _token_skip(self.manifest, plan["ordered"], offset)
        docs = epoch_documents(self.urls, seed=self.seed, epoch=self.epoch, shuffle=self.shuffle,
                               first_shard=first)
        count = plan["range_tokens"] // body - first_sequence
        packed = pack_stream(docs, length=self.length, bos_id=self.special["bos"],
                             eos_id=self.special["eos"], skip_tokens=skip)
        for _, build in itertools.islice(packed, count):
            yield build()

    def _partitioned_batches(self, worker: int, workers: int) -> Iterator[dict]:
        plan = self.partition_plan()
        C, B, R = self.partitions, self.batch_size, self.world_size
        first = self.start // B  # global batches already consumed
        end = plan["batches"]
        if self.drop_last:  # whole rounds of full batches only (DDP lockstep)
            end = first + max(plan["full_batches"] - first, 0) // R * R
        streams: dict[int, Iterator] = {}
        for b in range(first, end):
            relative = b - first
            if relative % R != self.rank or (relative // R) % workers != worker:
                continue
            p, j = b % C, b // C
            if p not in streams:
                streams[p] = self._partition_sequences(plan, p, j * B)
            size = B if b < plan["full_batches"] else plan["last"]
            rows = list(itertools.islice(streams[p], size))
            if len(rows) < size:  # the shards hold fewer tokens than the plan counted
                raise ValueError(
                    f"{self.shards_dir}: partition {p} of {C} ran out of tokens at its sequence "
                    f"{j * B + len(rows)} of {plan['range_tokens'] // plan['body']}: the shards "
                    f"hold fewer tokens than {shard_format.MANIFEST} counts")
            base = b * B if b < plan["full_batches"] else plan["full_batches"] * B + p * plan["last"]
            yield self._make_batch(relative, [(base + k, *row) for k, row in enumerate(rows)])

    def reader_batches(self, worker: int = 0, workers: int = 1) -> Iterator[dict]:
        """The batches of DataLoader worker `worker` of `workers` on this rank."""
        if self.partitions > 1:
            yield from self._partitioned_batches(worker, workers)
        else:
            yield from self._stream_batches(worker, workers)

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        return self.reader_batches(worker, workers)

    def _stream_batches(self, worker: int, workers: int) -> Iterator[dict]:
        B, R = self.batch_size, self.world_size
        round_size = B * R
        rows: list = []
        current, held = None, []  # held: finished batches waiting for their round (drop_last)
        seen = self.start
        for index, build in self.sequences():
            seen = index + 1
            j = index - self.start
            b = j // B
            if b % R == self.rank and (b // R) % workers == worker:
                if current is not None and b != current:
                    held.append((current, rows))
                    rows = []
                current = b
                rows.append((index, *build()))
                if len(rows) == B:
                    held.append((current, rows))
                    current, rows = None, []
            done = seen - self.start  # sequences of the stream produced so far
            while held and (not self.drop_last or done >= (held[0][0] // R + 1) * round_size):
                yield self._make_batch(*held.pop(0))
        if current is not None:
            held.append((current, rows))
        if not self.drop_last:
            for b, batch_rows in held:
                yield self._make_batch(b, batch_rows)
        else:
            done = seen - self.start
            for b, batch_rows in held:
                if len(batch_rows) == B and done >= (b // R + 1) * round_size:
                    yield self._make_batch(b, batch_rows)


def make_loader(shards_dir: str, seq_len: int, batch_size: int, seed: int, epoch: int,
                num_workers: int = 0, objective: str | Objective = "mlm",
                pin_memory: bool = False, **kwargs) -> torch.utils.data.DataLoader:
    """A DataLoader over one epoch of one rank; the batches come in global order whatever
    num_workers is. kwargs: see SieveStream (packing, rank, world_size, start, drop_last, ...)."""
    dataset = SieveStream(shards_dir, seq_len=seq_len, batch_size=batch_size, seed=seed,
                          epoch=epoch, objective=objective, **kwargs)
    # Its own generator: a DataLoader iterator draws a base seed from the one it is given, and
    # drawing from torch's global generator would shift the training RNG (dropout) whenever an
    # epoch starts, so a resumed run would diverge from the uninterrupted one.
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=num_workers,
                                       pin_memory=pin_memory, generator=generator)


class SieveLoader:
    """Batches across epochs with a resumable state: {"epoch", "position"}.

    position counts the sequences of the epoch consumed by all ranks together (a rank's k-th
    batch of an epoch ends a round of world_size batches). `state_dict()` after any batch and
    `load_state_dict()` in a new SieveLoader with the same seed, batch_size and world_size give
    a stream equal to the uninterrupted one from that point, whatever num_workers.
    """

    def __init__(self, shards_dir: str, *, seq_len: int, batch_size: int, seed: int,
                 num_workers: int = 0, pin_memory: bool = False, rank: int = 0,
                 world_size: int = 1, drop_last: Optional[bool] = None, **kwargs):
        self.shards_dir, self.seq_len, self.batch_size, self.seed = shards_dir, seq_len, batch_size, seed
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.rank, self.world_size = rank, world_size
        self.drop_last = world_size > 1 if drop_last is None else drop_last
        self.kwargs = kwargs
        self.epoch, self.position = 0, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed,
                "batch_size": self.batch_size, "world_size": self.world_size,
                "partitions": self.kwargs.get("partitions", 1)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        mine = self.state_dict()
        for key in ("seed", "batch_size", "world_size", "partitions"):
            theirs = state.get(key, 1 if key == "partitions" else mine[key])  # older states: 1
            if theirs != mine[key]:
                raise ValueError(f"data state has {key}={theirs}, this loader {mine[key]}: "
                                 f"the stream would differ")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def epoch_batches(self) -> Iterator[dict]:
        """The rest of the current epoch, updating the state as batches are taken."""
        loader = make_loader(self.shards_dir, self.seq_len, self.batch_size, self.seed,
                             self.epoch, self.num_workers, pin_memory=self.pin_memory,
                             rank=self.rank, world_size=self.world_size, start=self.position,
                             drop_last=self.drop_last, **self.kwargs)
        start = self.position
        for batch in loader:
            local = int(batch["batch"]) // self.world_size
            self.position = start + (local + 1) * self.batch_size * self.world_size
            yield batch

    def __iter__(self) -> Iterator[dict]:
        """Batches forever, epoch after epoch; raises if an epoch yields nothing at all."""
        while True:
            yielded = False
            for batch in self.epoch_batches():
                yielded = True
                yield batch
            if not yielded and self.position == 0:
                raise ValueError(f"{self.shards_dir}: an epoch yields no batch of "
                                 f"{self.batch_size} x {self.seq_len} tokens")
            self.epoch, self.position = self.epoch + 1, 0
