"""The Dataflow image and Flex Template files (`pipeline/dataflow/`), checked offline: the image
pins the project's Beam and Python, the template's metadata is generated from the options, and
the template's entry point never waits for the job."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from pipeline.dataflow import flex_main, metadata
from pipeline.options import NOT_CORPUS_OPTIONS, corpus_config_keys

ROOT = Path(__file__).resolve().parents[2]


def test_image_uses_the_pinned_beam_and_python():
    docker = (ROOT / "pipeline" / "dataflow" / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/beam_python(\d+)\.(\d+)_sdk:(\S+)$", docker, re.M)
    assert base, "the image must start from Beam's Python SDK image"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    beam = next(d for d in deps if d.startswith("apache-beam=="))
    assert base.group(3) == beam.split("==")[1]
    assert (int(base.group(1)), int(base.group(2))) == sys.version_info[:2]
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/sieve/pipeline/dataflow/flex_main.py" in docker
    for folder in ("pipeline", "quality", "pretrain", "workflows"):
        assert f"COPY {folder} ./{folder}" in docker


def test_template_metadata_is_generated_from_the_options():
    assert metadata.main(["--check"]) == 0, "run python -m pipeline.dataflow.metadata"
    names = {p["name"] for p in metadata.metadata()["parameters"]}
    assert set(corpus_config_keys()) <= names
    assert names == (set(corpus_config_keys()) | NOT_CORPUS_OPTIONS) - metadata.LAUNCHER_ONLY
    assert all(re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_]*", n) for n in names)


def test_template_entry_point_never_waits():
    assert flex_main.flex_argv(["--input=gs://b/x", "--wait=true"]) == ["--input=gs://b/x", "--wait=false"]
    assert flex_main.flex_argv([])[-1] == "--wait=false"
