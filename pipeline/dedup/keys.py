"""Nodes (a document's place in keeper order) and hot-key-safe grouping, shared by every dedup step."""

from __future__ import annotations

import math
import struct
import typing

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import AsDict, TaggedOutput

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

def join(inputs: dict, label: str):
    """CoGroupByKey on str keys, each input's key declared `str`, so that every input encodes
    its keys with the same deterministic coder instead of whatever each one infers (runners
    other than the in-process one match keys by their encoded bytes)."""
    typed = {name: pc | f"{label}: str keys ({name})" >> beam.Map(lambda kv: kv).with_output_types(
        typing.Tuple[str, typing.Any]) for name, pc in inputs.items()}
    return typed | label >> beam.CoGroupByKey()


class BoundedGroup(beam.CombineFn):
    """A key's values -> [count, min, max, distinct values or None, peak held].

    Holds at most `limit` + 1 distinct values at any time; past `limit` it keeps only count, min
    and max (the group is hot). While the values are held, min and max are left None (`bounds`
    derives them): accumulators are what a lifted combine shuffles, and most groups (band keys,
    URLs, text hashes) have one member, which should travel once, not three times. `peak` records
    the most values an accumulator ever held, so a test can check the bound."""

    def __init__(self, limit: int = DEFAULT_HOT_KEY_VALUES):
        self.limit = limit

    def create_accumulator(self):
        return [0, None, None, set(), 0]

    @staticmethod
    def bounds(acc) -> tuple:
        """(min, max) of the group's values; (None, None) for an empty group."""
        if acc[3] is None:
            return acc[1], acc[2]
        return (min(acc[3]), max(acc[3])) if acc[3] else (None, None)

    @staticmethod
    def _widen(acc, low, high) -> None:
        """Makes `acc` hot (values dropped) with bounds widened to include low..high."""
        lo, hi = BoundedGroup.bounds(acc)
        acc[1] = low if lo is None or (low is not None and low < lo) else lo
        acc[2] = high if hi is None or (high is not None and high > hi) else hi
        acc[3] = None

    def add_input(self, acc, value):
        acc[0] += 1
        if acc[3] is None:
            self._widen(acc, value, value)
            return acc
        acc[3].add(value)
        acc[4] = max(acc[4], len(acc[3]))
        if len(acc[3]) > self.limit:
            self._widen(acc, None, None)
        return acc

    def merge_accumulators(self, accs):
        out = self.create_accumulator()
        for acc in accs:
            if acc[0] == 0:
                continue
            out[0] += acc[0]
            out[4] = max(out[4], acc[4])
            if acc[3] is None or out[3] is None:
                self._widen(out, *self.bounds(acc))
                continue
            for value in acc[3]:
                out[3].add(value)
                if len(out[3]) > self.limit:
                    break
            out[4] = max(out[4], len(out[3]))
            if len(out[3]) > self.limit:
                self._widen(out, *self.bounds(acc))
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
                low = min(acc[3])
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


