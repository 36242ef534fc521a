"""Selection policies: an ordered list of rules that turns recorded signals into keep or drop.

Signals are computed for every document first (annotate); a policy only reads them (select), so
one annotated corpus can be re-selected under another policy without recomputing anything. The
drop reason is the name of the first rule, in policy order, that the document fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """Keep a document iff `min <= signals[signal] <= max` and, if given, the value is in `allowed`.

    A document without the signal is not judged by this rule.
    """

    name: str
    signal: str
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None
    source: str = ""

    def passes(self, value: Any) -> bool:
        if value is None:
            return True
        if self.allowed is not None and value not in self.allowed:
            return False
        if self.min is not None and value < self.min:
            return False
        if self.max is not None and value > self.max:
            return False
        return True


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def first_failure(self, signals: Mapping[str, Any]) -> str | None:
        """The drop reason (first failing rule's name) or None to keep."""
        for rule in self.rules:
            if not rule.passes(signals.get(rule.signal)):
                return rule.name
        return None

    def failures(self, signals: Mapping[str, Any]) -> list[str]:
        """Every rule the document fails: what each rule would drop on its own."""
        return [rule.name for rule in self.rules if not rule.passes(signals.get(rule.signal))]

    def to_dict(self) -> dict:
        return {"name": self.name, "rules": [
            {k: v for k, v in (("name", r.name), ("signal", r.signal), ("min", r.min),
                               ("max", r.max), ("allowed", list(r.allowed) if r.allowed else None))
             if v is not None} for r in self.rules]}


def language_rules(languages: Sequence[str] = ("en",), min_score: float | None = None) -> tuple[Rule, ...]:
    from quality.langid import MIN_LANGUAGE_SCORE

    score = MIN_LANGUAGE_SCORE if min_score is None else min_score
    src = "FineWeb; datatrove LanguageFilter(language_threshold=0.65)"
    return (Rule("lang", "lang", allowed=tuple(languages), source=src),
            Rule("lang_score", "lang_score", min=score, source=src))


def preset(name: str) -> Policy:
    """Named policies. `gopher`: English at score >= 0.65, then Gopher quality rules."""
    from quality import gopher

    presets = {
        "none": Policy("none"),
        "lang": Policy("lang", language_rules()),
        "gopher": Policy("gopher", language_rules() + gopher.QUALITY_RULES),
    }
    if name not in presets:
        raise ValueError(f"unknown policy {name!r}; presets: {sorted(presets)}")
    return presets[name]


def from_mapping(spec: Mapping[str, Any]) -> Policy:
    """A policy from a declarative mapping: {name, rules: [{name, signal, min, max, allowed}]}."""
    rules = []
    for raw in spec.get("rules", []):
        allowed = raw.get("allowed")
        rules.append(Rule(name=str(raw["name"]), signal=str(raw.get("signal", raw["name"])),
                          min=raw.get("min"), max=raw.get("max"),
                          allowed=tuple(allowed) if allowed is not None else None,
                          source=str(raw.get("source", ""))))
    return Policy(str(spec.get("name", "custom")), tuple(rules))


def load(name_or_path: str) -> Policy:
    """A preset by name, or a YAML policy file (read through the caller's file system)."""
    if name_or_path.endswith((".yaml", ".yml")):
        import yaml

        with open(name_or_path, encoding="utf-8") as f:
            return from_mapping(yaml.safe_load(f))
    return preset(name_or_path)
