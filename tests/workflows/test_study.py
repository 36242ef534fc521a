"""The quality-versus-quantity study end to end on its smoke profile (the bundled sample, tiny
decoders): every arm and seed in results.json, the verdicts, equal compute, the tiers' pipeline
accounting, the report in headless Chromium, and the step cache (rerun, resume)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from pretrain import data
from workflows import study as study_lib
from workflows.analysis import analyse

STUDY = Path(study_lib.__file__).with_name("quality_vs_quantity.yaml")
VERDICTS = {"supported", "not supported", "inconclusive"}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    definition = study_lib.load_study(STUDY, "smoke")
    return definition, out, study_lib.run_study(definition, out, log=lambda _: None)


def test_every_arm_and_seed_is_in_results(smoke):
    definition, out, results = smoke
    s = definition["settings"]
    assert json.loads((out / study_lib.RESULTS).read_text())["arms"] == results["arms"]
    expected = {f"{t['name']}@{b}" for t in definition["tiers"] for b in s["budgets"]}
    expected.add(f"{definition['good_tier']}+junk@1")
    assert {a["id"] for a in results["arms"]} == expected
    for arm in results["arms"]:
        assert [r["seed"] for r in arm["runs"]] == s["seeds"]
        for run in arm["runs"]:
            assert set(run["bpb"]["domains"]) == set(results["domains"]) == {"docs", "novels"}
            assert 0 < run["bpb"]["overall"] < 10
        # Equal compute: every run of every arm took the same steps of the same size.
        assert {r["steps"] for r in arm["runs"]} == {s["train_tokens"] // (s["seq_len"] * s["batch_size"])}
        assert arm["repeats"] == pytest.approx(s["train_tokens"] / arm["unique_tokens"])
    # Seeds differ (else the standard deviations would be meaningless).
    raw = next(a for a in results["arms"] if a["id"] == "raw@1")
    assert len({r["bpb"]["overall"] for r in raw["runs"]}) == len(s["seeds"])
    q = results["questions"]
    assert {q[k]["verdict"] for k in ("Q1", "Q2", "Q3")} <= VERDICTS
    assert [t["tier"] for t in q["multiplier"]["tiers"]] == results["tiers"][1:]
    assert q == json.loads(json.dumps(analyse(results)))  # recomputable from results alone


def test_tiers_filter_more_and_junk_is_what_the_good_tier_rejects(smoke):
    definition, _, results = smoke
    p = results["pipeline"]
    docs = [p[t]["docs"] for t in results["tiers"]]
    assert docs == sorted(docs, reverse=True) and docs[0] > docs[-1] > 0
    good = p[definition["good_tier"]]["accounting"]
    junk = p["junk"]["accounting"]
    assert junk["kept"] + junk["duplicate"] == good["dropped"] > 0
    for name, out in p.items():
        a = out["accounting"]
        assert a["input"] == a["kept"] + a["dropped"] + a["duplicate"] + a["dead_letter"], name
    mix = next(a for a in results["arms"] if a["kind"] == "junk")
    assert mix["junk_tokens"] >= mix["good_tokens"] or mix["junk_tokens"] == p["junk"]["tokens"]


def test_budgets_are_uniform_shard_subsets_of_one_tokenizer(smoke):
    _, out, results = smoke
    steps = sorted((out / "steps").glob("tier-*")) + sorted((out / "steps").glob("eval-*"))
    tokenizers = {data.read_manifest(str(d / "out"))["tokenizer"]["sha256"] for d in steps}
    assert len(tokenizers) == 1 and len(steps) == len(results["tiers"]) + len(results["domains"])
    assert study_lib.budget_shards({f"s{i}": 1 for i in (3, 1, 2, 0)}, Fraction(1, 2)) == ["s0", "s1"]
    arms = {a["id"]: a for a in results["arms"]}
    assert arms["raw@1/4"]["unique_tokens"] < arms["raw@1"]["unique_tokens"]


def test_report_renders_in_headless_chromium(smoke, dump_dom):
    _, out, results = smoke
    dom = dump_dom(out / study_lib.REPORT)
    for sid in ("summary", "verdicts", "arms", "plot", "multiplier"):
        assert f'<section id="{sid}">' in dom, sid
    assert "<svg" in dom and all(a["id"] in dom for a in results["arms"])


def test_rerun_reuses_every_step_and_resumes_an_interrupted_one(smoke):
    definition, out, results = smoke
    again = study_lib.run_study(definition, out, log=lambda _: None)
    assert again["steps"]["ran"] == 0 and again["arms"] == results["arms"]
    arm_dir = sorted((out / "steps").glob("arm-raw@1-seed1-*"))[0]
    (arm_dir / study_lib.DONE).unlink()  # as if the study had been killed during this arm
    resumed = study_lib.run_study(definition, out, log=lambda _: None)
    assert resumed["steps"]["ran"] == 1
    # The redone arm trained the same model: same losses and held-out numbers (not timings).
    measured = lambda r: [(run["seed"], run["steps"], run["final_loss"], run["bpb"])
                          for a in r["arms"] for run in a["runs"]]
    assert measured(resumed) == measured(results)
