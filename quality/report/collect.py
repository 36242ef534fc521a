"""Streaming collection: everything the report needs from the ledger and dead letters, read once
in bounded memory (a hash-chosen sample of signal values, exact counts, small heaps of examples)."""

from __future__ import annotations

import heapq
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Mapping

import numpy as np

from quality.outputs import DROPPED, DUPLICATE, EXAMPLE_CHARS, KEPT, stable_hash

SAMPLE_VALUES = 100_000  # documents whose signals feed the histograms: 0.4 MB per signal
EXAMPLES_PER_RULE = 5
DUPLICATE_EXAMPLES = 5
DEAD_LETTER_EXAMPLES = 3  # per (stage, error class)
MAX_ERROR_CLASSES = 200  # error messages are free text: past this many, the rest is "(other)"
MAX_REASONS = 200  # drop reasons kept with examples (a policy has a dozen rules)
MAX_SIGNALS = 1000  # a bound against a ledger with garbage signal names
MAX_LANGUAGES = 1000  # fastText knows 176; a bound against a garbage `lang` signal

# Outcome classes in histograms. "dropped here" = dropped by a rule that reads this signal.
KEPT_CLASS, DUPLICATE_CLASS, DROPPED_OTHER, DROPPED_HERE = 0, 1, 2, 3


class DocSample:
    """Signal values of the (at most) k annotated documents whose ids have the smallest hash.

    One sample of documents serves every signal (they share the hash), so memory is about
    k x (number of signals) x 4 bytes however long the ledger. Documents above the current k-th
    smallest hash are refused at once; the buffer is cut back to k when it reaches 1.25 k. The
    result depends only on the set of documents, not on their order.
    """

    def __init__(self, k: int):
        self.k = k
        self.limit: int | None = None
        self.n = 0
        self.hashes = array("Q")
        self.flags = array("B")  # KEPT_CLASS, DUPLICATE_CLASS or DROPPED_OTHER
        self.reasons = array("i")  # index into reason_signals of the signal that dropped it, or -1
        self.reason_signals: dict[str, int] = {}
        self.values: dict[str, array] = {}  # signal -> float32 per document, NaN where missing

    def add(self, h: int, flag: int, reason_signal: str | None, values: Mapping[str, float]) -> None:
        if self.limit is not None and h > self.limit:
            return
        for name in values:
            if name not in self.values:
                self.values[name] = array("f", [math.nan]) * self.n
        self.hashes.append(h)
        self.flags.append(flag)
        if reason_signal is None:
            self.reasons.append(-1)
        else:
            self.reasons.append(self.reason_signals.setdefault(reason_signal, len(self.reason_signals)))
        for name, column in self.values.items():
            column.append(values.get(name, math.nan))
        self.n += 1
        if self.n >= self.k + max(self.k // 4, 1):
            self._cut()

    def _cut(self) -> None:
        h = np.frombuffer(self.hashes, dtype=np.uint64)
        keep = np.sort(np.argpartition(h, self.k - 1)[: self.k]) if self.n > self.k else np.arange(self.n)
        self.limit = int(h[keep].max())
        self.hashes = _take(self.hashes, keep, np.uint64)
        self.flags = _take(self.flags, keep, np.uint8)
        self.reasons = _take(self.reasons, keep, np.int32)
        self.values = {name: _take(col, keep, np.float32) for name, col in self.values.items()}
        self.n = len(keep)

    def result(self, signal: str) -> tuple[np.ndarray, np.ndarray]:
        """(finite values, outcome classes) of one signal, ordered by hash."""
        if self.n > self.k:
            self._cut()
        if signal not in self.values:
            return np.zeros(0), np.zeros(0, dtype=np.uint8)
        order = np.argsort(np.frombuffer(self.hashes, dtype=np.uint64), kind="stable")
        values = np.frombuffer(self.values[signal], dtype=np.float32)[order].astype(np.float64)
        flags = np.frombuffer(self.flags, dtype=np.uint8)[order].copy()
        here = self.reason_signals.get(signal)
        if here is not None:
            flags[np.frombuffer(self.reasons, dtype=np.int32)[order] == here] = DROPPED_HERE
        finite = np.isfinite(values)
        return values[finite], flags[finite]


def _take(column: array, keep: np.ndarray, dtype) -> array:
    out = array(column.typecode)
    out.frombytes(np.frombuffer(column, dtype=dtype)[keep].tobytes())
    return out


class _Largest:
    """Heap entry whose order is reversed, so that heapq's min-heap keeps the largest key on top."""

    __slots__ = ("key", "payload")

    def __init__(self, key: tuple[int, str], payload: dict):
        self.key, self.payload = key, payload

    def __lt__(self, other: "_Largest") -> bool:
        return self.key > other.key


class SmallestK:
    """The k payloads with the smallest (hash, id): a deterministic sample of examples."""

    def __init__(self, k: int):
        self.k = k
        self.heap: list[_Largest] = []

    def add(self, h: int, key: str, payload_fn: Callable[[], dict]) -> None:
        item = (h, key)
        if len(self.heap) < self.k:
            heapq.heappush(self.heap, _Largest(item, payload_fn()))
        elif item < self.heap[0].key:
            heapq.heapreplace(self.heap, _Largest(item, payload_fn()))

    def items(self) -> list[dict]:
        return [e.payload for e in sorted(self.heap, key=lambda e: e.key)]


class SignalStats:
    """Exact count, non-finite count, min and max of one signal over every annotated document."""

    def __init__(self):
        self.n = 0
        self.nonfinite = 0
        self.lo = math.inf
        self.hi = -math.inf

    def add(self, value: float) -> bool:
        """Counts the value; False if it is not finite (and so stays out of histograms)."""
        self.n += 1
        if not math.isfinite(value):
            self.nonfinite += 1
            return False
        self.lo = min(self.lo, value)
        self.hi = max(self.hi, value)
        return True


def error_class(error: str) -> str:
    """A dead letter's error without its particulars: "invalid UTF-8 at byte 31" and "... byte 0"
    are one class. The text before the first ": " (or the second, after an exception name)."""
    text = re.sub(r"(?<![\w-])\d+", "N", str(error))
    parts = text.split(": ")
    if len(parts) > 1 and re.fullmatch(r"[A-Za-z_][\w.]*(Error|Exception|Warning)", parts[0]):
        return ": ".join(parts[:2])
    return parts[0]


class Collector:
    """Everything the report needs from the ledger and dead letters, in bounded memory."""

    def __init__(self, rules: list[dict], sample_values: int = SAMPLE_VALUES):
        self.rules = {r["name"]: r for r in rules}
        self.signal_rules: dict[str, list[str]] = {}
        for r in rules:
            self.signal_rules.setdefault(r.get("signal", r["name"]), []).append(r["name"])
        self.sample = DocSample(sample_values)
        self.signals: dict[str, SignalStats] = {}
        self.annotated = 0
        self.langs: dict[str, Counter] = {}
        self.examples: dict[str, SmallestK] = {}
        self.duplicates = SmallestK(DUPLICATE_EXAMPLES)
        self.dead: dict[tuple[str, str], dict] = {}
        self.dead_rows = 0

    def add_row(self, row: Mapping) -> None:
        outcome = row.get("outcome")
        signals = row.get("signals")
        doc_id = str(row.get("id", ""))
        h = stable_hash(doc_id)
        if outcome == DUPLICATE:
            self.duplicates.add(h, doc_id, lambda: _example(row))
        if not isinstance(signals, Mapping):
            return
        self.annotated += 1
        reason = row.get("reason")
        reason_signal = self.rules.get(reason, {}).get("signal", reason) if outcome == DROPPED else None
        base = {KEPT: KEPT_CLASS, DUPLICATE: DUPLICATE_CLASS}.get(outcome, DROPPED_OTHER)
        numeric = {}
        for name, value in signals.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            stats = self.signals.get(name)
            if stats is None:
                if len(self.signals) >= MAX_SIGNALS:
                    continue
                stats = self.signals[name] = SignalStats()
            if stats.add(float(value)):
                numeric[name] = float(value)
        self.sample.add(h, base, reason_signal, numeric)
        lang = signals.get("lang")
        if lang is not None:
            lang = str(lang)
            if lang not in self.langs and len(self.langs) >= MAX_LANGUAGES:
                lang = "(other)"
            self.langs.setdefault(lang, Counter())[outcome] += 1
            self.langs[lang][outcome + "_bytes"] += int(row.get("bytes") or 0)
        if outcome == DROPPED and reason is not None:
            reason = str(reason)
            if reason in self.examples or len(self.examples) < MAX_REASONS:
                self.examples.setdefault(reason, SmallestK(EXAMPLES_PER_RULE)).add(
                    h, doc_id, lambda: _example(row))

    def add_dead_letter(self, letter: Mapping) -> None:
        self.dead_rows += 1
        stage = str(letter.get("stage", "?"))
        cls = error_class(letter.get("error", ""))
        key = (stage, cls)
        if key not in self.dead and len(self.dead) >= MAX_ERROR_CLASSES:
            key = (stage, "(other)")
        entry = self.dead.setdefault(key, {"docs": 0, "bytes": 0,
                                          "examples": SmallestK(DEAD_LETTER_EXAMPLES)})
        entry["docs"] += 1
        entry["bytes"] += int(letter.get("bytes") or 0)
        doc_id = str(letter.get("id", ""))
        where = f"{letter['file']}:{letter.get('line', '?')}" if letter.get("file") else ""
        entry["examples"].add(stable_hash(doc_id), doc_id, lambda: {
            "id": doc_id, "error": str(letter.get("error", "")), "head": str(letter.get("head", "")),
            "where": where if where != doc_id else "",
            "bytes": int(letter.get("bytes") or 0)})


def _example(row: Mapping) -> dict:
    signals = row.get("signals") if isinstance(row.get("signals"), Mapping) else {}
    return {"id": str(row.get("id", "")), "source": str(row.get("source") or ""),
            "bytes": int(row.get("bytes") or 0), "head": str(row.get("head") or "")[:EXAMPLE_CHARS],
            "signals": dict(signals), "failures": [str(f) for f in row.get("failures") or []],
            "duplicate_of": row.get("duplicate_of"), "reason": row.get("reason")}
