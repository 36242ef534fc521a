"""The study's pre-registered contrasts on synthetic results built by hand (issue 32): the paired t
against scipy, what pairing buys over an unpaired test, Holm, TOST equivalence, the minimum
effect, n = 1, the "quality first, then quantity" read-off, the unigram floor against a hand
computation, the trained-enough gate, and every schema error named."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import yaml
from scipy import stats

from workflows import contrasts as C
from workflows.contrasts import (ContrastError, holm, largest_repeats_beating, paired, parse_contrasts,
                                 summarize, tost, trained_enough, unigram_bpb)

SEEDS = (0, 1, 2, 3, 4)
# Per-seed noise with mean 0 and a hand-computable SD: sd = 0.01 x sqrt(2.5), se = 0.01 x sqrt(0.5).
PATTERN = np.array([-2.0, -1.0, 0.0, 1.0, 2.0]) * 0.01
SE_PATTERN = 0.01 * math.sqrt(0.5)


def arm(values, metric: str = "macro_bpb", seeds=SEEDS) -> dict:
    return {s: {metric: float(v)} for s, v in zip(seeds, values)}


def contrast(name="c", kind="better", a="raw@1", b="heuristic@1", metric="macro_bpb", **rest) -> dict:
    spec = {"name": name, "kind": kind, "a": a, "b": b, "metric": metric, **rest}
    if kind in ("better", "worse") and "min_effect" not in rest:
        spec["min_effect"] = 0.01
    return spec


def one(spec: dict, arms: dict, **kw) -> dict:
    (row,) = summarize([spec], arms, **kw)
    return row


# ---------------------------------------------------------------------------------------------
# Paired statistics


def test_paired_t_equals_scipy_ttest_rel_and_its_interval():
    rng = np.random.default_rng(1)
    a = 3.0 + rng.normal(0, 0.05, 5)
    b = a - 0.03 + rng.normal(0, 0.01, 5)
    row = paired({"raw@1": arm(a), "heuristic@1": arm(b)}, "raw@1", "heuristic@1", "macro_bpb")
    ref = stats.ttest_rel(a, b)  # lower bpb is better: Δ = a - b, positive = b better
    assert row["t"] == pytest.approx(ref.statistic, rel=1e-12) and row["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert row["df"] == ref.df == 4 and row["n"] == 5
    assert row["delta"] == pytest.approx(np.mean(a - b)) and row["sd"] == pytest.approx(np.std(a - b, ddof=1))
    assert row["se"] == pytest.approx(np.std(a - b, ddof=1) / math.sqrt(5))
    lo, hi = ref.confidence_interval(0.95)
    assert row["ci95"] == pytest.approx([lo, hi], rel=1e-10)
    assert row["mean_a"] == pytest.approx(a.mean()) and row["mean_b"] == pytest.approx(b.mean())
    # a higher-is-better metric turns the sign: Δ = b - a
    up = paired({"x": arm(a, "likelihood_acc"), "y": arm(b, "likelihood_acc")}, "x", "y", "likelihood_acc")
    assert up["t"] == pytest.approx(stats.ttest_rel(b, a).statistic) and up["delta"] == pytest.approx(-row["delta"])


def test_pairing_removes_a_shared_seed_effect_that_an_unpaired_test_cannot():
    seed_effect = np.array([0.30, -0.20, 0.10, -0.25, 0.05])  # the same in every arm: init and data order
    a = 3.0 + seed_effect
    b = 3.0 - 0.04 + seed_effect + PATTERN  # 0.04 better in every seed, up to 0.02
    unpaired = stats.ttest_ind(a, b)
    assert abs(unpaired.statistic) < 1 and unpaired.pvalue > 0.5
    row = one(contrast(), {"raw@1": arm(a), "heuristic@1": arm(b)})
    assert row["t"] == pytest.approx(0.04 / SE_PATTERN) and row["t"] > C.DECISIVE_T
    assert row["verdict"] == "supported" and row["decisive"]


def test_seeds_pair_by_key_text_and_only_where_both_arms_have_the_metric():
    a = {0: {"macro_bpb": 3.0}, 1: {"macro_bpb": 3.1}, 2: {"macro_bpb": 3.2}, 3: {"other": 1.0}}
    b = {"0": {"macro_bpb": 2.9}, "1": {"macro_bpb": 3.05}, "2": {"macro_bpb": 3.0}, "9": {"macro_bpb": 1.0}}
    row = paired({"a": a, "b": b}, "a", "b", "macro_bpb")
    assert row["seeds"] == ["0", "1", "2"] and row["differences"] == pytest.approx([0.1, 0.05, 0.2])


def test_one_shared_seed_or_a_missing_arm_is_not_testable():
    arms = {"raw@1": arm([3.0, 3.1]), "heuristic@1": arm([2.9], seeds=(1,))}
    row = one(contrast(), arms)
    assert row["verdict"] == "not testable" and row["n"] == 1 and not row["decisive"]
    assert "1 seed shared" in row["reason"] and row["sentence"].endswith(row["reason"])
    assert "not testable: 1 seed" in row["sentence"]
    gone = one(contrast(b="near@1"), arms)
    assert gone["verdict"] == "not testable" and "'near@1'" in gone["reason"] and "not run" in gone["reason"]


def test_a_diverged_run_is_an_error_not_a_dropped_seed():
    arms = {"raw@1": arm([3.0, float("nan"), 3.1]), "heuristic@1": arm([2.9, 2.9, 2.9])}
    with pytest.raises(ValueError, match=r"arm 'raw@1' seed 1: macro_bpb is nan"):
        summarize([contrast()], arms)


# ---------------------------------------------------------------------------------------------
# The verdict rule


def test_better_and_worse_supported_and_not_supported_by_direction():
    base = 3.0 + np.array([0.3, -0.2, 0.1, -0.25, 0.05])
    arms = {"raw@1": arm(base), "heuristic@1": arm(base - 0.05 + PATTERN), "junk@1": arm(base + 0.05 + PATTERN)}
    assert one(contrast(), arms)["verdict"] == "supported"
    assert one(contrast(kind="worse"), arms)["verdict"] == "not supported"  # it is decisively better
    junk = one(contrast(kind="worse", a="raw@1", b="junk@1"), arms)
    assert junk["verdict"] == "supported" and junk["delta"] == pytest.approx(-0.05)
    assert junk["sentence"].startswith("junk@1 is worse than raw@1 by 0.050 bpb (95% CI ")
    better = one(contrast(kind="better", b="junk@1"), arms)
    assert better["verdict"] == "not supported" and better["reason"] == "decisive against the prediction"


def test_sentence_reads_like_the_issue():
    base = 3.0 + np.array([0.3, -0.2, 0.1, -0.25, 0.05])
    row = one(contrast(), {"raw@1": arm(base), "heuristic@1": arm(base - 0.061 + PATTERN)})
    lo, hi = row["ci95"]
    assert row["sentence"] == (f"heuristic@1 beats raw@1 by 0.061 bpb (95% CI {lo:.3f}..{hi:.3f}, "
                               f"t = {row['t']:.1f}, p = {row['p']:.3g}, 5 seeds): supported")
    json.dumps(row)  # JSON-ready for results.json


def test_min_effect_rule_large_t_tiny_delta_is_inconclusive():
    base = 3.0 + np.array([0.3, -0.2, 0.1, -0.25, 0.05])
    arms = {"raw@1": arm(base), "heuristic@1": arm(base - 0.002 + PATTERN / 100)}  # t = 28, Δ = 0.002
    row = one(contrast(min_effect=0.01), arms)
    assert row["t"] > 20 and row["verdict"] == "inconclusive" and not row["decisive"]
    assert "below the minimum effect 0.01" in row["reason"]
    assert one(contrast(min_effect=0.001), arms)["verdict"] == "supported"


def test_t_below_three_is_inconclusive_and_at_three_decisive():
    base = np.full(5, 3.0)
    at = {"raw@1": arm(base), "heuristic@1": arm(base - 3.01 * SE_PATTERN + PATTERN)}
    below = {"raw@1": arm(base), "heuristic@1": arm(base - 2.9 * SE_PATTERN + PATTERN)}
    assert one(contrast(), at)["verdict"] == "supported"
    row = one(contrast(), below)
    assert row["verdict"] == "inconclusive" and "|t| = 2.90 < 3" in row["reason"]


def test_few_seeds_need_p_below_alpha_as_well():
    # n = 3 (2 df): t = 3.5 is p = 0.073, so |t| >= 3 alone would decide on noise
    base = np.full(3, 3.0)
    noise = np.array([-0.01, 0.0, 0.01])
    se = 0.01 / math.sqrt(3)
    row = one(contrast(), {"raw@1": arm(base), "heuristic@1": arm(base - 3.5 * se + noise)})
    assert row["t"] == pytest.approx(3.5) and row["p"] > C.ALPHA
    assert row["verdict"] == "inconclusive" and "at 3 seeds" in row["reason"]
    assert 2 * stats.t.sf(C.DECISIVE_T, 4) < C.ALPHA  # at 5 seeds |t| >= 3 implies it


def test_identical_differences_give_infinite_t():
    base = np.array([3.0, 3.2, 3.1])
    row = one(contrast(), {"raw@1": arm(base), "heuristic@1": arm(base - 0.05)})
    assert row["t"] == math.inf and row["p"] == 0.0 and row["verdict"] == "supported"
    assert "t = inf" in row["sentence"]


# ---------------------------------------------------------------------------------------------
# Holm


def test_holm_on_a_known_example():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.04, 0.01]) == pytest.approx([0.04, 0.02])
    assert holm([0.2, 0.3, 0.9]) == pytest.approx([0.6, 0.6, 0.9])
    assert holm([0.5, 0.6, 0.9]) == [1.0, 1.0, 1.0]  # capped at 1, and never below a smaller p's
    assert holm([]) == []
    rejected = [p < C.ALPHA for p in holm([0.01, 0.04, 0.03])]
    assert rejected == [True, False, False]


def test_a_family_is_holm_corrected_and_an_arm_not_run_keeps_its_size():
    # three contrasts each at t = 3.5, 4 df: p = 0.025, decisive alone; Holm makes each 0.075
    base = np.full(5, 3.0)
    arms = {"raw@1": arm(base), **{f"t{i}@1": arm(base - 3.5 * SE_PATTERN + PATTERN) for i in range(3)}}
    specs = [contrast(name=f"Q1 {i}", b=f"t{i}@1", family="Q1") for i in range(3)]
    rows = summarize(specs, arms)
    p = 2 * stats.t.sf(3.5, 4)
    for row in rows:
        assert row["p"] == pytest.approx(p) and row["p_holm"] == pytest.approx(3 * p) and row["holm_m"] == 3
        assert row["verdict"] == "inconclusive" and "Holm-adjusted p" in row["reason"]
        assert "Holm p = " in row["sentence"]
    alone = summarize([{k: v for k, v in s.items() if k != "family"} for s in specs], arms)
    assert [r["verdict"] for r in alone] == ["supported"] * 3 and all(r["p_holm"] is None for r in alone)
    # the third arm was not run: it counts as p = 1 in a family of 3, so 3p for the smallest
    del arms["t2@1"]
    rows = summarize(specs, arms)
    assert rows[2]["verdict"] == "not testable" and rows[2]["p_holm"] is None
    assert rows[0]["p_holm"] == pytest.approx(3 * p)


# ---------------------------------------------------------------------------------------------
# TOST equivalence


@pytest.mark.parametrize("shift, verdict", [(0.0, "supported"), (0.03, "not supported"),
                                            (-0.03, "not supported"), (0.008, "inconclusive")])
def test_tost_inside_outside_straddling(shift, verdict):
    base = 3.0 + np.array([0.3, -0.2, 0.1, -0.25, 0.05])
    noise = PATTERN / 4  # se 0.0018: 90% CI half-width 2.13 x 0.0018 = 0.0038
    arms = {"heuristic@1": arm(base), "heuristic@4": arm(base - shift + noise)}
    row = one(contrast(kind="equivalent", a="heuristic@1", b="heuristic@4", margin=0.01), arms)
    assert row["verdict"] == verdict and row["ci_level"] == pytest.approx(0.90)
    lo, hi = row["ci"]
    assert lo == pytest.approx(shift - 2.1318 * SE_PATTERN / 4, abs=1e-5)
    assert hi - lo < row["ci95"][1] - row["ci95"][0]  # the 90% interval is the narrower
    assert row["sentence"].startswith("heuristic@4 vs heuristic@1, equivalent within ±0.01 bpb: Δ = ")
    assert row["sentence"].endswith(verdict if verdict != "inconclusive" else "(the 90% CI straddles ±0.01)")


def test_tost_p_values_match_one_sided_scipy_tests_and_the_interval():
    d = np.array([0.004, -0.002, 0.006, 0.001, 0.003])
    e = tost(d, 0.01)
    assert e["p_lower"] == pytest.approx(stats.ttest_1samp(d, -0.01, alternative="greater").pvalue)
    assert e["p_upper"] == pytest.approx(stats.ttest_1samp(d, 0.01, alternative="less").pvalue)
    assert e["p"] == max(e["p_lower"], e["p_upper"])
    for margin in np.linspace(0.001, 0.02, 40):  # p < 0.05 exactly when the 90% CI is inside
        e = tost(d, margin)
        assert (e["p"] < 0.05) == e["inside"]


# ---------------------------------------------------------------------------------------------
# Quality first, then quantity


def _repeat_arms(heuristic_gain: dict) -> dict:
    base = 3.0 + np.array([0.3, -0.2, 0.1, -0.25, 0.05])
    arms = {"raw@1": arm(base)}
    for r, gain in heuristic_gain.items():
        arms[f"heuristic@{r}"] = arm(base - gain + PATTERN)
    return arms


def test_largest_r_at_which_the_tier_still_beats_raw():
    arms = _repeat_arms({1: 0.06, 4: 0.05, 16: 0.03, 64: -0.03})
    out = largest_repeats_beating(arms, "heuristic", "raw@1", [64, 1, 16, 4], "macro_bpb", 0.01)
    assert out["largest_r"] == 16 and out["beats_at"] == [1, 4, 16] and out["repeats"] == [1, 4, 16, 64]
    assert [r["verdict"] for r in out["per_r"]] == ["supported"] * 3 + ["not supported"]
    assert out["verdict"] == "supported"
    assert out["sentence"].startswith("heuristic still beats raw@1 at 16 repeats")
    assert "r = 64: not supported" in out["sentence"]
    # the same through the YAML kind, with the profile's list
    spec = {"name": "quality first", "kind": "largest_repeats", "a": "raw@1", "tier": "heuristic",
            "metric": "macro_bpb", "min_effect": 0.01}
    row = one(spec, arms, repeats=[1, 4, 16, 64])
    assert row["largest_r"] == 16 and row["name"] == "quality first"


def test_largest_r_says_when_none_beats_and_shows_a_gap():
    none = largest_repeats_beating(_repeat_arms({1: 0.001, 4: 0.05}), "heuristic", "raw@1", [1, 4], "macro_bpb", 0.01)
    assert none["largest_r"] is None and none["verdict"] == "inconclusive"
    assert none["sentence"].startswith("heuristic beats raw@1 at no r in 1, 4: at r = 1 it is inconclusive")
    gap = largest_repeats_beating(_repeat_arms({1: 0.06, 4: 0.001, 16: 0.05}), "heuristic", "raw@1", [1, 4, 16],
                                  "macro_bpb", 0.01)
    assert gap["largest_r"] == 1 and gap["beats_at"] == [1, 16] and "beats again at r = 16" in gap["sentence"]
    worse = largest_repeats_beating(_repeat_arms({1: -0.05}), "heuristic", "raw@1", [1], "macro_bpb", 0.01)
    assert worse["largest_r"] is None and worse["verdict"] == "not supported"


# ---------------------------------------------------------------------------------------------
# Unigram floor and trained enough


def test_count_tokens_is_a_bincount_over_arrays():
    arrays = [np.array([0, 2, 2, 5], dtype=np.uint16), np.array([], dtype=np.int32), np.array([[5, 5], [1, 0]])]
    counts = C.count_tokens(arrays, 6)
    expected = Counter([0, 2, 2, 5, 5, 5, 1, 0])
    assert counts.tolist() == [expected[i] for i in range(6)]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        C.count_tokens([np.array([6])], 6)


def test_unigram_bpb_against_a_hand_computation():
    counts = np.array([3, 1, 0])  # N = 4, V = 3, k = 1/2: p = 3.5/5.5, 1.5/5.5, 0.5/5.5
    held = np.array([0, 1, 2, 0])
    bits = -(2 * math.log2(3.5 / 5.5) + math.log2(1.5 / 5.5) + math.log2(0.5 / 5.5))
    assert unigram_bpb(counts, held, 8) == pytest.approx(bits / 8)
    assert C.UNIGRAM_ADD_K == 0.5
    # add-one, and per domain
    bits1 = -(math.log2(4 / 7) + math.log2(2 / 7))
    floors = unigram_bpb(counts, {"news": np.array([0, 1]), "wiki": held}, {"news": 3, "wiki": 8}, smoothing=1)
    assert floors["news"] == pytest.approx(bits1 / 3)
    assert floors["wiki"] == pytest.approx(-(2 * math.log2(4 / 7) + math.log2(2 / 7) + math.log2(1 / 7)) / 8)
    # unsmoothed: exact when every held-out token was seen, refused when one was not
    assert unigram_bpb(counts, np.array([0, 1]), 2, smoothing=0) == pytest.approx(
        -(math.log2(3 / 4) + math.log2(1 / 4)) / 2)
    with pytest.raises(ValueError, match="never occur in training"):
        unigram_bpb(counts, held, 8, smoothing=0)
    with pytest.raises(ValueError, match="domain 'news': held-out token id outside"):
        unigram_bpb(counts, {"news": np.array([3])}, {"news": 1})
    with pytest.raises(ValueError, match="same domains"):
        unigram_bpb(counts, {"news": held}, {"wiki": 1})


def test_trained_enough_gates_on_every_domain_floor_by_the_margin():
    floors = {"news": 2.45, "wiki": 2.60}
    ok = trained_enough({"raw@1": {"news": 2.30, "wiki": 2.40}, "heuristic@1": {"news": 2.35, "wiki": 2.45}},
                        floors, 0.1)
    assert ok["verdict"] == "trained enough" and ok["trained_enough"] and ok["failures"] == []
    assert "closest: heuristic@1 on news" in ok["sentence"]
    bad = trained_enough({"raw@1": {"news": 2.40, "wiki": 2.40}, "heuristic@1": {"news": 2.30, "wiki": 2.45}},
                         floors, 0.1)
    assert bad["verdict"] == "undertrained" and not bad["trained_enough"]
    assert [(f["arm"], f["domain"]) for f in bad["failures"]] == [("raw@1", "news")]
    assert bad["sentence"].startswith("undertrained: 1 of 4") and "raw@1 on news" in bad["sentence"]
    per_arm = trained_enough({"raw@1": {"news": 2.40}}, {"raw@1": {"news": 2.60}}, 0.1)
    assert per_arm["trained_enough"]
    with pytest.raises(ValueError, match="do not match the floors"):
        trained_enough({"raw@1": {"news": 2.3}}, floors, 0.1)


def test_domain_means_feeds_trained_enough():
    arms = {"raw@1": {0: {"bpb.news": 2.3, "bpb.wiki": 2.5, "macro_bpb": 2.4}, 1: {"bpb.news": 2.5, "bpb.wiki": 2.5}}}
    assert C.domain_means(arms) == {"raw@1": {"news": pytest.approx(2.4), "wiki": pytest.approx(2.5)}}


# ---------------------------------------------------------------------------------------------
# The schema


EXAMPLE = """
contrasts:
  - {name: "Q1: heuristic beats raw", kind: better, a: raw@1, b: heuristic@1, metric: macro_bpb, min_effect: 0.01, family: Q1}
  - {name: "Q1: classifier beats raw", kind: better, a: raw@1, b: classifier@1, metric: macro_bpb, min_effect: 0.01, family: Q1}
  - {name: "Q2: 4 repeats ~ unique data", kind: equivalent, a: heuristic@1, b: heuristic@4, metric: macro_bpb, margin: 0.01}
  - {name: "Q2: 16 repeats worse", kind: worse, a: heuristic@1, b: heuristic@16, metric: macro_bpb, min_effect: 0.01}
  - {name: "quality first", kind: largest_repeats, a: raw@1, tier: heuristic, metric: macro_bpb, min_effect: 0.01}
  - {name: "Q3: junk hurts", kind: worse, a: heuristic@1, b: junk@1, metric: macro_bpb, min_effect: 0.01}
  - {name: "likelihood", kind: better, a: raw@1, b: heuristic@1, metric: likelihood_acc, min_effect: 0.01}
  - {name: "custom", kind: better, a: raw@1, b: heuristic@1, metric: my_score, direction: higher, min_effect: 0}
"""
ARMS = ["raw@1", "heuristic@1", "classifier@1", "heuristic@4", "heuristic@16", "heuristic@64", "junk@1"]


def test_the_example_parses_with_directions_and_units():
    parsed = parse_contrasts(yaml.safe_load(EXAMPLE)["contrasts"], "study.yaml", arm_ids=ARMS, repeats=[1, 4, 16, 64])
    assert [c.kind for c in parsed] == ["better", "better", "equivalent", "worse", "largest_repeats", "worse",
                                        "better", "better"]
    assert parsed[0].direction == "lower" and parsed[0].unit == "bpb" and parsed[0].family == "Q1"
    assert parsed[6].direction == "higher" and parsed[7].direction == "higher" and parsed[7].min_effect == 0.0
    assert parsed[2].margin == 0.01 and parsed[2].min_effect is None


@pytest.mark.parametrize("change, message", [
    ({"kind": "beter"}, "contrast 'c' (contrasts[0]): 'kind' must be one of better, worse, equivalent, "
                        "largest_repeats, got the string 'beter' (did you mean 'better'?)"),
    ({"min_efect": 0.01}, "contrast 'c' (contrasts[0]): unknown key 'min_efect' (did you mean 'min_effect'?)"),
    ({"b": "raw@1"}, "'a' and 'b' are the same arm 'raw@1'"),
    ({"min_effect": -0.01}, "'min_effect' must be >= 0"),
    ({"min_effect": "0.01"}, "'min_effect' must be a number, got the string '0.01': write it unquoted"),
    ({"min_effect": True}, "'min_effect' must be a number, got the boolean True"),
    ({"min_effect": float("nan")}, "'min_effect' must be a finite number"),
    ({"margin": 0.01}, "'margin' is not allowed with kind better"),
    ({"metric": "macro_bbp"}, "'metric' 'macro_bbp' is not in the registry (did you mean 'macro_bpb'?): state "
                              "'direction: lower'"),
    ({"direction": "down"}, "'direction' must be 'lower' or 'higher'"),
    ({"name": 7}, "contrasts[0]: 'name' must be a string, got 7 (int): quote it, '7'"),
    ({"family": "Q1"}, "'family' 'Q1' has no other contrast"),
    ({"b": "heuristic@2"}, "'b' names arm 'heuristic@2', which the study does not run (did you mean 'heuristic@4'?)"),
])
def test_schema_errors_name_the_contrast_and_key(change, message):
    spec = {**contrast(), **change}
    with pytest.raises(ContrastError) as e:
        parse_contrasts([spec], "study.yaml", arm_ids=ARMS)
    assert message in str(e.value) and str(e.value).startswith("study.yaml")


@pytest.mark.parametrize("spec, message", [
    (None, "study.yaml: is empty"),
    ([], "study.yaml: is empty"),
    ({"name": "x"}, "study.yaml: must be a list, got a mapping"),
    (["raw@1"], "contrasts[0] must be a mapping"),
    ([{"name": "e", "kind": "equivalent", "a": "raw@1", "b": "heuristic@1", "metric": "macro_bpb"}],
     "'margin' is missing (kind equivalent needs b, margin)"),
    ([{"name": "e", "kind": "equivalent", "a": "raw@1", "b": "heuristic@1", "metric": "macro_bpb", "margin": 0}],
     "'margin' must be > 0"),
    ([{"name": "e", "kind": "equivalent", "a": "raw@1", "b": "heuristic@1", "metric": "macro_bpb", "margin": 0.01,
       "min_effect": 0.01}], "'min_effect' is not allowed with kind equivalent"),
    ([{"name": "q", "kind": "largest_repeats", "a": "raw@1", "b": "heuristic@1", "tier": "heuristic",
       "metric": "macro_bpb", "min_effect": 0.01}], "'b' is not allowed with kind largest_repeats"),
    ([{"name": "q", "kind": "largest_repeats", "a": "raw@1", "tier": "heuristic", "metric": "macro_bpb",
       "min_effect": 0.01}], "'repeats' is missing and no profile list was given"),
    ([{"name": "q", "kind": "largest_repeats", "a": "raw@1", "tier": "heuristic", "metric": "macro_bpb",
       "min_effect": 0.01, "repeats": [1, 0.5]}], "'repeats' must hold repeat counts >= 1"),
    ([{"kind": "better", "a": "raw@1", "b": "heuristic@1", "metric": "macro_bpb", "min_effect": 0.01}],
     "contrasts[0]: 'name' is missing"),
    ([contrast(), contrast()], "contrast 'c' (contrasts[1]): the name 'c' is taken by contrasts[0]"),
    ([contrast(), contrast(name="d")], "contrast 'd' (contrasts[1]): the same test as contrasts[0]"),
])
def test_list_level_schema_errors(spec, message):
    with pytest.raises(ContrastError) as e:
        parse_contrasts(spec, "study.yaml")
    assert message in str(e.value)


def test_every_problem_is_listed_at_once_and_summarize_validates_raw_yaml():
    with pytest.raises(ContrastError) as e:
        parse_contrasts([contrast(kind="beter"), contrast(name="d", metric="nope")], "study.yaml")
    assert len(e.value.problems) == 2 and "has 2 problems" in str(e.value)
    with pytest.raises(ContrastError, match="did you mean 'better'"):
        summarize([contrast(kind="beter")], {})


def test_the_module_imports_neither_torch_nor_beam_nor_the_runner():
    code = ("import sys, workflows.contrasts; "
            "print([m for m in ('torch', 'apache_beam', 'workflows.study', 'pretrain') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
