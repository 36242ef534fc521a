"""Tokenizer training and encoding."""

import gzip
import json

import numpy as np
import pytest
import sentencepiece as spm

from pipeline import tokenize
from pipeline.__main__ import SAMPLE


@pytest.fixture(scope="module")
def texts():
    out = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["source"] in ("gutenberg", "python-docs"):
                out.append(rec["text"])
            if len(out) == 60:
                break
    return out


def test_training_is_deterministic_and_reserves_special_ids(texts):
    a = tokenize.train_sentencepiece(texts, 1000)
    b = tokenize.train_sentencepiece(texts, 1000)
    assert a == b
    assert tokenize.check_special_ids(a) == 1000
    sp = spm.SentencePieceProcessor(model_proto=a)
    # <mask> is a control symbol: never produced from text.
    assert tokenize.SPECIAL_IDS["mask"] not in sp.encode("<mask> the <mask>")


def test_encode_document_offsets_mark_sentence_starts(texts):
    sp = spm.SentencePieceProcessor(model_proto=tokenize.train_sentencepiece(texts, 1000))
    doc = "It was a fine day. The sun shone!\nNobody came."
    tokens, starts = tokenize.encode_document(sp, doc, np.dtype(np.uint16))
    assert tokens.dtype == np.uint16 and len(starts) == 3 and starts[0] == 0
    bounds = starts + [len(tokens)]
    pieces = [sp.decode(tokens[s:e].tolist()) for s, e in zip(bounds, bounds[1:])]
    assert pieces == ["It was a fine day.", "The sun shone!", "Nobody came."]
    assert tokenize.encode_document(sp, "", np.dtype(np.uint16))[0].size == 0


def test_a_foreign_model_without_sieve_special_ids_is_refused(texts, tmp_path):
    import io

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model,
                                   vocab_size=150, minloglevel=2)
    with pytest.raises(ValueError, match="special ids"):
        tokenize.check_special_ids(model.getvalue())


def test_sample_is_chosen_in_hash_order_within_the_character_budget():
    docs = [{"id": f"d{i}", "text": "x" * (100 * (i + 1))} for i in range(50)]
    candidates = [tokenize.sample_candidate({"id": d["id"], "chars": len(d["text"])}) for d in docs]
    order = [doc_id for _, doc_id, _ in sorted(candidates)]
    chars = {d["id"]: len(d["text"]) for d in docs}
    chosen = tokenize.choose_sample(candidates, 1_000)
    # The shortest hash-order prefix whose characters reach the budget.
    prefix, total = [], 0
    for doc_id in order:
        if total >= 1_000:
            break
        prefix.append(doc_id)
        total += chars[doc_id]
    assert chosen == frozenset(prefix) and total >= 1_000
    assert sum(chars[i] for i in prefix[:-1]) < 1_000
    assert tokenize.choose_sample(candidates, 1) == frozenset(order[:1])
    assert tokenize.choose_sample(candidates, 10**9) == frozenset(order)
    assert tokenize.choose_sample([], 1_000) == frozenset()
    # Texts come only from chosen documents, cut to SAMPLE_CHARS_PER_DOC.
    long_doc = {"id": order[0], "text": "y" * (tokenize.SAMPLE_CHARS_PER_DOC + 5)}
    (h, doc_id, text), = tokenize.sample_text(long_doc, chosen)
    assert len(text) == tokenize.SAMPLE_CHARS_PER_DOC and h == candidates[int(order[0][1:])][0]
    assert doc_id == order[0]
    assert list(tokenize.sample_text(docs[0], frozenset())) == []


def test_a_sample_that_is_not_the_chosen_one_fails_the_run(tmp_path):
    """TrainTokenizer counts what arrived against what was chosen; accounting names a gap."""
    from pipeline import accounting

    chosen = frozenset({"a", "b", "c"})
    sample = [(1, "a", "alpha beta gamma. " * 50), (2, "b", "delta epsilon. " * 50),
              (2, "b", "delta epsilon. " * 50)]
    out, = tokenize.TrainTokenizer(60, str(tmp_path)).process(sample, chosen)
    assert out["sample"] == {"chosen": 3, "collected": 3, "distinct": 2,
                             "chars": sum(len(t) for _, _, t in sample)}
    stats = {"identity": {u: {"holds": True} for u in ("docs", "bytes")},
             "tokenizer": tokenize.tokenizer_info(out)}
    assert any("tokenizer sample: 3 documents chosen, 3 texts collected (2 distinct)" in p
               for p in accounting.problems(stats))
    good = {**stats, "tokenizer": {**stats["tokenizer"],
                                   "sample": {"chosen": 3, "collected": 3, "distinct": 3, "chars": 9}}}
    assert accounting.problems(good) == []
