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


def _loop_tokens(chunk: str) -> tuple[str, ...]:
    """`_split_chunk`'s affix loop, without the fast path."""
    tokens = text._split_chunk(chunk, text._RT_SPECIAL)
    return text._merge_specials(tokens) if len(tokens) > 1 else tokens


def test_simple_chunks_split_as_the_affix_loop_on_hostile_chunks():
    bodies = ["word", "Word", "WORD", "A", "a", "I", "O", "ß", "été", "Ωmega", "中文字",
              "2011", "7", "٣", "²", "10km", "x2", "e2fsprogs"]
    bodies += list(text._RT_SPECIAL)  # "dont", "Mr.", "8)", "(:", emoticons, hours ...
    prefixes = ["", "(", "((", "\"", "$"]
    suffixes = ["", ",", ".", ")", "),", ".)", "!", "?", ":", ";", "...", "'s", "'", "%", "-"]
    checked = simple = 0
    for body in bodies:
        for pre in prefixes:
            for suf in suffixes:
                chunk = pre + body + suf
                fast = text._simple_chunk(chunk)
                checked += 1
                if fast is not None:
                    simple += 1
                    assert fast == _loop_tokens(chunk), chunk
    # the fast path is taken for a real share of them, so this test compares something
    assert simple > 1000 and checked > 50_000
    assert text._simple_chunk("Mr.") == ("Mr.",)
    assert text._simple_chunk("dont") == ("do", "nt")
    assert text._simple_chunk("word,") == ("word", ",")
    assert text._simple_chunk("(word),") is None
    assert text._simple_chunk("O.") is None  # "." after one upper-case letter stays on


def test_simple_chunks_split_as_the_affix_loop_on_the_bundled_sample():
    import gzip
    import json
    from pathlib import Path

    sample = Path(text.__file__).resolve().parents[1] / "pipeline" / "sample" / "sample.jsonl.gz"
    chunks = set()
    with gzip.open(sample, "rt", encoding="utf-8") as f:
        for line in f:
            chunks.update(json.loads(line).get("text", "").split())
    simple = 0
    for chunk in chunks:
        fast = text._simple_chunk(chunk)
        if fast is not None:
            simple += 1
            assert fast == _loop_tokens(chunk), chunk
    assert simple > len(chunks) // 5
    assert text.rule_words(" ".join(sorted(chunks))) == [
        t for c in sorted(chunks) for t in _loop_tokens(c)]
