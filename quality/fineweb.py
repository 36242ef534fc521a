"""FineWeb's own quality rules (Penedo et al. 2024), as datatrove's `FineWebQualityFilter` has them.

Lines are the text split at "\\n" with blank (whitespace-only) lines left out, unstripped; words
are `Units.rule_words`. In FineWeb the filter runs after `C4QualityFilter(filter_no_terminal_punct=
False)` has rewritten the text, so the `fineweb` policy reads these signals on that cleaned text
(`quality.signals.text_signals` does so).

Comparison operators are datatrove 0.10.1's (`fineweb_quality_filter.py`): drop when the
terminal-punctuation line ratio is < 0.12, the short-line ratio > 0.67, the duplicate-line
character ratio > 0.01, the newline-per-word ratio > 0.3 (earlier datatrove releases used <=,
>= and >= for the first three).
"""

from __future__ import annotations

from quality.gopher import duplicates
from quality.rules import Rule
from quality.text import TERMINAL_PUNCTUATION_TUPLE, Units

# datatrove 0.10.1 FineWebQualityFilter defaults, the values FineWeb ran (examples/fineweb.py
# passes none). The FineWeb write-up quotes 0.1 for the duplicate-line character fraction; the
# code that built the dataset uses 0.01, kept here.
MIN_LINE_PUNCT_RATIO = 0.12     # line_punct_thr: share of lines ending in terminal punctuation
MAX_SHORT_LINE_RATIO = 0.67     # short_line_thr: share of lines of <= SHORT_LINE_LENGTH chars
SHORT_LINE_LENGTH = 30          # short_line_length
MAX_CHAR_DUP_RATIO = 0.01       # char_duplicates_ratio: chars in repeated lines / chars
MAX_NEWLINE_RATIO = 0.3         # new_line_ratio: "\n" count / words

PREFIX = "fineweb"


def fineweb_signals(units: Units, n_words: int | None = None) -> dict[str, float]:
    """All FineWeb quality values of one (already C4-cleaned) text, named `fineweb.<signal>`.

    `n_words`: the text's number of rule words when the caller already has it (C4's line pass
    counts them), to spare tokenizing the text again.
    """
    text = units.text
    lines = [line for line in text.split("\n") if line.strip() != ""]
    n = len(lines)
    out = {f"{PREFIX}.non_empty_lines": float(n)}
    if n == 0:
        # datatrove drops such a text as "empty"; the non_empty_lines rule does so here.
        out.update({f"{PREFIX}.line_punct_ratio": 0.0, f"{PREFIX}.short_line_ratio": 0.0,
                    f"{PREFIX}.char_dup_ratio": 0.0, f"{PREFIX}.newline_ratio": 0.0})
        return out
    out[f"{PREFIX}.line_punct_ratio"] = sum(
        line.endswith(TERMINAL_PUNCTUATION_TUPLE) for line in lines) / n
    out[f"{PREFIX}.short_line_ratio"] = sum(len(line) <= SHORT_LINE_LENGTH for line in lines) / n
    out[f"{PREFIX}.char_dup_ratio"] = duplicates(lines)[1] / (len(text) - text.count("\n"))
    if n_words is None:
        n_words = len(units.rule_words)
    out[f"{PREFIX}.newline_ratio"] = text.count("\n") / n_words if n_words else 0.0
    return out


SOURCE = "Penedo et al. 2024 (FineWeb); datatrove 0.10.1 FineWebQualityFilter defaults"
RULES: tuple[Rule, ...] = (
    Rule(f"{PREFIX}.empty", f"{PREFIX}.non_empty_lines", min=1, source=SOURCE),
    Rule(f"{PREFIX}.line_punct_ratio", f"{PREFIX}.line_punct_ratio",
         min=MIN_LINE_PUNCT_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.short_line_ratio", f"{PREFIX}.short_line_ratio",
         max=MAX_SHORT_LINE_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.char_dup_ratio", f"{PREFIX}.char_dup_ratio",
         max=MAX_CHAR_DUP_RATIO, source=SOURCE),
    Rule(f"{PREFIX}.newline_ratio", f"{PREFIX}.newline_ratio", max=MAX_NEWLINE_RATIO, source=SOURCE),
)
