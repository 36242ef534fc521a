"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", App. A.1.1).

`quality_signals` and `repetition_signals` compute every value the rules read; `QUALITY_RULES`
and `REPETITION_RULES` hold the thresholds in the order datatrove's `GopherQualityFilter` and
`GopherRepetitionFilter` check them, so that the first failing rule is the drop reason datatrove
reports. Words are `Units.rule_words`, the tokens datatrove (0.10.1) counts for English.
"""

from __future__ import annotations


import numpy as np

from quality.rules import Rule
from quality.text import TERMINAL_PUNCTUATION, Units

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
# A token is a word (not a symbol) when it has a character outside this set: datatrove 0.10.1's
# PUNCTUATION_SET (`utils/text.py`): ASCII and CJK punctuation, C0/C1 controls, and the Unicode
# Sentence_Terminal characters.
_SYMBOL_CHARS = frozenset(
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(map(chr, (*range(0, 9), *range(11, 32), *range(127, 160))))
) | TERMINAL_PUNCTUATION


def is_symbol_word(token: str) -> bool:
    """True for tokens made only of datatrove's punctuation characters (not counted as words)."""
    return all(ch in _SYMBOL_CHARS for ch in token)

PREFIX = "gopher_quality"


def quality_signals(units: Units) -> dict[str, float]:
    """All Gopher quality values of one document, named `gopher_quality.<signal>`.

    As datatrove: word count and mean length over non-symbol tokens; the "#", ellipsis and
    alphabetic ratios over all tokens; stop words counted as distinct words present.
    """
    text = units.text
    vocab, ids = units.rule_vocab, units.rule_word_ids
    n_tokens = len(ids)
    # Per-word tests run once per distinct word, then count through the ids.
    is_word = np.fromiter((not is_symbol_word(w) for w in vocab), dtype=bool, count=len(vocab))[ids]
    has_alpha = np.fromiter((any(c.isalpha() for c in w) for w in vocab), dtype=bool,
                            count=len(vocab))[ids]
    n_words = int(is_word.sum())
    lines = text.splitlines() or [""]
    n_lines = len(lines)
    ratio = (lambda count: count / n_tokens) if n_tokens else (lambda count: float(count > 0))
    return {
        f"{PREFIX}.word_count": float(n_words),
        f"{PREFIX}.mean_word_length": (
            float(units.rule_word_lengths[is_word].sum()) / n_words if n_words else 0.0),
        f"{PREFIX}.hash_word_ratio": ratio(text.count("#")),
        f"{PREFIX}.ellipsis_word_ratio": ratio(sum(text.count(e) for e in ELLIPSES)),
        f"{PREFIX}.bullet_lines_ratio": sum(l.lstrip().startswith(BULLETS) for l in lines) / n_lines,
        f"{PREFIX}.ellipsis_lines_ratio": sum(l.rstrip().endswith(ELLIPSES) for l in lines) / n_lines,
        f"{PREFIX}.alpha_words_ratio": float(has_alpha.sum()) / n_tokens if n_tokens else 0.0,
        f"{PREFIX}.stop_words": float(len(STOP_WORDS.intersection(vocab))),
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


# ---------------------------------------------------------------------------------------------
# Repetition (Gopher Table A1; defaults of datatrove's GopherRepetitionFilter, same order).
# ---------------------------------------------------------------------------------------------
MAX_DUP_PARA_FRAC = 0.30       # Table A1 "duplicate paragraph fraction"
MAX_DUP_PARA_CHAR_FRAC = 0.20  # Table A1 "duplicate paragraph character fraction"
MAX_DUP_LINE_FRAC = 0.30       # Table A1 "duplicate line fraction"
MAX_DUP_LINE_CHAR_FRAC = 0.20  # Table A1 "duplicate line character fraction"
# Table A1 "top n-gram character fraction", n = 2, 3, 4.
MAX_TOP_NGRAM_CHAR_FRAC = {2: 0.20, 3: 0.18, 4: 0.16}
# Table A1 "duplicate n-gram character fraction", n = 5..10.
MAX_DUP_NGRAM_CHAR_FRAC = {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}

REP = "gopher_repetition"


def duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items equal to an earlier item, total characters of those repeats)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _ngram_ids(ids: np.ndarray, n_max: int) -> dict[int, np.ndarray | None]:
    """Exact ids of every word n-gram, n = 2..n_max: equal n-grams get equal, compact ids.

    Built one word at a time: an n-gram is its (n-1)-gram plus the next word. Only n-grams whose
    (n-1)-gram occurs more than once can repeat; those pairs are numbered by np.unique, the rest
    get fresh ids without sorting. Exact (no hashing) and vectorized. Once every n-gram is
    distinct, so is every longer one: those n map to None and are not built.
    """
    out: dict[int, np.ndarray | None] = {}
    prev = ids
    width = np.int64(int(ids.max(initial=0)) + 1)
    for n in range(2, n_max + 1):
        m = len(ids) - n + 1
        if m < 1:
            break
        if prev is None:
            out[n] = None
            continue
        repeated = (np.bincount(prev) > 1)[prev[:m]]
        cand = np.flatnonzero(repeated)
        grams = np.empty(m, dtype=np.int64)
        k = 0
        if len(cand):
            pairs = prev[cand] * width + ids[cand + n - 1]  # < len(ids) * width: far below 2**63
            uniq, inverse = np.unique(pairs, return_inverse=True)
            grams[cand] = inverse.reshape(-1)
            k = len(uniq)
            if k == len(cand):
                cand = ()  # every candidate distinct too
        rest = np.flatnonzero(~repeated)
        grams[rest] = np.arange(k, k + len(rest), dtype=np.int64)
        out[n] = grams
        prev = grams if len(cand) else None
    return out


def _window_sums(csum: np.ndarray, n: int) -> np.ndarray:
    """Characters of each n-word window (words joined without separators), from the cumulative
    word lengths `csum` (with a leading 0)."""
    return csum[n:] - csum[:-n]


def _top_ngram_chars(gram_ids: np.ndarray, window_chars: np.ndarray, n: int) -> int:
    """datatrove `find_top_duplicate`: length of the most frequent n-gram string (words joined by
    spaces) times its count; among equally frequent n-grams, the one seen first."""
    counts = np.bincount(gram_ids)  # ids are compact (0..k-1)
    best = counts.max()
    pos = int((counts[gram_ids] == best).argmax())  # first position of a most frequent n-gram
    return int(best) * int(window_chars[pos] + n - 1)


def _duplicated_ngram_chars(gram_ids: np.ndarray, window_chars: np.ndarray, n: int) -> int:
    """datatrove `find_all_duplicate`: scan left to right; an n-gram already seen adds its
    characters (words joined without spaces) and the scan jumps past it, so overlapping repeats
    are not counted twice; skipped n-grams are not recorded as seen.

    Only positions whose n-gram occurs more than once can change the result, so the scan visits
    just those (in a typical document, few) rather than every position.
    """
    counts = np.bincount(gram_ids)
    repeated = np.flatnonzero(counts[gram_ids] > 1)
    if len(repeated) == 0:
        return 0
    seen: set[int] = set()
    total = 0
    resume = 0
    for pos, gram, chars in zip(repeated.tolist(), gram_ids[repeated].tolist(),
                                window_chars[repeated].tolist()):
        if pos < resume:
            continue
        if gram in seen:
            total += chars
            resume = pos + n
        else:
            seen.add(gram)
    return total


def repetition_signals(units: Units) -> dict[str, float]:
    """All Gopher repetition values of one document, named `gopher_repetition.<signal>`.

    Fractions are of the document's characters, as in datatrove; an empty text gets zeros
    (datatrove drops it as "empty"; Gopher quality's word count drops it here).
    """
    text = units.text
    n_chars = len(text)
    out: dict[str, float] = {}
    paragraphs = units.gopher_paragraphs
    count, chars = duplicates(paragraphs)
    out[f"{REP}.dup_para_frac"] = count / len(paragraphs)
    out[f"{REP}.dup_para_char_frac"] = chars / n_chars if n_chars else 0.0
    lines = units.gopher_lines
    count, chars = duplicates(lines)
    out[f"{REP}.dup_line_frac"] = count / len(lines)
    out[f"{REP}.dup_line_char_frac"] = chars / n_chars if n_chars else 0.0

    ids = units.rule_word_ids
    lengths = units.rule_word_lengths
    csum = np.concatenate(([0], np.cumsum(lengths)))
    grams = _ngram_ids(ids, max(MAX_DUP_NGRAM_CHAR_FRAC))
    for n in MAX_TOP_NGRAM_CHAR_FRAC:
        value = 0.0
        if n in grams and n_chars:
            if grams[n] is None:  # all distinct: the first n-gram, once
                chars = int(csum[n]) + n - 1
            else:
                chars = _top_ngram_chars(grams[n], _window_sums(csum, n), n)
            value = chars / n_chars
        out[f"{REP}.top_{n}_gram_char_frac"] = value
    for n in MAX_DUP_NGRAM_CHAR_FRAC:
        value = 0.0
        if grams.get(n) is not None and n_chars:
            value = _duplicated_ngram_chars(grams[n], _window_sums(csum, n), n) / n_chars
        out[f"{REP}.dup_{n}_gram_char_frac"] = value
    return out


REP_SOURCE = "Rae et al. 2021 (Gopher) Table A1; datatrove GopherRepetitionFilter defaults"
REPETITION_RULES: tuple[Rule, ...] = (
    Rule(f"{REP}.dup_para_frac", f"{REP}.dup_para_frac", max=MAX_DUP_PARA_FRAC, source=REP_SOURCE),
    Rule(f"{REP}.dup_para_char_frac", f"{REP}.dup_para_char_frac",
         max=MAX_DUP_PARA_CHAR_FRAC, source=REP_SOURCE),
    Rule(f"{REP}.dup_line_frac", f"{REP}.dup_line_frac", max=MAX_DUP_LINE_FRAC, source=REP_SOURCE),
    Rule(f"{REP}.dup_line_char_frac", f"{REP}.dup_line_char_frac",
         max=MAX_DUP_LINE_CHAR_FRAC, source=REP_SOURCE),
    *(Rule(f"{REP}.top_{n}_gram_char_frac", f"{REP}.top_{n}_gram_char_frac", max=thr,
           source=REP_SOURCE) for n, thr in MAX_TOP_NGRAM_CHAR_FRAC.items()),
    *(Rule(f"{REP}.dup_{n}_gram_char_frac", f"{REP}.dup_{n}_gram_char_frac", max=thr,
           source=REP_SOURCE) for n, thr in MAX_DUP_NGRAM_CHAR_FRAC.items()),
)
