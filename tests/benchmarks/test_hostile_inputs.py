"""Quick mode of benchmarks/hostile_inputs.py: small versions of every bomb in one job."""

from __future__ import annotations

import json

from benchmarks import hostile_inputs


def test_quick_mode_puts_every_small_bomb_through_one_job(tmp_path, capsys):
    assert hostile_inputs.main(["--quick", "--workdir", str(tmp_path)]) == 0
    rows = {r["case"]: r for r in map(json.loads, (x for x in capsys.readouterr().out.splitlines()
                                                     if x.startswith("{")))}
    assert set(rows) == {"good", "quick"}
    quick = rows["quick"]
    assert quick["exit"] == 0 and quick["identity"] and quick["peak_rss_mb"] > 0
    errors = " | ".join(quick["errors"])
    assert errors.count("record exceeds max_record_bytes") == 2  # the zstd and the gzip line
    assert "row group 0 inflates to" in errors and "HTML nests deeper than MAX_HTML_DEPTH" in errors
