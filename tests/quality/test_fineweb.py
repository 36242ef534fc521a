"""Golden tests for FineWeb's quality rules: documents just inside and just outside each
threshold, with datatrove 0.10.1's comparison operators, and the `fineweb` preset's order."""

from quality import fineweb
from quality.policy import preset
from quality.rules import Policy
from quality.signals import text_signals
from quality.text import Units

F = fineweb.PREFIX
LONG = "this line is long enough to not be a short line"  # 48 chars, no end mark


def sig(text):
    return fineweb.fineweb_signals(Units(text))


def fails(text):
    return Policy("f", fineweb.RULES).failures(sig(text))


def unique_lines(n, end=""):
    return [f"{LONG} number {i}{end}" for i in range(n)]


def test_line_punct_ratio_boundaries():
    # 3 of 25 lines end in terminal punctuation: 0.12 is kept (drop only below 0.12)
    ok = "\n".join(unique_lines(3, ".") + unique_lines(22)[3:] + [f"{LONG} extra {i}" for i in range(3)])
    assert sig(ok)[f"{F}.line_punct_ratio"] == 0.12
    assert f"{F}.line_punct_ratio" not in fails(ok)
    bad = "\n".join(unique_lines(2, ".") + unique_lines(17)[2:])  # 2/17 = 0.1176
    assert f"{F}.line_punct_ratio" in fails(bad)
    # blank lines do not count; a closing quote after the stop is not a terminal mark here
    s = sig("\n".join([f"{LONG} a.", "", "   ", f'{LONG} b."']))
    assert s[f"{F}.non_empty_lines"] == 2 and s[f"{F}.line_punct_ratio"] == 0.5


def test_short_line_ratio_boundaries():
    short = [f"short line {i}." for i in range(67)]        # <= 30 chars
    long_ = unique_lines(33, ".")
    ok = "\n".join(short + long_)                           # 67/100 = 0.67 kept
    assert sig(ok)[f"{F}.short_line_ratio"] == 0.67
    assert f"{F}.short_line_ratio" not in fails(ok)
    bad = "\n".join(short + [f"short line {i}." for i in range(67, 69)] + long_[:31])  # 69/100
    assert f"{F}.short_line_ratio" in fails(bad)
    # exactly 30 characters is short, 31 is not
    assert sig("x" * 30)[f"{F}.short_line_ratio"] == 1.0
    assert sig("x" * 31)[f"{F}.short_line_ratio"] == 0.0


def test_char_dup_ratio_boundaries():
    # one repeated line of 10 chars: over 1,000 non-newline chars it is 0.01 (kept), over 999
    # it is above 0.01 (dropped)
    rep = "dup line!!"
    filler = [f"{i:04d} " + "y" * 94 + "." for i in range(10)]   # 10 lines of 100 chars
    ok = "\n".join([rep] + filler[:9] + ["z" * 79 + ".", rep])
    n = len(ok) - ok.count("\n")
    assert n == 1000 and sig(ok)[f"{F}.char_dup_ratio"] == 0.01
    assert f"{F}.char_dup_ratio" not in fails(ok)
    bad = "\n".join([rep] + filler[:9] + ["z" * 78 + ".", rep])
    assert f"{F}.char_dup_ratio" in fails(bad)


def test_newline_ratio_boundaries():
    # 3 newlines over 10 words: 0.3 kept; over 9 words: dropped
    ok = "one two three\nfour five six\nseven eight\nnine ten"
    assert len(Units(ok).rule_words) == 10
    assert sig(ok)[f"{F}.newline_ratio"] == 0.3
    assert f"{F}.newline_ratio" not in fails(ok)
    bad = "one two three\nfour five six\nseven eight\nnine"
    assert f"{F}.newline_ratio" in fails(bad)


def test_empty_text_is_dropped():
    assert Policy("f", fineweb.RULES).first_failure(sig("  \n \n")) == f"{F}.empty"


def test_fineweb_preset_reads_the_c4_cleaned_text():
    pol = preset("fineweb")
    names = [r.name for r in pol.rules]
    # FineWeb's order: language, Gopher repetition, Gopher quality, C4, FineWeb
    order = [names.index(n) for n in ("lang_score", "gopher_repetition.dup_para_frac",
                                      "gopher_quality.word_count", "c4_fineweb.too_few_sentences",
                                      "fineweb.line_punct_ratio")]
    assert order == sorted(order)
    # Lines under 3 words are removed by the C4 step before FineWeb's rules read the text:
    # FineWeb's short-line ratio sees none of them.
    prose = [f"Sentence number {i} talks about the weather and the sea today." for i in range(20)]
    text = "\n".join(prose + ["Menu", "Home", "About us"] * 5)
    s = text_signals(text)
    assert s["c4_fineweb.lines_too_few_words"] == 15
    assert s[f"{F}.short_line_ratio"] == 0.0
    assert sig(text)[f"{F}.short_line_ratio"] > 0.4  # on the raw text it would not be
