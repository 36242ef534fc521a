"""Pretraining checks its input against the manifest (pretrain.verify): a changed, truncated or
missing shard, a token id outside the vocabulary, a wrong tokenizer each stop the run with an
error that says which file and what is wrong, before the damaged data reaches a batch."""

import hashlib
import json
import os

import pytest

from pipeline import shard_format
from pretrain import data, evaluate, verify
from pretrain import train as train_lib
from pretrain.config import TrainConfig
from tests.pretrain_helpers import pattern_docs, tiny_sentencepiece, write_shards

VOCAB = 300
SEQ_LEN = 32


@pytest.fixture
def shards_dir(tmp_path):
    docs = pattern_docs(60, vocab_size=VOCAB, seed=4, min_len=20, max_len=100)
    return write_shards(tmp_path / "shards", docs, num_shards=4, vocab_size=VOCAB)


def _shard(shards_dir, index=1):
    return os.path.join(shards_dir, shard_format.SHARDS_DIR, shard_format.shard_name(index))


def _entry(shards_dir, index=1):
    return data.read_manifest(shards_dir)["shards"][index]


def _batches(shards_dir, **kw):
    return list(data.make_loader(shards_dir, SEQ_LEN, 4, seed=0, epoch=0, **kw))


def _token_payload_offset(path) -> int:
    """The offset of the first token id of the shard's first `.tokens.npy` member."""
    raw = open(path, "rb").read()
    header = raw.index(b"\x93NUMPY")  # the .npy magic: the member's data starts here
    header_len = int.from_bytes(raw[header + 8:header + 10], "little")  # format 1.0
    return header + 10 + header_len


def test_a_flipped_byte_is_a_sha256_mismatch_naming_the_shard(shards_dir):
    assert _batches(shards_dir)  # intact: trains
    path, entry = _shard(shards_dir), _entry(shards_dir)
    raw = bytearray(open(path, "rb").read())
    raw[_token_payload_offset(path) + 1] ^= 0x01  # a token id's high byte: still a valid tar
    with open(path, "wb") as f:
        f.write(raw)
    actual = hashlib.sha256(raw).hexdigest()
    for kw in ({}, {"partitions": 3}, {"num_workers": 1}):  # a worker's error too
        with pytest.raises(verify.InputError) as err:
            _batches(shards_dir, **kw)
        message = str(err.value)
        assert f"shard {path} is corrupt or was changed after the manifest was written" in message
        assert f"sha256 {actual}, the manifest lists {entry['sha256']}" in message
        assert f"size {len(raw)} bytes, manifest {entry['bytes']}" in message
    # the held-out reader checks the shards it reads too
    with pytest.raises(verify.InputError, match=f"sha256 {actual}, the manifest lists"):
        evaluate.read_documents(shards_dir, [shard_format.shard_name(1)])


@pytest.mark.parametrize("cut", ["mid_member", "member_boundary", "end_padding"])
def test_a_truncated_shard_is_reported_truncated_not_a_missing_member(shards_dir, cut):
    path, entry = _shard(shards_dir), _entry(shards_dir)
    raw = open(path, "rb").read()
    tokens_header = raw.index(b".tokens.npy") // 512 * 512  # a tokens member's header block
    at = {"mid_member": _token_payload_offset(path) + 3,
          # tarfile stops without an error at a cut between members: its samples would vanish
          "member_boundary": tokens_header,
          "end_padding": len(raw) - 512}[cut]
    with open(path, "wb") as f:
        f.write(raw[:at])
    actual = hashlib.sha256(raw[:at]).hexdigest()
    with pytest.raises(verify.InputError) as err:
        _batches(shards_dir)
    assert str(err.value) == (f"shard {path} is truncated (or not the manifest's): {at} bytes, "
                              f"the manifest lists {entry['bytes']} (sha256 {actual}, manifest "
                              f"{entry['sha256']})")
    if cut == "mid_member":  # without a manifest entry to compare, the tar reader's own error
        with pytest.raises(verify.InputError, match=f"shard {path} is truncated or corrupt: "
                                                    f"ReadError: unexpected end of data$"):
            data.read_shard(str(path))


def test_a_shard_missing_from_disk_fails_before_any_batch(shards_dir, tmp_path, monkeypatch):
    os.remove(_shard(shards_dir, 2))
    want = (f"{shards_dir}: 1 of the 4 shards that manifest.json lists are missing: "
            f"shards/shard-000002.tar")
    read = []
    monkeypatch.setattr(data, "read_shard", lambda url: read.append(url))
    for partitions in (1, 4):
        with pytest.raises(verify.InputError) as err:
            data.SieveStream(shards_dir, seq_len=SEQ_LEN, batch_size=4, seed=0, epoch=0,
                             partitions=partitions)
        assert str(err.value) == want
    assert not read  # failed at construction: no shard was read, no batch made
    os.remove(_shard(shards_dir, 0))
    with pytest.raises(verify.InputError, match="2 of the 4 shards .* missing: shards/shard-"
                                                "000000.tar, shards/shard-000002.tar$"):
        data.make_loader(shards_dir, SEQ_LEN, 4, seed=0, epoch=0, partitions=4)
    # training checks every listed shard (held-out ones too) before it builds a model
    monkeypatch.setattr(train_lib, "build_model", lambda *a: pytest.fail("model built"))
    with pytest.raises(verify.InputError, match="2 of the 4 shards"):
        train_lib.train(TrainConfig(shards=shards_dir, out=str(tmp_path / "run"), steps=2))


def test_missing_shards_are_found_through_fsspec_too(shards_dir):
    import fsspec

    fs = fsspec.filesystem("memory")
    url = "memory://verify-bucket/corpus"
    try:
        for name in ("manifest.json", "shards/shard-000000.tar", "shards/shard-000001.tar"):
            with open(os.path.join(shards_dir, name), "rb") as f:
                fs.pipe(f"/verify-bucket/corpus/{name}", f.read())
        with pytest.raises(verify.InputError, match="2 of the 4 shards that manifest.json lists "
                                                    "are missing: shards/shard-000002.tar, "
                                                    "shards/shard-000003.tar$"):
            data.make_loader(url, SEQ_LEN, 4, seed=0, epoch=0)
    finally:
        fs.rm("/verify-bucket", recursive=True)


def test_a_token_id_outside_the_vocabulary_names_shard_document_and_id(tmp_path):
    docs = pattern_docs(12, vocab_size=VOCAB, seed=2, min_len=20, max_len=60)
    docs[5] = docs[5].copy()
    docs[5][7] = VOCAB + 12  # the shard and manifest agree (a bad tokenizer run, not damage)
    out = write_shards(tmp_path, docs, num_shards=1, vocab_size=VOCAB)
    key = shard_format.sample_key("synthetic/doc-00005")
    want = (f"shard {_shard(out, 0)}: document {key!r} has token id {VOCAB + 12}, not below the "
            f"tokenizer's vocab size {VOCAB} (manifest)")
    with pytest.raises(verify.InputError) as err:
        _batches(out)
    assert str(err.value) == want
    with pytest.raises(verify.InputError) as err:
        evaluate.read_documents(out)
    assert str(err.value) == want


def test_manifest_counts_that_do_not_match_the_shard(shards_dir):
    manifest_path = os.path.join(shards_dir, shard_format.MANIFEST)
    manifest = json.load(open(manifest_path))
    entry = manifest["shards"][1]
    entry["tokens"] += 50
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)
    want = (f"shard {_shard(shards_dir)} holds {entry['samples']} documents and "
            f"{entry['tokens'] - 50} tokens, the manifest counts {entry['samples']} and "
            f"{entry['tokens']}$")
    with pytest.raises(verify.InputError, match=want):
        _batches(shards_dir, partitions=4)


def test_partitions_that_run_out_of_tokens_say_so(shards_dir, monkeypatch):
    """The counts check above stops this first; should a shard still yield fewer tokens than the
    plan counted, the partitioned reader says so instead of raising StopIteration."""
    original = data.read_shard
    monkeypatch.setattr(data, "read_shard", lambda url: original(url)[:-4])
    with pytest.raises(ValueError, match=f"{shards_dir}: partition \\d of 4 ran out of tokens at "
                                         f"its sequence \\d+ of \\d+: the shards hold fewer "
                                         f"tokens than manifest.json counts"):
        _batches(shards_dir, partitions=4)


def test_a_garbage_tokenizer_fails_where_it_is_loaded_and_at_training_start(tmp_path,
                                                                          monkeypatch):
    import sentencepiece as spm

    model = tiny_sentencepiece()
    vocab = spm.SentencePieceProcessor(model_proto=model).get_piece_size()
    docs = pattern_docs(30, vocab_size=vocab, seed=1, min_len=20, max_len=80)
    out = write_shards(tmp_path / "shards", docs, num_shards=2, vocab_size=vocab, tokenizer=model)
    assert _batches(out, objective="wwm")  # the real tokenizer loads
    path = os.path.join(out, shard_format.TOKENIZER_MODEL)
    garbage = b"not a sentencepiece model" * 10
    with open(path, "wb") as f:
        f.write(garbage)
    want = (f"tokenizer {path} has sha256 {hashlib.sha256(garbage).hexdigest()}, the manifest "
            f"lists {hashlib.sha256(model).hexdigest()}: it is not the tokenizer the shards were "
            f"written with")
    with pytest.raises(verify.InputError) as err:
        _batches(out, objective="wwm")
    assert str(err.value) == want
    manifest = data.read_manifest(out)
    with pytest.raises(verify.InputError) as err:
        evaluate.run_tokenizer(out, manifest)
    assert str(err.value) == want
    # training checks it at startup, even for an objective that never loads it (mlm)
    monkeypatch.setattr(train_lib, "build_model", lambda *a: pytest.fail("model built"))
    with pytest.raises(verify.InputError) as err:
        train_lib.train(TrainConfig(shards=out, out=str(tmp_path / "run"), steps=2))
    assert str(err.value) == want
    # a manifest that records the garbage's own sha256: sentencepiece cannot load it
    bad = write_shards(tmp_path / "bad", docs, num_shards=2, vocab_size=vocab, tokenizer=garbage)
    with pytest.raises(verify.InputError,
                       match=f"tokenizer {os.path.join(bad, 'tokenizer.model')}: sentencepiece "
                             f"cannot load it: "):
        _batches(bad, objective="wwm")
    # the right sha256 but another vocabulary size: the ids would not fit the tokenizer's tables
    other = write_shards(tmp_path / "other", docs, num_shards=2, vocab_size=vocab + 7,
                         tokenizer=model)
    with pytest.raises(verify.InputError, match=f"tokenizer .* has {vocab} pieces, the "
                                                f"manifest's vocab size is {vocab + 7}$"):
        _batches(other, objective="wwm")


def test_a_tampered_shard_stops_training(shards_dir, tmp_path):
    """Shards are checked as they are read: the epoch's first shard, at the first step."""
    path = data.shard_order([_shard(shards_dir, i) for i in range(4)], seed=0, epoch=0)[0]
    raw = bytearray(open(path, "rb").read())
    raw[_token_payload_offset(path)] ^= 0x01
    with open(path, "wb") as f:
        f.write(raw)
    cfg = TrainConfig(shards=shards_dir, out=str(tmp_path / "run"), seq_len=SEQ_LEN,
                      batch_size=4, steps=3, seed=0, holdout_shards=0, tensorboard=False)
    with pytest.raises(verify.InputError, match=f"shard {path} is corrupt"):
        train_lib.train(cfg)
