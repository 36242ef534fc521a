"""The launcher's command line."""

from __future__ import annotations

from pipeline import __main__ as launcher


def test_help_lists_sieve_and_runner_options(capsys, tmp_path, monkeypatch):
    """`python -m pipeline --help` documents the job's own options (Beam's PipelineOptions
    alone would print a bare usage line) and the runner options, and runs nothing."""
    from pipeline.options import corpus_config_keys

    monkeypatch.chdir(tmp_path)
    assert launcher.main(["--input", "x.jsonl", "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m pipeline")
    for option in (*corpus_config_keys(), "output", "plan", "runner", "direct_num_workers",
                   "direct_running_mode"):
        assert f"--{option}" in text, option
    assert "DataflowRunner" in text and not (tmp_path / "out").exists()
