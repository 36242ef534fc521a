"""The policy schema: every policy that would not do what it says is refused when it is loaded,
before any work, by a PolicyError (a ValueError) that names the file, the rule and the key."""

from __future__ import annotations

from dataclasses import fields

import pytest

from quality import policy as policies
from quality.policy import POLICY_KEYS, RULE_KEYS, PolicyError, from_mapping, load, preset, validate
from quality.rules import Policy, Rule

PRESETS = ("none", "lang", "gopher", "gopher_quality", "c4", "fineweb")


def _load(tmp_path, text: str, name: str = "bad.yaml") -> Policy:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load(str(path))


def _refused(tmp_path, text: str, *fragments: str) -> PolicyError:
    with pytest.raises(PolicyError) as err:
        _load(tmp_path, text)
    message = str(err.value)
    assert "policy file" in message and "bad.yaml" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return err.value


RULE = "rules:\n  - {name: long, signal: gopher_quality.word_count, %s}\n"


# One case per policy that used to be silently wrong (or to fail with a raw traceback).
@pytest.mark.parametrize("text, fragments", [
    # A misspelt rule key was ignored: the rule passed everything.
    (RULE % "minimum: 50", ("rule 'long'", "unknown key 'minimum'", "did you mean 'min'?",
                            "allowed: name, signal, min, max, allowed, top_fraction, source")),
    (RULE % "maximum: 50", ("rule 'long'", "'maximum'", "did you mean 'max'?")),
    # A misspelt top-level key was ignored: `rule:` gave a policy without rules.
    ("name: t\nrule:\n  - {name: long, signal: chars, min: 50}\n",
     ("unknown key 'rule'", "did you mean 'rules'?", "allowed: name, transform, rules")),
    # A rule's key at the top level, a policy's key in a rule.
    ("name: t\nmin: 5\n", ("unknown key 'min'", "rules go in the list under 'rules'")),
    (RULE % "min: 5, transform: c4_lines", ("rule 'long'", "'transform' is the policy's key")),
    # `allowed: en` was the letters e and n.
    ("rules:\n  - {name: lang, signal: lang, allowed: en}\n",
     ("rule 'lang'", "'allowed' must be a list", "the string 'en'", "allowed: [en]")),
    ("rules:\n  - {name: lang, signal: lang, allowed: []}\n", ("rule 'lang'", "'allowed' is empty")),
    ("rules:\n  - {name: lang, signal: lang, allowed: [en, no]}\n",
     ("rule 'lang'", "'allowed'", "the boolean False", "quote it")),
    # `min: .nan` passed everything; an infinite bound is no bound.
    (RULE % "min: .nan", ("rule 'long'", "'min' must be a finite number, got nan")),
    (RULE % "max: .inf", ("rule 'long'", "'max' must be a finite number, got inf")),
    # `min` above `max` dropped everything.
    (RULE % "min: 100, max: 10", ("rule 'long'", "min 100 is above max 10")),
    # `min: '50'` passed the up-front check and crashed in Select, after annotate.
    (RULE % "min: '50'", ("rule 'long'", "'min' must be a number, got the string '50'", "unquoted")),
    (RULE % "min: 1e3", ("rule 'long'", "the string '1e3'", "1.0e+3")),
    (RULE % "min: true", ("rule 'long'", "'min' must be a number, got the boolean True")),
    # top_fraction outside (0, 1], or beside a min it would overwrite.
    (RULE % "top_fraction: 1.5", ("rule 'long'", "'top_fraction' must be in (0, 1], got 1.5")),
    (RULE % "top_fraction: 0", ("rule 'long'", "'top_fraction' must be in (0, 1], got 0")),
    (RULE % "top_fraction: 0.5, min: 3", ("rule 'long'", "both min and top_fraction")),
    (RULE % "allowed: [en], max: 3", ("rule 'long'", "mixes allowed")),
    # A rule that can drop nothing.
    ("rules:\n  - {name: long, signal: chars}\n",
     ("rule 'long'", "sets none of min, max, allowed, top_fraction")),
    # Two rules under one name (= one drop reason).
    ("rules:\n  - {name: long, signal: chars, min: 5}\n  - {name: long, signal: lines, min: 2}\n",
     ("rule 'long' (rules[1])", "taken by rules[0]")),
    # A rule without a name was a KeyError; an empty name, an empty drop reason.
    ("rules:\n  - {signal: chars, min: 5}\n", ("rules[0] (signal 'chars')", "'name' is missing")),
    ("rules:\n  - {name: '', signal: chars, min: 5}\n", ("rules[0]", "'name' must not be empty")),
    ("rules:\n  - {name: 7, signal: chars, min: 5}\n", ("rules[0]", "'name' must be a string")),
    # rules that are not a list of mappings.
    ("rules: lang\n", ("'rules' must be a list", "the string 'lang'")),
    ("rules:\n", ("'rules' must be a list", "no value")),
    ("rules:\n  - lang\n", ("rules[0] must be a mapping", "the string 'lang'")),
    # An unknown transform.
    ("transform: c4\n", ("'transform' is not a known transform", "'c4'", "c4_lines")),
    # An empty file, a list, a scalar: a raw traceback before.
    ("", ("is empty", "expected keys name, transform, rules")),
    ("# rules to come\n", ("is empty",)),
    ("- {name: long, signal: chars, min: 5}\n", ("must be a mapping, got a list",)),
    ("gopher\n", ("must be a mapping, got the string 'gopher'", "--policy gopher")),
    ("42\n", ("must be a mapping, got 42",)),
    # Not YAML at all.
    ("rules: [{name: long, signal: chars, min: 5}\nname: x\n", ("is not valid YAML", "line 2")),
])
def test_a_policy_that_is_silently_wrong_is_refused_naming_its_key(tmp_path, text, fragments):
    _refused(tmp_path, text, *fragments)


def test_every_problem_is_listed_at_once(tmp_path):
    err = _refused(tmp_path, "nme: x\nrules:\n  - {name: a, signal: chars, mn: 1}\n"
                             "  - {name: b, signal: chars, min: 3, max: 1}\n",
                   "has 3 problems", "'nme'", "rule 'a' (rules[0]): unknown key 'mn'",
                   "rule 'b' (rules[1]): min 3 is above max 1")
    assert len(err.problems) == 3
    assert isinstance(err, ValueError)


def test_a_file_that_cannot_be_read_is_named(tmp_path):
    with pytest.raises(PolicyError, match="missing.yaml"):
        load(str(tmp_path / "missing.yaml"))
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(PolicyError, match="latin1.yaml.*not UTF-8"):
        load(str(tmp_path / "latin1.yaml"))
    with pytest.raises(PolicyError, match="did you mean 'gopher'"):
        load("gopherr")


def test_from_mapping_checks_python_mappings_too():
    with pytest.raises(PolicyError, match=r"^policy: rule 'q' \(rules\[0\]\): 'min' must be a number"):
        from_mapping({"rules": [{"name": "q", "signal": "s", "min": "0.5"}]})
    with pytest.raises(PolicyError, match="policy must be a mapping"):
        from_mapping([{"name": "q"}])
    with pytest.raises(PolicyError, match="my policy is empty"):
        validate(None, "my policy")
    assert str(PolicyError("a message of its own")) == "a message of its own"


def test_good_policies_load_as_before(tmp_path):
    pol = _load(tmp_path, "name: mine\ntransform: c4_lines\nrules:\n"
                          "  - {name: lang, signal: lang, allowed: [en]}\n"
                          "  - {name: long_enough, signal: gopher_quality.word_count, min: 100}\n"
                          "  - {name: short, signal: chars, max: 1.0e+5, source: mine}\n"
                          "  - {name: lines, min: 2, max: 2}\n"
                          "  - {name: quality, signal: fasttext_quality.score, top_fraction: 0.1}\n",
                name="good.yml")
    assert pol == Policy("mine", (
        Rule("lang", "lang", allowed=("en",)),
        Rule("long_enough", "gopher_quality.word_count", min=100),
        Rule("short", "chars", max=1e5, source="mine"),
        Rule("lines", "lines", min=2, max=2),
        Rule("quality", "fasttext_quality.score", top_fraction=0.1)), "c4_lines")
    assert _load(tmp_path, "name: plain\n", name="plain.yaml") == Policy("plain")
    assert _load(tmp_path, "{}\n", name="empty_mapping.yaml") == Policy("custom")
    assert _load(tmp_path, "transform: null\nrules: []\n", name="null.yaml") == Policy("custom")


@pytest.mark.parametrize("name", PRESETS)
def test_presets_meet_the_schema_and_round_trip(name):
    pol = preset(name)
    validate(pol.to_dict(), name)
    assert from_mapping(pol.to_dict()) == pol


def test_the_schema_is_exactly_the_fields_of_rule_and_policy():
    assert set(RULE_KEYS) == {f.name for f in fields(Rule)}
    assert set(POLICY_KEYS) == {f.name for f in fields(Policy)}
    assert policies.CONDITIONS == ("min", "max", "allowed", "top_fraction")
