"""Named policies (presets) and policies read from YAML, built from the registered rules.

Every policy, YAML or preset, is checked against one schema (`POLICY_KEYS`, `RULE_KEYS`,
`RULE_CHECKS`) before any work: a `PolicyError` (a ValueError) names the file, rule and key.

`Rule` and `Policy` live in `quality.rules`, which the rule sets import; the registry of signal
sets and their rules is `quality.signals`; this module builds policies from it, so imports run
one way: rules -> gopher, c4, fineweb, langid -> signals -> policy.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from quality import signals
from quality.c4 import TRANSFORMS
from quality.rules import Policy, Rule


# Every preset: its signal sets' rules in the policy's order, and its text transform. The
# names (`PRESETS`, the default first) are what `--policy`'s help and the docs list.
_PRESET_STEPS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "gopher": (("lang", "gopher_quality", "gopher_repetition"), None),
    "gopher_quality": (("lang", "gopher_quality"), None),
    "c4": (("lang", "c4"), "c4_lines"),
    "fineweb": (("lang", "gopher_repetition", "gopher_quality", "c4_fineweb", "fineweb"),
                "c4_lines_fineweb"),
    "lang": (("lang",), None),
    "none": ((), None),
}
PRESETS: tuple[str, ...] = tuple(_PRESET_STEPS)


def preset(name: str) -> Policy:
    """Named policies (`PRESETS`), each in its reference order of steps.

    `gopher`: English at score >= 0.65, Gopher quality, Gopher repetition (MassiveWeb's order,
    Rae et al. 2021 Fig. A1: quality filters, then repetition removal).
    `gopher_quality`: English and the Gopher quality rules only (what `gopher` was before the
    repetition rules joined it).
    `c4`: English, C4's line cleaning (transform "c4_lines", tfds settings), C4's page rules.
    `fineweb`: FineWeb's steps (datatrove examples/fineweb.py): language (0.65), Gopher
    repetition, Gopher quality, C4QualityFilter(filter_no_terminal_punct=False) (transform
    "c4_lines_fineweb" and its page rules), FineWeb quality.
    `lang`: English only. `none`: every document.
    """
    if name not in _PRESET_STEPS:
        raise PolicyError(f"policy {name!r}", [
            f"is neither a preset{_did_you_mean(name, PRESETS)} nor a YAML file (.yaml, .yml); "
            f"presets: {', '.join(sorted(PRESETS))}"])
    sets, transform = _PRESET_STEPS[name]
    policy = Policy(name, tuple(rule for s in sets for rule in signals.rules(s)), transform)
    validate(policy.to_dict(), f"preset {name!r}")  # the schema YAML policies meet
    return policy


def from_mapping(spec: Any, where: str = "policy") -> Policy:
    """A policy from a declarative mapping: {name, transform, rules: [{name, signal, min, max,
    allowed, top_fraction, source}]} (`POLICY_KEYS`, `RULE_KEYS`); `transform` is optional
    (None, or a name in `quality.c4.TRANSFORMS`). The whole mapping is checked first
    (`validate`): a PolicyError names `where` (e.g. the file), the rule and the key at fault."""
    validate(spec, where)
    rules = tuple(Rule(name=raw["name"], signal=raw.get("signal", raw["name"]),
                       min=raw.get("min"), max=raw.get("max"),
                       allowed=tuple(raw["allowed"]) if "allowed" in raw else None,
                       source=raw.get("source", ""), top_fraction=raw.get("top_fraction"))
                  for raw in spec.get("rules", ()))
    return Policy(spec.get("name", "custom"), rules, spec.get("transform"))


# ---------------------------------------------------------------------------------------------
# The schema: every key a policy and a rule may have, and what its value must be. A policy that
# would not do what it says (a misspelt key ignored, `allowed: en` read as the letters e and n,
# `min: .nan` passing everything, `min` above `max` dropping everything, `min: '50'` failing
# only after annotate) is refused here, before any work.

class PolicyError(ValueError):
    """A policy that does not say what it means; `problems` lists each, by rule and key.
    `PolicyError(message)` alone is a policy error with a message of its own."""

    def __init__(self, where: str, problems: list[str] | None = None):
        self.where, self.problems = where, list(problems or ())
        if not self.problems:
            message = where
        elif len(self.problems) == 1:
            first = self.problems[0]
            message = f"{where}{' ' if first.startswith(('is ', 'must ')) else ': '}{first}"
        else:
            message = f"{where} has {len(self.problems)} problems:\n  - " + "\n  - ".join(self.problems)
        super().__init__(message)


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


_YAML_BOOL = " (YAML reads yes/no/on/off/true/false as booleans: quote it, e.g. 'no')"


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {_kind(value)}" + (
            _YAML_BOOL if isinstance(value, bool) else
            f": quote it, '{value}'" if isinstance(value, numbers.Number) else "")
    if not value.strip():
        return "must not be empty"
    return None


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {_kind(value)}"


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        hint = ""
        if isinstance(value, str):
            try:
                float(value)
                hint = ": write it unquoted" + (" (YAML reads 1e3 as text: write 1.0e+3)"
                                                if "e" in value.lower() else "")
            except ValueError:
                pass
        return f"must be a number, got {_kind(value)}{hint}"
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    return None


def _fraction(value: Any) -> str | None:
    problem = _number(value)
    if problem is None and not 0 < value <= 1:
        problem = f"must be in (0, 1], got {value!r}"
    return problem


def _labels(value: Any) -> str | None:
    if isinstance(value, str):
        return f"must be a list, got {_kind(value)}: write allowed: [{value}]"
    if not isinstance(value, (list, tuple)):
        return f"must be a list of strings (e.g. allowed: [en]), got {_kind(value)}"
    if not value:
        return "is empty: the rule would drop every document that has the signal"
    for item in value:
        if not isinstance(item, str) or not item:
            return f"must hold non-empty strings, got {_kind(item)}" + (
                _YAML_BOOL if isinstance(item, bool) else "")
    return None


def _transform(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in TRANSFORMS:
        return (f"is not a known transform: {value!r}{_did_you_mean(value, TRANSFORMS)}; "
                f"known: {', '.join(sorted(TRANSFORMS))}, or leave 'transform' out")
    return None


def _rule_list(value: Any) -> str | None:
    if not isinstance(value, (list, tuple)):
        return f"must be a list of rules (each a mapping with a name), got {_kind(value)}"
    return None


@dataclass(frozen=True)
class Key:
    """A key of the schema: `check(value)` says what is wrong with a value, or None."""

    check: Callable[[Any], str | None]
    required: bool = False


POLICY_KEYS: dict[str, Key] = {
    "name": Key(_text),              # default "custom"
    "transform": Key(_transform),    # None, or a name in quality.c4.TRANSFORMS
    "rules": Key(_rule_list),        # each checked against RULE_KEYS
}
RULE_KEYS: dict[str, Key] = {
    "name": Key(_text, required=True),  # the drop reason
    "signal": Key(_text),               # default: the rule's name
    "min": Key(_number),
    "max": Key(_number),
    "allowed": Key(_labels),
    "top_fraction": Key(_fraction),
    "source": Key(_string),
}
CONDITIONS = ("min", "max", "allowed", "top_fraction")


def _no_condition(r: Mapping) -> str | None:
    if not any(k in r for k in CONDITIONS):
        return (f"sets none of {', '.join(CONDITIONS)}: it would keep every document "
                "(the report shows every signal without one)")
    return None


def _min_above_max(r: Mapping) -> str | None:
    if "min" in r and "max" in r and r["min"] > r["max"]:
        return (f"min {r['min']!r} is above max {r['max']!r}: it would drop every document that "
                "has the signal")
    return None


def _min_and_top_fraction(r: Mapping) -> str | None:
    if "min" in r and "top_fraction" in r:
        return "sets both min and top_fraction: the cut of top_fraction replaces min, so keep one"
    return None


def _labels_and_numbers(r: Mapping) -> str | None:
    if "allowed" in r and any(k in r for k in ("min", "max", "top_fraction")):
        return ("mixes allowed (labels) with min/max/top_fraction (numbers): a signal is one or "
                "the other; split it into two rules")
    return None


# Checks across a rule's keys, run once each key alone is right.
RULE_CHECKS: tuple[Callable[[Mapping], str | None], ...] = (
    _no_condition, _min_above_max, _min_and_top_fraction, _labels_and_numbers)


def _keys(spec: Mapping, schema: Mapping[str, Key], other: Mapping[str, Key], misplaced: str,
          where: str) -> list[str]:
    """Problems of one mapping against its schema: unknown keys, missing or wrong values."""
    problems = []
    for key, value in spec.items():
        if key not in schema:
            hint = _did_you_mean(key, schema) or (f" ({key!r} is {misplaced})" if key in other else "")
            problems.append(f"{where}unknown key {key!r}{hint}; allowed: {', '.join(schema)}")
            continue
        problem = schema[key].check(value)
        if problem:
            problems.append(f"{where}{key!r} {problem}")
    for key, k in schema.items():
        if k.required and key not in spec:
            problems.append(f"{where}{key!r} is missing")
    return problems


def validate(spec: Any, where: str = "policy") -> None:
    """Raises PolicyError listing every problem of a policy mapping, each named by its rule and
    key; `where` names the policy (e.g. "policy file 'mine.yaml'")."""
    if not isinstance(spec, Mapping):
        empty = spec is None or spec == ""
        raise PolicyError(where, [
            ("is empty" if empty else f"must be a mapping, got {_kind(spec)}")
            + f": expected keys {', '.join(POLICY_KEYS)}, e.g. "
            "{name: mine, rules: [{name: long, signal: chars, min: 100}]}"
            + (f" (to use the preset, pass --policy {spec})" if _is_preset(spec) else "")])
    problems = _keys(spec, POLICY_KEYS, RULE_KEYS,
                     "a rule's key: rules go in the list under 'rules'", "")
    rules = spec.get("rules", ())
    if not isinstance(rules, (list, tuple)):
        raise PolicyError(where, problems)
    seen: dict[str, int] = {}
    for i, raw in enumerate(rules):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        named = isinstance(name, str) and bool(name.strip())
        signal = raw.get("signal") if isinstance(raw, Mapping) and not named else None
        label = (f"rule {name!r} (rules[{i}])" if named else
                 f"rules[{i}] (signal {signal!r})" if isinstance(signal, str) else f"rules[{i}]")
        if not isinstance(raw, Mapping):
            problems.append(f"{label} must be a mapping like {{name: long, signal: chars, min: 100}}, "
                            f"got {_kind(raw)}")
            continue
        found = _keys(raw, RULE_KEYS, POLICY_KEYS, "the policy's key, beside 'rules'", f"{label}: ")
        problems += found
        if not found:
            problems += [f"{label}: {p}" for p in (check(raw) for check in RULE_CHECKS) if p]
        if named:
            if name in seen:
                problems.append(f"{label}: the name {name!r} is taken by rules[{seen[name]}]: "
                                "a rule's name is its drop reason, so names must be unique")
            seen.setdefault(name, i)
    if problems:
        raise PolicyError(where, problems)


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
    """A preset by name, or a YAML policy file (read through the caller's file system), checked
    in full (`validate`) before anything runs: a PolicyError names the file, rule and key."""
    if name_or_path.lower().endswith((".yaml", ".yml")):
        import yaml

        where = f"policy file {name_or_path!r}"
        try:
            with open(name_or_path, encoding="utf-8") as f:
                spec = yaml.safe_load(f)
        except OSError as e:
            raise PolicyError(where, [f"cannot be read: {e.strerror or e}"]) from None
        except UnicodeDecodeError as e:
            raise PolicyError(where, [f"is not UTF-8 text ({e.reason} at byte {e.start})"]) from None
        except yaml.YAMLError as e:
            raise PolicyError(where, [f"is not valid YAML: {_yaml_problem(e)}"]) from None
        return from_mapping(spec, where)
    return preset(name_or_path)


def _is_preset(name: Any) -> bool:
    try:
        return isinstance(name, str) and bool(preset(name))
    except PolicyError:
        return False


def _yaml_problem(e: Exception) -> str:
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem
