"""Golden tests for C4: the line transform's output text and removed bytes, and every page rule
just inside and just outside its threshold, for the tfds and datatrove variants."""

import pytest

from quality import c4
from quality.policy import from_mapping, preset
from quality.rules import Policy
from quality.signals import text_signals
from quality.text import Units, sentence_count

GOOD = "The cat sat on the mat today."  # 7 words, one sentence, ends in "."


def page(lines):
    return "\n".join(lines)


def c4_fail(text, variant="tfds"):
    sig = {"chars": float(len(text)), **c4.c4_signals(Units(text), variant)}
    return Policy("c4", c4.rules(variant)).first_failure(sig)


def test_clean_lines_output_text_and_removed_bytes():
    text = page([
        "  The cat sat on the mat today.  ",                 # kept, stripped
        "Menu",                                              # no end mark
        "Read more about it here...",                        # ellipsis is no end mark
        "Short line here.",                                  # 3 words: < 5 (tfds)
        "Please enable JavaScript to view this site.",       # javascript line
        "This site uses cookies to improve your visit.",     # policy line
        "A sentence with a citation[1] and an [edit] mark.",  # citations stripped
        "x" * 1001 + " is a very long word in a line.",      # word over 1,000 characters
        "Another fine sentence ends right here. And a second one!",
    ])
    clean, stats = c4.clean_lines(text, "tfds")
    assert clean == page([
        "The cat sat on the mat today.",
        "A sentence with a citation and an  mark.",
        "Another fine sentence ends right here. And a second one!",
    ])
    assert stats["lines"] == 9 and stats["lines_kept"] == 3 and stats["removed_lines"] == 6
    assert stats["lines_no_terminal_punct"] == 2
    assert stats["lines_too_few_words"] == 1
    assert stats["lines_javascript"] == 1 and stats["lines_policy"] == 1
    assert stats["lines_too_long_word"] == 1
    assert stats["removed_bytes"] == len(text.encode()) - len(clean.encode())
    assert stats["sentences"] == 4
    # datatrove's variant keeps 3-word lines and lines ending in "'"
    clean_dt, stats_dt = c4.clean_lines(text + "\nHe said 'go now'", "datatrove")
    assert "Short line here." in clean_dt.split("\n")
    assert clean_dt.endswith("He said 'go now'")
    # FineWeb's settings keep lines without an end mark too (but not short ones)
    clean_fw, _ = c4.clean_lines(text, "fineweb")
    assert "Read more about it here..." in clean_fw.split("\n") and "Menu" not in clean_fw


def test_removed_bytes_count_utf8_bytes():
    text = page(["Ça coûte très cher, dit-il à sa sœur.", "Menu é"])
    clean, stats = c4.clean_lines(text, "tfds")
    assert clean == "Ça coûte très cher, dit-il à sa sœur."
    assert stats["removed_bytes"] == len("\nMenu é".encode()) == 8


def test_min_words_per_line_boundaries():
    # tfds: a line needs 5 words (counted after removing citations); datatrove: 3 (counted before)
    four, five = "One two three four.", "One two three four five."
    assert c4.clean_lines(four, "tfds")[0] == ""
    assert c4.clean_lines(five, "tfds")[0] == five
    assert c4.clean_lines("One two.", "datatrove")[0] == ""
    assert c4.clean_lines("One two three.", "datatrove")[0] == "One two three."
    cited = "One two three [1] four."  # 5 words before removing the citation, 4 after
    assert c4.clean_lines(cited, "tfds")[0] == ""                      # 4 words after removal
    assert c4.clean_lines("One two [1].", "datatrove")[0] == "One two ."  # 3 before removal


def test_max_word_length_boundary():
    ok = "a" * 1000 + " is long but allowed here."
    assert c4.clean_lines(ok, "tfds")[0] == ok
    assert c4.clean_lines("a" + ok, "tfds")[0] == ""


def test_sentence_rule_boundaries():
    # tfds needs 3 sentences, datatrove 5
    assert c4_fail(page([GOOD] * 2)) == "c4.too_few_sentences"
    assert c4_fail(page([GOOD] * 3)) is None
    assert c4_fail(page([GOOD] * 4), "datatrove") == "c4_datatrove.too_few_sentences"
    assert c4_fail(page([GOOD] * 5), "datatrove") is None
    # sentences inside one line count; abbreviations do not end one
    assert sentence_count("It rained. Then it stopped! Did it? Yes.") == 4
    assert sentence_count("Mr. Smith met Dr. Jones at 5 p.m. today.") == 1


def test_lorem_ipsum_and_curly_bracket_drop_the_page():
    base = [GOOD] * 3
    assert c4_fail(page(base + ["Lorem ipsum dolor sit amet, consectetur."])) == "c4.lorem_ipsum"
    assert c4_fail(page(base + ["The function body is { return 1; } here."])) == "c4.curly_bracket"
    # only lines that survive the line checks count: a "{" in a line without an end mark is
    # removed with its line, and a javascript line is removed before the bracket check
    assert c4_fail(page(base + ["function f() { return 1; }"])) is None
    assert c4_fail(page(base + ["Enable javascript: { it is needed } now."])) is None


def test_badwords_rule():
    base = [GOOD] * 3
    assert c4_fail(page(base + ["There was a lot of porn on that site."])) == "c4.badwords"
    # flanked by non-word characters only: a bad word inside another word does not count
    assert c4_fail(page(base + ["A pornographic-free sentence is written here."])) is None
    # read on the cleaned text: a removed line does not count
    assert c4_fail(page(base + ["porn"])) is None


def test_max_chars_boundary():
    line = "This line is a fine sentence of words."
    text = page([line] * (c4.TFDS_MAX_PAGE_CHARS // (len(line) + 1) + 1))
    short = text[: c4.TFDS_MAX_PAGE_CHARS].rsplit("\n", 1)[0]
    assert c4_fail(short) is None
    long_text = short + "\n" + "x" * (c4.TFDS_MAX_PAGE_CHARS - len(short))
    assert len(long_text) == c4.TFDS_MAX_PAGE_CHARS + 1
    assert c4_fail(long_text) == "c4.max_chars"


def test_policy_transform_field_and_presets():
    pol = preset("c4")
    assert pol.transform == "c4_lines"
    assert preset("fineweb").transform == "c4_lines_fineweb"
    assert preset("gopher").transform is None and preset("none").transform is None
    clean, stats = c4.apply_transform(pol.transform, page([GOOD, "Menu"]))
    assert clean == GOOD and stats["removed_bytes"] == len("\nMenu")
    good = {**text_signals(page([GOOD] * 3)), "lang": "en", "lang_score": 0.9}
    assert pol.first_failure(good) is None
    spec = {"name": "mine", "transform": "c4_lines", "rules": [{"name": "x", "signal": "chars", "min": 1}]}
    assert from_mapping(spec).transform == "c4_lines"
    assert from_mapping(spec).to_dict()["transform"] == "c4_lines"
    assert from_mapping({"name": "plain"}).transform is None
    with pytest.raises(ValueError):
        from_mapping({"name": "bad", "transform": "nope"})
