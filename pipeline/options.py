"""Sieve's pipeline options, parsed alongside Beam's own (`--runner`, `--direct_num_workers`, ...)."""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.dedup.keys import DEFAULT_MAX_ROUNDS
from pipeline.progress import PROGRESS_SECONDS
from pipeline.read import INPUT_FORMATS
from pipeline.web import DEFAULT_EXTRACTOR, DEFAULT_SPLIT_BYTES, EXTRACTORS
from quality import minhash
from quality.policy import PRESETS

# Records and documents above these sizes are dead-lettered rather than held in memory: a
# JSONL line is read with a bounded readline, so a decompression bomb or a runaway line costs
# at most MAX_RECORD_BYTES of memory.
DEFAULT_MAX_DOC_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
DEFAULT_VOCAB_SIZE = 8000
DEFAULT_TOKENIZER_SAMPLE_DOCS = 20_000
# Characters of text the tokenizer trains on at most. Measured on 10,000 documents of the real
# corpus (benchmarks/README.md, "Tokenizer training"): a unigram model of 8,000 pieces trained
# on 10 M characters compresses held-out text 1.2% less well than one trained on 19 M (3.159
# against 3.198 bytes per token) in 60% of the time and 70% of the memory; training time grows
# faster than the sample. A speed/quality trade-off chosen here, not a published figure.
DEFAULT_TOKENIZER_SAMPLE_CHARS = 10_000_000
DEFAULT_SHARD_TARGET_MB = 64
# A derived shard count is at least this (never more than there are documents), so that a small
# corpus still has shards to hold out: `python -m pretrain` evaluates on the last shard
# (pretrain.train.TrainConfig.holdout_shards = 1), here at most 1/8 of the corpus, and 8 shards
# give 8 DataLoader workers or ranks one file each to read. A design choice, not a published one.
DEFAULT_MIN_SHARDS = 8
# Readable documents that annotate or tokenize fail on point at a bug in a signal or the
# tokenizer, not at bad data; above this fraction of a stage's input the run exits non-zero
# (after writing everything). One in a thousand: a design choice, not a published figure.
DEFAULT_MAX_FAILURE_FRACTION = 0.001


class SieveOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument("--input", default=None,
                            help="Glob of inputs: JSONL (.jsonl, .jsonl.gz, .jsonl.zst), Parquet "
                                 "(.parquet), WARC (.warc, .warc.gz), WET (.wet, .wet.gz) or plain "
                                 "text (.txt, .txt.gz, .txt.zst); any Beam file system (gs://...). "
                                 "Default: the bundled sample.")
        parser.add_argument("--input_format", default="auto", choices=INPUT_FORMATS,
                            help="Read every input file as this format; auto: by its name.")
        parser.add_argument("--extractor", default=DEFAULT_EXTRACTOR, choices=EXTRACTORS,
                            help="Main-text extractor for WARC HTML responses.")
        parser.add_argument("--text_lines", default=False, type=_bool,
                            help="Plain-text input: one document per non-blank line, not per file.")
        parser.add_argument("--split_bytes", type=int, default=DEFAULT_SPLIT_BYTES,
                            help="Read a gzipped WARC or WET file larger than this in ranges of "
                                 "about this many bytes (cut at gzip members), on any worker; "
                                 "0: each file whole. The output is the same either way.")
        parser.add_argument("--output", default="out", help="Output directory (any Beam file system).")
        parser.add_argument("--policy", default="gopher",
                            help=f"Selection policy: a preset ({', '.join(PRESETS)}) or a YAML file.")
        parser.add_argument("--quality_model", default=None,
                            help="A fastText quality classifier (python -m quality.train_classifier); "
                                 "records the signal fasttext_quality.score on every document.")
        parser.add_argument("--url_blocklist", default=None,
                            help="A file of blocked domains (with their subdomains) and URLs, one "
                                 "per line: records url.blocklisted and puts the rule url_blocklist "
                                 "first in the policy.")
        parser.add_argument("--text_field", default="text", help="JSON field (Parquet column) holding the text.")
        parser.add_argument("--id_field", default="id", help="JSON field (Parquet column) holding the record id.")
        parser.add_argument("--tokenizer", default=None,
                            help="An existing sentencepiece .model to use instead of training one.")
        parser.add_argument("--vocab_size", type=int, default=DEFAULT_VOCAB_SIZE,
                            help="Vocabulary size of the trained sentencepiece model.")
        parser.add_argument("--tokenizer_sample_docs", type=int, default=DEFAULT_TOKENIZER_SAMPLE_DOCS,
                            help="Kept documents (chosen by a hash of their id) to train the tokenizer on.")
        parser.add_argument("--tokenizer_sample_chars", type=int, default=DEFAULT_TOKENIZER_SAMPLE_CHARS,
                            help="At most this many characters of those documents (in hash "
                                 "order) are trained on.")
        parser.add_argument("--num_shards", type=int, default=0,
                            help="Number of output shards; 0 derives it from --shard_target_mb and "
                                 "--min_shards.")
        parser.add_argument("--shard_target_mb", type=float, default=DEFAULT_SHARD_TARGET_MB,
                            help="Target shard size when --num_shards is 0.")
        parser.add_argument("--min_shards", type=int, default=DEFAULT_MIN_SHARDS,
                            help="Least number of shards when --num_shards is 0 (capped at the "
                                 "number of documents), so small outputs still have a shard to "
                                 "hold out for evaluation.")
        parser.add_argument("--write_text", default=True, type=_bool,
                            help="Also store the clean text as <key>.txt in each sample.")
        parser.add_argument("--write_annotated", default=False, type=_bool,
                            help="Also write every annotated document (clean text + signals) to "
                                 "OUTPUT/annotated/, so the run can be re-selected later.")
        parser.add_argument("--from_annotated", default=None,
                            help="Start from a previous run's OUTPUT/annotated/ directory instead "
                                 "of raw input: re-select under --policy without recomputing signals.")
        parser.add_argument("--invert_policy", default=False, type=_bool,
                            help="Write the documents the policy drops, as they are (no text "
                                 "transform), and drop those it keeps (reason "
                                 "'passed_policy'): the rejected text as shards, e.g. a study's "
                                 "junk arm. The ledger still names every rule each one fails.")
        parser.add_argument("--url_dedup", default=True, type=_bool,
                            help="Keep one document per normalized URL (documents without a URL pass).")
        parser.add_argument("--near_dedup", default=True, type=_bool,
                            help="MinHash LSH near-duplicate removal (word 5-gram shingles).")
        parser.add_argument("--minhash_bands", type=int, default=None,
                            help=f"LSH bands (default {minhash.DEFAULT_BANDS}, as FineWeb); with --minhash_rows.")
        parser.add_argument("--minhash_rows", type=int, default=None,
                            help=f"Rows per band (default {minhash.DEFAULT_ROWS}, as FineWeb); with --minhash_bands.")
        parser.add_argument("--minhash_threshold", type=float, default=None,
                            help="Derive bands and rows for this Jaccard instead of giving them.")
        # On by default: in benchmarks/dedup_quality.py it raised duplicate->keeper precision
        # at Jaccard 0.8 from 0.65 to 0.9955 at no measurable cost (FineWeb runs without it).
        parser.add_argument("--exact_jaccard_check", default=True, type=_bool,
                            help="Drop LSH candidate pairs whose exact shingle Jaccard is below "
                                 "--jaccard_threshold before clustering (default on).")
        parser.add_argument("--jaccard_threshold", type=float, default=minhash.DEFAULT_THRESHOLD,
                            help="Exact-Jaccard threshold of --exact_jaccard_check.")
        parser.add_argument("--dedup_keeper_signal", default=None,
                            help="Keep the cluster member with the highest value of this signal "
                                 "(e.g. fasttext_quality.score), then the smallest id.")
        parser.add_argument("--dedup_max_rounds", type=int, default=DEFAULT_MAX_ROUNDS,
                            help="Bound on connected-components rounds; the job fails if reached.")
        parser.add_argument("--subdoc_dedup", default="none",
                            choices=("none", "paragraph", "sentence_span"),
                            help="Remove paragraphs (CCNet) or three-sentence spans (C4) seen "
                                 "earlier in the corpus (first occurrence by id kept).")
        parser.add_argument("--max_doc_bytes", type=int, default=DEFAULT_MAX_DOC_BYTES,
                            help="Documents with more UTF-8 bytes of text are dead-lettered.")
        parser.add_argument("--max_record_bytes", type=int, default=DEFAULT_MAX_RECORD_BYTES,
                            help="Input lines longer than this are dead-lettered without being held.")
        parser.add_argument("--sample_fraction", type=float, default=1.0,
                            help="Read only this fraction of the input records, chosen by a "
                                 "stable hash of (file name, line number): the same sample on "
                                 "every runner. 1: everything.")
        parser.add_argument("--plan", type=float, default=None, metavar="FRACTION",
                            help="Plan instead of run: run the job locally on FRACTION and on "
                                 "half of it (into a temporary directory), fit time, CPU, data "
                                 "moved and output size as fixed + per-input-byte, and print "
                                 "them for the whole input on --plan_workers workers.")
        parser.add_argument("--plan_workers", type=int, default=None,
                            help="Workers the plan is for (default: --direct_num_workers or 1).")
        parser.add_argument("--progress_seconds", type=float, default=PROGRESS_SECONDS,
                            help="Every this many seconds, log the annotate stage's documents/s, "
                                 "share done and ETA to stderr (0: never).")
        parser.add_argument("--wait", default=True, type=_bool,
                            help="Wait for the job, then print its summary (default). false: exit "
                                 "once the job is submitted (remote runners); the job still "
                                 "writes its report.")
        parser.add_argument("--max_failure_fraction", type=float, default=DEFAULT_MAX_FAILURE_FRACTION,
                            help="Readable documents that fail annotate or tokenize are a bug, not "
                                 "data: above this fraction of either stage's input the run still "
                                 "writes its outputs, then exits non-zero naming the first errors.")


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


# Sieve options that do not change the corpus: where it goes, a side output, the exit rule,
# whether the launcher waits and how input files are split among workers.
# The manifest records every other option of SieveOptions, so a new option is recorded unless it
# is named here; runner options are Beam's, not SieveOptions', so the manifest is the same
# whatever runner or worker count made it.
NOT_CORPUS_OPTIONS = frozenset({"output", "write_annotated", "max_failure_fraction", "wait",
                                "plan", "plan_workers", "progress_seconds", "split_bytes"})


def corpus_config_keys() -> tuple[str, ...]:
    """The options a manifest records: every SieveOptions option but NOT_CORPUS_OPTIONS."""
    parser = argparse.ArgumentParser()
    SieveOptions._add_argparse_args(parser)
    return tuple(sorted(set(vars(parser.parse_args([]))) - NOT_CORPUS_OPTIONS))
