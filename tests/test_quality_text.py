"""Text units and normalization."""

from quality import normalize, text


def test_words_split_punctuation_and_keep_inner_apostrophes():
    assert text.words("Don't stop, well-known fact... #tag") == [
        "Don't", "stop", ",", "well-known", "fact", "...", "#", "tag"]


def test_symbol_tokens():
    assert text.is_symbol_token("...")
    assert text.is_symbol_token("#")
    assert not text.is_symbol_token("a.")
    assert not text.is_symbol_token("42")


def test_sentences_cover_the_words():
    doc = 'He said "Stop." Then he left! Did she?\nA new line without a stop\n\nLast one.'
    sents = text.sentences(doc)
    assert sents == ['He said "Stop."', "Then he left!", "Did she?", "A new line without a stop",
                     "Last one."]
    assert text.words(" ".join(sents)) == text.words(doc)


def test_paragraphs():
    assert text.paragraphs("a\nb\n\n\nc\n  \nd") == ["a\nb", "c", "d"]


def test_normalize_removes_controls_and_unifies_whitespace():
    raw = "caf\u0065\u0301\x00 bar\u00a0baz  \r\nline two\t \r\n\n\n\nend\u200b\n\n"
    assert normalize.normalize_text(raw) == "caf\u00e9 bar baz\nline two\n\nend"


def test_normalize_keeps_indentation():
    assert normalize.normalize_text("def f():\n    return 1\n") == "def f():\n    return 1"


def test_dedup_key_ignores_case_and_wrapping_only():
    a = normalize.dedup_key("The cat sat\non the mat.")
    assert a == normalize.dedup_key("the CAT  sat on\nthe mat.")
    assert a != normalize.dedup_key("The cat sat on the mat!")
