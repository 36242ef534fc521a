"""Every dedup decision, made on small records; documents are only read once, by `Features`.

`Features` turns each selected document into its candidate record (node -> id, URL key, text
hash, sizes) plus what the enabled steps read (band keys, shingle hashes, unit hashes). `Decide`
chains the steps on those records: URL duplicates, then exact duplicates among what is left,
then near duplicates among what is left, then the owners of repeated paragraphs among the
survivors; each step's survivors come from a join of small records. Its `decisions` output,
(document id, decision), is applied to each document where the document is anyway: in the
shard writer, or in the one join of the stand-alone transforms (`pipeline.dedup.transforms`).

Decisions: ("duplicate", reason, keeper id), ("cluster", size, first member ids) for a keeper,
("owned", unit index) for each repeated unit a document owns (sub-document dedup).
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsSingleton, TaggedOutput

from pipeline import records
from pipeline.dedup.keys import DEFAULT_HOT_KEY_VALUES, _LinkToGroupMin, id_of, join, node_of
from pipeline.dedup.near import ClusterReport, NearDecisions, NearSettings, exact_check_shingles
from pipeline.records import CLUSTERS_TAG, DROPPED_TAG, DUPLICATE_TAG
from quality import dedup as qdedup
from quality import minhash, normalize

DUPLICATE, CLUSTER, OWNED = "duplicate", "cluster", "owned"
UNITS = ("paragraph", "sentence_span")
FEATURE_TAGS = ("bands", "shingles", "units")


class Features(beam.DoFn):
    """A batch of documents -> per document (node, candidate record) and, tagged, `bands` (node,
    band keys), `shingles` (node, `exact_check_shingles`) and `units` (node, unit hashes:
    sub-document dedup) when those steps are on. Signatures are computed for the whole batch in
    one numpy pass."""

    def __init__(self, keeper_signal: str | None, url: bool, near: NearSettings | None,
                 unit: str | None):
        self.keeper_signal, self.url, self.near, self.unit = keeper_signal, url, near, unit
        self.no_shingles = Metrics.counter("dedup", "docs_without_shingles")

    def process(self, batch):
        near = self.near
        if near is not None:
            hashes = [minhash.shingle_hashes(d["text"]) for d in batch]
            sigs = minhash.signatures(hashes, near.bands * near.rows, near.seed)
        for i, doc in enumerate(batch):
            node = node_of(doc, self.keeper_signal)
            yield (node, {"id": doc["id"],
                          "url": qdedup.url_key(doc.get("url")) if self.url else None,
                          "exact": doc.get("dedup_key") or normalize.dedup_key(doc["text"]),
                          "bytes": doc["bytes"], "chars": len(doc["text"])})
            if near is not None:
                if not len(hashes[i]):  # no words: never a near duplicate (an empty signature matches all)
                    self.no_shingles.inc()
                else:
                    yield TaggedOutput("bands", (node, minhash.band_keys(sigs[i], near.bands, near.rows)))
                    if near.exact_check:
                        yield TaggedOutput("shingles", (node, exact_check_shingles(hashes[i])))
            if self.unit:
                yield TaggedOutput("units", (node, [h for h, _ in qdedup.dedup_units(doc["text"], self.unit)]))


def features(docs, keeper_signal: str | None, url: bool, near: NearSettings | None,
             unit: str | None, batch_size: int = 256) -> dict:
    """Documents -> {cands, bands, shingles, units}: the input of `Decide`."""
    out = (docs
           | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch_size)
           | "Features" >> beam.ParDo(Features(keeper_signal, url, near, unit)).with_outputs(
               *FEATURE_TAGS, main="cands"))
    return {"cands": out.cands, **{t: out[t] for t in FEATURE_TAGS}}


def _survivors(alive, gone, label: str, spent: str | None = None):
    """The (node, candidate) records of `alive` whose node has no (node, ...) record in `gone`,
    without the field `spent` (a key no later step reads: the joins after it carry less)."""
    def keep(kv):
        node, grouped = kv
        if not grouped["gone"]:
            for cand in grouped["cand"]:
                yield (node, {k: v for k, v in cand.items() if k != spent} if spent else cand)

    return join({"cand": alive, "gone": gone}, label) | f"{label}: keep" >> beam.FlatMap(keep)


class Decide(beam.PTransform):
    """{cands, bands, shingles, units} -> {`decisions` (id, decision), `alive` (node, candidate)
    of the documents no step removes, `rounds` (near dedup's, or None)}.

    `url`/`exact`: one keeper per URL / per normalized-text hash, the smallest node (keeper
    signal, then id); the others are its `url_duplicate`s / `exact_duplicate`s. `near`: MinHash
    LSH and connected components (`pipeline.dedup.near`). `unit`: every paragraph (or
    three-sentence span) is owned by its occurrence with the smallest (document id, position),
    as CCNet keeps the first. Hot-key safe throughout (`pipeline.dedup.keys`)."""

    def __init__(self, keeper_signal: str | None = None, url: bool = False, exact: bool = True,
                 near: NearSettings | None = None, unit: str | None = None,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES):
        super().__init__()
        if unit is not None and unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}: paragraph or sentence_span")
        self.keeper_signal, self.url, self.exact = keeper_signal, url, exact
        self.near, self.unit, self.hot_key_values = near, unit, hot_key_values

    def expand(self, feats):
        signal = self.keeper_signal
        alive, decisions, rounds = feats["cands"], [], None
        for reason, field, on in (("url_duplicate", "url", self.url),
                                  ("exact_duplicate", "exact", self.exact)):
            if not on:
                continue
            pairs = alive | f"Keys ({reason})" >> beam.FlatMap(
                lambda kv, f=field: [(kv[1][f], kv[0])] if kv[1][f] is not None else [])
            linked = pairs | f"Link to keeper ({reason})" >> _LinkToGroupMin(self.hot_key_values)
            links = (linked["cold"], linked["hot"]) | f"Links ({reason})" >> beam.Flatten()
            decisions.append(links | f"Decisions ({reason})" >> beam.Map(_duplicate, reason, signal))
            alive = _survivors(alive, links, f"Left after {reason}s", spent=field)
        if self.near is not None:
            near = (alive, feats["bands"], feats["shingles"]) | "Near" >> NearDecisions(self.near)
            decisions.append(near["labels"] | "Decisions (near_duplicate)" >> beam.Map(
                _duplicate, "near_duplicate", signal))
            decisions.append(near["clusters"] | "Decisions (cluster)" >> beam.Map(_cluster, signal))
            alive = _survivors(alive, near["labels"], "Left after near duplicates")
            rounds = near["rounds"]
        if self.unit is not None:
            def alive_units(kv):
                _, grouped = kv
                for doc_id in grouped["alive"]:
                    for hashes in grouped["units"]:
                        for i, h in enumerate(hashes):
                            yield (h, (doc_id, i))

            owned = (join({"alive": alive | "Alive ids" >> beam.Map(lambda kv: (kv[0], kv[1]["id"])),
                           "units": feats["units"]}, "Units of alive nodes")
                     | "Unit occurrences" >> beam.FlatMap(alive_units)
                     | "First occurrence" >> beam.CombinePerKey(min)
                     | "Decisions (owned)" >> beam.Map(lambda kv: (kv[1][0], (OWNED, kv[1][1]))))
            decisions.append(owned)
        all_decisions = decisions | "All decisions" >> beam.Flatten()
        return {"decisions": all_decisions, "alive": alive, "rounds": rounds}


def _duplicate(link, reason: str, signal: str | None):
    node, keeper = link
    return id_of(node, signal), (DUPLICATE, reason, id_of(keeper, signal))


def _cluster(kv, signal: str | None):
    root, (count, sample) = kv
    return id_of(root, signal), (CLUSTER, count + 1, [id_of(n, signal) for n in sample])


def route(doc: dict, decisions, unit: str | None = None):
    """Applies a document's decisions: yields (tag, item) with tag `duplicate` (its ledger row),
    `clusters` (its cluster row, for a keeper), `dropped` (left empty by sub-document dedup) or
    `docs` (the document, without the repeated units when `unit` is given)."""
    dup = next((d for d in decisions if d[0] == DUPLICATE), None)
    if dup is not None:
        Metrics.counter("dedup", f"{dup[1]}s").inc()
        yield DUPLICATE_TAG, records.doc_outcome(doc, records.DUPLICATE, reason=dup[1],
                                                 duplicate_of=dup[2])
        return
    for d in decisions:
        if d[0] == CLUSTER:
            yield CLUSTERS_TAG, {"id": doc["id"], "keeper": doc["id"], "size": d[1], "members": d[2],
                                 "keeper_source": doc.get("source"),
                                 "keeper_head": doc["text"][:records.EXAMPLE_CHARS]}
    if unit is not None:
        keep = {d[1] for d in decisions if d[0] == OWNED}
        spans = [span for _, span in qdedup.dedup_units(doc["text"], unit)]
        gone = [span for i, span in enumerate(spans) if i not in keep]
        text, removed = qdedup.remove_spans(doc["text"], gone)
        sig = {**doc["signals"], f"dedup.{unit}_removed": len(gone),
               f"dedup.{unit}_removed_bytes": removed}
        doc = {**doc, "text": text, "signals": sig}
        if gone:
            Metrics.counter("dedup", f"{unit}.docs_changed").inc()
            Metrics.counter("dedup", f"{unit}.removed").inc(len(gone))
            Metrics.counter("dedup", f"{unit}.removed_bytes").inc(removed)
            if "dedup_key" in doc:
                doc["dedup_key"] = normalize.dedup_key(text)
        if not text.strip():
            Metrics.counter("dedup", f"{unit}.docs_emptied").inc()
            yield DROPPED_TAG, records.doc_outcome(doc, records.DROPPED, reason=records.subdoc_empty_reason(unit))
            return
    yield "docs", doc


def near_stats(cluster_rows, settings: NearSettings, rounds):
    """stats.json's `near_dedup`: settings, rounds and the cluster report, as a singleton."""
    report = cluster_rows | "Cluster report" >> beam.CombineGlobally(ClusterReport())
    base = settings.to_dict()
    return report | "Near dedup stats" >> beam.Map(
        lambda r, rd: {**base, **rd, **r}, AsSingleton(rounds))
