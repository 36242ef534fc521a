"""Documents travel between stages packed as compressed JSON (`records.pack`)."""

from __future__ import annotations

import math

from pipeline import records


def test_pack_round_trips_what_a_json_record_can_hold():
    doc = records.make_doc("src/1", "Grüße, 世界 \U0001f600", "src", None,
                           {"title": "half a pair \ud800", "score": math.inf, "tags": ["a", 1]},
                           ("f.jsonl", 3))
    back = records.unpack(records.pack(doc))
    assert back == doc
    assert back["meta"]["title"].endswith("\ud800")


def test_pack_is_json_not_pickle():
    import json
    import zlib

    blob = records.pack(records.make_doc("x", "text", "s", "http://a", {}))
    assert json.loads(zlib.decompress(blob))["url"] == "http://a"
    assert len(blob) < len(b"text" * 100)


def test_manifest_records_every_option_but_the_runner_only_ones():
    """A new SieveOptions option lands in the manifest's config unless it is named as not
    changing the corpus: the list is of exclusions, not a hand-kept allow-list."""
    import argparse

    from pipeline.options import NOT_CORPUS_OPTIONS, SieveOptions, corpus_config_keys

    parser = argparse.ArgumentParser()
    SieveOptions._add_argparse_args(parser)
    every = set(vars(parser.parse_args([])))
    assert set(corpus_config_keys()) == every - NOT_CORPUS_OPTIONS
    assert NOT_CORPUS_OPTIONS <= every  # no stale names
    assert {"policy", "near_dedup", "vocab_size", "input"} <= set(corpus_config_keys())
