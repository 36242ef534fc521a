"""Named policies (presets) and policies read from YAML, built from the registered rules.

`Rule` and `Policy` live in `quality.rules`, which the rule sets import; the registry of signal
sets and their rules is `quality.signals`; this module builds policies from it, so imports run
one way: rules -> gopher, c4, fineweb, langid -> signals -> policy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from quality.rules import Policy, Rule
from quality import signals


def preset(name: str) -> Policy:
    """Named policies, each in its reference order of steps.

    `gopher`: English at score >= 0.65, Gopher quality, Gopher repetition (MassiveWeb's order,
    Rae et al. 2021 Fig. A1: quality filters, then repetition removal).
    `gopher_quality`: English and the Gopher quality rules only (what `gopher` was before the
    repetition rules joined it).
    `c4`: English, C4's line cleaning (transform "c4_lines", tfds settings), C4's page rules.
    `fineweb`: FineWeb's steps (datatrove examples/fineweb.py): language (0.65), Gopher
    repetition, Gopher quality, C4QualityFilter(filter_no_terminal_punct=False) (transform
    "c4_lines_fineweb" and its page rules), FineWeb quality.
    """
    rules = signals.rules
    lang, quality, repetition = rules("lang"), rules("gopher_quality"), rules("gopher_repetition")
    presets = {
        "none": Policy("none"),
        "lang": Policy("lang", lang),
        "gopher": Policy("gopher", lang + quality + repetition),
        "gopher_quality": Policy("gopher_quality", lang + quality),
        "c4": Policy("c4", lang + rules("c4"), transform="c4_lines"),
        "fineweb": Policy("fineweb", lang + repetition + quality + rules("c4_fineweb")
                          + rules("fineweb"), transform="c4_lines_fineweb"),
    }
    if name not in presets:
        raise ValueError(f"unknown policy {name!r}; presets: {sorted(presets)}")
    return presets[name]


def from_mapping(spec: Mapping[str, Any]) -> Policy:
    """A policy from a declarative mapping: {name, transform, rules: [{name, signal, min, max,
    allowed}]}; `transform` is optional (None, or a name in `quality.c4.TRANSFORMS`)."""
    rules = []
    for raw in spec.get("rules", []):
        allowed = raw.get("allowed")
        rules.append(Rule(name=str(raw["name"]), signal=str(raw.get("signal", raw["name"])),
                          min=raw.get("min"), max=raw.get("max"),
                          allowed=tuple(allowed) if allowed is not None else None,
                          source=str(raw.get("source", "")),
                          top_fraction=_fraction(raw.get("top_fraction"))))
    transform = spec.get("transform")
    if transform is not None:
        from quality.c4 import TRANSFORMS

        if transform not in TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}; known: {sorted(TRANSFORMS)}")
        transform = str(transform)
    return Policy(str(spec.get("name", "custom")), tuple(rules), transform)


def _fraction(value: Any) -> float | None:
    if value is None:
        return None
    if not 0 < float(value) <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {value!r}")
    return float(value)


def top_fraction_cut(value_counts: Mapping[float, int], fraction: float) -> float | None:
    """The smallest value a document may have and still be in the top `fraction` of documents.

    `value_counts` maps each (rounded) value to how many documents have it. Documents tied at
    the cut are all kept, so slightly more than the fraction may pass. None when empty.
    """
    total = sum(value_counts.values())
    if total == 0:
        return None
    wanted = math.ceil(fraction * total)
    seen = 0
    for value in sorted(value_counts, reverse=True):
        seen += value_counts[value]
        if seen >= wanted:
            return value
    return min(value_counts)


def load(name_or_path: str) -> Policy:
    """A preset by name, or a YAML policy file (read through the caller's file system)."""
    if name_or_path.endswith((".yaml", ".yml")):
        import yaml

        with open(name_or_path, encoding="utf-8") as f:
            return from_mapping(yaml.safe_load(f))
    return preset(name_or_path)
