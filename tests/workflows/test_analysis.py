"""The study's statistics and report on synthetic results built by hand: each verdict by
construction, pooled-SD effects and multipliers on hand-computable numbers, bounds, a
non-monotone raw curve, the bootstrap, and the report's sections, escaping, determinism and a
render in headless Chromium."""

from __future__ import annotations

import json
import math

import pytest

from workflows import analysis
from workflows.analysis import analyse, effect, envelope, invert
from workflows.report import SECTIONS, render_study_report, write_study_report

XSS = "<script>alert(1)</script>"
DOMAINS = ("news", "novels", "wiki")
DOMAIN_OFFSETS = {"news": 0.2, "novels": -0.1, "wiki": 0.1}  # a domain's bpb = overall + offset
NOISE = (-0.01, 0.0, 0.01)  # per seed: sample SD 0.01
TIER_KEEPS = {"raw": 1_000_000, "near": 800_000, "heuristic": 400_000, "classifier": 200_000}
FRACTIONS = {"1/16": 1 / 16, "1/4": 1 / 4, "1": 1.0}


def arm(tier: str, budget: str, unique: float, values, *, train: int = 1_600_000, kind: str = "budget",
        domains: dict | None = None, probe: bool = False) -> dict:
    """One arm with a run per value; `domains` overrides a domain's per-seed values."""
    runs = []
    for seed, v in enumerate(values):
        by_domain = {d: (domains or {}).get(d, [v + DOMAIN_OFFSETS[d]] * len(values))[seed] for d in DOMAINS}
        runs.append({"seed": seed, "bpb": {"overall": v, "domains": by_domain},
                     "probe": {"grain": {"f1": 0.8 + 0.01 * seed, "accuracy": 0.9, "majority_accuracy": 0.7}}
                     if probe else None, "elapsed_s": 10.0, "tokens_per_s": 1000.0, "steps": 100})
    out = {"id": f"{tier}@{budget}" if kind == "budget" else f"{tier}+junk@{budget}", "kind": kind, "tier": tier,
           "budget": budget, "budget_fraction": FRACTIONS.get(budget, 1.0), "unique_tokens": unique,
           "train_tokens": train, "repeats": train / unique, "docs": 10, "flops": 1e12, "runs": runs}
    if kind == "junk":
        out["junk_tokens"] = 50_000
    return out


def noisy(mean: float) -> list[float]:
    return [mean + n for n in NOISE]


def results(means: dict[str, float], *, train: int = 1_600_000, junk: float | None = None,
            tiers=("raw", "near", "heuristic", "classifier"), probe: bool = False,
            domains: dict | None = None) -> dict:
    """Results with an arm per "tier@budget" in `means` (three seeds around each mean) and a junk
    arm if `junk` is set; `domains` maps an arm key (or "junk") to per-domain overrides."""
    overrides = domains or {}
    arms = []
    for key, mean in means.items():
        tier, budget = key.split("@")
        arms.append(arm(tier, budget, TIER_KEEPS[tier] * FRACTIONS[budget], noisy(mean), train=train,
                        domains=overrides.get(key), probe=probe))
    if junk is not None:
        arms.append(arm("heuristic", "1", TIER_KEEPS["heuristic"], noisy(junk), train=train, kind="junk",
                        domains=overrides.get("junk")))
    return {"study": "quality_vs_quantity", "profile": "smoke", "metric": "bpb", "tiers": list(tiers),
            "tier_labels": {t: f"{t} tier" for t in tiers}, "good_tier": "heuristic", "train_tokens": train,
            "model": {"preset": "tiny", "kind": "decoder", "objective": "clm", "non_embedding_params": 123,
                      "seq_len": 128, "batch_size": 16},
            "seeds": [0, 1, 2], "domains": list(DOMAINS), "arms": arms}


GOOD = {"raw@1/16": 3.4, "raw@1/4": 3.2, "raw@1": 3.0, "near@1": 2.8, "heuristic@1/16": 2.9,
        "heuristic@1/4": 2.65, "heuristic@1": 2.6, "classifier@1": 2.4}


def study(**changes) -> dict:
    """The GOOD study with some arm means changed, and a junk arm at 2.7 unless told."""
    junk = changes.pop("junk", 2.7)
    return results({**GOOD, **changes}, junk=junk)


# ---------------------------------------------------------------------------------------------
# Per-arm statistics and effects


def test_arm_means_and_sample_sds():
    q = analyse(study())
    s = q["arms"]["near@1"]
    assert s["n"] == 3
    assert s["overall"]["mean"] == pytest.approx(2.8) and s["overall"]["sd"] == pytest.approx(0.01)
    assert s["domains"]["news"] == {"mean": pytest.approx(3.0), "sd": pytest.approx(0.01), "n": 3}
    single = results({"raw@1": 3.0, "near@1": 2.8, "heuristic@1": 2.6}, tiers=("raw", "near", "heuristic"))
    single["arms"][0]["runs"] = single["arms"][0]["runs"][:1]
    assert analyse(single)["arms"]["raw@1"]["overall"] == {"mean": pytest.approx(2.99), "sd": 0.0, "n": 1}


def test_pooled_sd_effect_on_hand_computable_numbers():
    a = analysis.mean_sd([1.0, 2.0, 3.0])  # mean 2, sd 1
    b = analysis.mean_sd([2.0, 4.0, 6.0])  # mean 4, sd 2
    e = effect(a, b)
    assert e["pooled_sd"] == pytest.approx(math.sqrt(2.5))
    assert e["difference_bpb"] == pytest.approx(-2.0)
    assert e["effect_sd"] == pytest.approx(-2.0 / math.sqrt(2.5)) and not e["sd_floored"]
    # the same numbers through Q1: raw = a, near = b, so filtering hurt by 1.26 SD: inconclusive
    r = results({}, tiers=("raw", "near"))
    r["arms"] = [arm("raw", "1", 1e6, [1.0, 2.0, 3.0]), arm("near", "1", 8e5, [2.0, 4.0, 6.0])]
    r["good_tier"] = "near"
    q1 = analyse(r)["Q1"]
    assert q1["effect_sd"] == pytest.approx(-2.0 / math.sqrt(2.5)) and q1["verdict"] == "inconclusive"
    assert q1["pairs"][0]["mean_a"] == pytest.approx(2.0) and q1["pairs"][0]["sd_b"] == pytest.approx(2.0)


def test_zero_spread_is_floored_and_flagged():
    same = {"mean": 2.0, "sd": 0.0}
    e = effect({"mean": 2.001, "sd": 0.0}, same)
    assert e["sd_floored"] and e["pooled_sd"] == analysis.SD_FLOOR
    assert analysis.verdict(e["effect_sd"]) == "supported"
    assert effect(same, same)["effect_sd"] == 0.0


def test_verdict_thresholds():
    assert analysis.verdict(2.0) == "supported" and analysis.verdict(1.99) == "inconclusive"
    assert analysis.verdict(-2.0) == "not supported" and analysis.verdict(-1.99) == "inconclusive"


# ---------------------------------------------------------------------------------------------
# Q1


def test_q1_supported_when_every_step_helps():
    q1 = analyse(study())["Q1"]
    assert q1["verdict"] == "supported" and q1["threshold_sd"] == 2.0
    assert [(p["lower"], p["higher"]) for p in q1["pairs"]] == [("raw", "near"), ("near", "heuristic"),
                                                              ("heuristic", "classifier")]
    assert all(p["effect_sd"] == pytest.approx(20.0) for p in q1["pairs"])
    assert q1["effect_sd"] == pytest.approx(20.0)
    assert q1["t5"]["agreement"] == "agrees" and "83.28" in q1["t5"]["summary"]
    assert "supported" in q1["summary"] and "+20.00 SD" in q1["summary"]


def test_q1_not_supported_when_any_step_hurts():
    q1 = analyse(study(**{"near@1": 3.2}))["Q1"]
    assert q1["verdict"] == "not supported"
    assert q1["pairs"][0]["verdict"] == "not supported" and q1["effect_sd"] == pytest.approx(-20.0)
    assert q1["t5"]["agreement"] == "disagrees"


def test_q1_inconclusive_when_a_step_is_within_noise():
    q1 = analyse(study(**{"near@1": 2.995}))["Q1"]
    assert q1["pairs"][0]["effect_sd"] == pytest.approx(0.5)
    assert q1["pairs"][1]["verdict"] == "supported" and q1["verdict"] == "inconclusive"
    assert q1["t5"]["agreement"] == "cannot tell"


def test_q1_names_the_domains_a_tier_helped_and_hurt():
    base = [3.0 + DOMAIN_OFFSETS["news"]] * 3
    domains = {"news": [v - 0.5 + n for v, n in zip(base, NOISE)],  # near is far better on news
               "wiki": [3.1 + 0.5 + n for n in NOISE]}  # and far worse on wiki
    pair = analyse(results(GOOD, junk=2.7, domains={"near@1": domains}))["Q1"]["pairs"][0]
    changes = {d: pair["domains"][d]["change"] for d in DOMAINS}
    assert changes == {"news": "helped", "novels": "helped", "wiki": "hurt"}
    assert pair["domains"]["wiki"]["effect_sd"] < -2 < 2 < pair["domains"]["news"]["effect_sd"]


# ---------------------------------------------------------------------------------------------
# Q2


def test_q2_supported_and_onset_of_harm():
    q2 = analyse(study())["Q2"]  # 1/16 (64 repeats) and 1/4 (16 repeats) both clearly worse
    assert q2["verdict"] == "supported" and q2["effect_sd"] == pytest.approx(30.0)
    assert [c["budget"] for c in q2["comparisons"]] == ["1/16", "1/4"]
    assert q2["comparisons"][1]["effect_sd"] == pytest.approx(5.0)
    assert q2["repeats_hurt_from"] == pytest.approx(16.0) and q2["max_repeats_tested"] == pytest.approx(64.0)
    assert q2["t5"]["agreement"] == "disagrees"  # harm long before T5's 256 repeats
    assert q2["muennighoff"]["agreement"] == "cannot tell"  # no smaller budget at <= 4 repeats


def test_q2_onset_is_the_smallest_harmful_repeat_count():
    q2 = analyse(study(**{"heuristic@1/4": 2.601}))["Q2"]  # only 1/16 (64 repeats) hurts
    assert q2["repeats_hurt_from"] == pytest.approx(64.0)
    q2 = analyse(study(**{"heuristic@1/4": 2.601, "heuristic@1/16": 2.605}))["Q2"]
    assert q2["verdict"] == "inconclusive" and q2["repeats_hurt_from"] is None
    assert q2["max_repeats_tested"] == pytest.approx(64.0)
    assert q2["t5"]["agreement"] == "cannot tell" and "no harm up to 64 repeats" in q2["t5"]["summary"]


def test_q2_not_supported_when_repetition_is_better():
    q2 = analyse(study(**{"heuristic@1/16": 2.5}))["Q2"]
    assert q2["verdict"] == "not supported" and q2["effect_sd"] == pytest.approx(-10.0)
    assert q2["repeats_hurt_from"] == pytest.approx(16.0)  # 1/4 still hurts


def test_q2_against_t5_and_muennighoff_by_range_tested():
    few = results(GOOD, train=400_000)  # heuristic repeats: 1 at full, 4 at 1/4, 16 at 1/16
    q2 = analyse(few)["Q2"]
    assert q2["repeats_hurt_from"] == pytest.approx(4.0)
    assert q2["muennighoff"]["agreement"] == "disagrees"
    calm = analyse(results({**GOOD, "heuristic@1/4": 2.601}, train=400_000))["Q2"]
    assert calm["repeats_hurt_from"] == pytest.approx(16.0) and calm["muennighoff"]["agreement"] == "agrees"
    many = analyse(results(GOOD, train=102_400_000))["Q2"]  # 256 repeats at full, 1,024 and 4,096 below
    assert many["repeats_hurt_from"] == pytest.approx(1024.0) and many["t5"]["agreement"] == "agrees"
    flat = analyse(results({**GOOD, "heuristic@1/4": 2.6, "heuristic@1/16": 2.6}, train=102_400_000))["Q2"]
    assert flat["repeats_hurt_from"] is None and flat["t5"]["agreement"] == "disagrees"


def test_q2_with_a_single_budget_is_not_tested():
    r = results({k: v for k, v in GOOD.items() if not k.startswith("heuristic@1/")})
    q2 = analyse(r)["Q2"]
    assert q2["verdict"] == "not tested" and q2["effect_sd"] is None and q2["comparisons"] == []


# ---------------------------------------------------------------------------------------------
# Q3


@pytest.mark.parametrize("junk,expected,effect_sd", [(2.7, "supported", 10.0), (2.5, "not supported", -10.0),
                                                     (2.605, "inconclusive", 0.5)])
def test_q3_verdicts(junk, expected, effect_sd):
    q3 = analyse(study(junk=junk))["Q3"]
    assert q3["verdict"] == expected and q3["effect_sd"] == pytest.approx(effect_sd)
    assert q3["comparison"]["arm_b"] == "heuristic@1"


def test_q3_per_domain_and_without_a_junk_arm():
    wiki = [2.6 + DOMAIN_OFFSETS["wiki"] + n for n in NOISE]  # junk leaves wiki as it was
    q3 = analyse(results(GOOD, junk=2.7, domains={"junk": {"wiki": wiki}}))["Q3"]
    changes = {d: q3["comparison"]["domains"][d]["change"] for d in DOMAINS}
    assert changes == {"news": "hurt", "novels": "hurt", "wiki": "no clear change"}
    none = analyse(results(GOOD))["Q3"]
    assert none["verdict"] == "not tested" and none["comparison"] is None


# ---------------------------------------------------------------------------------------------
# Effective-data multiplier


def curve_results(raw: dict[float, list[float]], tier_unique: float, tier_values: list[float]) -> dict:
    """Two tiers: raw at the given unique tokens, and "near" at its full budget."""
    budgets = [f"1/{2 ** i}" for i in range(len(raw) - 1, 0, -1)] + ["1"]
    arms = [arm("raw", b, u, v) for b, (u, v) in zip(budgets, sorted(raw.items()))]
    arms.append(arm("near", "1", tier_unique, tier_values))
    r = results({}, tiers=("raw", "near"))
    r["arms"], r["good_tier"] = arms, "near"
    return r


def test_multiplier_exact_on_a_hand_built_curve():
    m = analyse(curve_results({1e4: [3.0] * 3, 1e6: [2.0] * 3}, 1e4, [2.5] * 3))["multiplier"]
    (t,) = m["tiers"]
    assert t["raw_unique_tokens"] == pytest.approx(1e5) and t["multiplier"] == pytest.approx(10.0)
    assert t["bound"] is None and t["text"] == "10"
    assert t["interval"] == [pytest.approx(10.0), pytest.approx(10.0)]
    assert m["monotone"] and "near 10x" in m["summary"]
    # Budgets larger than what an arm trains on are named: the curve cannot rise there.
    r = curve_results({1e4: [3.0] * 3, 1e6: [2.0] * 3}, 1e4, [2.5] * 3)
    r["train_tokens"] = 1e5
    m = analyse(r)["multiplier"]
    assert m["unseen_budgets"] == ["raw@1"] and "not more data" in m["summary"]
    r["train_tokens"] = 1e6
    assert analyse(r)["multiplier"]["unseen_budgets"] == []


def test_multiplier_bounds_without_extrapolation():
    raw = {1e4: [3.0] * 3, 1e6: [2.0] * 3}
    (better,) = analyse(curve_results(raw, 1e4, [1.9] * 3))["multiplier"]["tiers"]
    assert better["bound"] == "lower" and better["multiplier"] == pytest.approx(100.0)
    assert better["text"] == ">= 100" and better["share_lower_bound"] == 1.0
    (worse,) = analyse(curve_results(raw, 1e4, [3.1] * 3))["multiplier"]["tiers"]
    assert worse["bound"] == "upper" and worse["text"] == "<= 1" and worse["share_upper_bound"] == 1.0


def test_non_monotone_raw_curve_uses_the_running_minimum():
    assert list(envelope([3.0, 2.0, 2.2])) == [3.0, 2.0, 2.0]
    raw = {1e4: [3.0] * 3, 1e5: [2.0] * 3, 1e6: [2.2] * 3}
    m = analyse(curve_results(raw, 1e4, [2.1] * 3))["multiplier"]
    assert not m["monotone"] and [p["envelope"] for p in m["raw_curve"]] == [3.0, 2.0, 2.0]
    assert m["tiers"][0]["multiplier"] == pytest.approx(10 ** 0.9)
    (at_best,) = analyse(curve_results(raw, 1e4, [2.0] * 3))["multiplier"]["tiers"]
    assert at_best["raw_unique_tokens"] == pytest.approx(1e5) and at_best["bound"] is None  # the smallest U
    (past,) = analyse(curve_results(raw, 1e4, [1.9] * 3))["multiplier"]["tiers"]
    assert past["bound"] == "lower" and past["raw_unique_tokens"] == pytest.approx(1e6)


def test_invert_on_the_points_themselves():
    log_u = [4.0, 5.0, 6.0]
    assert invert(log_u, envelope([3.0, 2.5, 2.0]), 3.0) == (4.0, None)
    assert invert(log_u, envelope([3.0, 2.5, 2.0]), 2.0) == (6.0, None)
    assert invert(log_u, envelope([3.0, 2.5, 2.0]), 2.75) == (pytest.approx(4.5), None)


def test_bootstrap_is_deterministic_and_covers_a_stable_estimate():
    r = curve_results({1e4: noisy(3.0), 1e6: noisy(2.0)}, 1e4, noisy(2.5))
    first = analyse(r)["multiplier"]["tiers"][0]
    assert analyse(json.loads(json.dumps(r)))["multiplier"]["tiers"][0] == first
    lo, hi = first["interval"]
    assert lo < first["multiplier"] < hi and 8.0 < lo and hi < 12.5
    assert first["share_lower_bound"] == first["share_upper_bound"] == 0.0
    assert first["resamples"] == analysis.BOOTSTRAP_RESAMPLES


def test_bootstrap_counts_resamples_past_the_curve():
    r = curve_results({1e4: noisy(3.0), 1e6: noisy(2.0)}, 1e4, noisy(2.0))  # right at the curve's end
    t = analyse(r)["multiplier"]["tiers"][0]
    assert 0.2 < t["share_lower_bound"] < 0.8 and t["share_upper_bound"] == 0.0


def test_multiplier_needs_two_raw_budgets():
    r = results({"raw@1": 3.0, "near@1": 2.8, "heuristic@1": 2.6}, tiers=("raw", "near", "heuristic"))
    m = analyse(r)["multiplier"]
    assert m["tiers"] == [] and "fewer than two budgets" in m["summary"]


def test_every_question_has_its_fields_and_survives_json():
    q = analyse(study())
    assert json.loads(json.dumps(q, allow_nan=False)) == q  # the runner writes it into results.json
    for name in ("Q1", "Q2", "Q3"):
        assert set(q[name]) >= {"verdict", "effect_sd", "threshold_sd", "summary"}
        assert isinstance(q[name]["summary"], str) and q[name]["summary"].endswith(".")
    assert len(q["multiplier"]["tiers"]) == 3


# ---------------------------------------------------------------------------------------------
# The report


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}">')
    return page[start: page.index("</section>", start)]


def test_report_has_every_section_and_the_plot():
    r = study()
    page = render_study_report({**r, "questions": analyse(r)})
    assert page.startswith("<!DOCTYPE html>") and "default-src 'none'" in page
    for sid, _ in SECTIONS:
        assert page.count(f'<section id="{sid}">') == 1, sid
    plot = _section(page, "plot")
    assert plot.count("<svg") == 1 and plot.count("<polyline") == 4  # one line per tier
    assert plot.count('class="seed"') == 3 * len(r["arms"]) + 1 and plot.count('class="junk"') == 2
    assert "unique tokens (log scale)" in plot and ">100k<" in plot and "raw tier" in plot
    assert "supported" in _section(page, "verdicts") and "83.28" in _section(page, "verdicts")
    assert "2.6000 ± 0.0100" in _section(page, "arms")
    assert "helped (+20.00 SD)" in _section(page, "domains")
    assert "95% interval" in _section(page, "multiplier")
    assert "No downstream probe was run." in _section(page, "probe")
    assert "2.7e+13 FLOPs" in _section(page, "summary")  # 9 arms x 1e12 FLOPs x 3 seeds


def test_report_shows_the_probe_apart():
    r = results(GOOD, junk=2.7, probe=True)
    probe = _section(render_study_report(r), "probe")
    assert "grain" in probe and "0.8100 ± 0.0100" in probe and "0.7000" in probe
    assert "No downstream probe" not in probe and "fine-tuned" not in probe
    assert "probe AUROC" not in probe  # results without it (an older probe): only what they hold


def test_report_shows_the_probe_auroc_ap_and_baselines_first():
    r = results(GOOD, junk=2.7, probe=True)
    for a in r["arms"]:
        for run in a["runs"] if a["kind"] == "budget" else ():
            run["probe"]["grain"].update(auroc=0.9 + 0.01 * run["seed"], average_precision=0.6,
                                         random_auroc=0.7, random_average_precision=0.2,
                                         bow_auroc=0.95, bow_average_precision=0.8, l2=1e-5)
    probe = _section(render_study_report(r), "probe")
    heads = ["probe AUROC", "probe AP", "probe F1", "random-weights AUROC", "bag-of-words AP",
             "probe L2 (CV)"]
    assert all(h in probe for h in heads)
    assert [probe.index(h) for h in heads] == sorted(probe.index(h) for h in heads)
    assert "0.9100 ± 0.0100" in probe and "0.9500 ± 0.0000" in probe and "1e-05" in probe


def test_report_shows_fine_tuned_scores_beside_the_probe():
    r = results(GOOD, junk=2.7, probe=True)
    for a in r["arms"]:
        for run in a["runs"]:
            if a["kind"] == "budget":
                run["finetune"] = {"grain": {"f1": 0.5 + 0.02 * run["seed"], "accuracy": 0.95,
                                             "majority_accuracy": 0.7}}
    q = analyse(r)
    some = next(a["id"] for a in r["arms"] if a["kind"] == "budget")
    assert q["arms"][some]["finetune"]["grain"]["f1"]["mean"] == pytest.approx(0.52)
    assert q["arms"][some]["finetune"]["grain"]["f1"]["sd"] == pytest.approx(0.02)
    probe = _section(render_study_report(r), "probe")
    assert "fine-tuned F1" in probe and "0.5200 ± 0.0200" in probe and "0.9500 ± 0.0000" in probe
    assert "0.8100 ± 0.0100" in probe  # the frozen probe stays
    junk = next(a["id"] for a in r["arms"] if a["kind"] == "junk")
    assert q["arms"][junk]["finetune"] == {}  # not run there: a dash, not a number


def test_report_escapes_hostile_strings():
    r = study()
    r["tier_labels"]["raw"] = XSS
    r["study"] = '"><img src=x onerror=alert(2)>'
    page = render_study_report(r)
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in _section(page, "summary")
    assert "&lt;script&gt;alert(1)" in _section(page, "plot")  # the legend, clipped


def test_report_is_byte_identical_and_survives_json(tmp_path):
    r = study()
    page = render_study_report(r)
    assert render_study_report(study()) == page
    path = write_study_report(json.loads(json.dumps(r)), str(tmp_path / "study.html"))
    assert (tmp_path / "study.html").read_text(encoding="utf-8") == page and path.endswith("study.html")


def test_study_report_renders_in_headless_chromium(dump_dom, tmp_path):
    dom = dump_dom(write_study_report(study(), str(tmp_path / "study.html")))
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in dom, sid
    assert dom.count("<svg") == 1 and dom.count("<polyline") == 4 and "<script" not in dom.lower()
