"""The statistics of the quality-versus-quantity study (issue 13): verdicts from the results.

`analyse(results)` reads what the study runner writes as results.json (tiers, budgets, arms,
one run per seed with held-out bits per byte) and returns the "questions" dict: per-arm means and
spreads, Q1 (does filtering help at equal compute), Q2 (does repeating a smaller unique budget
hurt), Q3 (does adding junk hurt) and the effective-data multiplier of each filtered tier. Every
number and sentence is computed from the results; the published figures we compare against are
named constants below with their source. Lower bpb is better throughout. Pure numpy, so that the
numbers can be recomputed from results.json anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

FULL_BUDGET = "1"  # the budget that trains on all of what a tier keeps
THRESHOLD_SD = 2.0  # issue 13: a difference counts at 2 pooled SDs; "inconclusive below 2 SD"
SD_FLOOR = 1e-9  # bpb; pooled SD used when seeds agree exactly, so that the effect stays finite

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
NOT_TESTED = "not tested"  # the results hold no arms that can answer the question
HELPED, HURT, NO_CLEAR_CHANGE = "helped", "hurt", "no clear change"
AGREES, DISAGREES, CANNOT_TELL = "agrees", "disagrees", "cannot tell"

# Raffel et al. 2020 (T5), "Exploring the Limits of Transfer Learning...", Table 8: GLUE average
# after pretraining on cleaned C4 vs on C4 without its heuristic filtering.
T5_GLUE_C4 = 83.28
T5_GLUE_C4_UNFILTERED = 81.46
# Raffel et al. 2020, Table 9: GLUE average by pretraining-set size at 2^35 pretraining tokens,
# as (times each token is repeated, GLUE): full C4, 2^29, 2^27, 2^25, 2^23 tokens.
T5_GLUE_BY_REPEATS = ((1, 83.28), (64, 82.87), (256, 82.62), (1024, 79.55), (4096, 76.34))
T5_REPEATS_HURT_FROM = 256  # issue 13's summary of Table 9: "repeating hurts ... 256 times or more"
# Muennighoff et al. 2023, "Scaling Data-Constrained Language Models": up to about 4 epochs of
# repeated data are about as good as unique data.
MUENNIGHOFF_SAFE_REPEATS = 4.0

BOOTSTRAP_RESAMPLES = 2000  # resamples of the seeds per multiplier interval
BOOTSTRAP_SEED = 13  # any fixed numpy default_rng seed: the same results give the same interval
BOOTSTRAP_PERCENTILES = (2.5, 97.5)  # a 95% percentile interval


# ---------------------------------------------------------------------------------------------
# Per-arm statistics


def mean_sd(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (ddof=1; 0 for a single value) and n."""
    a = np.asarray(values, dtype=np.float64)
    sd = float(a.std(ddof=1)) if len(a) > 1 else 0.0
    return {"mean": float(a.mean()), "sd": sd, "n": int(len(a))}


def arm_stats(arm: Mapping, domains: Sequence[str]) -> dict:
    """Overall and per-domain bpb over an arm's seeds, and its downstream probe and fine-tuned
    scores where they ran."""
    runs = arm["runs"]
    return {"n": len(runs),
            "overall": mean_sd([r["bpb"]["overall"] for r in runs]),
            "domains": {d: mean_sd([r["bpb"]["domains"][d] for r in runs]) for d in domains},
            "probe": probe_stats(runs), "finetune": probe_stats(runs, "finetune")}


def probe_stats(runs: Sequence[Mapping], key: str = "probe") -> dict:
    """Per task of the runs' `key` (the frozen probe, or fine-tuning), mean and SD over the
    seeds that ran it of each of its scores."""
    tasks: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for task, scores in sorted((run.get(key) or {}).items()):
            for name, value in sorted(scores.items()):
                tasks.setdefault(task, {}).setdefault(name, []).append(value)
    return {task: {name: mean_sd(v) for name, v in scores.items()} for task, scores in tasks.items()}


# ---------------------------------------------------------------------------------------------
# Effects and verdicts


def effect(a: Mapping, b: Mapping) -> dict:
    """(mean_a - mean_b) in pooled SDs, sqrt((sd_a^2 + sd_b^2) / 2), of two mean_sd dicts.

    Positive means b has the lower (better) bpb. The pooled SD is floored at SD_FLOOR, and
    `sd_floored` says so, when the seeds of both arms agree exactly.
    """
    pooled = math.sqrt((a["sd"] ** 2 + b["sd"] ** 2) / 2)
    diff = a["mean"] - b["mean"]
    return {"difference_bpb": diff, "pooled_sd": max(pooled, SD_FLOOR),
            "effect_sd": diff / max(pooled, SD_FLOOR), "sd_floored": pooled < SD_FLOOR}


def verdict(effect_sd: float) -> str:
    """supported at >= THRESHOLD_SD, not supported at <= -THRESHOLD_SD, else inconclusive."""
    if effect_sd >= THRESHOLD_SD:
        return SUPPORTED
    if effect_sd <= -THRESHOLD_SD:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def domain_effects(a: Mapping, b: Mapping, *, positive: str, negative: str) -> dict:
    """Per-domain effect of arm stats a vs b, named `positive` at >= +2 SD, `negative` at <= -2."""
    out = {}
    for d in a["domains"]:
        e = effect(a["domains"][d], b["domains"][d])
        change = {SUPPORTED: positive, NOT_SUPPORTED: negative}.get(verdict(e["effect_sd"]), NO_CLEAR_CHANGE)
        out[d] = {**e, "change": change}
    return out


def _comparison(a_arm: Mapping, b_arm: Mapping, stats: Mapping, **words: str) -> dict:
    """Means, SDs, effect and verdict of arm a vs arm b, overall and per domain."""
    a, b = stats[a_arm["id"]], stats[b_arm["id"]]
    e = effect(a["overall"], b["overall"])
    return {"arm_a": a_arm["id"], "arm_b": b_arm["id"],
            "mean_a": a["overall"]["mean"], "sd_a": a["overall"]["sd"],
            "mean_b": b["overall"]["mean"], "sd_b": b["overall"]["sd"],
            **e, "verdict": verdict(e["effect_sd"]), "domains": domain_effects(a, b, **words)}


def _question(verdict_: str, effect_sd: float | None, summary: str, **rest) -> dict:
    return {"verdict": verdict_, "effect_sd": effect_sd, "threshold_sd": THRESHOLD_SD,
            "summary": summary, **rest}


def _signed(x: float) -> str:
    return f"{x:+.2f}"


def _agreement(ours: str) -> str:
    return "so we cannot tell." if ours == CANNOT_TELL else f"so ours {ours} with it."


# ---------------------------------------------------------------------------------------------
# Arms


def budget_arms(results: Mapping, tier: str) -> list[dict]:
    """A tier's budget arms (not the junk arm), by increasing unique tokens."""
    arms = [a for a in results["arms"] if a["tier"] == tier and a["kind"] == "budget"]
    return sorted(arms, key=lambda a: (a["unique_tokens"], a["id"]))


def full_arm(results: Mapping, tier: str) -> dict:
    """The arm that trains on all of what `tier` keeps; a ValueError if the results lack it."""
    for arm in budget_arms(results, tier):
        if arm["budget"] == FULL_BUDGET:
            return arm
    raise ValueError(f"results have no arm for tier {tier!r} at budget {FULL_BUDGET!r}")


# ---------------------------------------------------------------------------------------------
# Q1: quality first


def question_1(results: Mapping, stats: Mapping) -> dict:
    """Each consecutive pair of tiers at the full budget: does the more filtered one win?"""
    tiers = list(results["tiers"])
    if len(tiers) < 2:
        return _question(NOT_TESTED, None, "Fewer than two tiers: there is no filtering step to test.",
                         pairs=[], t5=None)
    pairs = []
    for lower, higher in zip(tiers, tiers[1:]):
        c = _comparison(full_arm(results, lower), full_arm(results, higher), stats,
                        positive=HELPED, negative=HURT)
        pairs.append({"lower": lower, "higher": higher, **c})
    verdicts = [p["verdict"] for p in pairs]
    if all(v == SUPPORTED for v in verdicts):
        overall = SUPPORTED
    elif NOT_SUPPORTED in verdicts:
        overall = NOT_SUPPORTED
    else:
        overall = INCONCLUSIVE
    weakest = min(pairs, key=lambda p: p["effect_sd"])  # every step must pass: the verdict rests on it
    summary = (f"At {round(results['train_tokens']):,} training tokens per arm, the weakest filtering step, "
               f"{weakest['lower']} -> {weakest['higher']}, took held-out bpb from {weakest['mean_a']:.4f} to "
               f"{weakest['mean_b']:.4f} (effect {_signed(weakest['effect_sd'])} SD; positive = the more "
               f"filtered tier is better), so 'quality first' is {overall} over {len(pairs)} step(s).")
    return _question(overall, weakest["effect_sd"], summary, pairs=pairs, t5=_t5_cleaning(pairs[0]))


def _t5_cleaning(first: Mapping) -> dict:
    """Our raw -> first filtered tier step against T5's cleaned vs unfiltered C4."""
    ours = {SUPPORTED: AGREES, NOT_SUPPORTED: DISAGREES}.get(first["verdict"], CANNOT_TELL)
    gain = T5_GLUE_C4 - T5_GLUE_C4_UNFILTERED
    summary = (f"T5 (Raffel et al. 2020, Table 8) found cleaning helped: GLUE {T5_GLUE_C4} on cleaned C4 "
               f"vs {T5_GLUE_C4_UNFILTERED} unfiltered ({gain:+.2f}); our {first['lower']} -> "
               f"{first['higher']} step is {_signed(first['effect_sd'])} SD, {_agreement(ours)}")
    return {"source": "Raffel et al. 2020 (T5), Table 8", "glue_filtered": T5_GLUE_C4,
            "glue_unfiltered": T5_GLUE_C4_UNFILTERED, "pair": [first["lower"], first["higher"]],
            "effect_sd": first["effect_sd"], "agreement": ours, "summary": summary}


# ---------------------------------------------------------------------------------------------
# Q2: quantity second


def question_2(results: Mapping, stats: Mapping) -> dict:
    """Within the good tier: is the full budget better than each smaller, more repeated one?"""
    tier = results["good_tier"]
    full = full_arm(results, tier)
    smaller = [a for a in budget_arms(results, tier) if a["unique_tokens"] < full["unique_tokens"]]
    comparisons = [{"budget": a["budget"], "unique_tokens": a["unique_tokens"], "repeats": a["repeats"],
                    **_comparison(a, full, stats, positive=HELPED, negative=HURT)} for a in smaller]
    hurt = [c["repeats"] for c in comparisons if c["verdict"] == SUPPORTED]
    max_repeats = max([full["repeats"]] + [c["repeats"] for c in comparisons])
    onset = {"repeats_hurt_from": min(hurt) if hurt else None, "max_repeats_tested": max_repeats,
             "full_repeats": full["repeats"]}
    refs = {"t5": _t5_repeats(onset), "muennighoff": _muennighoff(comparisons)}
    if not comparisons:
        return _question(NOT_TESTED, None, f"The {tier} tier has a single budget: nothing to compare.",
                         tier=tier, comparisons=[], **onset, **refs)
    most = comparisons[0]
    summary = (f"In the {tier} tier, all {round(full['unique_tokens']):,} unique tokens "
               f"({full['repeats']:.3g} repeats) gave held-out bpb {most['mean_b']:.4f} against "
               f"{most['mean_a']:.4f} from {round(most['unique_tokens']):,} ({most['repeats']:.3g} repeats) "
               f"(effect {_signed(most['effect_sd'])} SD; positive = more unique data is better), so "
               f"'quantity second' is {most['verdict']}.")
    return _question(most["verdict"], most["effect_sd"], summary, tier=tier, comparisons=comparisons,
                     **onset, **refs)


def _t5_repeats(onset: Mapping) -> dict:
    """Where we first see harm from repetition against T5 Table 9's onset at 256 repeats."""
    first, tested = onset["repeats_hurt_from"], onset["max_repeats_tested"]
    if first is not None:
        ours = AGREES if first >= T5_REPEATS_HURT_FROM else DISAGREES
        said = f"we see harm from {first:.3g} repeats"
    else:
        ours = DISAGREES if tested >= T5_REPEATS_HURT_FROM else CANNOT_TELL
        said = f"we see no harm up to {tested:.3g} repeats, the most tested"
    table = ", ".join(f"{r:,} repeats {g}" if r > 1 else f"full C4 {g}" for r, g in T5_GLUE_BY_REPEATS)
    summary = (f"T5 (Raffel et al. 2020, Table 9: GLUE {table}) saw repetition hurt from "
               f"{T5_REPEATS_HURT_FROM} repeats; {said}, {_agreement(ours)}")
    return {"source": "Raffel et al. 2020 (T5), Table 9",
            "glue_by_repeats": [list(x) for x in T5_GLUE_BY_REPEATS],
            "repeats_hurt_from": T5_REPEATS_HURT_FROM, "agreement": ours, "summary": summary}


def _muennighoff(comparisons: Sequence[Mapping]) -> dict:
    """Our arms repeated at most MUENNIGHOFF_SAFE_REPEATS times: about as good as the full budget?"""
    few = [c for c in comparisons if c["repeats"] <= MUENNIGHOFF_SAFE_REPEATS]
    harmed = [c for c in few if c["verdict"] == SUPPORTED]
    if harmed:
        ours = DISAGREES
        said = f"our arm at {harmed[0]['repeats']:.3g} repeats is worse by ≥{THRESHOLD_SD:g} SD"
    elif few:
        ours, said = AGREES, (f"none of our {len(few)} arm(s) at ≤{MUENNIGHOFF_SAFE_REPEATS:g} repeats is "
                              f"worse by ≥{THRESHOLD_SD:g} SD")
    else:
        ours = CANNOT_TELL
        said = f"none of our smaller budgets is repeated ≤{MUENNIGHOFF_SAFE_REPEATS:g} times"
    summary = (f"Muennighoff et al. 2023 found up to about {MUENNIGHOFF_SAFE_REPEATS:g} repeats about as "
               f"good as unique data; {said}, {_agreement(ours)}")
    return {"source": "Muennighoff et al. 2023, Scaling Data-Constrained Language Models",
            "safe_repeats": MUENNIGHOFF_SAFE_REPEATS, "agreement": ours, "summary": summary}


# ---------------------------------------------------------------------------------------------
# Q3: junk hurts


def question_3(results: Mapping, stats: Mapping) -> dict:
    """The junk arm against the good tier's full budget: did adding junk raise bpb?"""
    junk = [a for a in results["arms"] if a["kind"] == "junk"]
    if not junk:
        return _question(NOT_TESTED, None, "No junk arm was run.", comparison=None)
    if len(junk) > 1:
        raise ValueError(f"expected one junk arm, got {[a['id'] for a in junk]}")
    good = full_arm(results, results["good_tier"])
    c = _comparison(junk[0], good, stats, positive=HURT, negative=HELPED)  # positive: junk is worse
    summary = (f"Adding {round(junk[0].get('junk_tokens', 0)):,} junk tokens to the {results['good_tier']} "
               f"tier took held-out bpb from {c['mean_b']:.4f} to {c['mean_a']:.4f} (effect "
               f"{_signed(c['effect_sd'])} SD; positive = junk hurt), so 'junk hurts' is {c['verdict']}.")
    return _question(c["verdict"], c["effect_sd"], summary, comparison=c)


# ---------------------------------------------------------------------------------------------
# Effective-data multiplier


def envelope(bpb: Sequence[float]) -> np.ndarray:
    """Running minimum of the raw curve over increasing unique tokens.

    At equal compute more unique data should not be worse; where a larger raw budget measured
    worse (seed noise), the curve stays at the best bpb reached so far, so it is non-increasing
    and every bpb has one smallest U that reaches it.
    """
    return np.minimum.accumulate(np.asarray(bpb, dtype=np.float64))


def invert(log_u: np.ndarray, curve: np.ndarray, target: float) -> tuple[float, str | None]:
    """(log10 U*, bound): the smallest U at which the non-increasing curve reaches `target`.

    Piecewise linear in log U between the points. Below the whole curve (better than raw at its
    largest U) U* is at least the largest U ("lower" bound); above the curve's first point it
    is at most the smallest U ("upper" bound). Nothing is extrapolated.
    """
    if target < curve[-1]:
        return float(log_u[-1]), "lower"
    if target > curve[0]:
        return float(log_u[0]), "upper"
    i = int(np.argmax(curve <= target))
    if i == 0:
        return float(log_u[0]), None
    t = (curve[i - 1] - target) / (curve[i - 1] - curve[i])
    return float(log_u[i - 1] + t * (log_u[i] - log_u[i - 1])), None


def _runs_bpb(arm: Mapping) -> np.ndarray:
    return np.array([r["bpb"]["overall"] for r in arm["runs"]], dtype=np.float64)


def _resampled_means(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """BOOTSTRAP_RESAMPLES means of `values` resampled with replacement."""
    idx = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    return values[idx].mean(axis=1)


def _bootstrap(raw: list[dict], arm: Mapping, seed: Sequence[int]) -> dict:
    """Percentile interval of the multiplier over seed resamples, and the share at a bound."""
    rng = np.random.default_rng(list(seed))
    log_u = np.log10([a["unique_tokens"] for a in raw])
    curves = np.minimum.accumulate(np.stack([_resampled_means(rng, _runs_bpb(a)) for a in raw], axis=1),
                                   axis=1)
    targets = _resampled_means(rng, _runs_bpb(arm))
    multipliers, bounds = [], []
    for curve, target in zip(curves, targets):
        log_star, bound = invert(log_u, curve, float(target))
        multipliers.append(10 ** log_star / arm["unique_tokens"])
        bounds.append(bound)
    lo, hi = np.percentile(multipliers, BOOTSTRAP_PERCENTILES)
    return {"interval": [float(lo), float(hi)], "resamples": BOOTSTRAP_RESAMPLES,
            "share_lower_bound": bounds.count("lower") / BOOTSTRAP_RESAMPLES,
            "share_upper_bound": bounds.count("upper") / BOOTSTRAP_RESAMPLES}


def multiplier_text(value: float, bound: str | None) -> str:
    """"12.3", ">= 12.3" for a lower bound or "<= 0.5" for an upper bound."""
    return {"lower": ">= ", "upper": "<= "}.get(bound, "") + f"{value:.3g}"


def effective_multiplier(results: Mapping, stats: Mapping) -> dict:
    """Per filtered tier at the full budget: raw unique tokens reaching its bpb, over its own."""
    raw_tier = results["tiers"][0]
    raw = budget_arms(results, raw_tier)
    if len(raw) < 2:
        return {"raw_tier": raw_tier, "raw_curve": [], "tiers": [],
                "summary": f"The {raw_tier} tier has fewer than two budgets: no curve to read it from."}
    bpb = [stats[a["id"]]["overall"]["mean"] for a in raw]
    curve, log_u = envelope(bpb), np.log10([a["unique_tokens"] for a in raw])
    points = [{"arm": a["id"], "unique_tokens": a["unique_tokens"], "bpb": b, "envelope": float(e)}
              for a, b, e in zip(raw, bpb, curve)]
    tiers = []
    for k, tier in enumerate(results["tiers"][1:], start=1):
        arm = full_arm(results, tier)
        target = stats[arm["id"]]["overall"]["mean"]
        log_star, bound = invert(log_u, curve, target)
        value = 10 ** log_star / arm["unique_tokens"]
        tiers.append({"tier": tier, "arm": arm["id"], "unique_tokens": arm["unique_tokens"], "bpb": target,
                      "raw_unique_tokens": 10 ** log_star, "multiplier": value, "bound": bound,
                      "text": multiplier_text(value, bound), **_bootstrap(raw, arm, (BOOTSTRAP_SEED, k))})
    parts = [f"{t['tier']} {t['text']}x ({t['interval'][0]:.3g}-{t['interval'][1]:.3g})" for t in tiers]
    summary = (f"Raw-tier unique tokens needed to match each filtered tier, as a multiple of the tier's own "
               f"(95% seed-bootstrap interval): {'; '.join(parts)}.")
    # A budget holding more unique tokens than an arm trains on is never read whole: beyond
    # train_tokens the curve can only be flat, and a multiplier read there is a bound at best.
    unseen = [a["id"] for a in raw if a["unique_tokens"] > results["train_tokens"]]
    if unseen:
        summary += (f" {len(unseen)} of the {len(raw)} {raw_tier} budgets ({', '.join(unseen)}) hold "
                    f"more unique tokens than the {results['train_tokens']:,} an arm trains on, so "
                    "the curve there measures samples of the tier, not more data.")
    return {"raw_tier": raw_tier, "raw_curve": points, "unseen_budgets": unseen,
            "monotone": bool(np.all(np.diff(bpb) <= 0)), "tiers": tiers, "summary": summary}


# ---------------------------------------------------------------------------------------------


def analyse(results: Mapping) -> dict:
    """The "questions" dict of results.json: per-arm statistics, Q1, Q2, Q3 and the multiplier."""
    stats = {a["id"]: arm_stats(a, results["domains"]) for a in results["arms"]}
    return {"arms": stats, "Q1": question_1(results, stats), "Q2": question_2(results, stats),
            "Q3": question_3(results, stats), "multiplier": effective_multiplier(results, stats)}
