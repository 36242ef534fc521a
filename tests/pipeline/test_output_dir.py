"""The output directory rule (`pipeline.output_dir`): local outputs are cleared by the launcher,
remote ones must be fresh, checked by the job itself."""

from __future__ import annotations

import pytest

from pipeline import output_dir
from quality import outputs


def test_local_and_remote_paths():
    assert output_dir.is_local("out") and output_dir.is_local("/tmp/x")
    assert not output_dir.is_local("gs://bucket/out") and not output_dir.is_local("s3://b/o")


def test_fresh_check_refuses_a_previous_run_and_clearing_removes_only_outputs(tmp_path):
    out = tmp_path / "out"
    (out / outputs.SHARDS_DIR).mkdir(parents=True)
    assert output_dir.check_fresh(str(out)) == str(out)  # an empty directory is fresh
    (out / outputs.SHARDS_DIR / "shard-000000.tar").write_bytes(b"")
    (out / outputs.MANIFEST).write_text("{}")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(output_dir.OutputNotFresh, match="new --output"):
        output_dir.check_fresh(str(out))
    output_dir.clear_previous_outputs(str(out))
    assert output_dir.previous_outputs(str(out)) == []
    assert (out / "notes.txt").read_text() == "mine"
    output_dir.check_fresh(str(out))
