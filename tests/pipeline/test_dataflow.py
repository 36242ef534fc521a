"""The whole job's graph for Dataflow, built offline (`--dry_run=True --no_auth`, as Beam's own
DataflowRunner tests do): the job is created, holds every stage, stays far below Dataflow's graph
size limit, and the launcher touches no remote file on the way."""

from __future__ import annotations

import pytest
from apache_beam.io.filesystems import FileSystems

try:
    from apache_beam.runners.dataflow.internal import apiclient
except ImportError:  # the gcp extra is not installed
    apiclient = None

from pipeline import __main__ as launcher

pytestmark = pytest.mark.skipif(
    apiclient is None, reason="needs the gcp extra: pip install -e '.[dev,gcp]'")

BUCKET = "gs://sieve-test-bucket"
DATAFLOW = ["--runner", "DataflowRunner", "--project", "test-project", "--region", "us-central1",
            "--temp_location", f"{BUCKET}/tmp", "--no_auth", "--dry_run=True",
            "--sdk_location=container", "--input", f"{BUCKET}/raw/*.jsonl.gz",
            "--output", f"{BUCKET}/out"]
# Dataflow refuses a job whose graph passes 10 MB (its CreateJob request limit).
DATAFLOW_GRAPH_LIMIT = 10 * 1024 * 1024
STAGES = ("Read", "Unique ids", "Annotate", "Select", "Features", "Dedup decisions", "Pack",
          "Train tokenizer", "Shards", "Manifest", "Stats", "Report", "Output is fresh")


@pytest.fixture
def no_remote_io(monkeypatch):
    """Any FileSystems call on a gs:// path from the launcher fails the test."""
    calls = []

    def guard(name):
        real = getattr(FileSystems, name)

        def wrapped(paths, *args, **kwargs):
            listed = paths if isinstance(paths, (list, tuple)) else [paths]
            if any(str(p).startswith("gs://") for p in listed):
                calls.append((name, listed))
                raise AssertionError(f"the launcher called FileSystems.{name}({listed})")
            return real(paths, *args, **kwargs)
        return staticmethod(wrapped)

    for name in ("match", "open", "create", "delete", "exists", "rename"):
        monkeypatch.setattr(FileSystems, name, guard(name))
    return calls


def _graph(argv):
    opts, p, result = launcher.launch(DATAFLOW + argv)
    assert result.job is not None, "no Dataflow job was created"
    proto = result.job.proto_pipeline
    names = {t.unique_name for t in proto.components.transforms.values()}
    return proto, names


def test_default_job_builds_for_dataflow_offline(no_remote_io):
    proto, names = _graph([])
    missing = [s for s in STAGES if s not in names]
    assert not missing, f"stages missing from the Dataflow graph: {missing}"
    assert proto.ByteSize() < DATAFLOW_GRAPH_LIMIT / 4
    assert not no_remote_io


def test_job_with_every_stage_on_builds_for_dataflow(tmp_path, no_remote_io):
    policy = tmp_path / "every_stage.yaml"
    policy.write_text("name: every_stage\ntransform: c4_lines\nrules:\n"
                      "  - {name: lang, signal: lang, allowed: [en]}\n"
                      "  - {name: long_enough, signal: gopher_quality.word_count, min: 50}\n"
                      "  - {name: quality, signal: fasttext_quality.score, top_fraction: 0.5}\n")
    proto, names = _graph(["--policy", str(policy), "--quality_model", f"{BUCKET}/quality.ftz",
                           "--subdoc_dedup", "paragraph", "--write_annotated", "true",
                           "--dedup_keeper_signal", "fasttext_quality.score"])
    wanted = STAGES + ("Cut of quality", "Annotated files")
    assert not [s for s in wanted if s not in names]
    assert proto.ByteSize() < DATAFLOW_GRAPH_LIMIT / 4
    assert not no_remote_io


def test_dry_run_launcher_returns_without_waiting(capsys, no_remote_io):
    assert launcher.main(DATAFLOW) == 0
    out = capsys.readouterr().out
    assert "built (dry run)" in out and f"{BUCKET}/out" in out
