"""Golden tests for the Gopher repetition rules: documents just inside and just outside each
threshold, and the exact counting conventions of datatrove's GopherRepetitionFilter."""

import itertools
import math

import numpy as np
import pytest

from quality import gopher
from quality.rules import Policy
from quality.text import Units, rule_words

R = gopher.REP


def sig(text):
    return gopher.repetition_signals(Units(text))


def fails(text):
    return Policy("r", gopher.REPETITION_RULES).failures(sig(text))


def distinct_words(n, start=0):
    """n distinct 4-letter words."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(p) for p in itertools.islice(itertools.product(letters, repeat=4), start, start + n)]


def filler(n_chars, start=0):
    """Unrepetitive text of exactly n_chars characters (5-char words and spaces)."""
    words = distinct_words(n_chars // 5 + 1, start)
    return " ".join(words)[:n_chars].rstrip().ljust(n_chars, "x")


def just_inside(chars, threshold):
    """The smallest text length at which `chars` is at most `threshold` of it."""
    return math.ceil(chars / threshold - 1e-9)


def test_paragraph_fraction_boundaries():
    # 10 paragraphs, 3 repeats of the first: 3/10 = 0.30 passes, 4/10 fails.
    uniq = [filler(40, 1000 * i) for i in range(10)]
    ok = "\n\n".join([uniq[0]] * 4 + uniq[4:])
    assert sig(ok)[f"{R}.dup_para_frac"] == pytest.approx(0.3)
    assert f"{R}.dup_para_frac" not in fails(ok)
    bad = "\n\n".join([uniq[0]] * 5 + uniq[5:])
    assert sig(bad)[f"{R}.dup_para_frac"] == pytest.approx(0.4)
    assert f"{R}.dup_para_frac" in fails(bad)


def test_paragraph_char_fraction_boundaries():
    # One paragraph of 100 chars repeated once in a 500-char text: 100/500 = 0.2 passes.
    para = filler(100)
    rest = filler(500 - 2 * 100 - 4, 5000)  # two "\n\n" separators
    ok = "\n\n".join([para, rest, para])
    assert len(ok) == 500
    assert sig(ok)[f"{R}.dup_para_char_frac"] == pytest.approx(0.2)
    assert f"{R}.dup_para_char_frac" not in fails(ok)
    bad = "\n\n".join([para, rest[:-1], para])  # 100/499 > 0.2
    assert f"{R}.dup_para_char_frac" in fails(bad)


def test_line_rules_split_at_newline_runs_and_count_chars_of_repeats():
    # datatrove splits lines at "\n+", so blank lines are not (empty) lines.
    s = sig("aaa\n\n\nbbb\naaa")
    assert s[f"{R}.dup_line_frac"] == pytest.approx(1 / 3)
    assert s[f"{R}.dup_line_char_frac"] == pytest.approx(3 / 13)
    lines = [filler(20, 100 * i) for i in range(10)]
    ok = "\n".join(lines[:7] + [lines[0]] * 3)       # 3/10 = 0.3 passes
    bad = "\n".join(lines[:6] + [lines[0]] * 4)      # 4/10 fails
    assert f"{R}.dup_line_frac" not in fails(ok)
    assert f"{R}.dup_line_frac" in fails(bad)
    # char fraction: a 100-char line repeated once in 500 chars passes, in 499 fails
    line = filler(100)
    ok = "\n".join([line, filler(500 - 202, 7000), line])
    assert len(ok) == 500 and sig(ok)[f"{R}.dup_line_char_frac"] == pytest.approx(0.2)
    assert f"{R}.dup_line_char_frac" not in fails(ok)
    bad = "\n".join([line, filler(499 - 202, 7000), line])
    assert f"{R}.dup_line_char_frac" in fails(bad)


@pytest.mark.parametrize("n,threshold", sorted(gopher.MAX_TOP_NGRAM_CHAR_FRAC.items()))
def test_top_ngram_boundaries(n, threshold):
    # The most frequent n-gram "w1 ... wn" (words joined by spaces) occurs k times; the rest of
    # the text is unrepetitive filler sized to put the fraction just inside / outside.
    gram = " ".join(f"q{i}z" for i in range(n))
    k = 4
    top_chars = k * len(gram)
    total_in = just_inside(top_chars, threshold)     # fraction <= threshold
    body = " ".join([gram] * k)
    ok = body + " " + filler(total_in - len(body) - 1, 3000)
    assert len(ok) == total_in
    assert sig(ok)[f"{R}.top_{n}_gram_char_frac"] == pytest.approx(top_chars / total_in)
    assert f"{R}.top_{n}_gram_char_frac" not in fails(ok)
    short = body + " " + filler(total_in - len(body) - 2, 3000)  # one char less: over
    assert f"{R}.top_{n}_gram_char_frac" in fails(short)


def test_top_ngram_ties_go_to_the_first_seen():
    # "aa bb" and "cccc dddd" both occur twice; Counter.most_common picks the first seen.
    text = "aa bb cccc dddd aa bb cccc dddd"
    assert sig(text)[f"{R}.top_2_gram_char_frac"] == pytest.approx(2 * len("aa bb") / len(text))
    text = "cccc dddd aa bb cccc dddd aa bb"
    assert sig(text)[f"{R}.top_2_gram_char_frac"] == pytest.approx(2 * len("cccc dddd") / len(text))


@pytest.mark.parametrize("n,threshold", sorted(gopher.MAX_DUP_NGRAM_CHAR_FRAC.items()))
def test_duplicated_ngram_boundaries(n, threshold):
    # A block of n distinct words repeated once: its characters (words joined without spaces)
    # count once; filler sized to put the fraction just inside / outside.
    block = distinct_words(n, 500)
    dup_chars = sum(map(len, block))
    total_in = just_inside(dup_chars, threshold)
    body = " ".join(block + ["sep"] + block)
    ok = body + " " + filler(total_in - len(body) - 1, 9000)
    assert len(ok) == total_in
    assert sig(ok)[f"{R}.dup_{n}_gram_char_frac"] == pytest.approx(dup_chars / total_in)
    assert f"{R}.dup_{n}_gram_char_frac" not in fails(ok)
    over = body + " " + filler(total_in - len(body) - 2, 9000)  # one char less: over
    assert f"{R}.dup_{n}_gram_char_frac" in fails(over)


def reference_duplicated_chars(words, n):
    """datatrove's definition, written out as the plain loop it is (the oracle for the tests)."""
    seen, total, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = tuple(words[i:i + n])
        if gram in seen:
            total += sum(map(len, gram))
            i += n
        else:
            seen.add(gram)
            i += 1
    return total


def test_overlapping_repeats_are_not_double_counted():
    # "a a a a a a a" with n=2: positions 0 (new), 1 (dup: +2, jump to 3), 3 (dup: +2, jump
    # to 5), 5 (dup: +2) -> 6 characters, not the 5 repeated bigrams' 10.
    words = ["a"] * 7
    units = Units(" ".join(words))
    grams = gopher._ngram_ids(units.rule_word_ids, 2)[2]
    csum = np.concatenate(([0], np.cumsum(units.rule_word_lengths)))
    assert gopher._duplicated_ngram_chars(grams, gopher._window_sums(csum, 2), 2) == 6
    assert reference_duplicated_chars(words, 2) == 6


def test_vectorized_counts_match_the_plain_loop_on_random_texts():
    rng = np.random.default_rng(0)
    vocab = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran"]
    for trial in range(200):
        words = list(rng.choice(vocab, size=int(rng.integers(1, 80)), p=None))
        text = " ".join(words)
        units = Units(text)
        assert rule_words(text) == words
        s = gopher.repetition_signals(units)
        for n in gopher.MAX_DUP_NGRAM_CHAR_FRAC:
            expected = reference_duplicated_chars(words, n) / len(text) if len(words) >= n else 0.0
            assert s[f"{R}.dup_{n}_gram_char_frac"] == pytest.approx(expected), (trial, n)
        for n in gopher.MAX_TOP_NGRAM_CHAR_FRAC:
            if len(words) < n:
                continue
            grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
            counts = {}
            for g in grams:
                counts[g] = counts.get(g, 0) + 1
            best = max(counts.items(), key=lambda kv: kv[1])  # first seen among the most frequent
            assert s[f"{R}.top_{n}_gram_char_frac"] == pytest.approx(
                len(best[0]) * best[1] / len(text)), (trial, n)


def test_short_and_empty_texts():
    s = sig("one two")
    assert s[f"{R}.top_3_gram_char_frac"] == 0.0 and s[f"{R}.dup_5_gram_char_frac"] == 0.0
    assert all(v == 0.0 for k, v in sig("").items() if "char" in k)


@pytest.mark.parametrize("chunk,tokens", [
    # expected tokens as spaCy 3.8's blank English tokenizer gives them (datatrove 0.10.1)
    ("(see http://x.org/a).", ["(", "see", "http://x.org/a", ")", "."]),
    ("don't", ["do", "n't"]),
    ("They'll", ["They", "'ll"]),
    ("1998-2017,", ["1998", "-", "2017", ","]),
    ("well-known", ["well", "-", "known"]),
    ("e.g.,", ["e.g.", ","]),
    ("Mr.", ["Mr."]),
    ("os.path.join()", ["os.path.join", "(", ")"]),
    ("5km", ["5", "km"]),
    ('it."', ["it", ".", '"']),
    ("<foo@bar.org>", ["<", "foo@bar.org", ">"]),
    ("and/or", ["and/or"]),
    ("$5", ["$", "5"]),
])
def test_rule_words_follow_spacys_english_rules(chunk, tokens):
    assert rule_words(chunk) == tokens
