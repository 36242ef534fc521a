"""`--sample_fraction` and `--plan` (`pipeline.plan`): a stable sample, and a plan fitted on two
small runs."""

from __future__ import annotations

import gzip

import pytest

from pipeline import plan, read
from pipeline.__main__ import SAMPLE, main


def test_sample_is_stable_and_about_the_fraction():
    chosen = [i for i in range(20_000) if read.in_sample("/a/b/part-0.jsonl", i, 0.1)]
    assert abs(len(chosen) / 20_000 - 0.1) < 0.01
    assert chosen == [i for i in range(20_000) if read.in_sample("gs://x/part-0.jsonl", i, 0.1)]
    assert set(chosen) >= {i for i in range(20_000) if read.in_sample("p/part-0.jsonl", i, 0.05)}


def test_fit_is_the_line_through_both_runs():
    small = {"input_bytes": 100, "wall_s": 12.0}
    large = {"input_bytes": 300, "wall_s": 16.0}
    fixed, per = plan.fit(small, large, "wall_s")
    assert fixed == pytest.approx(10.0) and per == pytest.approx(0.02)
    assert plan.fit({"input_bytes": 100, "x": 9.0}, {"input_bytes": 300, "x": 3.0}, "x") == (3.0, 0.0)


def test_plan_runs_two_samples_and_extrapolates(tmp_path, capsys):
    lines = gzip.open(SAMPLE, "rt", encoding="utf-8").readlines()[::10]  # ~270 documents
    (tmp_path / "slice.jsonl").write_text("".join(lines), encoding="utf-8")
    args = ["--input", str(tmp_path / "slice.jsonl"), "--policy", "none", "--vocab_size", "2000",
            "--output", str(tmp_path / "never"), "--plan", "0.5", "--plan_workers", "4"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sample 25.00%" in out and "sample 50.00%" in out and "on 4 worker(s)" in out
    assert "IDENTITY FAILS" not in out
    assert not (tmp_path / "never").exists()  # a plan writes only into temporary directories
    with pytest.raises(SystemExit, match="runs the job locally"):
        main(args + ["--runner", "DataflowRunner"])


def test_progress_lines_count_share_and_eta():
    import io

    from pipeline.progress import Progress

    now = [100.0]
    out = io.StringIO()
    p = Progress(10, total_docs=1000, workers=1, clock=lambda: now[0], out=out)
    assert p.add(100, 1_000_000) is None  # the interval has not passed
    now[0] = 110.0
    line = p.add(150, 500_000)
    assert "annotated 250 documents in 10 s (25 docs/s" in line and "25.0% of 1,000" in line
    assert "ETA 30 s" in line and out.getvalue().strip() == line
    two = Progress(1, total_docs=1000, workers=2, clock=lambda: now[0], out=io.StringIO())
    now[0] = 112.0
    assert "50.0% of this worker's ~1/2 share" in two.add(250)
    assert Progress(0, 10, clock=lambda: now[0]).add(5) is None  # 0: never
