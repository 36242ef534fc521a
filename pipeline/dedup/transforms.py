"""Stand-alone dedup transforms, documents in and documents out, for use outside Sieve's job.

Each one computes its decisions on small records (`pipeline.dedup.decide`) and applies them in
one join with the documents. The job itself (`pipeline/graph.py`) does not chain these: it makes
every decision at once and applies them in the shard writer, so that documents are grouped once.
"""

from __future__ import annotations

import apache_beam as beam

from pipeline.dedup.decide import Decide, features, near_stats, route
from pipeline.dedup.keys import DEFAULT_HOT_KEY_VALUES, DEFAULT_MAX_ROUNDS, STATS_TAG, join
from pipeline.dedup.near import NearSettings
from pipeline.records import CLUSTERS_TAG, DROPPED_TAG, DUPLICATE_TAG
from quality import minhash


class _Dedup(beam.PTransform):
    tags: tuple[str, ...] = (DUPLICATE_TAG,)

    def __init__(self, decide: Decide, batch_size: int = 256):
        super().__init__()
        self.decide = decide
        self.batch_size = batch_size

    def routed(self, docs):
        d = self.decide
        feats = features(docs, d.keeper_signal, d.url, d.near, d.unit, self.batch_size)
        dec = feats | "Decide" >> d
        unit = d.unit

        def apply(kv):
            _, grouped = kv
            decisions = list(grouped["decision"])
            for doc in grouped["doc"]:
                for tag, item in route(doc, decisions, unit):
                    yield item if tag == "docs" else beam.pvalue.TaggedOutput(tag, item)

        out = (join({"doc": docs | "Key by id" >> beam.Map(lambda doc: (doc["id"], doc)),
                     "decision": dec["decisions"]}, "Join decisions")
               | "Apply decisions" >> beam.FlatMap(apply).with_outputs(*self.tags, main="docs"))
        return out, dec

    def expand(self, docs):
        out, _ = self.routed(docs)
        return {"docs": out.docs, **{t: out[t] for t in self.tags}}


class ExactDedup(_Dedup):
    """Documents with the same `dedup_key` (normalized text hash): the keeper is the smallest
    node (keeper signal, then id; the smallest id when `keeper_signal` is None), the others are
    `exact_duplicate`s of it. Hot-key safe: a text that 100,000 documents share never puts them
    on one key."""

    def __init__(self, keeper_signal: str | None = None,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES):
        super().__init__(Decide(keeper_signal, url=False, exact=True, hot_key_values=hot_key_values))


class UrlDedup(_Dedup):
    """Documents with the same URL (`quality.dedup.url_key`): one keeper, the others are
    `url_duplicate`s of it. Documents without a URL pass through."""

    def __init__(self, keeper_signal: str | None = None,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES):
        super().__init__(Decide(keeper_signal, url=True, exact=False, hot_key_values=hot_key_values))


class NearDedup(_Dedup):
    """Near-duplicate documents by MinHash LSH and connected components.

    Input: document dicts (`id`, `text`, `signals`, `bytes`, `source`, ...). Outputs (a dict):
    `docs` (keepers and singletons, unchanged), `duplicate` (ledger rows, reason
    `near_duplicate`, `duplicate_of` the keeper's id), `clusters` (one row per cluster of two or
    more: `id` and `keeper` = the keeper's id, which names the cluster, `size`, `members` = the
    ids of its first `CLUSTER_EXAMPLES` duplicates in keeper order, the keeper's source and text
    start) and `stats` (one dict: settings, rounds, cluster-size histogram, largest clusters).
    Settings: `pipeline.dedup.near.NearSettings`. The keeper of a cluster has the highest
    `keeper_signal` (missing counts as lowest), then the smallest id."""

    tags = (DUPLICATE_TAG, CLUSTERS_TAG)

    def __init__(self, bands: int | None = None, rows: int | None = None,
                 seed: int = minhash.DEFAULT_SEED, exact_check: bool = False,
                 threshold: float = minhash.DEFAULT_THRESHOLD, keeper_signal: str | None = None,
                 max_rounds: int = DEFAULT_MAX_ROUNDS, lsh_threshold: float | None = None,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES, batch_size: int = 256):
        self.settings = NearSettings.make(
            bands, rows, lsh_threshold, seed=seed, exact_check=exact_check, threshold=threshold,
            keeper_signal=keeper_signal, max_rounds=max_rounds, hot_key_values=hot_key_values)
        super().__init__(Decide(keeper_signal, url=False, exact=False, near=self.settings,
                                hot_key_values=hot_key_values), batch_size)

    def expand(self, docs):
        out, dec = self.routed(docs)
        stats = near_stats(out[CLUSTERS_TAG], self.settings, dec["rounds"])
        return {"docs": out.docs, DUPLICATE_TAG: out[DUPLICATE_TAG],
                CLUSTERS_TAG: out[CLUSTERS_TAG], STATS_TAG: stats}


class SubdocDedup(_Dedup):
    """Sub-document dedup, of paragraphs or sentence spans: removes every paragraph (or, with
    `unit="sentence_span"`, every three-sentence span) that occurred before in the corpus: the
    occurrence with the smallest (document id, position) is kept, as CCNet keeps the first. Docs
    in, docs out: the text loses the repeats, and `signals["dedup.<unit>_removed"]` /
    `["dedup.<unit>_removed_bytes"]` record what went (`bytes` stays the input size, for the
    accounting). A document left with no text is dropped (tagged `dropped`, reason
    `<unit>_dedup_empty`).

    Hot-key safe without a threshold: `CombinePerKey(min)` names each unit's owner (combiner
    lifting merges partial mins before the shuffle), and the owner learns what it keeps through
    the join on its own id; no key ever holds the occurrences of one unit."""

    tags = (DROPPED_TAG,)

    def __init__(self, unit: str = "paragraph"):
        super().__init__(Decide(url=False, exact=False, unit=unit))
        self.unit = unit
