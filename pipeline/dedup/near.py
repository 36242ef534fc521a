"""Near duplicates: MinHash LSH buckets link each member to its bucket's smallest member (no
all-pairs), an optional exact shingle-Jaccard check drops weak links, and connected components
(`pipeline.dedup.components`) label every node with its component's smallest node, its keeper.
Everything here runs on small records keyed by node: band keys, shingle hashes, links, labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import apache_beam as beam
import numpy as np
import xxhash
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, AsSingleton

from pipeline.dedup.components import ConnectedComponents
from pipeline.dedup.keys import (CLUSTER_EXAMPLES, DEFAULT_HOT_KEY_VALUES, DEFAULT_MAX_ROUNDS,
                                 LARGEST_CLUSTERS, _LinkToGroupMin, join)
from quality import dedup as qdedup
from quality import minhash


@dataclass(frozen=True)
class NearSettings:
    """`bands` x `rows` permutations (default 14 x 8, FineWeb), or `lsh_threshold` alone to
    derive them for that Jaccard (`quality.minhash.bands_rows_for_threshold`). `exact_check`
    drops candidate links whose exact shingle Jaccard is below `threshold` (default 0.8) before
    the components are formed."""

    bands: int
    rows: int
    seed: int = minhash.DEFAULT_SEED
    exact_check: bool = False
    threshold: float = minhash.DEFAULT_THRESHOLD
    keeper_signal: str | None = None
    max_rounds: int = DEFAULT_MAX_ROUNDS
    hot_key_values: int = DEFAULT_HOT_KEY_VALUES

    @classmethod
    def make(cls, bands: int | None = None, rows: int | None = None,
             lsh_threshold: float | None = None, **rest) -> NearSettings:
        if lsh_threshold is not None:
            if bands is not None or rows is not None:
                raise ValueError("give bands and rows, or lsh_threshold, not both")
            bands, rows = minhash.bands_rows_for_threshold(lsh_threshold)
        elif bands is None and rows is None:
            bands, rows = minhash.DEFAULT_BANDS, minhash.DEFAULT_ROWS
        elif bands is None or rows is None:
            raise ValueError("give both bands and rows, or neither")
        return cls(bands=bands, rows=rows, **rest)

    def to_dict(self) -> dict:
        """The settings as stats.json records them."""
        s = asdict(self)
        return {"bands": s["bands"], "rows": s["rows"], "num_perm": self.bands * self.rows,
                "seed": s["seed"], "shingle_words": minhash.SHINGLE_WORDS,
                "exact_check": s["exact_check"], "threshold": s["threshold"],
                "s_curve_midpoint": round(minhash.lsh_threshold(self.bands, self.rows), 4),
                "keeper_signal": s["keeper_signal"], "max_rounds": s["max_rounds"],
                "hot_key_values": s["hot_key_values"]}

def node_hash(node: str) -> int:
    """64-bit hash of a node, for `LinkedNodes` (a collision only lets one more shingle set
    through the filter, where no link reads it)."""
    return xxhash.xxh3_64_intdigest(node.encode("utf-8"))


class LinkedNodes(beam.CombineFn):
    """Candidate links (u, v) -> sorted distinct `node_hash`es of their nodes, as a uint64 array:
    8 bytes per linked node, the set the exact check needs shingles for."""

    def create_accumulator(self):
        return []

    def add_input(self, acc, link):
        acc.append(node_hash(link[0]))
        acc.append(node_hash(link[1]))
        if len(acc) >= 1 << 16:
            acc[:] = [self._compact(acc)]
        return acc

    @staticmethod
    def _compact(parts) -> np.ndarray:
        arrays = [p for p in parts if isinstance(p, np.ndarray)]
        ints = [p for p in parts if not isinstance(p, np.ndarray)]
        return np.unique(np.concatenate(arrays + [np.array(ints, dtype=np.uint64)]))

    def merge_accumulators(self, accs):
        return [self._compact([p for acc in accs for p in acc])]

    def extract_output(self, acc):
        return self._compact(acc)


def linked_only(kv, linked: np.ndarray):
    """(node, shingles) -> the same when the node has a candidate link."""
    h = np.uint64(node_hash(kv[0]))
    i = np.searchsorted(linked, h)
    if i < len(linked) and linked[i] == h:
        yield kv


def exact_check_shingles(hashes: np.ndarray) -> bytes:
    """A document's 64-bit shingle hashes -> their distinct low 32 bits, sorted, as raw bytes
    (what `_ExactCheck` reads back with `_shingle_array`). They wait in the runner's
    buffers for every document until the candidate links are known: 4 bytes a shingle, and
    bytes rather than an array, which a runner would pickle. Two documents of 10,000 shingles
    share about 10,000^2 / 2^32 = 0.02 spurious 32-bit values, each moving their Jaccard by one
    over the size of their union."""
    return np.unique(hashes.astype(np.uint32)).tobytes()


def _shingle_array(blob: bytes) -> np.ndarray:
    """`exact_check_shingles` bytes -> the sorted uint32 array."""
    return np.frombuffer(blob, dtype=np.uint32)


class _ExactCheck(beam.PTransform):
    """Candidate links (u, v) -> the links whose exact shingle Jaccard is at least `threshold`.

    Only the shingles of linked nodes take part: a side input of their hashes (`LinkedNodes`, 8
    bytes per linked node) filters the shingles first, so a document without candidates sends
    none through the joins. Then two joins keyed by node: v's shingles go to its links (a cold
    group min has at most bands x hot_key_values links), then to u with u's own (at most `bands`
    links per u). The min of a hot group sends its shingles through a side input instead."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def expand(self, inputs):
        cold, hot, hot_groups, all_shingles = inputs
        threshold = self.threshold
        linked = ((cold, hot) | "Links" >> beam.Flatten()
                  | "Linked nodes" >> beam.CombineGlobally(LinkedNodes()))
        shingles = all_shingles | "Shingles of linked nodes" >> beam.FlatMap(
            linked_only, AsSingleton(linked))

        def hot_min_shingles(kv, hot_mins):
            if kv[0] in hot_mins:
                yield kv

        hot_mins = hot_groups | "Hot mins" >> beam.Map(lambda kv: (kv[1], True))
        hot_sh = shingles | "Hot min shingles" >> beam.FlatMap(hot_min_shingles, AsDict(hot_mins))

        def attach_v(kv):
            v, grouped = kv
            for sh_v in grouped["sh"]:
                for u in sorted(set(grouped["u"])):
                    yield (u, (v, sh_v))

        with_v = (join({"u": cold | "Key by min" >> beam.Map(lambda e: (e[1], e[0])), "sh": shingles},
                        "Join min shingles") | "Attach" >> beam.FlatMap(attach_v))
        hot_v = hot | "Hot candidates" >> beam.Map(lambda e: (e[0], (e[1], None)))

        def check(kv, hot_sh):
            u, grouped = kv
            checked = Metrics.counter("dedup", "exact_check.pairs")
            rejected = Metrics.counter("dedup", "exact_check.rejected")
            for sh_u in grouped["sh"]:
                seen = set()
                for v, sh_v in sorted(grouped["v"], key=lambda x: x[0]):
                    if v in seen:
                        continue
                    seen.add(v)
                    checked.inc()
                    other = hot_sh[v] if sh_v is None else sh_v
                    if minhash.jaccard(_shingle_array(sh_u), _shingle_array(other)) >= threshold:
                        yield (u, v)
                    else:
                        rejected.inc()

        return (join({"v": (with_v, hot_v) | "All candidates" >> beam.Flatten(), "sh": shingles},
                      "Join own shingles")
                | "Exact Jaccard" >> beam.FlatMap(check, AsDict(hot_sh)))


class _ClusterSample(beam.CombineFn):
    """Members of one cluster -> (count, the `CLUSTER_EXAMPLES` smallest members)."""

    def create_accumulator(self):
        return (0, [])

    def add_input(self, acc, node):
        return (acc[0] + 1, sorted(acc[1] + [node])[:CLUSTER_EXAMPLES])

    def merge_accumulators(self, accs):
        n, sample = 0, []
        for c, s in accs:
            n += c
            sample = sorted(sample + s)[:CLUSTER_EXAMPLES]
        return (n, sample)

    def extract_output(self, acc):
        return acc


class ClusterReport(beam.CombineFn):
    """Cluster rows -> {clusters, duplicates, size histogram (exact sizes up to 10, then powers
    of two), the largest clusters}."""

    def create_accumulator(self):
        return {"clusters": 0, "duplicates": 0, "sizes": {}, "largest": []}

    def add_input(self, acc, row):
        acc["clusters"] += 1
        acc["duplicates"] += row["size"] - 1
        b = qdedup.cluster_size_bucket(row["size"])
        acc["sizes"][b] = acc["sizes"].get(b, 0) + 1
        acc["largest"] = self._top(acc["largest"] + [row])
        return acc

    @staticmethod
    def _top(rows):
        return sorted(rows, key=lambda r: (-r["size"], r["keeper"]))[:LARGEST_CLUSTERS]

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            out["clusters"] += acc["clusters"]
            out["duplicates"] += acc["duplicates"]
            for b, n in acc["sizes"].items():
                out["sizes"][b] = out["sizes"].get(b, 0) + n
            out["largest"] = self._top(out["largest"] + acc["largest"])
        return out

    def extract_output(self, acc):
        sizes = acc["sizes"]
        return {**acc, "sizes": {b: sizes[b] for b in sorted(sizes, key=qdedup.cluster_bucket_order)}}



class NearDecisions(beam.PTransform):
    """(alive node, candidate) records, (node, band keys) and (node, shingle hashes) -> `labels`
    (node, its component's smallest node) for every node that is not a keeper, `clusters`
    (keeper node, (duplicates, their `CLUSTER_EXAMPLES` smallest nodes)) and `rounds`."""

    def __init__(self, settings: NearSettings):
        super().__init__()
        self.settings = settings

    def expand(self, inputs):
        alive, bands, shingles = inputs
        s = self.settings

        def alive_bands(kv):
            node, grouped = kv
            if grouped["alive"]:
                for keys in grouped["bands"]:
                    for key in keys:
                        yield (key, node)

        pairs = (join({"alive": alive | "Alive nodes" >> beam.Map(lambda kv: (kv[0], True)),
                       "bands": bands}, "Bands of alive nodes")
                 | "Band keys" >> beam.FlatMap(alive_bands))
        links = pairs | "Buckets" >> _LinkToGroupMin(s.hot_key_values)
        if s.exact_check:
            edges = ((links["cold"], links["hot"], links["hot_groups"], shingles)
                     | "Exact check" >> _ExactCheck(s.threshold))
        else:
            edges = (links["cold"], links["hot"]) | "Candidate links" >> beam.Flatten()
        cc = edges | "Components" >> ConnectedComponents(s.max_rounds, s.hot_key_values)
        clusters = (cc["labels"] | "Root to member" >> beam.Map(lambda cr: (cr[1], cr[0]))
                    | "Cluster sizes" >> beam.CombinePerKey(_ClusterSample()))
        return {"labels": cc["labels"], "clusters": clusters, "rounds": cc["rounds"]}
