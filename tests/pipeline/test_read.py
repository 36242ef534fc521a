"""Reader: one JSONL line to a document, or a named error."""

import gzip
import json

import pytest

from pipeline.read import ReadFile, file_key, input_root, parse_record

KW = dict(path="/data/web-00.jsonl.gz", line_no=3, text_field="text", id_field="id",
          max_doc_bytes=1000)


def test_ids_are_stable_and_prefixed_by_source():
    doc = parse_record(b'{"id": "a1", "text": "hello"}', **KW)
    assert doc["id"] == "web-00.jsonl.gz/a1" and doc["source"] == "web-00.jsonl.gz"
    doc = parse_record(b'{"id": "wiki/a1", "source": "wiki", "text": "hello"}', **KW)
    assert doc["id"] == "wiki/a1"
    no_id = parse_record(b'{"text": "hello"}', **KW)
    assert no_id["id"].startswith("web-00.jsonl.gz/sha256-")
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
    (b'{"text": "ok", "meta": "not an object"}', "meta is a str, not an object"),
])
def test_bad_records_raise_named_errors(line, message):
    with pytest.raises(ValueError, match=message):
        parse_record(line, **KW)


def _read(path, root: str = "", **kw) -> tuple[list[dict], list[dict]]:
    """ReadFile on one file, without a pipeline: (documents, dead letters)."""
    reader = ReadFile("text", "id", kw.get("max_doc_bytes", 1 << 20),
                      kw.get("max_record_bytes", 1 << 20), root=root)
    out = list(reader.process((str(path), 0, None)))
    return [o for o in out if isinstance(o, dict)], [o.value for o in out if not isinstance(o, dict)]


@pytest.mark.parametrize("field, record, message", [
    ("id", {"id": "x\udcff"}, "id holds an unpaired surrogate escape"),
    ("source", {"source": "s\udcff"}, "source holds an unpaired surrogate escape"),
    ("url", {"url": "http://x/\udcff"}, "url holds an unpaired surrogate escape"),
    ("meta value", {"meta": {"k": "\udcff"}}, "meta holds an unpaired surrogate escape"),
    ("meta key", {"meta": {"\udcff": 1}}, "meta holds an unpaired surrogate escape"),
])
def test_a_lone_surrogate_in_any_field_dead_letters_its_record_only(tmp_path, field, record, message):
    """Beam's coders encode a document as strict UTF-8 once it leaves the reader: a lone
    surrogate escape (legal JSON) anywhere in it once ended the job."""
    path = tmp_path / "s.jsonl"
    lines = [json.dumps({"id": "good", "text": "fine text"}),
             json.dumps({"id": "bad", "text": "fine text", **record}),  # ensure_ascii: \\udcff escapes
             json.dumps({"id": "after", "text": "fine text"})]
    path.write_text("\n".join(lines) + "\n")
    docs, dead = _read(path)
    assert [d["id"] for d in docs] == ["s.jsonl/good", "s.jsonl/after"]
    assert [(d["error"], d["line"]) for d in dead] == [(message, 2)]
    import apache_beam as beam

    for doc in docs:  # what leaves the reader encodes with Beam's default coder
        beam.coders.registry.get_coder(object).encode(doc)


def test_files_with_one_name_in_two_folders_or_two_forms_keep_their_ids_apart(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "part.jsonl").write_text('{"id": 7, "text": "t"}\n{"id": "7", "text": "t"}\n')
    (tmp_path / "a" / "part.jsonl.gz").write_bytes(gzip.compress(b'{"id": 7, "text": "t"}\n'))
    (tmp_path / "a" / "UPPER.JSONL.GZ").write_bytes(gzip.compress(b'{"id": 1, "text": "t"}\n'))
    root = input_root(f"{tmp_path}/**")
    ids = [d["id"] for name in ("a/part.jsonl", "b/part.jsonl", "a/part.jsonl.gz", "a/UPPER.JSONL.GZ")
           for d in _read(tmp_path / name, root)[0]]
    assert ids == ["a/part.jsonl/#7", "a/part.jsonl/7", "b/part.jsonl/#7", "b/part.jsonl/7",
                   "a/part.jsonl.gz/#7", "a/UPPER.JSONL.GZ/#1"]  # upper-case .GZ decompressed
    for top in ("p", "q"):  # a text file is one document named <its folder>/<its path>
        (tmp_path / top / "docs").mkdir(parents=True)
        (tmp_path / top / "docs" / "x.txt").write_text("the same words\n")
    assert [d["id"] for top in ("p", "q") for d in _read(tmp_path / top / "docs" / "x.txt", root)[0]] \
        == ["docs/p/docs/x.txt", "docs/q/docs/x.txt"]
    assert input_root("gs://b/x/*.jsonl") == "gs://b/x/" and input_root("/d/one.jsonl") == "/d/"
    assert file_key("gs://b/x/y/z.jsonl", "gs://b/x/") == "y/z.jsonl" and file_key("/e/f.jsonl") == "f.jsonl"


def test_a_zstd_bomb_is_inflated_a_bounded_step_at_a_time(tmp_path):
    """A zstd line of 64 MiB compressed to a few KB: no decompression step holds more than
    _MAX_STEP_OUTPUT, and the record after it is read (it took 28 s and 647 MB at 256 MiB when
    one 16 KiB input chunk inflated at once and the leftover was copied per read)."""
    import zstandard

    from pipeline import read

    path = tmp_path / "bomb.jsonl.zst"
    with open(path, "wb") as f, zstandard.ZstdCompressor(level=19).stream_writer(f) as w:
        w.write(b'{"id": "before", "text": "fine"}\n{"id": "bomb", "text": "')
        for _ in range(16):
            w.write(b"x" * (4 << 20))
        w.write(b'"}\n{"id": "after", "text": "fine"}\n')
    assert path.stat().st_size < 100_000
    steps = []
    step = read._DecompressingReader._step

    def measured(self):
        more = step(self)
        steps.append(len(self._pending))
        return more

    read._DecompressingReader._step = measured
    try:
        docs, dead = _read(path, max_record_bytes=1 << 20)
    finally:
        read._DecompressingReader._step = step
    assert [d["id"] for d in docs] == ["bomb.jsonl.zst/before", "bomb.jsonl.zst/after"]
    assert [d["error"] for d in dead] == ["record exceeds max_record_bytes=1048576"]
    assert max(steps) <= read._MAX_STEP_OUTPUT and sum(steps) > 64 << 20


def test_entries_that_are_not_files_are_dead_letters_not_hangs_or_silence(tmp_path):
    import os

    from pipeline.read import special_file_problem, unlisted_entries

    (tmp_path / "good.jsonl").write_text('{"text": "fine"}\n')
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (tmp_path / "loop.jsonl").symlink_to(tmp_path / "loop.jsonl")
    assert sorted(m.path for m in unlisted_entries(f"{tmp_path}/*.jsonl")) == \
        [str(tmp_path / "dangling.jsonl"), str(tmp_path / "loop.jsonl")]
    problems = {name: special_file_problem(str(tmp_path / name))
                for name in ("good.jsonl", "pipe.jsonl", "dangling.jsonl", "loop.jsonl")}
    assert problems == {"good.jsonl": None, "pipe.jsonl": "not a regular file (named pipe)",
                        "dangling.jsonl": "broken symbolic link", "loop.jsonl": "symbolic link loop"}
    docs, dead = _read(tmp_path / "pipe.jsonl")  # returns at once: the pipe is never opened
    assert not docs and [d["error"] for d in dead] == ["not a regular file (named pipe)"]
