"""The output directory rule (`pipeline.output_dir`): Sieve deletes only what it wrote. A local
output is cleared by the launcher from its marker's list, never when it holds an input of the
run or files Sieve did not write; remote ones must be fresh, checked by the job itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline import output_dir
from pipeline.__main__ import main, run
from pipeline.files import create_file
from quality import outputs

GOOD = "This is an ordinary English sentence about the weather, the river and the trees. " * 8


def test_local_and_remote_paths():
    assert output_dir.is_local("out") and output_dir.is_local("/tmp/x")
    assert not output_dir.is_local("gs://bucket/out") and not output_dir.is_local("s3://b/o")


def test_fresh_check_refuses_a_previous_run(tmp_path):
    out = tmp_path / "out"
    (out / outputs.SHARDS_DIR).mkdir(parents=True)
    assert output_dir.check_fresh(str(out)) == str(out)  # an empty directory is fresh
    (out / outputs.SHARDS_DIR / "shard-000000.tar").write_bytes(b"")
    with pytest.raises(output_dir.OutputNotFresh, match="new --output"):
        output_dir.check_fresh(str(out))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_marker_lists_what_a_run_wrote_and_only_that_is_cleared(tmp_path):
    out = tmp_path / "out"
    output_dir.prepare_local(str(out), {})
    assert json.loads((out / outputs.RUN_MARKER).read_text())["state"] == "running"
    for name in ("stats.json", "shards/shard-000000.tar", "ledger/ledger-00000-of-00001.jsonl"):
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_text("run 1")
    (out / "notes.txt").write_text("mine")
    assert output_dir.mark_complete(str(out)) == [
        "ledger/ledger-00000-of-00001.jsonl", "shards/shard-000000.tar", "stats.json"]
    output_dir.prepare_local(str(out), {})  # the next run clears exactly those
    assert _tree(out).keys() == {outputs.RUN_MARKER, "notes.txt"}
    # A killed run: its marker says running; whatever is named like an output, and its partial
    # files, are the run's.
    (out / "report.html").write_text("half")
    (out / "shards" / f".shard-000001.tar{outputs.PARTIAL_MARK}abc").write_text("half")
    output_dir.prepare_local(str(out), {})
    assert _tree(out).keys() == {outputs.RUN_MARKER, "notes.txt"}
    # After a complete run, a file named like an output that the run did not write is the user's.
    output_dir.mark_complete(str(out))
    (out / "tokenizer.model").write_text("the user's own model")
    with pytest.raises(output_dir.OutputRefused, match="did not write.*tokenizer.model"):
        output_dir.prepare_local(str(out), {})
    assert (out / "tokenizer.model").read_text() == "the user's own model"


def test_a_file_is_complete_under_its_name_or_absent(tmp_path):
    """A write that fails (a full disk) leaves no truncated file under an output's name."""
    path = tmp_path / "shards" / "shard-000000.tar"
    with pytest.raises(OSError, match="No space left"):
        with create_file(str(path)) as f:
            f.write(b"x" * 1000)
            raise OSError(28, "No space left on device")
    assert not path.parent.exists() or list(path.parent.iterdir()) == []
    with create_file(str(path)) as f:
        f.write(b"whole")
    assert path.read_bytes() == b"whole" and [p.name for p in path.parent.iterdir()] == [path.name]


def _user_files(root: Path) -> dict[str, bytes]:
    """A user's folder holding files named like Sieve's outputs, and the run's inputs."""
    files = {"stats.json": b'{"mine": 1}', "report.html": b"<p>mine</p>", "tokenizer.model": b"model",
             "ledger/a.jsonl": b"{}\n", "annotated/x.jsonl.gz": b"", "shards/shard-000000.tar": b"tar",
             "data/in.jsonl": json.dumps({"id": "d", "text": GOOD}).encode() + b"\n",
             "policy.yaml": b"rules:\n  - {name: long, signal: gopher_quality.word_count, min: 5}\n",
             "blocklist.txt": b"example.com\n", "notes.txt": b"mine"}
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return _tree(root)


# Every option that names a file or folder, pointed into the output folder: each is refused
# before any work, and nothing is deleted.
REFUSED = {
    "annotated": ["--from_annotated={out}/annotated"],
    "tokenizer": ["--tokenizer={out}/tokenizer.model"],
    "quality model": ["--quality_model={out}/tokenizer.model"],
    "blocklist": ["--url_blocklist={out}/blocklist.txt"],
    "policy": ["--policy={out}/policy.yaml"],
    "input": ["--input={out}/data/*.jsonl"],
    "input under the output": ["--input={out}/**"],
    "not Sieve's": ["--input={elsewhere}"],
    "not a folder": ["--input={elsewhere}", "--output={out}/notes.txt"],
    "cannot write": ["--input={elsewhere}", "--output={out}/notes.txt/sub"],
    "typo": ["--input={elsewhere}", "--inptu=x"],
    "empty glob": ["--input={out}/nothing/*.jsonl", "--output={elsewhere_out}"],
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_no_option_deletes_a_file_sieve_did_not_write(tmp_path, case, capsys):
    out = tmp_path / "user"
    out.mkdir()
    before = _user_files(out)
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": "e", "text": GOOD}) + "\n")
    args = [a.format(out=out, elsewhere=tmp_path / "in.jsonl", elsewhere_out=tmp_path / "o")
            for a in REFUSED[case]]
    if not any(a.startswith("--output") for a in args):
        args.append(f"--output={out}")
    assert main(args) == 2
    message = capsys.readouterr().err
    assert message.startswith("python -m pipeline: ") and "Traceback" not in message
    assert _tree(out) == before
    assert not (tmp_path / "o").exists()


def test_hostile_folders_through_the_job(tmp_path):
    """Same names in two folders, ids 7 and "7", an upper-case suffix, a repeated id, a named
    pipe, a broken and a looping link: every entry counted, the identity holding; then a rerun
    into the same output keeps the user's own file and clears the previous run's."""
    inp = tmp_path / "in"
    for folder in ("a", "b"):
        (inp / folder).mkdir(parents=True)
        (inp / folder / "part.jsonl").write_text(
            f'{{"id": 7, "text": "{GOOD} {folder} seven"}}\n{{"id": "7", "text": "{GOOD} {folder} 7"}}\n'
            f'{{"id": "r", "text": "{GOOD} {folder} first"}}\n{{"id": "r", "text": "{GOOD} {folder} again"}}\n')
    import gzip

    (inp / "a" / "UP.JSONL.GZ").write_bytes(gzip.compress(json.dumps({"id": 1, "text": GOOD + " up"}).encode()))
    os.mkfifo(inp / "pipe.jsonl")
    (inp / "dangling.jsonl").symlink_to(inp / "nowhere.jsonl")
    (inp / "loop.jsonl").symlink_to(inp / "loop.jsonl")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = [f"--input={inp}/**", f"--output={out}", "--policy=none", "--near_dedup=false",
            "--vocab_size=200", "--num_shards=2"]
    stats = run(args)
    ident = stats["identity"]["docs"]
    assert stats["identity_holds"] and ident["input"] == 12 and ident["dead_letter"] == 5
    rows = [json.loads(line) for p in (out / "ledger").glob("*.jsonl") for line in p.open()]
    kept = sorted(r["id"] for r in rows if r["outcome"] in ("kept", "duplicate"))
    assert kept == ["a/UP.JSONL.GZ/#1", "a/part.jsonl/#7", "a/part.jsonl/7", "a/part.jsonl/r",
                    "b/part.jsonl/#7", "b/part.jsonl/7", "b/part.jsonl/r"]
    letters = {r["error"] for r in rows if r["outcome"] == "dead_letter"}
    assert letters == {"not a regular file (named pipe)", "broken symbolic link", "symbolic link loop",
                       f"duplicate record id: the record at {inp}/a/part.jsonl:3 kept it",
                       f"duplicate record id: the record at {inp}/b/part.jsonl:3 kept it"}
    written = set(json.loads((out / outputs.RUN_MARKER).read_text())["files"])
    assert "stats.json" in written and "notes.txt" not in written
    again = run(args + ["--num_shards=1"])
    assert again["identity_holds"] and (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["shard-000000.tar"]
