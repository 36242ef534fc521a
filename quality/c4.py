"""C4's cleaning (Raffel et al. 2020, Sec. 2.2) as tensorflow_datasets and datatrove implement it.

C4 is two things: a line-level transform that rewrites the text (`clean_lines`: keep lines that
end in terminal punctuation, drop short lines, "javascript" notices and cookie/policy lines,
strip citation markers) and page-level rules read on the cleaned text (lorem ipsum, a curly
bracket, too few sentences, bad words, too long a page). Signals (`c4_signals`) record both: the
line transform's counts and removed bytes, and the page values the rules (`RULES`) read. The
pipeline applies the transform at select time, for kept documents of a policy whose `transform`
names it (`TRANSFORMS`), so removed bytes are accounted apart from dropped documents.

Variants (`VARIANTS`), checked against the reference code:
- `tfds`: tensorflow_datasets `text/c4_utils.py::clean_page` (the C4 dataset): lines of at
  least 5 words, pages of at least 3 sentences, end marks . ? ! " (not '), page length
  <= 190,000 characters before cleaning (`is_valid_length`), bad-words page filter.
- `datatrove`: datatrove 0.10.1 `C4QualityFilter()` defaults: lines of at least 3 words, pages of
  at least 5 sentences, end marks . ? ! " ', no length or bad-words rule (bad words are a
  separate `C4BadWordsFilter`).
- `fineweb`: `C4QualityFilter(filter_no_terminal_punct=False)`, as FineWeb ran it
  (datatrove `examples/fineweb.py`): the datatrove variant without the end-mark line rule.
Sentences are counted with `quality.text.sentence_count` (spaCy's sentencizer rules, which
datatrove uses); tfds counts NLTK Punkt sentences, which differ on abbreviations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from quality.rules import Rule
from quality.text import Units, line_words_and_sentences

# tensorflow_datasets text/c4_utils.py (constants at the top) and c4.py.
TFDS_MIN_WORDS_PER_LINE = 5          # _MIN_WORDS_PER_LINE
TFDS_MIN_SENTENCES = 3               # _MIN_NUM_SENTENCES
TFDS_END_MARKS = (".", "?", "!", '"')  # _END_MARKS
TFDS_MAX_PAGE_CHARS = 190_000        # is_valid_length(max_length=1.9e5), before cleaning
# datatrove 0.10.1 pipeline/filters/c4_filters.py, C4QualityFilter defaults.
DATATROVE_MIN_WORDS_PER_LINE = 3     # min_words_per_line=3
DATATROVE_MIN_SENTENCES = 5          # min_num_sentences=5
DATATROVE_END_MARKS = (".", "?", "!", '"', "'")  # END_PUNCTUATION
# Both.
MAX_WORD_LENGTH = 1000               # _MAX_WORD_LENGTH / max_word_length: drop lines with a longer word
ELLIPSIS = "..."                     # a line ending in "..." has no end mark
CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                     "use of cookies", "use cookies")
BADWORDS_PATH = Path(__file__).resolve().parent / "wordlists" / "ldnoobw-en.txt"


@dataclass(frozen=True)
class Variant:
    name: str
    prefix: str                    # signal prefix
    min_words_per_line: int
    min_sentences: int
    end_marks: tuple[str, ...]
    filter_no_terminal_punct: bool
    # tfds counts a line's words after removing citations; datatrove before.
    words_after_citations: bool


VARIANTS = {
    "tfds": Variant("tfds", "c4", TFDS_MIN_WORDS_PER_LINE, TFDS_MIN_SENTENCES, TFDS_END_MARKS,
                    True, True),
    "datatrove": Variant("datatrove", "c4_datatrove", DATATROVE_MIN_WORDS_PER_LINE,
                         DATATROVE_MIN_SENTENCES, DATATROVE_END_MARKS, True, False),
    "fineweb": Variant("fineweb", "c4_fineweb", DATATROVE_MIN_WORDS_PER_LINE,
                       DATATROVE_MIN_SENTENCES, DATATROVE_END_MARKS, False, False),
}
# Policy.transform names -> the variant whose line cleaning the pipeline applies at select time.
TRANSFORMS = {"c4_lines": "tfds", "c4_lines_fineweb": "fineweb"}


@lru_cache(maxsize=1)
def badwords_regex() -> re.Pattern:
    """tfds/datatrove: any list entry flanked by non-word characters, in the lower-cased text."""
    words = [w.strip() for w in BADWORDS_PATH.read_text(encoding="utf-8").splitlines() if w.strip()]
    return re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(map(re.escape, words))))


_STAT_KEYS = ("lines", "lines_too_long_word", "lines_no_terminal_punct", "lines_too_few_words",
              "lines_javascript", "lines_policy", "lines_kept", "sentences", "words",
              "lorem_ipsum", "curly_bracket")


def _line_features(lines: list[str]) -> list[tuple]:
    """What every variant's checks read from each line (`text.splitlines()`, `Units.lines`),
    computed once per line: (too long word, cleaned line, words before / after citation
    removal, lorem ipsum, javascript, curly bracket, policy phrase)."""
    out = []
    for line in lines:
        line = line.strip()
        words = line.split()
        if len(line) > MAX_WORD_LENGTH and any(len(w) > MAX_WORD_LENGTH for w in words):
            out.append((True,))
            continue
        cleaned = CITATION_RE.sub("", line) if "[" in line else line
        n_after = len(cleaned.split()) if cleaned is not line else len(words)
        lower = cleaned.lower()
        out.append((False, cleaned, len(words), n_after, "lorem ipsum" in lower,
                    "javascript" in lower, "{" in cleaned,
                    any(p in lower for p in POLICY_SUBSTRINGS)))
    return out


def _scan(features: list[tuple], variant: Variant, counts: dict[int, tuple[int, int]]):
    """One variant's pass over the lines, in the reference order of checks.

    The page-level checks (lorem ipsum, "{") sit between the line checks in the reference loop,
    which drops the page at the first hit; here the scan goes on so that every count is
    recorded, and the rules read the flags. `counts` caches (words, sentences) per line index,
    shared between variants.
    """
    stats = dict.fromkeys(_STAT_KEYS, 0)
    kept: list[str] = []
    for i, feat in enumerate(features):
        stats["lines"] += 1
        if feat[0]:
            stats["lines_too_long_word"] += 1
            continue
        _, line, n_before, n_after, lorem, javascript, curly, policy = feat
        if variant.filter_no_terminal_punct and (
                not line.endswith(variant.end_marks) or line.endswith(ELLIPSIS)):
            stats["lines_no_terminal_punct"] += 1
            continue
        if (n_after if variant.words_after_citations else n_before) < variant.min_words_per_line:
            stats["lines_too_few_words"] += 1
            continue
        if lorem:
            stats["lorem_ipsum"] = 1
        if javascript:
            stats["lines_javascript"] += 1
            continue
        if curly:
            stats["curly_bracket"] = 1
        if policy:
            stats["lines_policy"] += 1
            continue
        if i not in counts:
            counts[i] = line_words_and_sentences(line)
        n_words, n_sentences = counts[i]
        stats["sentences"] += n_sentences
        stats["words"] += n_words
        kept.append(line)
        stats["lines_kept"] += 1
    return kept, stats


def clean_lines_many(text: str, variants: tuple[str, ...],
                     lines: list[str] | None = None) -> dict[str, tuple[str, dict]]:
    """`clean_lines` for several variants, reading each line once; `lines` is the text's
    `splitlines()` when the caller already has it (`Units.lines`)."""
    features = _line_features(text.splitlines() if lines is None else lines)
    counts: dict[int, tuple[int, int]] = {}
    n_bytes = len(text.encode("utf-8"))
    out = {}
    for name in variants:
        kept, stats = _scan(features, VARIANTS[name], counts)
        clean = "\n".join(kept).strip()
        stats["removed_lines"] = stats["lines"] - stats["lines_kept"]
        stats["removed_bytes"] = n_bytes - len(clean.encode("utf-8"))
        out[name] = (clean, stats)
    return out


def clean_lines(text: str, variant: str = "tfds") -> tuple[str, dict[str, float]]:
    """C4's line transform: (clean text, stats). Stats include `removed_lines` (lines of `text`
    not kept), `removed_bytes` (UTF-8 bytes of `text` minus those of the clean text), per-reason
    line counts, and `sentences` and `words` (rule words) of the kept lines."""
    return clean_lines_many(text, (variant,))[variant]


def apply_transform(name: str, text: str) -> tuple[str, dict[str, float]]:
    """The pipeline's entry point for `Policy.transform`: clean `text` with the named transform."""
    return clean_lines(text, TRANSFORMS[name])


def c4_signals(units: Units, variant: str = "tfds", clean: str | None = None,
               stats: dict | None = None) -> dict[str, float]:
    """C4 values of one document, named `<prefix>.<signal>` (prefix `c4` for tfds,
    `c4_datatrove`, `c4_fineweb`). Page values are read on the cleaned text."""
    v = VARIANTS[variant]
    if clean is None or stats is None:
        clean, stats = clean_lines(units.text, variant)
    out = {f"{v.prefix}.{k}": float(val) for k, val in stats.items()}
    out[f"{v.prefix}.clean_chars"] = float(len(clean))
    if variant == "tfds":
        out[f"{v.prefix}.badwords"] = float(badwords_regex().search(clean.lower()) is not None)
    return out


def rules(variant: str = "tfds") -> tuple[Rule, ...]:
    """Page rules of a variant, in the reference order (tfds: length, clean_page, bad words)."""
    v = VARIANTS[variant]
    p = v.prefix
    src = ("tensorflow_datasets text/c4_utils.py clean_page, is_valid_length, badwords filter"
           if variant == "tfds" else f"datatrove 0.10.1 C4QualityFilter ({variant} settings)")
    out = []
    if variant == "tfds":
        out.append(Rule(f"{p}.max_chars", "chars", max=TFDS_MAX_PAGE_CHARS, source=src))
    out += [
        Rule(f"{p}.lorem_ipsum", f"{p}.lorem_ipsum", max=0, source=src),
        Rule(f"{p}.curly_bracket", f"{p}.curly_bracket", max=0, source=src),
        Rule(f"{p}.too_few_sentences", f"{p}.sentences", min=v.min_sentences, source=src),
    ]
    if variant == "tfds":
        out.append(Rule(f"{p}.badwords", f"{p}.badwords", max=0, source=src))
    return tuple(out)


RULES = rules("tfds")
DATATROVE_RULES = rules("datatrove")
FINEWEB_RULES = rules("fineweb")
