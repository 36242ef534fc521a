"""The corpus report: one self-contained HTML page (`OUT/report.html`) from a finished run.

It reads `stats.json`, `manifest.json`, the ledger (one row per input record) and the dead
letters, and shows what a person curating the corpus wants to see: the accounting identity, the
funnel, what each rule removed (first and alone), the signal histograms with the policy's
thresholds, languages and lengths, sampled dropped documents per rule, duplicates, dead letters
and sources.

Memory stays bounded however large the corpus: the ledger is streamed once; histograms read the
signals of at most `SAMPLE_VALUES` documents, those whose ids have the smallest stable hash
(`quality.outputs.stable_hash`, not Python's salted `hash()`); exact counts, minima and maxima come beside them; examples are kept in small heaps chosen
the same way. The page has no script and no network: inline CSS, inline SVG charts, a content
security policy that forbids anything else, and every piece of document text HTML-escaped. Same
inputs, same bytes.

`python -m quality.report OUT` (re)writes OUT/report.html and prints its path.

The package, each module importing only those before it: `format` (escaping and number
formatting, HTML tables), `collect` (the streaming, bounded-memory pass over the ledger and dead
letters), `charts` (inline SVG bar charts and histograms), `sections` (one function per section
of the page, the CSS and `render_report`) and `files` (reading a run's outputs, `write_report`
and the command line). Every public name is importable from `quality.report` itself.
"""

from __future__ import annotations

from quality.outputs import REPORT, stable_hash
from quality.report.charts import (CLASSES, LINEAR_BINS, LOG_SCALE_FROM, Axis, hbar_chart, histogram_data,
                                   histogram_svg, legend)
from quality.report.charts import _f, _nice_ticks, _svg
from quality.report.collect import (DEAD_LETTER_EXAMPLES, DROPPED_HERE, DROPPED_OTHER, DUPLICATE_CLASS,
                                    DUPLICATE_EXAMPLES, EXAMPLES_PER_RULE, KEPT_CLASS, MAX_ERROR_CLASSES,
                                    MAX_LANGUAGES, MAX_REASONS, MAX_SIGNALS, SAMPLE_VALUES, Collector,
                                    DocSample, SignalStats, SmallestK, error_class)
from quality.report.files import Lister, Opener, iter_jsonl, main, write_report
from quality.report.format import esc, fmt_bytes, fmt_int, fmt_num, pct, threshold_text
from quality.report.format import _table
from quality.report.sections import (CSS, OUTCOME_COLORS, SECTIONS, TOP_LANGUAGES, dead_letters_section,
                                     duplicates_section, examples_section, flow_block, funnel_section,
                                     html_page, languages_section, lengths_section, near_dedup_block,
                                     render_report, rules_section, signals_section, sources_section,
                                     summary_section)
from quality.report.sections import _section

# Public names of private helpers, for other self-contained pages (workflows/report.py).
table, svg, nice_ticks, section, coord = _table, _svg, _nice_ticks, _section, _f

__all__ = [
    # files: reading a run, writing the page, the command line
    "write_report", "main", "iter_jsonl", "Opener", "Lister",
    # sections: the page
    "render_report", "html_page", "CSS", "SECTIONS", "OUTCOME_COLORS", "TOP_LANGUAGES",
    "summary_section", "funnel_section", "flow_block", "rules_section", "signals_section",
    "languages_section", "lengths_section", "examples_section", "near_dedup_block",
    "duplicates_section", "dead_letters_section", "sources_section",
    # collect: the streaming pass
    "Collector", "DocSample", "SmallestK", "SignalStats", "error_class", "SAMPLE_VALUES",
    "EXAMPLES_PER_RULE", "DUPLICATE_EXAMPLES", "DEAD_LETTER_EXAMPLES", "MAX_ERROR_CLASSES",
    "MAX_REASONS", "MAX_SIGNALS", "MAX_LANGUAGES", "KEPT_CLASS", "DUPLICATE_CLASS", "DROPPED_OTHER",
    "DROPPED_HERE",
    # charts
    "hbar_chart", "Axis", "histogram_data", "histogram_svg", "legend", "CLASSES", "LINEAR_BINS",
    "LOG_SCALE_FROM",
    # format
    "esc", "fmt_int", "fmt_bytes", "fmt_num", "pct", "threshold_text",
    # helpers for other pages (workflows/report.py)
    "table", "svg", "nice_ticks", "section", "coord",
    # from quality.outputs, as before
    "REPORT", "stable_hash",
]
