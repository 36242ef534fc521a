"""Rule-by-rule agreement between Sieve's rule sets and datatrove's filters on real documents.

Runs datatrove's GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter and
FineWebQualityFilter, one rule at a time (every other rule of the filter switched off), and
Sieve's matching `quality.rules.Rule`, on the same normalized English documents of the bundled
sample, then prints per rule: docs, both keep, both drop, Sieve-only drop, datatrove-only drop,
agreement %, and a few disagreeing ids with both sides' values. It also checks that the C4 line
transform leaves the same text as datatrove's C4QualityFilter.

datatrove is not a Sieve dependency. Run this in a separate environment that has it:

    python3.11 -m venv /tmp/dt-venv
    /tmp/dt-venv/bin/pip install datatrove==0.10.1 spacy numpy
    /tmp/dt-venv/bin/python benchmarks/compare_datatrove.py

(datatrove 0.10.1 tokenizes English with spaCy's rule-based tokenizer, `spacy.blank("en")`; it
needs the `spacy` package but no model download. Sieve's quality/ needs only numpy.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality import c4, fineweb, gopher  # noqa: E402
from quality.normalize import normalize_text  # noqa: E402
from quality.signals import text_signals  # noqa: E402
from quality.text import Units  # noqa: E402

SAMPLE = ROOT / "pipeline" / "sample" / "sample.jsonl.gz"


def english_docs(path: Path, limit: int | None) -> list[tuple[str, str]]:
    """(id, normalized text) of the sample's English documents: `meta.lang == "en"`, plus the
    Debian copyright files and changelogs, which are English and carry no label."""
    docs = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("meta", {}).get("lang") not in ("en", None):
                continue
            text = normalize_text(rec["text"])
            if text:
                docs.append((rec["id"], text))
            if limit and len(docs) >= limit:
                break
    return docs


def datatrove_checks():
    """(row name, filter factory, how to get the filter's input text) per rule, datatrove side."""
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter,
                                            GopherQualityFilter, GopherRepetitionFilter)

    checks = {}
    gq_off = dict(min_doc_words=None, max_doc_words=None, min_avg_word_length=None,
                  max_avg_word_length=None, max_symbol_word_ratio=None,
                  max_bullet_lines_ratio=None, max_ellipsis_lines_ratio=None,
                  max_non_alpha_words_ratio=None, min_stop_words=None)
    gq = {
        "word_count": dict(min_doc_words=50, max_doc_words=100_000),
        "mean_word_length": dict(min_avg_word_length=3, max_avg_word_length=10),
        "hash_word_ratio": None, "ellipsis_word_ratio": None,  # one switch for both: see below
        "bullet_lines_ratio": dict(max_bullet_lines_ratio=0.9),
        "ellipsis_lines_ratio": dict(max_ellipsis_lines_ratio=0.3),
        "alpha_words_ratio": dict(max_non_alpha_words_ratio=0.8),
        "stop_words": dict(min_stop_words=2),
    }
    for name, on in gq.items():
        if on is None:
            # max_symbol_word_ratio switches on both the "#" and the ellipsis rule; the reason
            # tells them apart.
            reason = "gopher_too_many_hashes" if name == "hash_word_ratio" else "gopher_too_many_ellipsis"
            checks[f"gopher_quality.{name}"] = (
                lambda: GopherQualityFilter(**{**gq_off, "max_symbol_word_ratio": 0.1}), "raw", reason)
        else:
            checks[f"gopher_quality.{name}"] = (
                lambda on=on: GopherQualityFilter(**{**gq_off, **on}), "raw", None)
    rep_off = dict(dup_line_frac=None, dup_para_frac=None, dup_line_char_frac=None,
                   dup_para_char_frac=None, top_n_grams=(), dup_n_grams=())
    rep = {
        "dup_para_frac": dict(dup_para_frac=0.3), "dup_para_char_frac": dict(dup_para_char_frac=0.2),
        "dup_line_frac": dict(dup_line_frac=0.3), "dup_line_char_frac": dict(dup_line_char_frac=0.2),
        **{f"top_{n}_gram_char_frac": dict(top_n_grams=((n, t),))
           for n, t in gopher.MAX_TOP_NGRAM_CHAR_FRAC.items()},
        **{f"dup_{n}_gram_char_frac": dict(dup_n_grams=((n, t),))
           for n, t in gopher.MAX_DUP_NGRAM_CHAR_FRAC.items()},
    }
    for name, on in rep.items():
        checks[f"gopher_repetition.{name}"] = (
            lambda on=on: GopherRepetitionFilter(**{**rep_off, **on}), "raw", None)
    c4_off = dict(filter_lorem_ipsum=False, filter_curly_bracket=False, min_num_sentences=-1)
    for variant, extra in (("c4_datatrove", {}), ("c4_fineweb", dict(filter_no_terminal_punct=False))):
        for name, on in (("lorem_ipsum", dict(filter_lorem_ipsum=True)),
                         ("curly_bracket", dict(filter_curly_bracket=True)),
                         ("too_few_sentences", dict(min_num_sentences=5))):
            checks[f"{variant}.{name}"] = (
                lambda on=on, extra=extra: C4QualityFilter(**{**c4_off, **extra, **on}), "raw", None)
    fw_off = dict(line_punct_thr=-1.0, short_line_thr=2.0, char_duplicates_ratio=2.0,
                  new_line_ratio=math.inf)
    fw = {"empty": {}, "line_punct_ratio": dict(line_punct_thr=0.12),
          "short_line_ratio": dict(short_line_thr=0.67),
          "char_dup_ratio": dict(char_duplicates_ratio=0.01), "newline_ratio": dict(new_line_ratio=0.3)}
    for name, on in fw.items():
        checks[f"fineweb.{name}"] = (lambda on=on: FineWebQualityFilter(**{**fw_off, **on}),
                                     "c4_fineweb_clean", None)
    return checks


def sieve_rules():
    rules = {r.name: r for r in gopher.QUALITY_RULES + gopher.REPETITION_RULES
             + c4.DATATROVE_RULES + c4.FINEWEB_RULES + fineweb.RULES}
    return rules


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=Path, default=SAMPLE)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--examples", type=int, default=3)
    args = ap.parse_args()

    from datatrove.data import Document
    from datatrove.pipeline.filters import C4QualityFilter

    docs = english_docs(args.sample, args.limit)
    checks = datatrove_checks()
    rules = sieve_rules()
    filters = {name: make() for name, (make, _, _) in checks.items()}
    # datatrove's C4 step as FineWeb ran it, with the page rules off, so that it always rewrites
    # the text: the input FineWebQualityFilter saw in FineWeb.
    c4_rewriters = {v: C4QualityFilter(filter_lorem_ipsum=False, filter_curly_bracket=False,
                                       min_num_sentences=-1, **extra)
                    for v, extra in (("datatrove", {}), ("fineweb", dict(filter_no_terminal_punct=False)))}

    rows = {name: {"docs": 0, "keep": 0, "drop": 0, "sieve_only": [], "dt_only": []} for name in checks}
    clean_mismatch = {"datatrove": [], "fineweb": []}
    removed = {"datatrove": [0, 0], "fineweb": [0, 0]}  # [sieve removed bytes, datatrove removed bytes]
    for doc_id, text in docs:
        sig = text_signals(text)
        dt_clean_sv, dt_stats = c4.clean_lines(text, "datatrove")
        sig.update(c4.c4_signals(Units(text), "datatrove", dt_clean_sv, dt_stats))
        dt_clean = {}
        for v, f in c4_rewriters.items():
            d = Document(text=text, id=doc_id)
            f.filter(d)
            dt_clean[v] = d.text
        sv_clean = {"datatrove": dt_clean_sv, "fineweb": c4.clean_lines(text, "fineweb")[0]}
        for v in dt_clean:
            if dt_clean[v] != sv_clean[v]:
                clean_mismatch[v].append(doc_id)
            removed[v][0] += len(text.encode()) - len(sv_clean[v].encode())
            removed[v][1] += len(text.encode()) - len(dt_clean[v].encode())
        for name, (_, source, reason) in checks.items():
            inp = text if source == "raw" else dt_clean["fineweb"]
            try:
                res = filters[name].filter(Document(text=inp, id=doc_id))
            except (ZeroDivisionError, ValueError):
                res = (False, "error")
            if reason is None:
                dt_drop = res is not True
            else:
                dt_drop = res is not True and res[1] == reason
            rule = rules[name]
            value = sig.get(rule.signal)
            sv_drop = not rule.passes(value)
            if name.startswith("fineweb.") and sig["fineweb.non_empty_lines"] == 0:
                sv_drop = True  # datatrove's FineWeb filter drops empty texts before any rule
            row = rows[name]
            row["docs"] += 1
            if sv_drop and dt_drop:
                row["drop"] += 1
            elif not sv_drop and not dt_drop:
                row["keep"] += 1
            elif sv_drop:
                row["sieve_only"].append((doc_id, value, res))
            else:
                row["dt_only"].append((doc_id, value, res))

    # Throughput, one process: datatrove's four filters as FineWeb chains them (each document
    # through all four, no early exit, so every filter sees every document) versus Sieve's
    # text_signals, which computes every signal of all four rule sets once. Both tokenizer caches
    # are warm by now (spaCy's and Sieve's chunk cache).
    from datatrove.pipeline.filters import (FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    chain = [GopherRepetitionFilter(), GopherQualityFilter(),
             C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()]
    t0 = time.perf_counter()
    for doc_id, text in docs:
        for f in chain:
            try:
                f.filter(Document(text=text, id=doc_id))
            except ZeroDivisionError:
                pass
    t_chain = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, text in docs:
        text_signals(text)
    t_signals = time.perf_counter() - t0
    print(f"{len(docs)} English documents from {args.sample.name}. Throughput, one process: "
          f"datatrove GopherRepetition+GopherQuality+C4+FineWeb {len(docs) / t_chain:.0f} docs/s; "
          f"Sieve text_signals (all signals) {len(docs) / t_signals:.0f} docs/s\n")
    print("| rule | docs | both keep | both drop | Sieve-only drop | datatrove-only drop | agreement |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = []
    for name, row in rows.items():
        agree = (row["keep"] + row["drop"]) / row["docs"] * 100 if row["docs"] else 100.0
        print(f"| {name} | {row['docs']} | {row['keep']} | {row['drop']} | {len(row['sieve_only'])} "
              f"| {len(row['dt_only'])} | {agree:.2f}% |")
        if row["sieve_only"] or row["dt_only"]:
            worst.append((name, row))
    print()
    for v, ids in clean_mismatch.items():
        print(f"C4 line transform ({v} settings): clean text differs from datatrove's on "
              f"{len(ids)} of {len(docs)} documents {ids[:args.examples]}; removed bytes "
              f"Sieve {removed[v][0]:,} vs datatrove {removed[v][1]:,}")
    if worst:
        print("\nDisagreements (doc id, Sieve's value, datatrove's result):")
        for name, row in worst:
            print(f"- {name}")
            for kind in ("sieve_only", "dt_only"):
                for doc_id, value, res in row[kind][: args.examples]:
                    print(f"    {kind:10s} {doc_id}  sieve={value!r}  datatrove={res!r}")


if __name__ == "__main__":
    main()
