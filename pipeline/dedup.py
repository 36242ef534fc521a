"""Beam dedup stages: exact, URL and near-duplicate documents, and repeated paragraphs or spans.

The science (shingles, signatures, bands, Jaccard, units) is in `quality/minhash.py`; this module
is the wiring, written so that nothing needs one machine's view of the corpus:

- Near duplicates: MinHash LSH. Every document puts one (band, band hash) key per band; a bucket
  links each member to its smallest member (no all-pairs). Connected components of those links
  are found by alternating large-star / small-star (Kiveris et al., "Connected Components in
  MapReduce and Beyond", 2014), each a Beam stage, unrolled to `max_rounds` rounds; a round gated
  by the previous round's change count passes its edges through untouched once the components
  have converged. The round at which nothing changed is recorded (stats output, Beam counter);
  if the bound is reached before that, the job fails with an error that says so.
- Keepers: components are labelled by their smallest *node*, and a node sorts by the keeper
  signal (higher first; documents without it last), then by id. So the component's label is its
  keeper and nothing has to be broadcast to the members afterwards.
- Hot keys. A bucket (or exact-duplicate group, or URL, or star centre) that 100,000 documents
  share must not put 100,000 values on one key. Groups are formed with `CombinePerKey` over a
  bounded accumulator (`BoundedGroup`): up to `hot_key_values` distinct members, else only the
  count, min and max; combiner lifting merges partial accumulators before the shuffle. A group
  that overflows is "hot": its min goes out as a small side input and every member reads it in
  a plain ParDo. Paragraph dedup needs no join on the paragraph at all: `CombinePerKey(min)`
  names each paragraph's owner, and the owner (keyed by document id) is told what it keeps.

Outputs follow `pipeline/stages.py`: a main `docs` output of unchanged document dicts and tagged
`duplicate` (ledger rows) outputs, so that the accounting identity holds with duplicates counted.
"""

from __future__ import annotations

import math
import struct
import typing

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, AsSingleton, TaggedOutput

from pipeline import records
from quality import minhash, normalize

DUPLICATE_TAG = "duplicate"
DROPPED_TAG = "dropped"
CLUSTERS_TAG = "clusters"
STATS_TAG = "stats"

DEFAULT_HOT_KEY_VALUES = 1000  # distinct values a group may hold on one key before it is "hot"
# Large-star/small-star needs O(log^2 n) rounds in theory and about log2 n + 1 on a chain of n
# nodes, the slowest shape LSH links take (successive versions of a page): 11 for 1,000 nodes
# (10 that change and a confirming one), so 16 covers chains of about 30,000. A round after
# convergence passes no edges but is still a few stages (about 0.3 s on FnApiRunner).
DEFAULT_MAX_ROUNDS = 16
CLUSTER_EXAMPLES = 5  # member ids listed per cluster row
LARGEST_CLUSTERS = 20  # clusters listed in the stats output
_MASK64 = (1 << 64) - 1
_MISSING_RANK = "~" * 16  # sorts after every hex rank: documents without the keeper signal last


# ----------------------------------------------------------------------------------------------
# Nodes: a document's position in keeper order
# ----------------------------------------------------------------------------------------------

def _rank(value) -> str:
    """16 hex digits that sort like -value (higher signal first); missing/NaN sort last."""
    try:
        x = -float(value)
    except (TypeError, ValueError):
        return _MISSING_RANK
    if math.isnan(x):
        return _MISSING_RANK
    bits = struct.unpack(">Q", struct.pack(">d", x + 0.0))[0]  # + 0.0: -0.0 becomes 0.0
    bits = bits ^ _MASK64 if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def node_of(doc: dict, keeper_signal: str | None) -> str:
    """A document's node: its id, or with a keeper signal `<rank>|<id>`; the smallest node of a
    group is its keeper (best signal, then smallest id)."""
    if keeper_signal is None:
        return doc["id"]
    return f"{_rank(doc.get('signals', {}).get(keeper_signal))}|{doc['id']}"


def id_of(node: str, keeper_signal: str | None) -> str:
    return node if keeper_signal is None else node[17:]


# ----------------------------------------------------------------------------------------------
# Hot-key-safe grouping
# ----------------------------------------------------------------------------------------------

def _join(inputs: dict, label: str):
    """CoGroupByKey on str keys, each input's key declared `str`, so that every input encodes
    its keys with the same deterministic coder instead of whatever each one infers (runners
    other than the in-process one match keys by their encoded bytes)."""
    typed = {name: pc | f"{label}: str keys ({name})" >> beam.Map(lambda kv: kv).with_output_types(
        typing.Tuple[str, typing.Any]) for name, pc in inputs.items()}
    return typed | label >> beam.CoGroupByKey()


class BoundedGroup(beam.CombineFn):
    """A key's values -> [count, min, max, distinct values or None, peak held].

    Holds at most `limit` + 1 distinct values at any time; past `limit` it keeps only count, min
    and max (the group is hot). `peak` records the most values an accumulator ever held, so a
    test can check the bound."""

    def __init__(self, limit: int = DEFAULT_HOT_KEY_VALUES):
        self.limit = limit

    def create_accumulator(self):
        return [0, None, None, set(), 0]

    def _add(self, acc, value, n=1):
        acc[0] += n
        if acc[1] is None or value < acc[1]:
            acc[1] = value
        if acc[2] is None or value > acc[2]:
            acc[2] = value

    def add_input(self, acc, value):
        self._add(acc, value)
        if acc[3] is not None:
            acc[3].add(value)
            acc[4] = max(acc[4], len(acc[3]))
            if len(acc[3]) > self.limit:
                acc[3] = None
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            if acc[0] == 0:
                continue
            out[0] += acc[0]
            self._add(out, acc[1], 0)
            self._add(out, acc[2], 0)
            out[4] = max(out[4], acc[4])
            if acc[3] is None:
                out[3] = None
            elif out[3] is not None:
                for value in acc[3]:
                    out[3].add(value)
                    if len(out[3]) > self.limit:
                        break
                out[4] = max(out[4], len(out[3]))
                if len(out[3]) > self.limit:
                    out[3] = None
        return out

    def extract_output(self, acc):
        return acc


def _record_group(acc) -> None:
    Metrics.distribution("dedup", "values_held_per_key").update(acc[4])
    if acc[3] is None:
        Metrics.counter("dedup", "hot_keys").inc()


class _LinkToGroupMin(beam.PTransform):
    """(group key, node) pairs -> (node, smallest node of its group) for every other member.

    Tagged outputs: `cold` links (groups of at most `limit` members, formed by the combine),
    `hot` links (bigger groups: members read the min from a side input) and `hot_groups`
    (key, min) of the hot groups."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def expand(self, pairs):
        limit = self.limit

        def split(kv):
            key, acc = kv
            _record_group(acc)
            if acc[3] is None:
                yield TaggedOutput("hot_groups", (key, acc[1]))
            elif len(acc[3]) > 1:
                low = acc[1]
                for node in sorted(acc[3]):
                    if node != low:
                        yield (node, low)

        def link_hot(kv, hot):
            key, node = kv
            low = hot.get(key)
            if low is not None and node != low:
                yield (node, low)

        groups = (pairs | "Group (bounded)" >> beam.CombinePerKey(BoundedGroup(limit))
                  | "Cold links" >> beam.FlatMap(split).with_outputs("hot_groups", main="cold"))
        hot = pairs | "Hot links" >> beam.FlatMap(link_hot, AsDict(groups.hot_groups))
        return {"cold": groups.cold, "hot": hot, "hot_groups": groups.hot_groups}


# ----------------------------------------------------------------------------------------------
# Exact and URL dedup (groups are cliques: each member's keeper is its group's min)
# ----------------------------------------------------------------------------------------------

class _DedupByKey(beam.PTransform):
    def __init__(self, key_fn, reason: str, keeper_signal: str | None, hot_key_values: int):
        super().__init__()
        self.key_fn = key_fn
        self.reason = reason
        self.keeper_signal = keeper_signal
        self.hot_key_values = hot_key_values

    def expand(self, docs):
        key_fn, signal, reason = self.key_fn, self.keeper_signal, self.reason

        def key(doc):
            k = key_fn(doc)
            if k is None:
                yield TaggedOutput("unkeyed", doc)
            else:
                node = node_of(doc, signal)
                yield TaggedOutput("pairs", (k, node))
                yield (node, doc)

        keyed = docs | "Key" >> beam.FlatMap(key).with_outputs("unkeyed", "pairs", main="docs")
        links = keyed.pairs | "Link to keeper" >> _LinkToGroupMin(self.hot_key_values)
        keepers = (links["cold"], links["hot"]) | "All links" >> beam.Flatten()

        def route(kv):
            _, grouped = kv
            for doc in grouped["doc"]:
                keeper = min(grouped["keeper"], default=None)
                if keeper is None:
                    yield doc
                else:
                    Metrics.counter("dedup", f"{reason}s").inc()
                    yield TaggedOutput(DUPLICATE_TAG, records.doc_outcome(
                        doc, records.DUPLICATE, reason=reason, duplicate_of=id_of(keeper, signal)))

        routed = (_join({"doc": keyed.docs, "keeper": keepers}, "Join keepers")
                  | "Route" >> beam.FlatMap(route).with_outputs(DUPLICATE_TAG, main="docs"))
        out_docs = (routed.docs, keyed.unkeyed) | "Docs" >> beam.Flatten()
        return {"docs": out_docs, DUPLICATE_TAG: routed[DUPLICATE_TAG]}


class _KeyedDedup(beam.PTransform):
    """Base of the key-based dedups: one keeper per key, the other documents its duplicates."""

    reason = ""

    def __init__(self, keeper_signal: str | None = None,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES):
        super().__init__()
        self.keeper_signal = keeper_signal
        self.hot_key_values = hot_key_values

    @staticmethod
    def key(doc: dict):
        raise NotImplementedError

    def expand(self, docs):
        return docs | _DedupByKey(self.key, self.reason, self.keeper_signal, self.hot_key_values)


class ExactDedup(_KeyedDedup):
    """Documents with the same `dedup_key` (normalized text hash): the keeper is the smallest
    node (keeper signal, then id; the smallest id when `keeper_signal` is None), the others are
    `exact_duplicate`s of it. Hot-key safe: a text that 100,000 documents share never puts them
    on one key."""

    reason = "exact_duplicate"

    @staticmethod
    def key(doc: dict):
        return doc.get("dedup_key") or normalize.dedup_key(doc["text"])


class UrlDedup(_KeyedDedup):
    """Documents with the same URL (`quality.minhash.url_key`): one keeper, the others are
    `url_duplicate`s of it. Documents without a URL pass through."""

    reason = "url_duplicate"

    @staticmethod
    def key(doc: dict):
        return minhash.url_key(doc.get("url"))


# ----------------------------------------------------------------------------------------------
# Connected components: alternating large-star / small-star
# ----------------------------------------------------------------------------------------------

class _StarOp(beam.PTransform):
    """One large-star or small-star step over undirected edges (a, b), a != b.

    large-star: for each node u with neighbours G(u), m = min(G(u) + u); every neighbour v > u
    is relinked to m. small-star: for each u with smaller neighbours N(u), m = min(N(u)); every
    v in N(u) and u itself are linked to m. Outputs edges and, tagged `changes`, one 1 per node
    whose edges changed (large: it has smaller and larger neighbours; small: it has two or more
    smaller neighbours). Both counts are 0 exactly when every component is a star around its
    smallest node."""

    def __init__(self, kind: str, limit: int):
        super().__init__()
        assert kind in ("large", "small")
        self.kind = kind
        self.limit = limit

    def expand(self, edges):
        large = self.kind == "large"
        if large:
            keyed = edges | "Both directions" >> beam.FlatMap(lambda e: ((e[0], e[1]), (e[1], e[0])))
        else:
            keyed = edges | "Key by larger" >> beam.Map(lambda e: (e, e[::-1])[e[0] < e[1]])

        def star(kv):
            u, acc = kv
            _record_group(acc)
            count, low, high, values = acc[0], acc[1], acc[2], acc[3]
            if large:
                m = min(low, u)
                if m < u and high > u:
                    yield TaggedOutput("changes", 1)
                if values is None:
                    yield TaggedOutput("hot", (u, m))
                else:
                    for v in sorted(values):
                        if v > u:
                            yield (v, m)
            else:
                m = low
                if values is None or len(values) > 1:
                    yield TaggedOutput("changes", 1)
                if values is None:
                    yield TaggedOutput("hot", (u, m))
                else:
                    for v in sorted(values):
                        if v != m:
                            yield (v, m)
                yield (u, m)

        def hot_star(kv, hot):
            u, v = kv
            m = hot.get(u)
            if m is not None and (v > u if large else v != m):
                yield (v, m)

        stars = (keyed | "Neighbours (bounded)" >> beam.CombinePerKey(BoundedGroup(self.limit))
                 | "Star" >> beam.FlatMap(star).with_outputs("changes", "hot", main="edges"))
        hot_edges = keyed | "Star (hot nodes)" >> beam.FlatMap(hot_star, AsDict(stars.hot))
        out = (stars.edges, hot_edges) | "Edges" >> beam.Flatten()
        return {"edges": out, "changes": stars.changes}


class _Gate(beam.DoFn):
    """Passes edges on to the next round while the previous round changed anything; afterwards
    sends them straight to the output, so converged rounds cost no shuffle."""

    def process(self, edge, changes):
        if changes:
            yield edge
        else:
            yield TaggedOutput("done", edge)


class ConnectedComponents(beam.PTransform):
    """Undirected edges (a, b) -> (node, smallest node of its component) for every node that is
    not the smallest; and, tagged `rounds`, one dict: the round at which nothing changed and the
    changes per round. Fails the job if `max_rounds` pass without a round that changes nothing."""

    def __init__(self, max_rounds: int = DEFAULT_MAX_ROUNDS,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES):
        super().__init__()
        self.max_rounds = max_rounds
        self.limit = hot_key_values

    def expand(self, edges):
        active, done, per_round, prev = edges, [], [], None
        for k in range(1, self.max_rounds + 1):
            if prev is not None:
                gated = active | f"Gate {k}" >> beam.ParDo(_Gate(), AsSingleton(prev)).with_outputs(
                    "done", main="edges")
                done.append(gated.done)
                active = gated.edges
            large = active | f"Large-star {k}" >> _StarOp("large", self.limit)
            small = large["edges"] | f"Small-star {k}" >> _StarOp("small", self.limit)
            prev = ((large["changes"], small["changes"]) | f"Changes {k}" >> beam.Flatten()
                    | f"Count changes {k}" >> beam.CombineGlobally(sum))
            per_round.append(prev | f"Round {k}" >> beam.Map(lambda c, k=k: (k, c)))
            active = small["edges"]
        final = (*done, active) | "Final edges" >> beam.Flatten()
        labels = (final | "Child to root" >> beam.Map(lambda e: (max(e), min(e)))
                  | "Root per node" >> beam.CombinePerKey(min))
        rounds = (per_round | "All rounds" >> beam.Flatten()
                  | "Rounds" >> beam.combiners.ToList()
                  | "Check convergence" >> beam.Map(_converged, self.max_rounds))
        return {"labels": labels, "rounds": rounds}


def _converged(per_round, max_rounds):
    changes = [c for _, c in sorted(per_round)]
    done = next((k for k, c in enumerate(changes, 1) if c == 0), None)
    if done is None:
        raise RuntimeError(
            f"near dedup: connected components did not converge within max_rounds={max_rounds} "
            f"(nodes still changing per round: {changes}); raise --dedup_max_rounds")
    Metrics.counter("dedup", "cc_rounds").inc(done)
    return {"rounds": done, "rounds_changed": done - 1, "max_rounds": max_rounds,
            "changes_per_round": changes[:done]}


# ----------------------------------------------------------------------------------------------
# Near-duplicate dedup
# ----------------------------------------------------------------------------------------------

class _Signatures(beam.DoFn):
    """A batch of documents -> (node, doc), (band key, node) per band, and with the exact check
    (node, shingle hashes). Signatures are computed for the whole batch in one numpy pass."""

    def __init__(self, bands, rows, seed, keeper_signal, exact_check):
        self.bands, self.rows, self.seed = bands, rows, seed
        self.keeper_signal, self.exact_check = keeper_signal, exact_check
        self.no_shingles = Metrics.counter("dedup", "docs_without_shingles")

    def process(self, batch):
        hashes = [minhash.shingle_hashes(d["text"]) for d in batch]
        sigs = minhash.signatures(hashes, self.bands * self.rows, self.seed)
        for doc, h, sig in zip(batch, hashes, sigs):
            node = node_of(doc, self.keeper_signal)
            yield (node, doc)
            if not len(h):  # no words: never a near duplicate (an empty signature matches all)
                self.no_shingles.inc()
                continue
            for key in minhash.band_keys(sig, self.bands, self.rows):
                yield TaggedOutput("bands", (key, node))
            if self.exact_check:
                yield TaggedOutput("shingles", (node, h))


class _ExactCheck(beam.PTransform):
    """Candidate links (u, v) -> the links whose exact shingle Jaccard is at least `threshold`.

    Two joins keyed by node: v's shingles go to its links (a cold group min has at most
    bands x hot_key_values links), then to u with u's own (at most `bands` links per u). The min of
    a hot group sends its shingles through a side input instead."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def expand(self, inputs):
        cold, hot, hot_groups, shingles = inputs
        threshold = self.threshold

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

        with_v = (_join({"u": cold | "Key by min" >> beam.Map(lambda e: (e[1], e[0])), "sh": shingles},
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
                    if minhash.jaccard(sh_u, hot_sh[v] if sh_v is None else sh_v) >= threshold:
                        yield (u, v)
                    else:
                        rejected.inc()

        return (_join({"v": (with_v, hot_v) | "All candidates" >> beam.Flatten(), "sh": shingles},
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
        b = minhash.cluster_size_bucket(row["size"])
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
        return {**acc, "sizes": {b: sizes[b] for b in sorted(sizes, key=minhash.cluster_bucket_order)}}


class NearDedup(beam.PTransform):
    """Near-duplicate documents by MinHash LSH and connected components.

    Input: document dicts (`id`, `text`, `signals`, `bytes`, `source`, ...). Outputs (a dict):
    `docs` (keepers and singletons, unchanged), `duplicate` (ledger rows, reason
    `near_duplicate`, `duplicate_of` the keeper's id), `clusters` (one row per cluster of two or
    more: `id` and `keeper` = the keeper's id, which names the cluster, `size`, `members` = the
    ids of its first `CLUSTER_EXAMPLES` duplicates in keeper order, the keeper's source and text start) and `stats` (one dict:
    settings, rounds, cluster-size histogram, largest clusters).

    `bands` x `rows` permutations (default 14 x 8, FineWeb), or `lsh_threshold` alone to derive
    them for that Jaccard (`quality.minhash.bands_rows_for_threshold`). `exact_check` drops
    candidate links whose exact shingle Jaccard is below `threshold` (default 0.8) before the
    components are formed. The keeper of a cluster has the highest `keeper_signal` (missing
    counts as lowest), then the smallest id."""

    def __init__(self, bands: int | None = None, rows: int | None = None,
                 seed: int = minhash.DEFAULT_SEED, exact_check: bool = False,
                 threshold: float = minhash.DEFAULT_THRESHOLD, keeper_signal: str | None = None,
                 max_rounds: int = DEFAULT_MAX_ROUNDS, lsh_threshold: float | None = None,
                 hot_key_values: int = DEFAULT_HOT_KEY_VALUES, batch_size: int = 256):
        super().__init__()
        if lsh_threshold is not None:
            if bands is not None or rows is not None:
                raise ValueError("give bands and rows, or lsh_threshold, not both")
            bands, rows = minhash.bands_rows_for_threshold(lsh_threshold)
        elif bands is None and rows is None:
            bands, rows = minhash.DEFAULT_BANDS, minhash.DEFAULT_ROWS
        elif bands is None or rows is None:
            raise ValueError("give both bands and rows, or neither")
        self.bands, self.rows, self.seed = bands, rows, seed
        self.threshold = threshold
        self.exact_check = exact_check
        self.keeper_signal = keeper_signal
        self.max_rounds = max_rounds
        self.hot_key_values = hot_key_values
        self.batch_size = batch_size

    def settings(self) -> dict:
        return {"bands": self.bands, "rows": self.rows, "num_perm": self.bands * self.rows,
                "seed": self.seed, "shingle_words": minhash.SHINGLE_WORDS,
                "exact_check": self.exact_check, "threshold": self.threshold,
                "s_curve_midpoint": round(minhash.lsh_threshold(self.bands, self.rows), 4),
                "keeper_signal": self.keeper_signal, "max_rounds": self.max_rounds,
                "hot_key_values": self.hot_key_values}

    def expand(self, docs):
        signal = self.keeper_signal
        sig = (docs
               | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
               | "Signatures" >> beam.ParDo(_Signatures(self.bands, self.rows, self.seed, signal,
                                                        self.exact_check)).with_outputs(
                   "bands", "shingles", main="docs"))
        links = sig.bands | "Buckets" >> _LinkToGroupMin(self.hot_key_values)
        if self.exact_check:
            edges = ((links["cold"], links["hot"], links["hot_groups"], sig.shingles)
                     | "Exact check" >> _ExactCheck(self.threshold))
        else:
            edges = (links["cold"], links["hot"]) | "Candidate links" >> beam.Flatten()
        cc = edges | "Components" >> ConnectedComponents(self.max_rounds, self.hot_key_values)
        labels = cc["labels"]
        clusters = (labels | "Root to member" >> beam.Map(lambda cr: (cr[1], cr[0]))
                    | "Cluster sizes" >> beam.CombinePerKey(_ClusterSample()))

        def route(kv):
            node, grouped = kv
            for doc in grouped["doc"]:
                root = next(iter(grouped["root"]), None)
                if root is not None:
                    Metrics.counter("dedup", "near_duplicates").inc()
                    yield TaggedOutput(DUPLICATE_TAG, records.doc_outcome(
                        doc, records.DUPLICATE, reason="near_duplicate",
                        duplicate_of=id_of(root, signal)))
                    continue
                for count, sample in grouped["cluster"]:
                    yield TaggedOutput(CLUSTERS_TAG, {
                        "id": doc["id"], "keeper": doc["id"], "size": count + 1,
                        "members": [id_of(n, signal) for n in sample],
                        "keeper_source": doc.get("source"),
                        "keeper_head": doc["text"][:records.EXAMPLE_CHARS]})
                yield doc

        routed = (_join({"doc": sig.docs, "root": labels, "cluster": clusters}, "Join labels")
                  | "Route" >> beam.FlatMap(route).with_outputs(DUPLICATE_TAG, CLUSTERS_TAG,
                                                                 main="docs"))
        report = routed[CLUSTERS_TAG] | "Cluster report" >> beam.CombineGlobally(ClusterReport())
        settings = self.settings()
        stats = report | "Stats" >> beam.Map(
            lambda r, rounds: {**settings, **rounds, **r}, AsSingleton(cc["rounds"]))
        return {"docs": routed.docs, DUPLICATE_TAG: routed[DUPLICATE_TAG],
                CLUSTERS_TAG: routed[CLUSTERS_TAG], STATS_TAG: stats}


# ----------------------------------------------------------------------------------------------
# Sub-document dedup: repeated paragraphs (CCNet) or three-sentence spans (C4)
# ----------------------------------------------------------------------------------------------

class ParagraphDedup(beam.PTransform):
    """Removes every paragraph (or, with `unit="sentence_span"`, every three-sentence span) that
    occurred before in the corpus: the occurrence with the smallest (document id, position) is
    kept, as CCNet keeps the first. Docs in, docs out: the text loses the repeats, and
    `signals["dedup.<unit>_removed"]` / `["dedup.<unit>_removed_bytes"]` record what went
    (`bytes` stays the input size, for the accounting). A document left with no text is
    dropped (tagged `dropped`, reason `<unit>_dedup_empty`).

    Hot-key safe without a threshold: `CombinePerKey(min)` names each unit's owner (combiner
    lifting merges partial mins before the shuffle), and the owner learns what it keeps through
    a join on its own id; no key ever holds the occurrences of one unit."""

    def __init__(self, unit: str = "paragraph"):
        super().__init__()
        if unit not in ("paragraph", "sentence_span"):
            raise ValueError(f"unknown unit {unit!r}: paragraph or sentence_span")
        self.unit = unit

    def expand(self, docs):
        unit = self.unit

        def units(doc):
            us = minhash.dedup_units(doc["text"], unit)
            for i, (h, _) in enumerate(us):
                yield TaggedOutput("units", (h, (doc["id"], i)))
            yield (doc["id"], (doc, [span for _, span in us]))

        split = docs | "Units" >> beam.FlatMap(units).with_outputs("units", main="docs")
        owned = (split.units
                 | "First occurrence" >> beam.CombinePerKey(min)
                 | "Tell owner" >> beam.Map(lambda kv: (kv[1][0], kv[1][1])))

        def remove(kv):
            _, grouped = kv
            keep = set(grouped["owned"])
            for doc, spans in grouped["doc"]:
                gone = [span for i, span in enumerate(spans) if i not in keep]
                text, removed = minhash.remove_spans(doc["text"], gone)
                sig = {**doc["signals"], f"dedup.{unit}_removed": len(gone),
                       f"dedup.{unit}_removed_bytes": removed}
                out = {**doc, "text": text, "signals": sig}
                if gone:
                    Metrics.counter("dedup", f"{unit}.docs_changed").inc()
                    Metrics.counter("dedup", f"{unit}.removed").inc(len(gone))
                    Metrics.counter("dedup", f"{unit}.removed_bytes").inc(removed)
                    if "dedup_key" in doc:
                        out["dedup_key"] = normalize.dedup_key(text)
                if not text.strip():
                    Metrics.counter("dedup", f"{unit}.docs_emptied").inc()
                    yield TaggedOutput(DROPPED_TAG, records.doc_outcome(
                        out, records.DROPPED, reason=f"{unit}_dedup_empty"))
                else:
                    yield out

        result = (_join({"doc": split.docs, "owned": owned}, "Join owned")
                  | "Remove repeats" >> beam.FlatMap(remove).with_outputs(DROPPED_TAG, main="docs"))
        return {"docs": result.docs, DROPPED_TAG: result[DROPPED_TAG]}
