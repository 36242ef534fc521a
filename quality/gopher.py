"""Gopher quality signals (Rae et al. 2021, "Scaling Language Models", Appendix A.1.1).

`quality_signals` computes every value the Gopher quality rules read; `QUALITY_RULES` holds the
thresholds, in the order datatrove's `GopherQualityFilter` checks them, so that the first
failing rule is the same drop reason datatrove reports.
"""

from __future__ import annotations

from quality.policy import Rule
from quality.text import Units, is_symbol_token

# Gopher, Appendix A.1.1 "Quality filters"; defaults of datatrove's GopherQualityFilter.
MIN_WORDS = 50                 # "fewer than 50 ... words"
MAX_WORDS = 100_000            # "... or more than 100,000 words"
MIN_MEAN_WORD_LENGTH = 3       # "mean word length is outside the range of 3 to 10 characters"
MAX_MEAN_WORD_LENGTH = 10
MAX_SYMBOL_WORD_RATIO = 0.1    # "symbol-to-word ratio greater than 0.1 for either # or ellipsis"
MAX_BULLET_LINES_RATIO = 0.9   # "more than 90% of lines starting with a bullet point"
MAX_ELLIPSIS_LINES_RATIO = 0.3  # "more than 30% ending with an ellipsis"
MIN_ALPHA_WORDS_RATIO = 0.8    # "80% of words in a document contain at least one alphabetic char"
MIN_STOP_WORDS = 2             # "at least two of the following English words"
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "-")           # datatrove: lines whose lstrip() starts with "•" or "-"
ELLIPSES = ("...", "…")

PREFIX = "gopher_quality"


def quality_signals(units: Units) -> dict[str, float]:
    """All Gopher quality values of one document, named `gopher_quality.<signal>`."""
    text = units.text
    tokens = units.words
    n_tokens = len(tokens)
    word_lengths = [len(w) for w in tokens if not is_symbol_token(w)]
    lines = units.lines or [""]
    n_lines = len(lines)
    ratio = (lambda count: count / n_tokens) if n_tokens else (lambda count: float(count > 0))
    return {
        f"{PREFIX}.word_count": float(len(word_lengths)),
        f"{PREFIX}.mean_word_length": (sum(word_lengths) / len(word_lengths)) if word_lengths else 0.0,
        f"{PREFIX}.hash_word_ratio": ratio(text.count("#")),
        f"{PREFIX}.ellipsis_word_ratio": ratio(sum(text.count(e) for e in ELLIPSES)),
        f"{PREFIX}.bullet_lines_ratio": sum(l.lstrip().startswith(BULLETS) for l in lines) / n_lines,
        f"{PREFIX}.ellipsis_lines_ratio": sum(l.rstrip().endswith(ELLIPSES) for l in lines) / n_lines,
        f"{PREFIX}.alpha_words_ratio": (
            sum(any(c.isalpha() for c in w) for w in tokens) / n_tokens if n_tokens else 0.0),
        f"{PREFIX}.stop_words": float(sum(w in STOP_WORDS for w in tokens)),
    }


SOURCE = "Rae et al. 2021 (Gopher) App. A.1.1; datatrove GopherQualityFilter defaults"
QUALITY_RULES: tuple[Rule, ...] = (
    Rule(f"{PREFIX}.word_count", f"{PREFIX}.word_count", min=MIN_WORDS, max=MAX_WORDS, source=SOURCE),
    Rule(f"{PREFIX}.mean_word_length", f"{PREFIX}.mean_word_length",
         min=MIN_MEAN_WORD_LENGTH, max=MAX_MEAN_WORD_LENGTH, source=SOURCE),
    Rule(f"{PREFIX}.hash_word_ratio", f"{PREFIX}.hash_word_ratio",
         max=MAX_SYMBOL_WORD_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.ellipsis_word_ratio", f"{PREFIX}.ellipsis_word_ratio",
         max=MAX_SYMBOL_WORD_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.bullet_lines_ratio", f"{PREFIX}.bullet_lines_ratio",
         max=MAX_BULLET_LINES_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.ellipsis_lines_ratio", f"{PREFIX}.ellipsis_lines_ratio",
         max=MAX_ELLIPSIS_LINES_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.alpha_words_ratio", f"{PREFIX}.alpha_words_ratio",
         min=MIN_ALPHA_WORDS_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.stop_words", f"{PREFIX}.stop_words", min=MIN_STOP_WORDS, source=SOURCE),
)
