"""The registry of signal sets (`quality.signals`): what annotate computes and what policies read."""

from __future__ import annotations

import pytest

from quality import policy, signals, url
from quality.classifier import SIGNAL


def test_every_registered_rule_reads_a_recorded_signal_and_names_are_unique():
    known = signals.recorded_signals(quality_model=True, url_blocklist=True)
    names = [r.name for s in signals.SIGNAL_SETS for r in s.rules]
    assert len(names) == len(set(names)), "a drop reason must name one rule"
    for s in signals.SIGNAL_SETS:
        for r in s.rules:
            assert r.signal in known, (s.name, r.name, r.signal)
            assert r.source, f"rule {r.name} has no source"


def test_text_signals_are_the_computed_sets_in_registry_order():
    texts = ["", "x", "One line.\n\nTwo\tparagraphs… ¿qué? 中文 \u200b", "word " * 5000]
    expected = [n for s in signals.SIGNAL_SETS if s.compute
                for n in s.compute(signals.Annotation("A probe text."))]
    for text in texts:
        assert list(signals.text_signals(text)) == expected
    computed = frozenset(expected)
    assert signals.recorded_signals() == computed | set(signals.LANGUAGE_SIGNALS) | set(url.SIGNALS)
    assert signals.recorded_signals(url_blocklist=True) == signals.recorded_signals() | {url.BLOCKED}
    assert signals.recorded_signals(True) == signals.recorded_signals() | {SIGNAL}


def test_needs_and_find_rule():
    assert signals.needs(SIGNAL) == "--quality_model"
    assert signals.needs("gopher_quality.word_count") is None and signals.needs("no.such") is None
    assert "gopher_quality.word_count" in signals.recorded_signals()
    s, rule = signals.find_rule("c4.max_chars")
    assert s.name == "c4" and rule.signal == "chars"
    with pytest.raises(KeyError):
        signals.find_rule("no_such_rule")


def test_presets_take_their_rules_from_the_registry():
    gopher = policy.preset("gopher").rules
    assert gopher == signals.rules("lang") + signals.rules("gopher_quality") + signals.rules("gopher_repetition")
    for name in ("gopher", "gopher_quality", "c4", "fineweb", "lang"):
        policy.preset(name).check_signals(signals.recorded_signals())
