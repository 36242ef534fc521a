"""What a run writes, named once: the files and folders of an output directory, the outcome of
every input record, how much text a ledger row keeps, and the stable hash of a document id.

Every room reads these names: the pipeline writes the files, the report (`quality.report`) reads
them back, the shard reader (`pretrain.data`) and the study (`workflows`) open them. They live
here, in the lowest room, because `quality/` may import neither Beam nor the pipeline; the shard
format itself (`pipeline.shard_format`) uses them. Stdlib only.
"""

from __future__ import annotations

import hashlib

# ----------------------------------------------------------------------------------------------
# The output directory (ARCHITECTURE.md, "Shards")
# ----------------------------------------------------------------------------------------------

SHARDS_DIR = "shards"                   # shards/shard-000000.tar, ...
MANIFEST = "manifest.json"
TOKENIZER_MODEL = "tokenizer.model"
TOKENIZER_VOCAB = "tokenizer.vocab"
STATS = "stats.json"                    # the accounting identity and every count of the run
REPORT = "report.html"
RUN_METRICS = "run_metrics.json"        # what the runner measured (data moved): differs run to run
LEDGER_DIR = "ledger"                   # one outcome row per input record
DEAD_LETTER_DIR = "dead_letter"         # records that could not be read or processed, with errors
CLUSTERS_DIR = "clusters"               # near dedup's clusters
ANNOTATED_DIR = "annotated"             # --write_annotated: documents with their signals
# A local output directory's marker: Sieve clears a folder only when this says Sieve wrote it,
# and then only the files it lists (`pipeline.output_dir`).
RUN_MARKER = ".sieve-output.json"
# A local file being written is named `.<name><PARTIAL_MARK><random>` until it is complete.
PARTIAL_MARK = ".partial-"
LEDGER_GLOB = f"{LEDGER_DIR}/{LEDGER_DIR}-*.jsonl"
DEAD_LETTER_GLOB = f"{DEAD_LETTER_DIR}/{DEAD_LETTER_DIR}-*.jsonl"

# ----------------------------------------------------------------------------------------------
# Outcomes: every input record ends as exactly one (ARCHITECTURE.md, "Accounting")
# ----------------------------------------------------------------------------------------------

KEPT = "kept"
DROPPED = "dropped"          # with its reason: the first failing rule's name
DUPLICATE = "duplicate"      # with the keeper's id
DEAD_LETTER = "dead_letter"  # with its error
OUTCOMES = (KEPT, DROPPED, DUPLICATE, DEAD_LETTER)

# How much of a document's text its ledger row keeps: the report shows this much per example.
EXAMPLE_CHARS = 300


def stable_hash(text: str) -> int:
    """A 64-bit hash of a string, the same on every machine, process and run (not Python's
    salted `hash()`): it assigns documents to shards, samples the tokenizer's training text and
    picks the report's samples. Lone surrogates (which JSON can carry in an id) hash as their
    code units instead of raising."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8], "big")
