"""Tests of pretrain.data: global order whatever the workers, ranks, resume, packing, no pickle."""

import io
import os
import pickle

import numpy as np
import pytest

from pipeline import shard_format
from pretrain import data, objectives
from tests.pretrain_helpers import (SPECIAL_IDS, pattern_docs, sentence_starts,
                                    tiny_sentencepiece, write_shards)

VOCAB = 500
SEQ_LEN = 32
BOS, EOS, PAD = SPECIAL_IDS["bos"], SPECIAL_IDS["eos"], SPECIAL_IDS["pad"]


@pytest.fixture(scope="module")
def docs():
    return pattern_docs(150, vocab_size=VOCAB, seed=1, min_len=5, max_len=120)


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory, docs):
    return write_shards(tmp_path_factory.mktemp("shards"), docs, num_shards=5, vocab_size=VOCAB,
                        starts=sentence_starts(docs, seed=1))


def _stream(shards_dir, num_workers=0, batch_size=7, **kw):
    """[(global batch, [global index...], {key: array})] in the order the loader yields."""
    kw = {"seed": 3, "epoch": 0, **kw}
    loader = data.make_loader(shards_dir, SEQ_LEN, batch_size, num_workers=num_workers, **kw)
    return [(int(b["batch"]), b["index"].tolist(),
             {k: v.numpy() for k, v in b.items() if k not in ("batch", "index")}) for b in loader]


def _rows(stream):
    """{global index: {key: row}}, asserting no index appears twice."""
    rows = {}
    for _, indices, arrays in stream:
        for r, i in enumerate(indices):
            assert i not in rows, f"sequence {i} duplicated"
            rows[i] = {k: v[r] for k, v in arrays.items() if v.ndim >= 1 and v.shape[0] == len(indices)}
    return rows


def _same(a, b):
    return a.keys() == b.keys() and all(
        a[i].keys() == b[i].keys() and all(np.array_equal(a[i][k], b[i][k]) for k in a[i]) for i in a)


def test_same_global_order_with_0_1_3_workers(shards_dir):
    streams = [_stream(shards_dir, n) for n in (0, 1, 3)]
    batches = [b for b, _, _ in streams[0]]
    assert batches == list(range(len(batches))) and len(batches) > 6
    order = [i for _, idx, _ in streams[0] for i in idx]
    assert order == list(range(len(order)))
    for other in streams[1:]:
        assert [idx for _, idx, _ in other] == [idx for _, idx, _ in streams[0]]
        assert _same(_rows(other), _rows(streams[0]))


def test_no_duplicates_no_drops_2_ranks_3_workers(shards_dir):
    single = _rows(_stream(shards_dir, 0))
    union = {}
    counts = []
    for rank in (0, 1):
        stream = _stream(shards_dir, 3, rank=rank, world_size=2)
        assert all(b % 2 == rank for b, _, _ in stream)
        counts.append(len(stream))
        rows = _rows(stream)
        assert not set(rows) & set(union), "a sequence went to both ranks"
        union.update(rows)
    assert _same(union, single)  # every sequence exactly once, with the same objective output
    # drop_last: full batches only, the same number on every rank (DDP lockstep)
    dropped = [_stream(shards_dir, 3, rank=r, world_size=2, drop_last=True) for r in (0, 1)]
    assert len(dropped[0]) == len(dropped[1]) == (len(single) // 7) // 2 * 1
    assert all(len(idx) == 7 for s in dropped for _, idx, _ in s)


def _original(row):
    return np.where(row["labels"] != objectives.IGNORE_INDEX, row["labels"], row["input_ids"])


def _epoch_tokens(shards_dir, seed=3, epoch=0):
    manifest = data.read_manifest(shards_dir)
    urls = [os.path.join(shards_dir, s["path"]) for s in manifest["shards"]]
    return list(data.epoch_documents(urls, seed=seed, epoch=epoch))


def test_stream_packing_matches_the_shuffled_document_stream(shards_dir, docs):
    rows = _rows(_stream(shards_dir, 2))
    epoch_docs = _epoch_tokens(shards_dir)
    assert sorted(d["tokens"].tobytes() for d in epoch_docs) == sorted(t.tobytes() for t in docs)
    flat = np.concatenate([np.append(d["tokens"].astype(np.int64), EOS) for d in epoch_docs])
    body = SEQ_LEN - 1
    assert len(rows) == flat.size // body
    for i, row in rows.items():
        assert np.array_equal(_original(row), np.concatenate([[BOS], flat[i * body:(i + 1) * body]]))


@pytest.mark.parametrize("packing", ["full_sentences", "doc_sentences"])
def test_sentence_packing_keeps_sentences_whole(shards_dir, docs, packing):
    rows = _rows(_stream(shards_dir, 0, packing=packing, objective="clm"))
    epoch_docs = _epoch_tokens(shards_dir)
    sentences = []  # every sentence (+ eos closing its document), in stream order
    for d in epoch_docs:
        bounds = sorted(set(d["starts"]) | {0}) + [d["tokens"].size + 1]
        arr = np.append(d["tokens"].astype(np.int64), EOS)
        sentences += [arr[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    assert max(s.size for s in sentences) <= SEQ_LEN - 1  # none needs cutting here
    got = []
    for i in range(len(rows)):
        seq = rows[i]["input_ids"]
        assert seq[0] == BOS
        content = seq[1:][seq[1:] != PAD]
        assert (seq[1 + content.size:] == PAD).all()  # padding only at the end
        if packing == "doc_sentences":
            assert (content[:-1] != EOS).all(), "a row crossed a document boundary"
        got.append(content)
    assert np.array_equal(np.concatenate(got), np.concatenate(sentences))
    # rows break only between sentences
    ends = set(np.cumsum([s.size for s in sentences]).tolist())
    assert set(np.cumsum([g.size for g in got]).tolist()) <= ends


def test_determinism_and_epochs(shards_dir):
    a, b = _rows(_stream(shards_dir, 0)), _rows(_stream(shards_dir, 0))
    assert _same(a, b)
    e1 = _rows(_stream(shards_dir, 0, epoch=1))
    assert not np.array_equal(a[0]["input_ids"], e1[0]["input_ids"])  # another order
    originals0 = sorted(_original(r).tobytes() for r in a.values())
    originals1 = sorted(_original(r).tobytes() for r in e1.values())
    assert originals0 != originals1  # packing follows the new document order
    paths = [f"s{i}" for i in range(20)]
    assert data.shard_order(paths, seed=3, epoch=0) == data.shard_order(paths, seed=3, epoch=0)
    assert data.shard_order(paths, seed=3, epoch=0) != data.shard_order(paths, seed=3, epoch=1)


@pytest.mark.parametrize("packing,objective", [("stream", "mlm"), ("doc_sentences", "sop"),
                                               ("full_sentences", "prefix")])
def test_resume_equals_uninterrupted_stream(shards_dir, packing, objective):
    def loader(workers):
        return data.SieveLoader(shards_dir, seq_len=SEQ_LEN, batch_size=5, seed=3,
                                num_workers=workers, packing=packing, objective=objective)

    per_epoch = sum(1 for _ in loader(0).epoch_batches())
    full = loader(0)
    it = iter(full)
    reference = [next(it) for _ in range(per_epoch + 30)]  # into the next epoch
    assert full.epoch == 1
    for stop in (1, per_epoch // 2, per_epoch - 1, per_epoch, per_epoch + 3):
        first = loader(0)
        it = iter(first)
        for _ in range(stop):
            next(it)
        state = first.state_dict()
        resumed = loader(2)
        resumed.load_state_dict(state)
        it = iter(resumed)
        for want in reference[stop:stop + 20]:
            got = next(it)
            assert got.keys() == want.keys()
            assert all(np.array_equal(got[k].numpy(), want[k].numpy()) for k in want
                       if k != "batch")  # batch: numbered from the resume point


def test_resume_skips_whole_shards(shards_dir, monkeypatch):
    read = []
    original = data.read_shard
    monkeypatch.setattr(data, "read_shard", lambda url: read.append(url) or original(url))
    rows = _rows(_stream(shards_dir, 0))
    late = len(rows) - 3
    read.clear()
    tail = _rows(_stream(shards_dir, 0, start=late))
    assert len(read) < 5
    assert sorted(tail) == list(range(late, len(rows)))
    assert _same(tail, {i: rows[i] for i in tail})


def test_word_start_table_from_the_manifest_tokenizer(tmp_path):
    import sentencepiece as spm

    model = tiny_sentencepiece()
    sp = spm.SentencePieceProcessor(model_proto=model)
    table = data.word_start_table(model)
    assert table.size == sp.get_piece_size() and not table[:5].any()
    for i in range(5, sp.get_piece_size()):
        assert table[i] == sp.id_to_piece(i).startswith("\u2581")
    ids = sp.encode("the unbelievable cats sat quickly")
    docs = [np.array(ids * 8, dtype=np.uint16)] * 20
    out = write_shards(tmp_path, docs, num_shards=2, vocab_size=sp.get_piece_size(),
                       tokenizer=model)
    batch = next(iter(data.make_loader(out, 24, 4, seed=0, epoch=0, objective="wwm")))
    assert batch["input_ids"].shape == (4, 24)


class _Boom:
    """Unpickling this creates a marker directory: proof that something was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_reader_never_unpickles(tmp_path):
    marker = str(tmp_path / "unpickled")
    payload = pickle.dumps(_Boom(marker))
    docs = pattern_docs(12, vocab_size=VOCAB, seed=2, min_len=40, max_len=80)
    key = shard_format.sample_key("synthetic/doc-00000")
    extra = {0: [(f"{key}.pickle", payload), (f"{key}.pyd", payload),
                 ("zzz-evil.pickle", payload), ("zzz-evil.pyd", payload),
                 ("zzz-evil2.npy", payload)]}
    out = write_shards(tmp_path / "out", docs, num_shards=1, vocab_size=VOCAB,
                       extra_members=extra)
    clean = write_shards(tmp_path / "clean", docs, num_shards=1, vocab_size=VOCAB)
    got, want = _rows(_stream(out)), _rows(_stream(clean))
    assert got and _same(got, want)
    assert not os.path.exists(marker)


def test_pickled_token_array_is_refused(tmp_path):
    out = write_shards(tmp_path, [], num_shards=1, vocab_size=VOCAB, extra_members={0: [
        ("evil.json", b"{}"), ("evil.tokens.npy", pickle.dumps(np.array([object()])))]})
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out2 = write_shards(tmp_path / "2", [], num_shards=1, vocab_size=VOCAB, extra_members={0: [
        ("evil.json", b"{}"), ("evil.tokens.npy", buf.getvalue())]})
    for d in (out, out2):
        with pytest.raises(ValueError):
            list(data.make_loader(d, SEQ_LEN, 4, seed=0, epoch=0))


def test_objective_packing_and_parameters_are_checked(shards_dir):
    with pytest.raises(ValueError, match="packing"):
        data.make_loader(shards_dir, SEQ_LEN, 4, seed=0, epoch=0, objective="sop",
                         packing="stream")
    with pytest.raises(ValueError, match="parameters"):
        data.make_loader(shards_dir, SEQ_LEN, 4, seed=0, epoch=0, objective="mlm",
                         objective_params={"noise_density": 0.2})
    with pytest.raises(ValueError, match="word starts"):
        data.make_loader(shards_dir, SEQ_LEN, 4, seed=0, epoch=0, objective="span")
    batch = next(iter(data.make_loader(shards_dir, SEQ_LEN, 4, seed=0, epoch=0, objective="t5")))
    assert batch["labels"].shape[0] == 4


def test_shards_read_through_fsspec_give_the_same_stream(shards_dir, tmp_path):
    """`--shards URL` (gs://, s3://, ...) reads through fsspec; fsspec's in-memory file system
    stands in for a bucket: the same batches, with 0 and 2 workers, and the same held-out
    documents."""
    import fsspec

    from pretrain import evaluate

    fs = fsspec.filesystem("memory")
    root = os.path.abspath(shards_dir)
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                fs.pipe(f"/bucket/corpus/{os.path.relpath(path, root)}", f.read())
    url = "memory://bucket/corpus"
    try:
        local = _stream(shards_dir)
        for workers in (0, 2):
            remote = _stream(url, workers)
            assert [b for b, _, _ in remote] == [b for b, _, _ in local]
            assert _same(_rows(remote), _rows(local))
        got, want = evaluate.read_documents(url), evaluate.read_documents(shards_dir)
        assert [d["key"] for d in got] == [d["key"] for d in want]
        assert all(np.array_equal(a["tokens"], b["tokens"]) for a, b in zip(got, want))
    finally:
        fs.rm("/bucket", recursive=True)


# ----------------------------------------------------------------------------------------------
# Canonical partitions: each reader (rank x worker) reads only the shards of its own batches

@pytest.fixture(scope="module")
def eight_shards(tmp_path_factory):
    docs = pattern_docs(400, vocab_size=VOCAB, seed=5, min_len=5, max_len=120)
    return write_shards(tmp_path_factory.mktemp("eight"), docs, num_shards=8, vocab_size=VOCAB,
                        starts=sentence_starts(docs, seed=5))


def _reader(shards_dir, rank, world, worker, workers, **kw):
    stream = data.SieveStream(shards_dir, seq_len=SEQ_LEN, batch_size=kw.pop("batch_size", 7),
                              seed=3, epoch=0, rank=rank, world_size=world, partitions=4, **kw)
    return [(int(b["batch"]), b["index"].tolist(),
             {k: v.numpy() for k, v in b.items() if k not in ("batch", "index")})
            for b in stream.reader_batches(worker, workers)]


def test_partitions_are_equal_token_ranges_of_the_epoch_stream(eight_shards):
    epoch_docs = _epoch_tokens(eight_shards)
    flat = np.concatenate([np.append(d["tokens"].astype(np.int64), EOS) for d in epoch_docs])
    body, C, B = SEQ_LEN - 1, 4, 7
    per = flat.size // C // body
    rows = _rows(_reader(eight_shards, 0, 1, 0, 1))
    assert sorted(rows) == list(range(C * per))  # every sequence of every partition, once
    full = per // B * C  # full batches; then one round of per % B sequences per partition
    for b in range(full):
        p, j = b % C, b // C
        for k in range(B):
            lo = p * (flat.size // C) + (j * B + k) * body
            assert np.array_equal(_original(rows[b * B + k]), np.concatenate([[BOS], flat[lo:lo + body]]))


def test_2_ranks_x_2_workers_each_read_a_quarter_of_the_shards(eight_shards, monkeypatch):
    opened = []
    original = data.read_shard
    monkeypatch.setattr(data, "read_shard", lambda url: opened.append(url) or original(url))
    single = _rows(_reader(eight_shards, 0, 1, 0, 1))
    union, per_reader = {}, []
    for rank in (0, 1):
        for worker in (0, 1):
            opened.clear()
            stream = _reader(eight_shards, rank, 2, worker, 2)
            per_reader.append(len(set(opened)))
            assert len(opened) == len(set(opened)), "a reader read a shard twice"
            batches = [b for b, _, _ in stream]
            assert batches == sorted(batches) and all(b % 2 == rank for b in batches)
            assert all((b // 2) % 2 == worker for b in batches)
            rows = _rows(stream)
            assert not set(rows) & set(union)
            union.update(rows)
    assert _same(union, single)  # each sequence once, the same one, whatever the readers
    # Each reader opens the shards its quarter of the epoch's tokens overlaps: a quarter of the
    # shards plus one when shards are equal, at most one more when a range starts near a shard's
    # end; over all readers each shard once, plus one per partition boundary inside a shard
    # (without partitions every reader reads all 8: 32 opens).
    assert max(per_reader) <= 8 // 4 + 2 and sum(per_reader) <= 8 + 3, per_reader


def test_partitioned_order_is_the_same_with_dataloader_workers_and_resumes(eight_shards):
    kw = {"partitions": 4}
    streams = [_stream(eight_shards, n, **kw) for n in (0, 2)]
    assert [i for _, idx, _ in streams[0] for i in idx] == [i for _, idx, _ in streams[1] for i in idx]
    assert _same(_rows(streams[0]), _rows(streams[1]))

    def loader(workers):
        return data.SieveLoader(eight_shards, seq_len=SEQ_LEN, batch_size=5, seed=3,
                                num_workers=workers, partitions=4)

    per_epoch = sum(1 for _ in loader(0).epoch_batches())
    it = iter(loader(0))
    reference = [next(it) for _ in range(per_epoch + 10)]
    for stop in (1, per_epoch // 2, per_epoch - 1, per_epoch + 2):
        first = loader(0)
        it = iter(first)
        for _ in range(stop):
            next(it)
        resumed = loader(2)
        resumed.load_state_dict(first.state_dict())
        it = iter(resumed)
        for want in reference[stop:stop + 12]:
            got = next(it)
            assert all(np.array_equal(got[k].numpy(), want[k].numpy()) for k in want if k != "batch")


def test_partitioned_drop_last_keeps_ranks_in_lockstep(eight_shards):
    ranks = [_reader(eight_shards, r, 2, 0, 1, drop_last=True) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) > 0
    assert all(len(idx) == 7 for s in ranks for _, idx, _ in s)
    with pytest.raises(ValueError, match="stream packing"):
        data.SieveStream(eight_shards, seq_len=SEQ_LEN, batch_size=7, seed=3, epoch=0,
                         packing="doc_sentences", objective="sop", partitions=4)


def test_with_equal_shards_each_of_4_readers_opens_a_quarter_plus_at_most_one(tmp_path, monkeypatch):
    """The bound of issue 15's acceptance: 8 equal shards, 2 ranks x 2 workers, 4 partitions."""
    rng = np.random.default_rng(0)
    shards = []
    for s in range(8):
        members = []
        for d in range(30):
            doc_id = f"eq/{s}-{d:03d}"
            members += shard_format.sample_members(
                shard_format.sample_key(doc_id), rng.integers(5, VOCAB, size=99).astype(np.uint16),
                {"id": doc_id, "sentence_starts": [0]})
        shards.append((members, 30, 30 * 99))
    shard_format.write_local(str(tmp_path), shards, tokenizer_sha256="0" * 64, vocab_size=VOCAB,
                             special_ids=SPECIAL_IDS, config={})
    opened = []
    original = data.read_shard
    monkeypatch.setattr(data, "read_shard", lambda url: opened.append(url) or original(url))
    seen = {}
    for rank in (0, 1):
        for worker in (0, 1):
            opened.clear()
            rows = _rows(_reader(str(tmp_path), rank, 2, worker, 2))
            assert len(set(opened)) <= 8 // 4 + 1
            assert not set(rows) & set(seen)
            seen.update(rows)
    assert sorted(seen) == list(range(len(seen)))  # every sequence once, in one global numbering
