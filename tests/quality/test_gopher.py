"""Golden tests for the Gopher quality rules: documents just inside and just outside each threshold."""

import pytest

from quality import gopher
from quality.policy import from_mapping, preset
from quality.rules import Policy, Rule
from quality.signals import text_signals

P = gopher.PREFIX
# 50 plain words of mean length 4 with four stop words; each test perturbs one property.
BASE_WORDS = ["the", "cat", "and", "dogs", "have", "fun", "with", "kids"] * 6 + ["ball", "game"]


def signals(text):
    return text_signals(text)


def first_failure(text):
    return Policy("g", gopher.QUALITY_RULES).first_failure(signals(text))


def doc(words):
    return " ".join(words)


def test_base_document_passes():
    s = signals(doc(BASE_WORDS))
    assert s[f"{P}.word_count"] == 50
    assert first_failure(doc(BASE_WORDS)) is None


def test_word_count_boundaries():
    assert first_failure(doc(BASE_WORDS[:49])) == f"{P}.word_count"
    assert first_failure(doc(BASE_WORDS + ["fun"])) is None
    many = doc(["the", "dog", "sat"] * 33_334)  # 100,002 words
    assert first_failure(many) == f"{P}.word_count"
    exact = doc((["the", "dog", "and"] * 33_334)[:100_000])  # two distinct stop words
    assert first_failure(exact) is None


def test_punctuation_does_not_count_as_words():
    text = doc(BASE_WORDS[:49]) + " ... ! ?"
    assert signals(text)[f"{P}.word_count"] == 49


def test_mean_word_length_boundaries():
    short = ["the", "of", "to", "and", "be", "ax"] * 9  # mean (3+2+2+3+2+2)/6 = 2.33
    assert first_failure(doc(short)) == f"{P}.mean_word_length"
    ok = ["the", "and", "cat"] * 17  # mean exactly 3.0
    assert signals(doc(ok))[f"{P}.mean_word_length"] == 3.0
    assert first_failure(doc(ok)) is None
    long_words = ["the", "and"] + ["extraordinarily"] * 50  # mean > 10
    assert first_failure(doc(long_words)) == f"{P}.mean_word_length"
    inside = ["the", "and"] + ["abcdefghij"] * 48 + ["abcdefghijklmn"]  # 500/51 = 9.8
    assert first_failure(doc(inside)) is None
    outside = ["the", "and"] + ["abcdefghij"] * 48 + ["abcdefghijklmnopqrstuvwxyz"]  # 512/51
    assert first_failure(doc(outside)) == f"{P}.mean_word_length"


def test_hash_ratio_boundaries():
    # n_tokens counts the "#" tokens too: 50 words + 6 hashes -> 6/56 = 0.107 > 0.1
    assert first_failure(doc(BASE_WORDS + ["#"] * 6)) == f"{P}.hash_word_ratio"
    # 50 words + 5 hashes -> 5/55 = 0.0909
    assert first_failure(doc(BASE_WORDS + ["#"] * 5)) is None


def test_ellipsis_ratio_boundaries():
    # in mid-line, so that no line ends with an ellipsis
    assert first_failure(doc(BASE_WORDS[:25] + ["…"] * 6 + BASE_WORDS[25:])) == f"{P}.ellipsis_word_ratio"
    assert first_failure(doc(BASE_WORDS[:25] + ["…"] * 5 + BASE_WORDS[25:])) is None


def test_bullet_lines_boundaries():
    lines = [f"• {w} the and cat dogs have" for w in BASE_WORDS[:19]]
    # 19 of 20 lines start with a bullet: 0.95 > 0.9
    assert first_failure("\n".join(lines + ["plain line of the words"])) == f"{P}.bullet_lines_ratio"
    # 18 of 20: exactly 0.9 passes
    assert first_failure("\n".join(lines[:18] + ["plain the and cat dogs", "plain line of the words"])) is None


def test_ellipsis_lines_boundaries():
    base = [f"{w} the and cat dog" for w in BASE_WORDS[:10]]
    bad = [line + " …" if i < 4 else line for i, line in enumerate(base)]   # 4/10 lines
    ok = [line + " …" if i < 3 else line for i, line in enumerate(base)]    # 3/10 lines
    assert signals("\n".join(bad))[f"{P}.ellipsis_lines_ratio"] == 0.4
    assert first_failure("\n".join(bad)) == f"{P}.ellipsis_lines_ratio"
    assert first_failure("\n".join(ok)) is None


def test_alpha_words_boundaries():
    # 50 alpha words + 13 numbers: 50/63 = 0.794 < 0.8
    assert first_failure(doc(BASE_WORDS + ["123"] * 13)) == f"{P}.alpha_words_ratio"
    # 50 alpha + 12 numbers: 50/62 = 0.806
    assert first_failure(doc(BASE_WORDS + ["123"] * 12)) is None


def test_stop_words_boundaries():
    no_stop = [w for w in BASE_WORDS if w not in gopher.STOP_WORDS]
    words = (no_stop * 3)[:49]
    assert first_failure(doc(words + ["the"])) == f"{P}.stop_words"
    assert first_failure(doc(words + ["the", "and"])) is None


def test_first_failure_follows_policy_order_and_failures_lists_all():
    text = doc(["#"] * 10 + ["ab"] * 10)
    pol = Policy("g", gopher.QUALITY_RULES)
    fails = pol.failures(signals(text))
    assert fails[0] == pol.first_failure(signals(text)) == f"{P}.word_count"
    assert f"{P}.hash_word_ratio" in fails and f"{P}.mean_word_length" in fails


def test_language_rules_and_presets():
    pol = preset("gopher")  # quality and repetition rules: the document must not repeat itself
    varied = ["the", "and"] + [f"w{chr(97 + i % 26)}{chr(97 + i // 26)}x" for i in range(48)]
    good = {**signals(doc(varied)), "lang": "en", "lang_score": 0.9}
    assert pol.first_failure(good) is None
    assert pol.first_failure({**good, "lang": "de"}) == "lang"
    assert pol.first_failure({**good, "lang_score": 0.64}) == "lang_score"
    assert pol.first_failure({**good, "lang_score": 0.65}) is None
    assert preset("none").first_failure({}) is None
    with pytest.raises(ValueError):
        preset("nope")


def test_policy_from_mapping():
    pol = from_mapping({"name": "mine", "rules": [{"name": "short", "signal": "chars", "min": 10}]})
    assert pol.rules == (Rule("short", "chars", min=10),)
    assert pol.first_failure({"chars": 9}) == "short"
    assert pol.first_failure({"chars": 10}) is None
