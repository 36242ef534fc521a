"""Rules and policies: an ordered list of rules that turns recorded signals into keep or drop.

Signals are computed for every document first (annotate); a policy only reads them (select), so
one annotated corpus can be re-selected under another policy without recomputing anything. The
drop reason is the name of the first rule, in policy order, that the document fails.

This module imports nothing of the rule sets: `quality.gopher`, `quality.c4` and
`quality.fineweb` define their rules with `Rule`, and `quality.policy` builds the presets and
reads YAML policies from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
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
    # Keep the documents whose value is in the top fraction of the corpus: the pipeline computes
    # the cut over every annotated document and fills `min` with it (`Policy.resolve`).
    top_fraction: float | None = None

    def passes(self, value: Any) -> bool:
        if self.top_fraction is not None and self.min is None:
            raise ValueError(f"rule {self.name!r} keeps a top fraction: resolve its cut first")
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
    """Ordered rules, plus an optional text transform the pipeline applies to kept documents.

    `transform` names a line-level rewrite (`quality.c4.TRANSFORMS`, e.g. "c4_lines"); its
    removed bytes are accounted apart from dropped documents. None: texts are kept as they are.
    """

    name: str
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    transform: str | None = None

    def first_failure(self, signals: Mapping[str, Any]) -> str | None:
        """The drop reason (first failing rule's name) or None to keep."""
        for rule in self.rules:
            if not rule.passes(signals.get(rule.signal)):
                return rule.name
        return None

    def failures(self, signals: Mapping[str, Any]) -> list[str]:
        """Every rule the document fails: what each rule would drop on its own."""
        return [rule.name for rule in self.rules if not rule.passes(signals.get(rule.signal))]

    def check_signals(self, known: frozenset[str] | set[str], hint: str = "") -> None:
        """Raises ValueError naming every rule whose signal is not in `known`: such a rule would
        find the value missing on every document and pass them all without a word."""
        unknown = [r for r in self.rules if r.signal not in known]
        if unknown:
            listed = ", ".join(f"{r.name!r} reads {r.signal!r}" for r in unknown)
            raise ValueError(f"policy {self.name!r}: no stage records the signal of rule(s) {listed}"
                             f"{hint}. Known signals: {', '.join(sorted(known))}")

    def top_fraction_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.top_fraction is not None]

    def resolve(self, cuts: Mapping[str, float]) -> Policy:
        """This policy with each top-fraction rule's `min` set to its computed cut."""
        return replace(self, rules=tuple(
            replace(r, min=cuts[r.name]) if r.name in cuts else r for r in self.rules))

    def to_dict(self) -> dict:
        extra = {"transform": self.transform} if self.transform else {}
        return {"name": self.name, **extra, "rules": [
            {k: v for k, v in (("name", r.name), ("signal", r.signal), ("min", r.min),
                               ("max", r.max), ("allowed", list(r.allowed) if r.allowed else None),
                               ("top_fraction", r.top_fraction), ("source", r.source or None))
             if v is not None} for r in self.rules]}
