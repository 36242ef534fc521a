"""Beam wiring around quality/: normalize and annotate, select by policy (dedup: pipeline/dedup/).

The science lives in quality/ as plain functions; these DoFns only call them, count what they
did in Beam counters (visible in the runner's metrics and the Dataflow UI), and route every
document to exactly one outcome.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict

from pipeline.progress import Progress
from pipeline import records
from quality import normalize, signals, url
from quality.langid import LanguageIdentifier
from quality.rules import Policy

LANG_SCORE_DECIMALS = 4  # fastText scores are float32; 4 decimals keep JSON stable and readable
QUALITY_SCORE_DECIMALS = 5  # finer: top-fraction selection cuts this score at a quantile


def local_copy(path: str) -> str:
    """A local file path for `path`: itself when local, else a copy in a temp dir (gs:// models)."""
    if "://" not in path:
        return path
    local = os.path.join(tempfile.mkdtemp(prefix="sieve-model-"), os.path.basename(path))
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as src, \
            open(local, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return local


class Annotate(beam.DoFn):
    """Normalizes the text and records every signal on the document; drops nothing."""

    def __init__(self, quality_model: str | None = None, progress_seconds: float = 0.0,
                 workers: int = 1, url_blocklist: str | None = None):
        self.quality_model = quality_model
        self.url_blocklist, self.blocklist = url_blocklist, None
        self.langid = None
        self.classifier = None
        self.failures = Metrics.counter("annotate", "dead_letters")
        self.progress_seconds, self.workers, self.progress = progress_seconds, workers, None

    def setup(self):
        self.langid = LanguageIdentifier()
        if self.quality_model:
            from quality.classifier import QualityClassifier

            self.classifier = QualityClassifier(local_copy(self.quality_model))
        if self.url_blocklist:
            self.blocklist = url.Blocklist.read(local_copy(self.url_blocklist))

    def process(self, doc, total_docs=None):
        if self.progress_seconds > 0:
            if self.progress is None:
                self.progress = Progress(self.progress_seconds, total_docs, self.workers)
            self.progress.add(1, doc["bytes"])
        try:
            text = normalize.normalize_text(doc["text"])
            if not text:  # bad data (control characters only), not a failure of annotate
                yield beam.pvalue.TaggedOutput(records.DEAD_LETTER_TAG, records.dead_letter(
                    doc["id"], records.NORMALIZE_STAGE, records.EMPTY_AFTER_NORMALIZATION,
                    doc["bytes"], doc["text"], source=doc["source"]))
                return
            sig = signals.text_signals(text)
            (lang, score), = self.langid.predict([text])
            sig["lang"] = lang
            sig["lang_score"] = round(score, LANG_SCORE_DECIMALS)
            if doc.get("url"):
                sig.update(url.url_signals(doc["url"]))
                if self.blocklist is not None:
                    sig[url.BLOCKED] = int(self.blocklist.blocked(doc["url"]))
            if self.classifier is not None:
                from quality.classifier import SIGNAL

                sig[SIGNAL] = round(self.classifier.score([text])[0], QUALITY_SCORE_DECIMALS)
        except Exception as e:  # a document that breaks a signal must not break the job
            self.failures.inc()
            yield beam.pvalue.TaggedOutput(records.DEAD_LETTER_TAG, records.dead_letter(
                doc["id"], records.ANNOTATE_STAGE, f"{type(e).__name__}: {e}", doc["bytes"], doc["text"],
                source=doc["source"]))
            return
        yield {**doc, "text": text, "signals": sig, "dedup_key": normalize.dedup_key(text)}


# Drop reason of the documents a policy keeps when the selection is inverted (--invert_policy).
PASSED_POLICY = "passed_policy"


class Select(beam.DoFn):
    """Applies the policy: the first failing rule names the drop reason. Documents that pass get
    the policy's text transform (C4's line cleaning), whose removed lines and bytes are recorded
    on the document (`transform`) and counted apart from document-level drops.

    Inverted (`invert=True`), the documents that fail some rule go on, untransformed, carrying
    the rules they fail (`failures`), and those that pass every rule are dropped as
    PASSED_POLICY: the text a policy rejects, for studying what it removes."""

    def __init__(self, policy: Policy, invert: bool = False):
        self.policy = policy
        self.invert = invert

    def process(self, doc, thresholds=None):
        policy = self.policy.resolve(thresholds) if thresholds else self.policy
        failures = policy.failures(doc["signals"])
        for rule in failures:
            Metrics.counter("select", f"would_drop.{rule}").inc()
        if self.invert:
            if failures:
                yield {**doc, "failures": failures}
            else:
                Metrics.counter("select", f"dropped.{PASSED_POLICY}").inc()
                yield beam.pvalue.TaggedOutput(records.DROPPED_TAG, records.doc_outcome(
                    {**doc, "failures": []}, records.DROPPED, reason=PASSED_POLICY))
            return
        if failures:
            reason = failures[0]  # the first failing rule in policy order
            Metrics.counter("select", f"dropped.{reason}").inc()
            Metrics.counter("select", f"dropped_bytes.{reason}").inc(doc["bytes"])
            yield beam.pvalue.TaggedOutput(records.DROPPED_TAG, records.doc_outcome(
                {**doc, "failures": failures}, records.DROPPED, reason=reason))
            return
        if policy.transform:
            from quality.c4 import apply_transform

            clean, stats = apply_transform(policy.transform, doc["text"])
            removed = {"name": policy.transform, "removed_lines": int(stats["removed_lines"]),
                       "removed_bytes": int(stats["removed_bytes"])}
            Metrics.counter("transform", f"{policy.transform}.removed_bytes").inc(removed["removed_bytes"])
            doc = {**doc, "text": clean, "transform": removed,
                   "dedup_key": normalize.dedup_key(clean)}
        yield doc


class DedupIds(beam.PTransform):
    """Two input records with the same id cannot both be kept: the first (by file, line) wins,
    the others are dead-lettered, so that ids stay unique keys in shards and ledgers.

    Found on small records: (id, position) pairs are counted per id by a combiner, and only the
    ids that occur more than once, with their first position, reach the documents, as a side
    input; no document crosses a shuffle here. The documents wait for that side input packed
    (`records.pack`): a runner holds them until it is computed."""

    def expand(self, docs):
        repeated = (docs
                    | "Id positions" >> beam.Map(lambda d: (d["id"], (1, tuple(d["pos"]))))
                    | "Count per id" >> beam.CombinePerKey(beam.combiners.TupleCombineFn(sum, min))
                    | "Repeated ids" >> beam.FlatMap(
                        lambda kv: [(kv[0], kv[1][1])] if kv[1][0] > 1 else []))
        waiting = docs | "Pack" >> beam.Map(lambda d: (d["id"], tuple(d["pos"]), records.pack(d)))
        return waiting | "First of each id" >> beam.ParDo(_DropRepeats(), AsDict(repeated)).with_outputs(
            records.DEAD_LETTER_TAG, main="docs")


DUPLICATE_RECORD_ID = "duplicate record id"


class _DropRepeats(beam.DoFn):
    def process(self, waiting, repeated):
        doc_id, pos, blob = waiting
        first = repeated.get(doc_id)
        doc = records.unpack(blob)
        if first is None or pos == first:
            yield doc
            return
        yield beam.pvalue.TaggedOutput(records.DEAD_LETTER_TAG, records.dead_letter(
            doc["id"], records.READ_STAGE, f"{DUPLICATE_RECORD_ID}: the record at {first[0]}:{first[1]} "
            f"kept it", doc["bytes"], doc["text"], source=doc["source"], file=pos[0], line=pos[1]))
