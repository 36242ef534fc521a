"""Reader: one JSONL line to a document, or a named error."""

import pytest

from pipeline.read import parse_record

KW = dict(path="/data/web-00.jsonl.gz", line_no=3, text_field="text", id_field="id",
          max_doc_bytes=1000)


def test_ids_are_stable_and_prefixed_by_source():
    doc = parse_record(b'{"id": "a1", "text": "hello"}', **KW)
    assert doc["id"] == "web-00/a1" and doc["source"] == "web-00"
    doc = parse_record(b'{"id": "wiki/a1", "source": "wiki", "text": "hello"}', **KW)
    assert doc["id"] == "wiki/a1"
    no_id = parse_record(b'{"text": "hello"}', **KW)
    assert no_id["id"].startswith("web-00/sha256-")
    assert no_id["id"] == parse_record(b'{"text": "hello"}', **KW)["id"]
    assert doc["bytes"] == 5 and doc["pos"] == ["/data/web-00.jsonl.gz", 3]


@pytest.mark.parametrize("line, message", [
    (b'{"text": "caf\xe9"}', "invalid UTF-8"),
    (b'{"text": ', "malformed JSON"),
    (b'"just a string"', "not an object"),
    (b'{"id": 1}', "no string field"),
    (b'{"text": ""}', "empty text"),
    (b'{"text": "' + b"x" * 1001 + b'"}', "exceeds max_doc_bytes"),
    (b'{"text": "\\ud800"}', "unpaired surrogate"),
])
def test_bad_records_raise_named_errors(line, message):
    with pytest.raises(ValueError, match=message):
        parse_record(line, **KW)
