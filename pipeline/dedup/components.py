"""Connected components of near-duplicate links: alternating large-star / small-star.

Kiveris et al., "Connected Components in MapReduce and Beyond", 2014: each step a Beam stage,
unrolled to `max_rounds` rounds; a round gated by the previous round's change count passes its
edges through untouched once the components have converged. The round at which nothing changed
is recorded; if the bound is reached before that, the job fails with an error that says so.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, AsSingleton, TaggedOutput

from pipeline.dedup.keys import (DEFAULT_HOT_KEY_VALUES, DEFAULT_MAX_ROUNDS, BoundedGroup,
                                 _record_group)


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
            values = acc[3]
            low, high = BoundedGroup.bounds(acc)
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

