"""Tests of pretrain.data: packing, worker-count independence, shard order, no pickle."""

import os
import pickle

import numpy as np
import pytest

from pipeline import shard_format
from pretrain import data, objectives
from tests.pretrain_helpers import SPECIAL_IDS, pattern_docs, write_shards

VOCAB = 500
SEQ_LEN = 32


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory):
    docs = pattern_docs(120, vocab_size=VOCAB, seed=1, min_len=5, max_len=120)
    return write_shards(tmp_path_factory.mktemp("shards"), docs, num_shards=5, vocab_size=VOCAB)


def _collect(shards_dir, num_workers, epoch=0, batch_size=7):
    loader = data.make_loader(shards_dir, SEQ_LEN, batch_size, seed=3, epoch=epoch,
                              num_workers=num_workers)
    seen = {}
    for batch in loader:
        for row, (shard, index) in enumerate(zip(batch["shard"], batch["index"].tolist())):
            assert (shard, index) not in seen, "duplicate sequence"
            seen[(shard, index)] = (batch["input_ids"][row].numpy(), batch["labels"][row].numpy())
    return seen


def _expected_sequences(shards_dir):
    """Packing recomputed from the shards with the format module's own reader."""
    manifest = data.read_manifest(shards_dir)
    expected = {}
    body = SEQ_LEN - 1
    for entry in manifest["shards"]:
        with open(os.path.join(shards_dir, entry["path"]), "rb") as f:
            stream = [shard_format.decode_tokens(b) for name, b in shard_format.read_tar(f)
                      if name.endswith(".tokens.npy")]
        flat = np.concatenate([np.append(t.astype(np.int64), SPECIAL_IDS["eos"]) for t in stream])
        for i in range(flat.size // body):
            expected[(entry["name"], i)] = np.concatenate([[SPECIAL_IDS["bos"]],
                                                           flat[i * body:(i + 1) * body]])
    return expected


def test_same_sequences_and_masks_with_0_and_2_workers(shards_dir):
    single, multi = _collect(shards_dir, 0), _collect(shards_dir, 2)
    expected = _expected_sequences(shards_dir)
    assert set(single) == set(multi) == set(expected)
    for sid, (inputs, labels) in single.items():
        assert np.array_equal(inputs, multi[sid][0]) and np.array_equal(labels, multi[sid][1])
        original = np.where(labels != objectives.IGNORE_INDEX, labels, inputs)
        assert np.array_equal(original, expected[sid])


def test_epochs_remask_and_reorder(shards_dir):
    e0 = data.make_loader(shards_dir, SEQ_LEN, 1000, seed=3, epoch=0)
    e1 = data.make_loader(shards_dir, SEQ_LEN, 1000, seed=3, epoch=1)
    b0, b1 = next(iter(e0)), next(iter(e1))
    pairs0 = list(zip(b0["shard"], b0["index"].tolist()))
    pairs1 = list(zip(b1["shard"], b1["index"].tolist()))
    assert sorted(pairs0) == sorted(pairs1)
    paths = [f"s{i}" for i in range(20)]
    assert data.shard_order(paths, seed=3, epoch=0) == data.shard_order(paths, seed=3, epoch=0)
    assert data.shard_order(paths, seed=3, epoch=0) != data.shard_order(paths, seed=3, epoch=1)
    row1 = {p: i for i, p in enumerate(pairs1)}
    same_mask = [np.array_equal(b0["labels"][i], b1["labels"][row1[p]])
                 for i, p in enumerate(pairs0)]
    assert not any(same_mask)


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
    got = {k: v[0] for k, v in _collect(out, 0).items()}
    want = {k: v[0] for k, v in _collect(clean, 0).items()}
    assert got.keys() == want.keys() and got
    assert all(np.array_equal(got[k], want[k]) for k in got)
    assert not os.path.exists(marker)


def test_pickled_token_array_is_refused(tmp_path):
    out = write_shards(tmp_path, [], num_shards=1, vocab_size=VOCAB, extra_members={0: [
        ("evil.json", b"{}"), ("evil.tokens.npy", pickle.dumps(np.array([object()])))]})
    import io
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    out2 = write_shards(tmp_path / "2", [], num_shards=1, vocab_size=VOCAB, extra_members={0: [
        ("evil.json", b"{}"), ("evil.tokens.npy", buf.getvalue())]})
    for d in (out, out2):
        with pytest.raises(ValueError):
            list(data.make_loader(d, SEQ_LEN, 4, seed=0, epoch=0))
