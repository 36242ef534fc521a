"""Pre-registered contrasts of the study (issue 32): paired statistics, verdicts, and the floor.

The study's verdicts come from contrasts written in its YAML before it runs (ARCHITECTURE.md,
"The study's contract"). This module is the statistics and the verdict rules, as plain functions
on plain data: numpy and scipy (the t distribution), never torch, Beam or the study runner.

Inputs
------
``arms``: ``{arm_id: {seed: {metric_name: value}}}``, e.g.
``{"raw@1": {0: {"macro_bpb": 3.11, "bpb.news": 3.4, "likelihood_acc": 0.41}, 1: {...}}}``.
Seeds pair the arms: the same seed is the same initialization and data order in every arm, so a
contrast uses the per-seed differences over the seeds both arms hold the metric for. Seed keys
are matched as text (``0`` and ``"0"`` are the same seed), so arms read back from JSON pair with
arms built in memory. A non-finite value (a run that diverged) is an error, never a quiet drop.

``contrasts``: the list under ``contrasts:`` in the study YAML, e.g.::

    contrasts:
      - {name: "Q1: heuristic beats raw", kind: better, a: raw@1, b: heuristic@1,
         metric: macro_bpb, min_effect: 0.01, family: Q1}
      - {name: "Q1: classifier beats raw", kind: better, a: raw@1, b: classifier@1,
         metric: macro_bpb, min_effect: 0.01, family: Q1}
      - {name: "Q2: 4 repeats ~ unique data", kind: equivalent, a: heuristic@1, b: heuristic@4,
         metric: macro_bpb, margin: 0.01, source: "Muennighoff et al. 2023"}
      - {name: "Q2: 16 repeats worse", kind: worse, a: heuristic@1, b: heuristic@16,
         metric: macro_bpb, min_effect: 0.01}
      - {name: "quality first, then quantity", kind: largest_repeats, a: raw@1, tier: heuristic,
         metric: macro_bpb, min_effect: 0.01}
      - {name: "Q3: junk hurts", kind: worse, a: heuristic@1, b: junk@1, metric: macro_bpb,
         min_effect: 0.01}

Keys (``CONTRAST_KEYS``; every problem is named by contrast and key, ``ContrastError``):

- ``name`` (required, unique): the contrast's label in the report.
- ``kind`` (required): ``better`` (b beats a), ``worse`` (b is worse than a), ``equivalent``
  (b is within ``margin`` of a) or ``largest_repeats`` (the largest repeat count r at which
  ``tier@r`` still beats ``a``; each r its own paired ``better`` contrast).
- ``a`` (required): the reference arm id. ``b``: the other arm (not for ``largest_repeats``).
- ``tier`` (``largest_repeats`` only): its arms are ``tier@r`` (``arm_id``) for r in
  ``repeats`` (optional list of numbers >= 1; default: the profile's list, passed to
  ``summarize``).
- ``metric`` (required): a metric name in the arms; its direction (lower or higher is better)
  comes from ``METRICS`` (``macro_bpb``, ``bpb``, ``bpb.<domain>``: lower; ``likelihood_acc``,
  ``likelihood_margin``, ``auroc.<task>``, ``ap.<task>``: higher) or from ``direction``
  (``lower`` | ``higher``), which a metric outside the registry must state.
- ``min_effect`` (``better``, ``worse``, ``largest_repeats``; required): the smallest |Δ|, in the
  metric's units, that counts. ``margin`` (``equivalent``; required, > 0): the equivalence bound.
- ``family`` (optional, ``better``/``worse``/``equivalent``): contrasts sharing it are
  Holm-corrected together; a family must hold at least two contrasts.
- ``source`` (optional): the prediction's source, shown in the report.

Orientation: for every contrast, Δ_seed = improvement of b over a on the metric, i.e.
``a - b`` for a lower-is-better metric (bpb) and ``b - a`` for a higher-is-better one, so
**Δ > 0 always means "b is better than a"**. ``better`` predicts Δ > 0, ``worse`` predicts
Δ < 0, ``equivalent`` predicts |Δ| < margin.

Verdict rule (``verdict_rule``; named constants below)
-------------------------------------------------------
- Fewer than ``MIN_SEEDS`` shared seeds, or an arm with no results: ``not testable``.
- ``better`` / ``worse``: decisive when |t| >= ``DECISIVE_T`` and |Δ| >= ``min_effect`` and the
  two-sided p < ``ALPHA`` (implied by |t| >= 3 at 5 or more seeds; it keeps 2-4 seed runs,
  where |t| = 3 is p = 0.20 to 0.06, from deciding), and, in a family, the Holm-adjusted p <
  ``ALPHA``. Decisive in the predicted direction: ``supported``; decisive the other way:
  ``not supported``; anything else ``inconclusive`` (``reason`` says which condition failed).
- ``equivalent``: two one-sided tests (TOST, Schuirmann 1987) at ±margin: ``supported`` when
  the 90% CI (1 - 2 x ``TOST_ALPHA``) of Δ lies inside (-margin, margin), i.e. the TOST p <
  ``TOST_ALPHA`` (and, in a family, its Holm-adjusted p < ``ALPHA``); ``not supported`` when
  that CI lies entirely outside ±margin; else ``inconclusive``.
- ``largest_repeats``: ``largest_r`` is the largest r such that ``tier@r`` beats ``a`` (each r
  ``supported`` as a ``better`` contrast by the rule above, no Holm) at that r and every smaller
  one; verdict ``supported`` when there is one, ``not supported`` when at the smallest r ``a`` is
  decisively better, else ``inconclusive``.

Entry points for the runner
---------------------------
- ``parse_contrasts(spec, where, arm_ids=None, repeats=None)`` -> ``[Contrast]``: validates the
  whole list first (``ContrastError`` lists every problem); with ``arm_ids`` (the arms the study
  will run) an arm a contrast names that is not planned is an error, so a typo fails before
  any training. Call it in ``load_study``.
- ``summarize(contrasts, arms, repeats=None)`` -> one JSON-ready dict per contrast, in YAML
  order, every key always present (None where it does not apply): name, kind, family, source,
  a, b, metric, direction, unit, seeds, n, differences (per seed, Δ orientation), df, mean_a,
  mean_b, delta, sd, se, t, p, p_holm and holm_m (the family's size; p_holm None outside a
  family), ci95, ci_level and ci (the interval the verdict read: 95%, or 90% for equivalence),
  min_effect, margin, tost (p_lower, p_upper, p, ci; equivalence only), testable, decisive,
  verdict, reason, sentence ("heuristic@1 beats raw@1 by 0.061 bpb (95%
  CI 0.045..0.077, t = 9.1, 5 seeds): supported"). A ``largest_repeats`` row has tier, repeats,
  per_r (a row per r), beats_at, largest_r, verdict and sentence instead. An arm that was not run
  (e.g. ``near`` skipped) makes its contrasts ``not testable``, never a crash. ``t`` is ±inf
  when every seed's difference is the same non-zero number (json.dumps writes Infinity).
- ``paired(arms, a, b, metric, direction=None)``: the statistics alone, for the report's tier
  steps (detail, never a verdict).
- ``largest_repeats_beating(arms, tier, baseline, repeats, metric, min_effect)``: the "quality
  first, then quantity" read-off on its own.
- ``count_tokens(arrays, vocab_size)``, ``unigram_bpb(train_counts, held_out_tokens,
  held_out_bytes, smoothing=UNIGRAM_ADD_K)``: each held-out domain's unigram floor;
  ``trained_enough(arm_bpb_by_domain, floors, margin)``: "undertrained" (and which arm and
  domain fail) when the r = 1 arms do not beat every floor by ``margin`` bpb, in which case the
  report shows that instead of verdicts. ``domain_means(arms)`` builds its first argument.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

# ---------------------------------------------------------------------------------------------
# Thresholds, each with its source

# Issue 32: "a contrast is decisive at |t| >= 3". Two-sided p at |t| = 3 is 0.040 at 4 df (5 seeds,
# the CPU profile's minimum) and 0.020 at 7 df (8 seeds, the GPU profile), so it is stricter than
# p < 0.05 at the seed counts the study runs, and reads the same at any of them.
DECISIVE_T = 3.0
# The conventional family-wise error rate; Holm (1979), "A simple sequentially rejective multiple
# test procedure", controls it at this level within a family. Also the raw-p guard of a decisive
# result: |t| >= 3 implies p < 0.05 only from 4 df on (p = 0.20, 0.095, 0.058 at 1, 2, 3 df).
ALPHA = 0.05
CI_LEVEL = 0.95  # the interval reported with every contrast (issue 32: "95% CI")
# TOST (Schuirmann 1987, J. Pharmacokinet. Biopharm. 15:657): equivalence at level alpha is the
# (1 - 2 alpha) confidence interval lying inside the margin, i.e. the 90% CI at alpha = 0.05.
TOST_ALPHA = ALPHA
MIN_SEEDS = 2  # a paired SD needs two differences (n - 1 = 1 df); fewer is "not testable"
# Add-k smoothing of the unigram floor: k = 1/2 is the Krichevsky-Trofimov estimator (Jeffreys
# prior), the add-k rule with the best worst-case code length for a sequence (Krichevsky &
# Trofimov 1981). It keeps a token unseen in training finite (add-0 would make the floor
# infinite) while taking less mass from seen tokens than add-one, so the floor stays a fair,
# not a padded, baseline for a model to beat.
UNIGRAM_ADD_K = 0.5

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
NOT_TESTABLE = "not testable"
TRAINED_ENOUGH, UNDERTRAINED = "trained enough", "undertrained"

BETTER, WORSE, EQUIVALENT, LARGEST_REPEATS = "better", "worse", "equivalent", "largest_repeats"
KINDS = (BETTER, WORSE, EQUIVALENT, LARGEST_REPEATS)
LOWER, HIGHER = "lower", "higher"
DIRECTIONS = (LOWER, HIGHER)
ARM_ID = "{tier}@{r}"  # the study's arm ids: raw@1, heuristic@16 (a whole r is written as an int)


@dataclass(frozen=True)
class Metric:
    """Which way a metric is better, and its unit in sentences ("" for none)."""

    direction: str
    unit: str = ""


# Exact names, then prefixes ("bpb.news" is bpb on the news domain).
METRICS: dict[str, Metric] = {
    "macro_bpb": Metric(LOWER, "bpb"),     # mean of the per-domain bits per byte
    "bpb": Metric(LOWER, "bpb"),           # bytes pooled over the held-out domains
    "likelihood_acc": Metric(HIGHER),      # the likelihood task: true continuation ranked first
    "likelihood_margin": Metric(HIGHER, "bits/byte"),  # its per-byte log-probability margin
}
METRIC_PREFIXES: dict[str, Metric] = {
    "bpb.": Metric(LOWER, "bpb"),
    "auroc.": Metric(HIGHER),
    "ap.": Metric(HIGHER),
}


def metric_info(name: str, direction: str | None = None) -> Metric | None:
    """The registry's entry for `name` (`direction`, if given, overrides its direction); None
    when the metric is unknown and no direction is given."""
    known = METRICS.get(name) or next((m for p, m in METRIC_PREFIXES.items() if name.startswith(p)), None)
    if direction is not None:
        return Metric(direction, known.unit if known else "")
    return known


# ---------------------------------------------------------------------------------------------
# The schema


class ContrastError(ValueError):
    """Contrasts that do not say what they mean; `problems` lists each, by contrast and key."""

    def __init__(self, where: str, problems: list[str] | None = None):
        self.where, self.problems = where, list(problems or ())
        if not self.problems:
            message = where
        elif len(self.problems) == 1:
            message = f"{where}: {self.problems[0]}"
        else:
            message = f"{where} has {len(self.problems)} problems:\n  - " + "\n  - ".join(self.problems)
        super().__init__(message)


@dataclass(frozen=True)
class Contrast:
    """One pre-registered contrast, validated (see the module docstring for each field)."""

    name: str
    kind: str
    a: str
    metric: str
    direction: str
    unit: str = ""
    b: str | None = None
    min_effect: float | None = None
    margin: float | None = None
    family: str | None = None
    source: str = ""
    tier: str | None = None
    repeats: tuple[float, ...] | None = None


def _kind(value: Any) -> str:
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    kind = {list: "a list", tuple: "a list", dict: "a mapping"}.get(type(value))
    return f"{kind} {value!r}" if kind else f"{value!r} ({type(value).__name__})"


def _did_you_mean(word: Any, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        hint = (" (YAML reads yes/no/on/off/true/false as booleans: quote it)" if isinstance(value, bool)
                else f": quote it, '{value}'" if isinstance(value, numbers.Number) else "")
        return f"must be a string, got {_kind(value)}{hint}"
    if not value.strip():
        return "must not be empty"
    return None


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = ": write it unquoted" + (" (YAML reads 1e-2 as text: write 1.0e-2)"
                                                if "e" in value.lower() else "")
            except ValueError:
                pass
        return f"must be a number, got {_kind(value)}{hint}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    return None


def _non_negative(value: Any) -> str | None:
    problem = _number(value)
    if problem is None and value < 0:
        problem = f"must be >= 0 (a size in the metric's units; the direction comes from 'kind'), got {value!r}"
    return problem


def _positive(value: Any) -> str | None:
    problem = _number(value)
    if problem is None and value <= 0:
        problem = f"must be > 0 (the half-width of the equivalence interval), got {value!r}"
    return problem


def _kind_value(value: Any) -> str | None:
    if not isinstance(value, str) or value not in KINDS:
        return f"must be one of {', '.join(KINDS)}, got {_kind(value)}{_did_you_mean(value, KINDS)}"
    return None


def _direction(value: Any) -> str | None:
    if not isinstance(value, str) or value not in DIRECTIONS:
        return f"must be 'lower' or 'higher' (which values are better), got {_kind(value)}"
    return None


def _repeats(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)) or not value:
        return f"must be a non-empty list of repeat counts (e.g. [1, 4, 16, 64]), got {_kind(value)}"
    for r in value:
        problem = _number(r)
        if problem:
            return f"must hold numbers: {r!r} {problem}"
        if r < 1:
            return f"must hold repeat counts >= 1, got {r!r}"
    if len(set(value)) != len(value):
        return f"must not repeat a value, got {list(value)}"
    return None


@dataclass(frozen=True)
class Key:
    check: Any
    required: bool = False


CONTRAST_KEYS: dict[str, Key] = {
    "name": Key(_text, required=True),
    "kind": Key(_kind_value, required=True),
    "a": Key(_text, required=True),
    "b": Key(_text),
    "tier": Key(_text),
    "repeats": Key(_repeats),
    "metric": Key(_text, required=True),
    "direction": Key(_direction),
    "min_effect": Key(_non_negative),
    "margin": Key(_positive),
    "family": Key(_text),
    "source": Key(_text),
}
# Which keys each kind needs and which it must not have (beyond name, kind, a, metric, direction,
# source, which every kind takes).
KIND_NEEDS = {BETTER: ("b", "min_effect"), WORSE: ("b", "min_effect"), EQUIVALENT: ("b", "margin"),
              LARGEST_REPEATS: ("tier", "min_effect")}
KIND_FORBIDS = {BETTER: ("margin", "tier", "repeats"), WORSE: ("margin", "tier", "repeats"),
                EQUIVALENT: ("min_effect", "tier", "repeats"),
                LARGEST_REPEATS: ("b", "margin", "family")}
_WHY_FORBIDDEN = {"margin": "'margin' is the equivalence bound of kind equivalent; use min_effect",
                  "min_effect": "kind equivalent is bounded by 'margin', not min_effect",
                  "tier": "'tier' belongs to kind largest_repeats",
                  "repeats": "'repeats' belongs to kind largest_repeats",
                  "b": "kind largest_repeats compares tier@r for each r with 'a'; there is no 'b'",
                  "family": "kind largest_repeats is a read-off over r, not a test in a Holm family"}


def arm_id(tier: str, r: float) -> str:
    """The study's id of `tier` at `r` repeats: heuristic@16 (ARM_ID)."""
    return ARM_ID.format(tier=tier, r=int(r) if float(r).is_integer() else r)


def _label(raw: Any, i: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f"contrast {name!r} (contrasts[{i}])" if isinstance(name, str) and name.strip() else f"contrasts[{i}]"


def _contrast_problems(raw: Mapping, label: str, arm_ids: Sequence[str] | None,
                       repeats: Sequence[float] | None) -> list[str]:
    problems = []
    for key, value in raw.items():
        if key not in CONTRAST_KEYS:
            problems.append(f"{label}: unknown key {key!r}{_did_you_mean(key, CONTRAST_KEYS)}; "
                            f"allowed: {', '.join(CONTRAST_KEYS)}")
            continue
        problem = CONTRAST_KEYS[key].check(value)
        if problem:
            problems.append(f"{label}: {key!r} {problem}")
    for key, k in CONTRAST_KEYS.items():
        if k.required and key not in raw:
            problems.append(f"{label}: {key!r} is missing")
    if problems:
        return problems
    kind = raw["kind"]
    for key in KIND_NEEDS[kind]:
        if key not in raw:
            problems.append(f"{label}: {key!r} is missing (kind {kind} needs {', '.join(KIND_NEEDS[kind])})")
    for key in KIND_FORBIDS[kind]:
        if key in raw:
            problems.append(f"{label}: {key!r} is not allowed with kind {kind}: {_WHY_FORBIDDEN[key]}")
    if metric_info(raw["metric"], raw.get("direction")) is None:
        known = list(METRICS) + [p + "<name>" for p in METRIC_PREFIXES]
        problems.append(f"{label}: 'metric' {raw['metric']!r} is not in the registry"
                        f"{_did_you_mean(raw['metric'], METRICS)}: state 'direction: lower' or "
                        f"'direction: higher'; known: {', '.join(known)}")
    if "b" in raw and raw["b"] == raw["a"]:
        problems.append(f"{label}: 'a' and 'b' are the same arm {raw['a']!r}: nothing to contrast")
    if kind == LARGEST_REPEATS and "repeats" not in raw and repeats is None:
        problems.append(f"{label}: 'repeats' is missing and no profile list was given")
    if arm_ids is not None and not problems:
        names = [("a", raw["a"])] + ([("b", raw["b"])] if "b" in raw else [])
        if kind == LARGEST_REPEATS:
            names += [("tier", arm_id(raw["tier"], r)) for r in raw.get("repeats", repeats)]
        for key, arm in names:
            if arm not in arm_ids:
                problems.append(f"{label}: {key!r} names arm {arm!r}, which the study does not run"
                                f"{_did_you_mean(arm, arm_ids)}; arms: {', '.join(arm_ids)}")
    return problems


def parse_contrasts(spec: Any, where: str = "contrasts", *, arm_ids: Sequence[str] | None = None,
                    repeats: Sequence[float] | None = None) -> list[Contrast]:
    """The validated contrasts of a YAML list (module docstring). Raises ContrastError listing
    every problem, each named by its contrast and key; `where` names the source (the file).
    With `arm_ids`, every arm a contrast names must be one the study runs; `repeats` is the
    profile's list, the default of a largest_repeats contrast."""
    if not isinstance(spec, (list, tuple)) or not spec:
        got = "is empty" if spec in (None, "", [], ()) else f"must be a list, got {_kind(spec)}"
        raise ContrastError(where, [f"{got}: a study's verdicts come only from its pre-registered contrasts, "
                                    "e.g. [{name: 'Q1', kind: better, a: raw@1, b: heuristic@1, "
                                    "metric: macro_bpb, min_effect: 0.01}]"])
    problems: list[str] = []
    names: dict[str, int] = {}
    tests: dict[tuple, int] = {}
    families: dict[str, list[int]] = {}
    for i, raw in enumerate(spec):
        label = _label(raw, i)
        if not isinstance(raw, Mapping):
            problems.append(f"{label} must be a mapping like {{name: ..., kind: better, a: raw@1, "
                            f"b: heuristic@1, metric: macro_bpb, min_effect: 0.01}}, got {_kind(raw)}")
            continue
        found = _contrast_problems(raw, label, arm_ids, repeats)
        problems += found
        name = raw.get("name")
        if isinstance(name, str) and name.strip():
            if name in names:
                problems.append(f"{label}: the name {name!r} is taken by contrasts[{names[name]}]")
            names.setdefault(name, i)
        if not found:
            test = (raw["kind"], raw["a"], raw.get("b"), raw.get("tier"), raw["metric"])
            if test in tests:
                problems.append(f"{label}: the same test as contrasts[{tests[test]}] (kind, arms and metric)")
            tests.setdefault(test, i)
            if "family" in raw:
                families.setdefault(raw["family"], []).append(i)
    for family, members in families.items():
        if len(members) < 2:
            problems.append(f"contrasts[{members[0]}]: 'family' {family!r} has no other contrast: Holm over one "
                            "test changes nothing, so this is likely a misspelt family; drop 'family' or fix it")
    if problems:
        raise ContrastError(where, problems)
    out = []
    for raw in spec:
        info = metric_info(raw["metric"], raw.get("direction"))
        reps = raw.get("repeats")
        out.append(Contrast(name=raw["name"], kind=raw["kind"], a=raw["a"], b=raw.get("b"), metric=raw["metric"],
                            direction=info.direction, unit=info.unit,
                            min_effect=float(raw["min_effect"]) if "min_effect" in raw else None,
                            margin=float(raw["margin"]) if "margin" in raw else None,
                            family=raw.get("family"), source=raw.get("source", ""), tier=raw.get("tier"),
                            repeats=tuple(sorted(float(r) for r in reps)) if reps is not None else None))
    return out


# ---------------------------------------------------------------------------------------------
# Paired statistics


def _seed_order(seed: str) -> tuple:
    try:
        return (0, float(seed), seed)
    except ValueError:
        return (1, 0.0, seed)


def _values(arms: Mapping, arm: str, metric: str) -> dict[str, float]:
    """{seed as text: value} of `arm`'s runs that hold `metric`; a ValueError on a non-finite one."""
    out = {}
    for seed, metrics in arms[arm].items():
        if metric in metrics:
            v = metrics[metric]
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                raise ValueError(f"arm {arm!r} seed {seed!r}: {metric} is {v!r}, not a finite number")
            out[str(seed)] = float(v)
    return out


def t_summary(diffs: Sequence[float], level: float = CI_LEVEL) -> dict:
    """Mean, SD (ddof 1), SE, t = mean / SE with n - 1 df, two-sided p and the `level` CI of
    the mean of `diffs` (at least MIN_SEEDS values). SE 0 (every difference the same) gives
    t = ±inf and p = 0, or t = 0 and p = 1 when they are all 0."""
    d = np.asarray(diffs, dtype=np.float64)
    n = len(d)
    if n < MIN_SEEDS:
        raise ValueError(f"a paired t needs at least {MIN_SEEDS} differences, got {n}")
    mean, sd, df = float(d.mean()), float(d.std(ddof=1)), n - 1
    se = sd / math.sqrt(n)
    if se > 0:
        t = mean / se
        p = float(2 * stats.t.sf(abs(t), df))
    else:
        t, p = (math.copysign(math.inf, mean), 0.0) if mean != 0 else (0.0, 1.0)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return {"n": n, "df": df, "delta": mean, "sd": sd, "se": se, "t": t, "p": p,
            "ci": [mean - half, mean + half], "ci_level": level}


def paired(arms: Mapping, a: str, b: str, metric: str, direction: str | None = None) -> dict:
    """Paired statistics of b against a on `metric` over the seeds both arms hold it for.

    Δ per seed is the improvement of b over a (a - b when lower is better, b - a when higher),
    so Δ > 0 means b is better. Returns seeds, n, mean_a, mean_b, differences and, at n >=
    MIN_SEEDS, df, delta, sd, se, t, p and ci95; `testable` False (with `reason`, and those
    None) otherwise. Every key is always there, so a report can render any row.
    """
    info = metric_info(metric, direction)
    if info is None:
        raise ValueError(f"metric {metric!r} is not in METRICS: pass direction='lower' or 'higher'")
    out: dict[str, Any] = {"a": a, "b": b, "metric": metric, "direction": info.direction, "unit": info.unit,
                           "seeds": [], "n": 0, "differences": [], "mean_a": None, "mean_b": None,
                           **dict.fromkeys(("df", "delta", "sd", "se", "t", "p", "ci95"))}
    missing = [arm for arm in (a, b) if arm not in arms or not arms[arm]]
    if missing:
        return {**out, "testable": False,
                "reason": f"no results for arm {' or '.join(map(repr, missing))} (not run)"}
    va, vb = _values(arms, a, metric), _values(arms, b, metric)
    seeds = sorted(set(va) & set(vb), key=_seed_order)
    sign = 1.0 if info.direction == HIGHER else -1.0
    diffs = [sign * (vb[s] - va[s]) for s in seeds]
    out.update(seeds=seeds, n=len(seeds), differences=diffs,
               mean_a=float(np.mean([va[s] for s in seeds])) if seeds else None,
               mean_b=float(np.mean([vb[s] for s in seeds])) if seeds else None)
    if len(seeds) < MIN_SEEDS:
        return {**out, "testable": False,
                "reason": f"{len(seeds)} seed{'' if len(seeds) == 1 else 's'} shared by {a} and {b} on "
                          f"{metric} (a paired test needs at least {MIN_SEEDS})"}
    s = t_summary(diffs, CI_LEVEL)
    return {**out, "testable": True, "df": s["df"], "delta": s["delta"], "sd": s["sd"], "se": s["se"],
            "t": s["t"], "p": s["p"], "ci95": s["ci"]}


def tost(diffs: Sequence[float], margin: float, alpha: float = TOST_ALPHA) -> dict:
    """Two one-sided tests of |mean Δ| < margin (Schuirmann 1987): p_lower tests H0 mean <=
    -margin, p_upper tests H0 mean >= margin, p = max of the two; and the (1 - 2 alpha) CI, which
    lies inside (-margin, margin) exactly when p < alpha."""
    s = t_summary(diffs, 1 - 2 * alpha)
    mean, se, df = s["delta"], s["se"], s["df"]
    if se > 0:
        p_lower = float(stats.t.sf((mean + margin) / se, df))
        p_upper = float(stats.t.cdf((mean - margin) / se, df))
    else:
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
    lo, hi = s["ci"]
    return {"margin": margin, "p_lower": p_lower, "p_upper": p_upper, "p": max(p_lower, p_upper),
            "ci": [lo, hi], "ci_level": s["ci_level"],
            "inside": -margin < lo and hi < margin, "outside": lo > margin or hi < -margin}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm (1979) step-down adjusted p-values, in the input order: the i-th smallest p times
    (m - i + 1), made non-decreasing, capped at 1. Reject where adjusted p < alpha."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = stepped
    return [float(x) for x in out]


# ---------------------------------------------------------------------------------------------
# Verdicts


def verdict_rule(kind: str, row: Mapping, *, min_effect: float = 0.0,
                 p_holm: float | None = None) -> tuple[str, bool, str]:
    """(verdict, decisive, reason) of a better/worse contrast's paired row (module docstring)."""
    if not row["testable"]:
        return NOT_TESTABLE, False, row["reason"]
    t, delta, p = row["t"], row["delta"], row["p"]
    failed = []
    if not abs(t) >= DECISIVE_T:
        failed.append(f"|t| = {abs(t):.2f} < {DECISIVE_T:g}")
    if not abs(delta) >= min_effect:
        failed.append(f"|Δ| = {abs(delta):.4g} below the minimum effect {min_effect:g}")
    if not p < ALPHA:
        failed.append(f"p = {p:.3g} >= {ALPHA:g} at {row['n']} seeds")
    if p_holm is not None and not p_holm < ALPHA:
        failed.append(f"Holm-adjusted p = {p_holm:.3g} >= {ALPHA:g}")
    if failed:
        return INCONCLUSIVE, False, "; ".join(failed)
    predicted = 1 if kind == BETTER else -1
    observed = 1 if delta > 0 else -1
    if observed == predicted:
        return SUPPORTED, True, "decisive in the predicted direction"
    return NOT_SUPPORTED, True, "decisive against the prediction"


def _equivalence_verdict(row: Mapping, p_holm: float | None) -> tuple[str, bool, str]:
    if not row["testable"]:
        return NOT_TESTABLE, False, row["reason"]
    e = row["tost"]
    lvl = f"{e['ci_level']:.0%} CI"
    if e["inside"] and e["p"] < TOST_ALPHA and (p_holm is None or p_holm < ALPHA):
        return SUPPORTED, True, f"the {lvl} lies inside ±{e['margin']:g}"
    if e["inside"]:  # inside, but the family's Holm correction (or a p on the boundary) keeps it open
        p = p_holm if p_holm is not None else e["p"]
        return INCONCLUSIVE, False, (f"the {lvl} lies inside ±{e['margin']:g} but the "
                                     f"{'Holm-adjusted ' if p_holm is not None else ''}TOST p = {p:.3g} >= {ALPHA:g}")
    if e["outside"]:
        return NOT_SUPPORTED, True, f"the {lvl} lies entirely outside ±{e['margin']:g}"
    return INCONCLUSIVE, False, f"the {lvl} straddles ±{e['margin']:g}"


def _num(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _t_text(t: float) -> str:
    return f"{t:.1f}" if math.isfinite(t) else ("inf" if t > 0 else "-inf")


def sentence(row: Mapping) -> str:
    """One line a reader can check: what beat what, by how much, the interval, t, the seeds and
    the verdict (with the reason when it is not decisive)."""
    a, b, unit = row["a"], row["b"], row["unit"]
    units = f" {unit}" if unit else ""
    if row["verdict"] == NOT_TESTABLE:
        return f"{b} vs {a} on {row['metric']}: not testable: {row['reason']}"
    tail = f": {row['verdict']}" + ("" if row["decisive"] else f" ({row['reason']})")
    if row["kind"] == EQUIVALENT:
        lo, hi = row["ci"]
        return (f"{b} vs {a}, equivalent within ±{row['margin']:g}{units}: Δ = {row['delta']:+.3f}{units} "
                f"({row['ci_level']:.0%} CI {lo:+.3f}..{hi:+.3f}, Δ > 0: {b} better; {row['n']} seeds){tail}")
    delta, (lo, hi) = row["delta"], row["ci95"]
    if delta >= 0:
        what, size, ci = f"{b} beats {a} by", delta, (lo, hi)
    else:
        what, size, ci = f"{b} is worse than {a} by", -delta, (-hi, -lo)
    holm_text = f", Holm p = {row['p_holm']:.3g}" if row.get("p_holm") is not None else ""
    return (f"{what} {_num(size)}{units} (95% CI {_num(ci[0])}..{_num(ci[1])}, t = {_t_text(abs(row['t']))}, "
            f"p = {row['p']:.3g}{holm_text}, {row['n']} seeds){tail}")


def _contrast_row(c: Contrast, arms: Mapping) -> dict:
    """A better/worse/equivalent contrast's statistics before Holm (p is the one Holm reads)."""
    row = paired(arms, c.a, c.b, c.metric, c.direction)
    row.update(name=c.name, kind=c.kind, family=c.family, source=c.source,
               min_effect=c.min_effect, margin=c.margin, p_holm=None, holm_m=None, tost=None, ci=None,
               ci_level=None)
    if c.kind == EQUIVALENT and row["testable"]:
        row["tost"] = tost(row["differences"], c.margin)
        row["ci"], row["ci_level"] = row["tost"]["ci"], row["tost"]["ci_level"]
    elif row["testable"]:
        row["ci"], row["ci_level"] = row["ci95"], CI_LEVEL
    return row


def _holm_p(row: Mapping) -> float:
    """The p a row contributes to its Holm family: TOST p for equivalence; 1 when not testable
    (the family keeps its pre-registered size, so an arm that was not run makes Holm stricter,
    never looser)."""
    if not row["testable"]:
        return 1.0
    return row["tost"]["p"] if row["kind"] == EQUIVALENT else row["p"]


def _finish(row: dict) -> dict:
    if row["kind"] == EQUIVALENT:
        v, decisive, reason = _equivalence_verdict(row, row["p_holm"])
    else:
        v, decisive, reason = verdict_rule(row["kind"], row, min_effect=row["min_effect"], p_holm=row["p_holm"])
    row.update(verdict=v, decisive=decisive, reason=reason)
    row["sentence"] = sentence(row)
    return row


def largest_repeats_beating(arms: Mapping, tier: str, baseline: str, repeats: Sequence[float], metric: str,
                            min_effect: float, direction: str | None = None, *, name: str = "") -> dict:
    """"Quality first, then quantity": the largest r at which `tier`@r still beats `baseline`.

    Each r is its own paired `better` contrast of tier@r (arm_id) against `baseline` under the
    verdict rule (no Holm). `largest_r` is the largest r such that tier@r is `supported` at r and
    at every smaller r in `repeats` (None when it is not at the smallest); `beats_at` lists
    every r that beats, which shows a gap when noise breaks the run.
    """
    info = metric_info(metric, direction)
    if info is None:
        raise ValueError(f"metric {metric!r} is not in METRICS: pass direction='lower' or 'higher'")
    c = Contrast(name=name, kind=BETTER, a=baseline, b="", metric=metric, direction=info.direction,
                 unit=info.unit, min_effect=float(min_effect))
    rs = sorted(float(r) for r in repeats)
    per_r = []
    for r in rs:
        row = _finish(_contrast_row(dataclasses.replace(c, b=arm_id(tier, r)), arms))
        per_r.append({"r": int(r) if r.is_integer() else r, **row})
    beats_at = [row["r"] for row in per_r if row["verdict"] == SUPPORTED]
    largest = None
    for row in per_r:
        if row["verdict"] != SUPPORTED:
            break
        largest = row["r"]
    listed = ", ".join(str(row["r"]) for row in per_r)
    if largest is not None:
        verdict_ = SUPPORTED
        after = [row for row in per_r if row["r"] > largest]
        text = f"{tier} still beats {baseline} at {largest} repeat{'s' if largest != 1 else ''}"
        text += (f" (the largest r that does, and every smaller one; next, r = {after[0]['r']}: "
                 f"{after[0]['verdict']})" if after else f" (every r tested: {listed})")
        gaps = [r for r in beats_at if r > largest]
        if gaps:
            text += f"; it beats again at r = {', '.join(map(str, gaps))} after not beating at a smaller r"
    else:
        first = per_r[0] if per_r else None
        verdict_ = NOT_SUPPORTED if first is not None and first["verdict"] == NOT_SUPPORTED else INCONCLUSIVE
        if first is not None and first["verdict"] == NOT_TESTABLE:
            verdict_ = NOT_TESTABLE
        text = (f"{tier} beats {baseline} at no r in {listed or '(none)'}: at r = {first['r']} it is "
                f"{first['verdict']} ({first['reason']})" if first else f"no repeats given for {tier}")
    return {"name": name, "kind": LARGEST_REPEATS, "tier": tier, "a": baseline, "metric": metric,
            "direction": info.direction, "unit": info.unit, "min_effect": float(min_effect),
            "repeats": [row["r"] for row in per_r], "per_r": per_r, "beats_at": beats_at, "largest_r": largest,
            "verdict": verdict_, "decisive": largest is not None, "sentence": text}


def summarize(contrasts: Sequence[Contrast] | Any, arms: Mapping,
              repeats: Sequence[float] | None = None) -> list[dict]:
    """Every contrast's statistics, Holm-adjusted p within its family, verdict and sentence, in
    the order given (module docstring). `contrasts`: parsed Contrasts, or the YAML list itself
    (parsed and validated here); `repeats`: the profile's list, for largest_repeats contrasts
    that give none."""
    if not all(isinstance(c, Contrast) for c in contrasts or ()) or not contrasts:
        contrasts = parse_contrasts(contrasts, repeats=repeats)
    rows: list[dict] = []
    for c in contrasts:
        if c.kind == LARGEST_REPEATS:
            reps = c.repeats if c.repeats is not None else repeats
            if reps is None:
                raise ValueError(f"contrast {c.name!r}: no repeats (give 'repeats' or the profile's list)")
            row = largest_repeats_beating(arms, c.tier, c.a, reps, c.metric, c.min_effect, c.direction, name=c.name)
            row["source"] = c.source
            rows.append(row)
        else:
            rows.append(_contrast_row(c, arms))
    families: dict[str, list[dict]] = {}
    for row in rows:
        if row.get("family"):
            families.setdefault(row["family"], []).append(row)
    for members in families.values():
        for row, adjusted in zip(members, holm([_holm_p(r) for r in members])):
            row["p_holm"] = adjusted if row["testable"] else None
            row["holm_m"] = len(members)
    return [row if row["kind"] == LARGEST_REPEATS else _finish(row) for row in rows]


# ---------------------------------------------------------------------------------------------
# The unigram floor and "trained enough"


def count_tokens(arrays: Iterable[np.ndarray], vocab_size: int) -> np.ndarray:
    """Counts of each token id in [0, vocab_size) over integer arrays (np.bincount per array, so
    a corpus of shards is never concatenated); a ValueError on an id outside the vocabulary."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for arr in arrays:
        ids = np.asarray(arr).ravel()
        if ids.size == 0:
            continue
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise ValueError(f"token id {lo if lo < 0 else hi} is outside the vocabulary [0, {vocab_size})")
        counts += np.bincount(ids, minlength=vocab_size)
    return counts


def _unigram_bits(log2p: np.ndarray, tokens: np.ndarray) -> float:
    ids = np.asarray(tokens).ravel()
    if ids.size == 0:
        raise ValueError("no held-out tokens")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
    if int(ids.min()) < 0 or int(ids.max()) >= len(log2p):
        raise ValueError(f"held-out token id outside the training counts' vocabulary [0, {len(log2p)})")
    held = np.bincount(ids, minlength=len(log2p))
    used = held > 0
    if not np.all(np.isfinite(log2p[used])):
        unseen = int(np.count_nonzero(used & ~np.isfinite(log2p)))
        raise ValueError(f"{unseen} held-out token type(s) never occur in training and smoothing is 0: "
                         "the floor would be infinite")
    return float(-(held[used] * log2p[used]).sum())


def unigram_bpb(train_counts: np.ndarray | Sequence[int], held_out_tokens: Any, held_out_bytes: Any,
                smoothing: float = UNIGRAM_ADD_K) -> float | dict[str, float]:
    """Bits per byte of held-out text under the unigram distribution of the training counts:
    p(v) = (count_v + k) / (N + k V) over the V = len(train_counts) ids (add-k, k = `smoothing`,
    UNIGRAM_ADD_K by default), bits = -sum log2 p(token) over the held-out tokens, divided by
    the held-out text's UTF-8 bytes. Use the tokens and bytes the model's bpb scores, so the
    two are comparable.

    `held_out_tokens` is one integer array with `held_out_bytes` an int (returns a float), or a
    mapping domain -> array with `held_out_bytes` a mapping domain -> bytes (returns a dict).
    """
    counts = np.asarray(train_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("train_counts must be a non-empty 1-D array of non-negative counts (count_tokens)")
    if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real) or not smoothing >= 0:
        raise ValueError(f"smoothing must be a number >= 0, got {smoothing!r}")
    total = counts.sum() + smoothing * counts.size
    if total <= 0:
        raise ValueError("no training tokens and no smoothing: the unigram distribution is undefined")
    with np.errstate(divide="ignore"):
        log2p = np.log2((counts + smoothing) / total)

    def one(tokens: Any, nbytes: Any, label: str) -> float:
        if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Real) or not nbytes > 0:
            raise ValueError(f"{label}held-out bytes must be a positive number, got {nbytes!r}")
        try:
            return _unigram_bits(log2p, tokens) / float(nbytes)
        except ValueError as e:
            raise ValueError(f"{label}{e}") from None

    if isinstance(held_out_tokens, Mapping):
        if not isinstance(held_out_bytes, Mapping) or set(held_out_bytes) != set(held_out_tokens):
            raise ValueError("held_out_bytes must map the same domains as held_out_tokens, got "
                             f"{sorted(held_out_tokens)} and "
                             f"{sorted(held_out_bytes) if isinstance(held_out_bytes, Mapping) else held_out_bytes!r}")
        return {d: one(held_out_tokens[d], held_out_bytes[d], f"domain {d!r}: ") for d in held_out_tokens}
    return one(held_out_tokens, held_out_bytes, "")


def domain_means(arms: Mapping, prefix: str = "bpb.",
                 arm_ids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
    """{arm: {domain: mean over seeds}} of every metric named `prefix` + domain ("bpb.news"), for
    the arms in `arm_ids` (default all): the first argument of trained_enough."""
    out = {}
    for arm in (arm_ids if arm_ids is not None else arms):
        names = sorted({name for metrics in arms[arm].values() for name in metrics if name.startswith(prefix)})
        out[arm] = {name[len(prefix):]: float(np.mean(list(_values(arms, arm, name).values()))) for name in names}
    return out


def trained_enough(arm_bpb_by_domain: Mapping[str, Mapping[str, float]],
                   floors: Mapping[str, float] | Mapping[str, Mapping[str, float]], margin: float) -> dict:
    """Do the arms (the r = 1 arms) beat every held-out domain's unigram floor by `margin` bpb?

    `arm_bpb_by_domain`: {arm: {domain: bpb}} (domain_means). `floors`: {domain: floor bpb}, or
    {arm: {domain: floor}} when each arm has its own (from its own training tokens). An arm beats
    a floor when floor - bpb >= margin. Returns verdict (TRAINED_ENOUGH or UNDERTRAINED),
    trained_enough, margin, checks (arm, domain, bpb, floor, gap, ok per pair), failures (those
    not ok) and a sentence naming each failing arm and domain.
    """
    problem = _number(margin)
    if problem or margin < 0:
        raise ValueError(f"margin {problem or f'must be >= 0, got {margin!r}'}")
    if not arm_bpb_by_domain:
        raise ValueError("no arms to check")
    per_arm = bool(floors) and all(isinstance(v, Mapping) for v in floors.values())
    checks = []
    for arm, by_domain in arm_bpb_by_domain.items():
        arm_floors = floors.get(arm) if per_arm else floors
        if arm_floors is None:
            raise ValueError(f"no floors for arm {arm!r}")
        if set(arm_floors) != set(by_domain):
            raise ValueError(f"arm {arm!r}: domains {sorted(by_domain)} do not match the floors' {sorted(arm_floors)}")
        for domain in sorted(by_domain):
            bpb, floor = float(by_domain[domain]), float(arm_floors[domain])
            if not (math.isfinite(bpb) and math.isfinite(floor)):
                raise ValueError(f"arm {arm!r} domain {domain!r}: bpb {bpb!r}, floor {floor!r}: not finite")
            gap = floor - bpb
            checks.append({"arm": arm, "domain": domain, "bpb": bpb, "floor": floor, "gap": gap,
                           "ok": gap >= margin})
    failures = [c for c in checks if not c["ok"]]
    if failures:
        listed = "; ".join(f"{c['arm']} on {c['domain']} ({c['bpb']:.3f} bpb against the unigram floor "
                           f"{c['floor']:.3f}, {c['gap']:+.3f})" for c in failures)
        text = (f"{UNDERTRAINED}: {len(failures)} of {len(checks)} arm-domain pairs do not beat the unigram "
                f"floor by {margin:g} bpb: {listed}. The models say little about data yet: no verdicts.")
    else:
        worst = min(checks, key=lambda c: c["gap"])
        text = (f"{TRAINED_ENOUGH}: every arm beats every domain's unigram floor by at least {margin:g} bpb "
                f"(closest: {worst['arm']} on {worst['domain']}, {worst['gap']:.3f} below).")
    return {"verdict": UNDERTRAINED if failures else TRAINED_ENOUGH, "trained_enough": not failures,
            "margin": float(margin), "checks": checks, "failures": failures, "sentence": text}
