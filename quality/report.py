"""The corpus report: one self-contained HTML page (`OUT/report.html`) from a finished run.

It reads `stats.json`, `manifest.json`, the ledger (one row per input record) and the dead
letters, and shows what a person curating the corpus wants to see: the accounting identity, the
funnel, what each rule removed (first and alone), the signal histograms with the policy's
thresholds, languages and lengths, sampled dropped documents per rule, duplicates, dead letters
and sources.

Memory stays bounded however large the corpus: the ledger is streamed once; histograms read the
signals of at most `SAMPLE_VALUES` documents, those whose ids have the smallest stable hash
(`quality.outputs.stable_hash`, not Python's salted `hash()`); exact counts, minima and maxima come beside them; examples are kept in small heaps chosen
the same way. The page has no script and no network: inline CSS, inline SVG charts, a content
security policy that forbids anything else, and every piece of document text HTML-escaped. Same
inputs, same bytes.

`python -m quality.report OUT` (re)writes OUT/report.html and prints its path.
"""

from __future__ import annotations

import argparse
import glob
import heapq
import html
import json
import math
import re
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from quality import dedup

from quality.outputs import (DEAD_LETTER, DEAD_LETTER_GLOB, DROPPED, DUPLICATE, EXAMPLE_CHARS, KEPT,
                             LEDGER_GLOB, MANIFEST, OUTCOMES, REPORT, STATS, stable_hash)

SAMPLE_VALUES = 100_000  # documents whose signals feed the histograms: 0.4 MB per signal
EXAMPLES_PER_RULE = 5
DUPLICATE_EXAMPLES = 5
DEAD_LETTER_EXAMPLES = 3  # per (stage, error class)
MAX_ERROR_CLASSES = 200  # error messages are free text: past this many, the rest is "(other)"
MAX_REASONS = 200  # drop reasons kept with examples (a policy has a dozen rules)
MAX_SIGNALS = 1000  # a bound against a ledger with garbage signal names
MAX_LANGUAGES = 1000  # fastText knows 176; a bound against a garbage `lang` signal
TOP_LANGUAGES = 25  # rows in the language table; the rest are summed in one row
LINEAR_BINS = 40
LOG_SCALE_FROM = 1000  # a non-negative signal whose 99th percentile passes this gets a log axis

# Outcome classes in histograms. "dropped here" = dropped by a rule that reads this signal.
KEPT_CLASS, DUPLICATE_CLASS, DROPPED_OTHER, DROPPED_HERE = 0, 1, 2, 3
CLASSES = ((KEPT_CLASS, "kept", "#2e7d32"), (DUPLICATE_CLASS, "duplicate", "#7e97c8"),
           (DROPPED_OTHER, "dropped by another rule", "#e0a0a0"),
           (DROPPED_HERE, "dropped by this signal's rule", "#c62828"))
OUTCOME_COLORS = {KEPT: "#2e7d32", DUPLICATE: "#7e97c8", DROPPED: "#c62828", DEAD_LETTER: "#6d4c41"}

Opener = Callable[[str, str], object]  # (path, "rb" | "wb") -> binary file object
Lister = Callable[[str], Iterable[str]]  # glob pattern -> paths


# ---------------------------------------------------------------------------------------------
# Streaming collection


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


# ---------------------------------------------------------------------------------------------
# Formatting

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def esc(value) -> str:
    """HTML-escape anything, also replacing characters that HTML or UTF-8 cannot carry."""
    return html.escape(_UNSAFE.sub("\ufffd", str(value)), quote=True)


def fmt_int(n) -> str:
    return f"{int(n):,}"


def fmt_bytes(n) -> str:
    n = float(n)
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def fmt_num(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return esc(v)
    if not math.isfinite(v):
        return str(v)
    if float(v).is_integer() and abs(v) < 1e15:
        return fmt_int(v)
    return f"{v:.4g}"


def pct(part, whole) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "–"


def threshold_text(rule: Mapping) -> str:
    if rule.get("allowed") is not None:
        return "in {" + ", ".join(str(a) for a in rule["allowed"]) + "}"
    lo, hi = rule.get("min"), rule.get("max")
    if lo is not None and hi is not None:
        return f"{fmt_num(lo)} ≤ x ≤ {fmt_num(hi)}"
    if lo is not None:
        return f"≥ {fmt_num(lo)}"
    if hi is not None:
        return f"≤ {fmt_num(hi)}"
    return "(no bound)"


_NUMERIC = re.compile(r"^[-+]?[\d.,]+( ?[a-zA-Z%]+)?$")  # "1,234", "12.5%", "3.20 MB"


def _table(head: list[str], rows: list[list[str]], cls: str = "") -> str:
    """Cells are already-escaped HTML. Cells starting with a digit or sign are right-aligned."""
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f'<td class="n">{c}</td>' if _NUMERIC.match(c) else f"<td>{c}</td>"
            for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Charts (inline SVG)


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">'
            f"<title>{esc(title)}</title>" + "".join(body) + "</svg>")


def _f(x: float) -> str:
    return f"{x:.1f}"


def hbar_chart(title: str, labels: list[str], series: list[tuple[str, str, list[float]]],
               value_text: Callable[[int, int], str], scale: float, width: int = 900) -> str:
    """Horizontal grouped bars: per label, one bar per series (name, color, values / scale)."""
    label_w = min(380, max(120, 7 * max((len(label) for label in labels), default=0) + 16))
    right = 150
    bar_h, gap = 13, 9
    group_h = bar_h * len(series) + gap
    legend_h = 22
    height = legend_h + group_h * len(labels) + 6
    plot_w = width - label_w - right
    body = []
    x = label_w
    for name, color, _ in series:
        body.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{color}"/>'
                    f'<text x="{x + 16}" y="14" class="lg">{esc(name)}</text>')
        x += 24 + 7 * len(name)
    for i, label in enumerate(labels):
        y0 = legend_h + i * group_h
        body.append(f'<text x="{label_w - 8}" y="{_f(y0 + group_h / 2)}" class="lb" '
                    f'text-anchor="end">{esc(_clip(label, 52))}</text>')
        for j, (_, color, values) in enumerate(series):
            v = values[i]
            w = plot_w * (v / scale) if scale else 0
            y = y0 + j * bar_h
            body.append(f'<rect x="{label_w}" y="{y}" width="{_f(max(w, 0.5 if v else 0))}" '
                        f'height="{bar_h - 2}" fill="{color}"/>')
            body.append(f'<text x="{_f(label_w + w + 4)}" y="{y + bar_h - 3}" class="v">'
                        f"{esc(value_text(i, j))}</text>")
    body.append(f'<line x1="{label_w}" y1="{legend_h - 2}" x2="{label_w}" y2="{height - 4}" class="ax"/>')
    return _svg(width, height, title, body)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


class Axis:
    """Maps signal values to [0, 1] on a linear or log10(1 + x) scale."""

    def __init__(self, lo: float, hi: float, log: bool):
        self.log = log
        self.lo, self.hi = lo, hi
        self.tlo, self.thi = self.t(lo), self.t(hi)
        if self.thi <= self.tlo:
            self.thi = self.tlo + 1.0

    def t(self, v):
        return np.log10(1.0 + np.maximum(v, 0.0)) if self.log else v

    def frac(self, v: float) -> float:
        return float((self.t(v) - self.tlo) / (self.thi - self.tlo))

    def ticks(self) -> list[float]:
        if self.log:
            out = [0.0] if self.lo <= 0 else []
            p = 0
            while 10 ** p <= self.hi:
                if 10 ** p >= self.lo:
                    out.append(float(10 ** p))
                p += 1
            if len(out) > 8:  # many decades: every other one
                out = out[::2]
            return out
        return _nice_ticks(self.lo, self.hi)


def histogram_data(values: np.ndarray, flags: np.ndarray, thresholds: list[float],
                   force_log: bool = False) -> tuple[Axis, np.ndarray, np.ndarray, int]:
    """(axis, bin edges in axis space, counts[class, bin], values clamped into the edge bins)."""
    finite_thr = [t for t in thresholds if t is not None and math.isfinite(t)]
    lo_q, hi_q, p99 = (float(x) for x in np.quantile(values, [0.001, 0.999, 0.99]))
    vmin, vmax = float(values.min()), float(values.max())
    log = force_log or (vmin >= 0 and p99 > LOG_SCALE_FROM)
    if log:
        lo, hi = vmin, vmax  # a log axis has room for the tails
    else:
        lo, hi = lo_q, hi_q
    lo = min([lo] + finite_thr)
    hi = max([hi] + finite_thr)
    integral = bool(np.all(values == np.round(values)))
    # Values past a clipped axis land in an edge bin that lies beyond every threshold, so that a
    # dropped outlier never looks as if it sat inside the kept range.
    step = 1.0 if integral and hi - lo <= 60 else (hi - lo) * 0.04 or 1.0
    if vmax > hi:
        hi += step
    if vmin < lo:
        lo -= step
    axis = Axis(lo, hi, log)
    if not log and integral and hi - lo <= 60:
        edges = np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.0, 1.0)
        axis = Axis(float(edges[0]), float(edges[-1]), False)
    else:
        edges = np.linspace(axis.tlo, axis.thi, LINEAR_BINS + 1)
    tv = axis.t(values)
    clamped = int(np.count_nonzero((tv < edges[0]) | (tv > edges[-1])))
    tv = np.clip(tv, edges[0], edges[-1])
    counts = np.zeros((len(CLASSES), len(edges) - 1), dtype=np.int64)
    for cls, _, _ in CLASSES:
        counts[cls], _ = np.histogram(tv[flags == cls], bins=edges)
    return axis, edges, counts, clamped


def histogram_svg(title: str, axis: Axis, edges: np.ndarray, counts: np.ndarray,
                  thresholds: list[tuple[str, float]], width: int = 520, height: int = 210) -> str:
    left, right, top, bottom = 52, 26, 26, 34
    pw, ph = width - left - right, height - top - bottom
    total = counts.sum(axis=0)
    peak = int(total.max()) if total.size else 0
    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="bg"/>']

    def xpos(t: float) -> float:
        return left + pw * (t - edges[0]) / (edges[-1] - edges[0])

    for tick in _nice_ticks(0, peak, 4) if peak else [0]:
        y = top + ph - ph * (tick / peak if peak else 0)
        body.append(f'<line x1="{left}" y1="{_f(y)}" x2="{left + pw}" y2="{_f(y)}" class="grid"/>'
                    f'<text x="{left - 4}" y="{_f(y + 4)}" class="tk" text-anchor="end">'
                    f"{fmt_num(tick)}</text>")
    for b in range(counts.shape[1]):
        x0, x1 = xpos(edges[b]), xpos(edges[b + 1])
        y = top + ph
        for cls, _, color in CLASSES:
            c = int(counts[cls, b])
            if not c:
                continue
            h = ph * c / peak
            y -= h
            body.append(f'<rect x="{_f(x0 + 0.5)}" y="{_f(y)}" width="{_f(max(x1 - x0 - 1, 0.5))}" '
                        f'height="{_f(h)}" fill="{color}"/>')
    for tick in axis.ticks():
        x = left + pw * axis.frac(tick)
        if left - 1 <= x <= left + pw + 1:
            body.append(f'<line x1="{_f(x)}" y1="{top + ph}" x2="{_f(x)}" y2="{top + ph + 4}" class="ax"/>'
                        f'<text x="{_f(x)}" y="{top + ph + 16}" class="tk" text-anchor="middle">'
                        f"{fmt_num(tick)}</text>")
    for i, (label, value) in enumerate(thresholds):
        x = left + pw * axis.frac(value)
        x = min(max(x, left), left + pw)
        anchor = "end" if x > left + pw * 0.7 else "start"
        dx = -4 if anchor == "end" else 4
        body.append(f'<line x1="{_f(x)}" y1="{top - 4}" x2="{_f(x)}" y2="{top + ph}" class="thr"/>'
                    f'<text x="{_f(x + dx)}" y="{top - 8 + 0 * i}" class="thl" text-anchor="{anchor}">'
                    f"{esc(label)} {fmt_num(value)}</text>")
    body.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" class="ax"/>')
    if axis.log:
        body.append(f'<text x="{left + pw}" y="{height - 3}" class="tk" text-anchor="end">log scale</text>')
    return _svg(width, height, title, body)


def legend() -> str:
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{color}"></i>{esc(name)}</span>' for _, name, color in CLASSES) + (
        '<span><i class="thr-key"></i>policy threshold</span></p>')


# ---------------------------------------------------------------------------------------------
# Sections


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>'


# Public names of helpers above, for other self-contained pages (workflows/report.py).
table, svg, nice_ticks, section, coord = _table, _svg, _nice_ticks, _section, _f


def summary_section(stats: Mapping, manifest: Mapping) -> str:
    identity = stats.get("identity", {})
    holds = bool(stats.get("identity_holds", all(v.get("holds") for v in identity.values())))
    config = manifest.get("config", {})
    policy = stats.get("policy", {})
    tok = stats.get("tokenizer", {})
    shards = stats.get("shards", manifest.get("totals", {}))
    facts = [("input", esc(config.get("input", "?"))), ("policy", esc(policy.get("name", "?"))),
             ("documents in", fmt_int(stats.get("input", {}).get("docs", 0))),
             ("bytes in", fmt_bytes(stats.get("input", {}).get("bytes", 0))),
             ("documents kept", fmt_int(identity.get("docs", {}).get("kept", 0))),
             ("tokens written", fmt_int(shards.get("tokens", 0))),
             ("shards", fmt_int(shards.get("shards", 0))),
             ("tokenizer vocabulary", fmt_int(tok.get("vocab_size") or 0)
              + (f" (sha256 {esc(str(tok['sha256'])[:12])}…)" if tok.get("sha256") else ""))]
    if policy.get("transform"):
        facts.insert(2, ("text transform", esc(policy["transform"])))
    if tok.get("error"):
        facts.append(("tokenizer error", f'<span class="bad">{esc(tok["error"])}</span>'))
    out = ['<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"]
    badge = ('<p class="badge ok">Accounting identity holds: every input record is kept, dropped, '
             'a duplicate or a dead letter.</p>' if holds else
             '<p class="badge fail">Accounting identity FAILS: records are unaccounted for.</p>')
    out.append(badge)
    rows = []
    for unit in ("docs", "bytes"):
        v = identity.get(unit)
        if not v:
            continue
        f = fmt_int if unit == "docs" else fmt_bytes
        ok = v.get("holds", v.get("sum") == v.get("input"))
        diff = v.get("input", 0) - v.get("sum", 0)
        rows.append([unit, f(v.get("input", 0)), "=", f(v.get("kept", 0)), "+", f(v.get("dropped", 0)), "+",
                     f(v.get("duplicate", 0)), "+", f(v.get("dead_letter", 0)),
                     '<span class="ok">holds</span>' if ok else
                     f'<span class="bad">FAILS (sum {f(v.get("sum", 0))}, off by {f(diff)})</span>'])
    out.append(_table(["", "input", "", "kept", "", "dropped", "", "duplicate", "", "dead letter", ""],
                      rows, "identity"))
    docs = identity.get("docs", {})
    total = docs.get("input", 0)
    if total:
        segs, x = [], 0.0
        for k in OUTCOMES:
            w = 800 * docs.get(k, 0) / total
            if w > 0:
                segs.append(f'<rect x="{_f(x)}" y="0" width="{_f(w)}" height="26" '
                            f'fill="{OUTCOME_COLORS[k]}"/>')
                if w > 70:
                    segs.append(f'<text x="{_f(x + 5)}" y="17" class="in">{k.replace("_", " ")} '
                                f"{pct(docs.get(k, 0), total)}</text>")
            x += w
        out.append(_svg(800, 26, "Where the input documents went", segs))
        out.append('<p class="legend">' + "".join(
            f'<span><i style="background:{OUTCOME_COLORS[k]}"></i>{k.replace("_", " ")} '
            f"{fmt_int(docs.get(k, 0))} ({pct(docs.get(k, 0), total)})</span>" for k in OUTCOMES) + "</p>")
    return _section("summary", "Summary and accounting", "".join(out))


def funnel_section(stats: Mapping) -> str:
    funnel = stats.get("funnel", [])
    if not funnel:
        return _section("funnel", "Funnel", "<p>No funnel in stats.json.</p>")
    d0 = funnel[0].get("docs", 0) or 0
    b0 = funnel[0].get("bytes", 0) or 0
    rows = []
    for i, r in enumerate(funnel):
        prev = funnel[i - 1] if i else r
        rows.append([esc(r.get("stage", "?")), fmt_int(r.get("docs", 0)), pct(r.get("docs", 0), d0),
                     fmt_int(prev.get("docs", 0) - r.get("docs", 0)) if i else "",
                     fmt_bytes(r.get("bytes", 0)), pct(r.get("bytes", 0), b0),
                     fmt_int(r["tokens"]) if "tokens" in r else ""])
    table = _table(["stage", "documents", "of input", "removed here", "bytes", "of input", "tokens"], rows)
    labels = [str(r.get("stage", "?")) for r in funnel]
    docs = [float(r.get("docs", 0)) / d0 if d0 else 0.0 for r in funnel]
    byts = [float(r.get("bytes", 0)) / b0 if b0 else 0.0 for r in funnel]
    chart = hbar_chart("Documents and bytes remaining after each stage, as a share of the input",
                       labels, [("documents", "#3f6fb5", docs), ("bytes", "#e09b3d", byts)],
                       lambda i, j: _funnel_label(funnel[i], j, d0, b0),
                       1.0)
    return _section("funnel", "Funnel", '<p class="note">What remains after each stage, from the '
                    "input down to what was written to the shards.</p>" + table + chart
                    + flow_block(stats.get("flow", [])))


def flow_block(flow: list) -> str:
    """Documents counted in and out of every stage by the job itself; a stage whose output is
    not its input less what it let go with an outcome lost documents, and says so."""
    if not flow:
        return ""
    rows = []
    for r in flow:
        lost = r.get("in", 0) - r.get("left", 0) - r.get("out", 0)
        rows.append([esc(r.get("stage", "?")), fmt_int(r.get("in", 0)), fmt_int(r.get("left", 0)),
                     fmt_int(r.get("out", 0)), '<span class="ok">holds</span>' if r.get("holds")
                     else f'<span class="bad">FAILS: {fmt_int(lost)} documents unaccounted for</span>'])
    broken = [r for r in flow if not r.get("holds")]
    badge = ("" if not broken else '<p class="badge fail">Documents were lost inside the job, at: '
             + ", ".join(esc(r.get("stage", "?")) for r in broken) + "</p>")
    return ("<h3>Counted at every stage</h3>" + badge
            + _table(["stage", "documents in", "left with an outcome", "documents out", ""], rows))


def _funnel_label(row: Mapping, series: int, d0: int, b0: int) -> str:
    if series == 0:
        return f"{fmt_int(row.get('docs', 0))} docs ({pct(row.get('docs', 0), d0)})"
    return f"{fmt_bytes(row.get('bytes', 0))} ({pct(row.get('bytes', 0), b0)})"


def rules_section(stats: Mapping) -> str:
    rules = list(stats.get("policy", {}).get("rules", []))
    first = stats.get("reasons", {}).get(DROPPED, {})
    alone = stats.get("would_drop", {})
    names = [r["name"] for r in rules]
    extra = sorted(set(first) | set(alone) - set(names))
    by_name = {r["name"]: r for r in rules}
    total = stats.get("input", {}).get("docs", 0)
    total_bytes = stats.get("input", {}).get("bytes", 0)
    rows = []
    for name in names + [n for n in extra if n not in by_name]:
        r = by_name.get(name, {})
        f, a = first.get(name, {}), alone.get(name, {})
        signal = r.get("signal", name)
        rows.append([esc(name) + ("" if r else ' <span class="bad">(not in policy)</span>')
                     + (f"<br><small>signal {esc(signal)}</small>" if signal != name else ""),
                     esc(threshold_text(r)) if r else "",
                     fmt_int(f.get("docs", 0)), pct(f.get("docs", 0), total), fmt_bytes(f.get("bytes", 0)),
                     *([fmt_int(a.get("docs", 0)), pct(a.get("docs", 0), total), fmt_bytes(a.get("bytes", 0))]
                       if alone else ["–"] * 3)])
    dropped = stats.get("outcomes", {}).get(DROPPED, {})
    rows.append(["<b>all rules</b>", "", fmt_int(dropped.get("docs", 0)), pct(dropped.get("docs", 0), total),
                 fmt_bytes(dropped.get("bytes", 0)), "", "", ""])
    if not rules and not first:
        name = esc(stats.get("policy", {}).get("name", "?"))
        return _section("rules", "Per rule", f"<p>The policy ({name}) has no rules: nothing was dropped "
                        "by selection.</p>")
    table = _table(["rule", "keeps", "first to drop: docs", "of input", "bytes",
                    "would drop alone: docs", "of input", "bytes"], rows, "rules")
    labels = names + [n for n in extra if n not in by_name]
    fd = [float(first.get(n, {}).get("docs", 0)) for n in labels]
    ad = [float(alone.get(n, {}).get("docs", 0)) for n in labels]
    fb = [float(first.get(n, {}).get("bytes", 0)) for n in labels]
    ab = [float(alone.get(n, {}).get("bytes", 0)) for n in labels]
    series = [("first rule to drop it", "#c62828", fd), ("would drop alone", "#f0a8a0", ad)]
    chart = hbar_chart("Documents dropped per rule", labels, series,
                       lambda i, j: f"{fmt_int(series[j][2][i])} ({pct(series[j][2][i], total)} of input)",
                       max(fd + ad + [1.0]))
    bseries = [("first rule to drop it", "#c62828", fb), ("would drop alone", "#f0a8a0", ab)]
    bchart = hbar_chart("Bytes dropped per rule", labels, bseries,
                        lambda i, j: (f"{fmt_bytes(bseries[j][2][i])} "
                                      f"({pct(bseries[j][2][i], total_bytes)} of input)"),
                        max(fb + ab + [1.0]))
    note = ('<p class="note">Rules in policy order. <b>First to drop</b>: documents whose drop reason '
            "is this rule (the first rule they fail), so these add up to all dropped documents. "
            "<b>Would drop alone</b>: documents that fail this rule whatever else they fail, i.e. what "
            "the rule would remove on its own; the difference is overlap with earlier rules.</p>")
    return _section("rules", "Per rule", note + table + "<h3>Documents</h3>" + chart
                    + "<h3>Bytes</h3>" + bchart)


def _thresholds_for(signal: str, rules: list[dict]) -> list[tuple[str, float]]:
    out = []
    for r in rules:
        if r.get("signal", r["name"]) != signal:
            continue
        for key in ("min", "max"):
            v = r.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append((key, float(v)))
    return sorted(set(out), key=lambda t: (t[1], t[0]))


def _signal_figure(name: str, s: SignalStats, sample: DocSample, rules: list[dict],
                   force_log: bool = False) -> str:
    values, flags = sample.result(name)
    thr = _thresholds_for(name, rules)
    readers = [r["name"] for r in rules if r.get("signal", r["name"]) == name]
    if not len(values):
        return (f'<figure><figcaption><b>{esc(name)}</b>: no finite values '
                f"({fmt_int(s.nonfinite)} non-finite).</figcaption></figure>")
    axis, edges, counts, clamped = histogram_data(values, flags, [t for _, t in thr], force_log)
    svg = histogram_svg(f"Histogram of {name}", axis, edges, counts, thr)
    cap = [f"<b>{esc(name)}</b>: {fmt_int(s.n)} documents, min {fmt_num(s.lo)}, max {fmt_num(s.hi)}"]
    if len(values) < s.n - s.nonfinite:
        cap.append(f"histogram of a sample of {fmt_int(len(values))} (the documents with the smallest "
                   "id hashes)")
    if clamped:
        cap.append(f"{fmt_int(clamped)} values beyond the axis counted in the edge bins")
    if s.nonfinite:
        cap.append(f"{fmt_int(s.nonfinite)} non-finite")
    if readers:
        cap.append("read by " + ", ".join(esc(f"{r['name']} ({threshold_text(r)})") for r in rules
                                          if r.get("signal", r["name"]) == name))
    return f"<figure>{svg}<figcaption>{'; '.join(cap)}.</figcaption></figure>"


def signals_section(col: Collector, rules: list[dict]) -> str:
    if not col.signals:
        return _section("signals", "Signals", "<p>No annotated documents in the ledger.</p>")
    read = []
    for r in rules:
        sig = r.get("signal", r["name"])
        if sig in col.signals and sig not in read:
            read.append(sig)
    groups: dict[str, list[str]] = {}
    for name in sorted(n for n in col.signals if n not in read):
        groups.setdefault(name.split(".", 1)[0] if "." in name else "other", []).append(name)
    parts = [f'<p class="note">Every numeric signal of the {fmt_int(col.annotated)} annotated documents. '
             "Bars are stacked by outcome; dashed lines are the policy's bounds.</p>", legend()]
    if read:
        parts.append("<h3>Signals the policy reads</h3><div class=\"grid\">"
                     + "".join(_signal_figure(n, col.signals[n], col.sample, rules) for n in read) + "</div>")
    if groups:
        parts.append(f"<h3>Other signals ({sum(len(v) for v in groups.values())}, recorded but not read "
                     "by this policy)</h3>")
        for group, names in sorted(groups.items()):
            parts.append(f"<details><summary>{esc(group)} ({len(names)})</summary><div class=\"grid\">"
                         + "".join(_signal_figure(n, col.signals[n], col.sample, rules) for n in names)
                         + "</div></details>")
    return _section("signals", "Signals", "".join(parts))


def languages_section(col: Collector, rules: list[dict]) -> str:
    if not col.langs:
        return _section("languages", "Languages", "<p>No <code>lang</code> signal in the ledger.</p>")
    allowed = set()
    for r in rules:
        if r.get("signal", r["name"]) == "lang" and r.get("allowed") is not None:
            allowed |= {str(a) for a in r["allowed"]}
    items = sorted(col.langs.items(), key=lambda kv: (-sum(kv[1][o] for o in OUTCOMES), kv[0]))
    total = sum(sum(c[o] for o in OUTCOMES) for _, c in items)
    rows = []
    for lang, c in items[:TOP_LANGUAGES]:
        n = sum(c[o] for o in OUTCOMES)
        rows.append([esc(lang) + (' <span class="ok">allowed</span>' if lang in allowed else ""),
                     fmt_int(n), pct(n, total), fmt_int(c["kept"]), pct(c["kept"], n),
                     fmt_bytes(c["kept_bytes"]), fmt_int(c["duplicate"]), fmt_int(c["dropped"])])
    rest = items[TOP_LANGUAGES:]
    if rest:
        n = sum(sum(c[o] for o in OUTCOMES) for _, c in rest)
        kept = sum(c["kept"] for _, c in rest)
        rows.append([f"{len(rest)} more languages", fmt_int(n), pct(n, total), fmt_int(kept), pct(kept, n),
                     fmt_bytes(sum(c["kept_bytes"] for _, c in rest)),
                     fmt_int(sum(c["duplicate"] for _, c in rest)),
                     fmt_int(sum(c["dropped"] for _, c in rest))])
    table = _table(["language", "documents", "share", "kept", "kept share", "kept bytes", "duplicate",
                    "dropped"], rows, "langs")
    top = items[:15]
    labels = [lang for lang, _ in top]
    peak = max(sum(c[o] for o in OUTCOMES) for _, c in top)
    series = [("kept", OUTCOME_COLORS["kept"], [float(c["kept"]) for _, c in top]),
              ("dropped", OUTCOME_COLORS["dropped"], [float(c["dropped"]) for _, c in top])]
    chart = hbar_chart("Documents per language (top 15): kept and dropped", labels, series,
                       lambda i, j: fmt_int(series[j][2][i]), float(peak))
    note = (f'<p class="note">The <code>lang</code> signal of {fmt_int(total)} annotated documents '
            f"({len(items)} languages); the policy allows {esc(', '.join(sorted(allowed)) or 'any')}.</p>")
    return _section("languages", "Languages", note + table + chart)


def lengths_section(col: Collector, rules: list[dict]) -> str:
    name = "chars" if "chars" in col.signals else None
    if name is None:
        return _section("lengths", "Document lengths", "<p>No <code>chars</code> signal in the ledger.</p>")
    fig = _signal_figure(name, col.signals[name], col.sample, rules, force_log=True)
    values, flags = col.sample.result(name)
    rows = []
    for cls, label, _ in CLASSES[:2] + ((None, "dropped", None),):
        sel = values[flags >= DROPPED_OTHER] if cls is None else values[flags == cls]
        if len(sel):
            q = np.quantile(sel, [0.1, 0.5, 0.9])
            rows.append([esc(label), fmt_int(len(sel))] + [fmt_int(round(float(x))) for x in q])
    table = _table(["outcome", "documents (sample)", "p10 chars", "median chars", "p90 chars"], rows)
    return _section("lengths", "Document lengths", '<p class="note">Characters per document after '
                    "normalization, on log-scaled bins.</p>" + legend() + fig + table)


def _head_block(text: str) -> str:
    return f'<pre class="head">{esc(text)}</pre>'


def examples_section(col: Collector, stats: Mapping, rules: list[dict]) -> str:
    first = stats.get("reasons", {}).get(DROPPED, {})
    by_name = {r["name"]: r for r in rules}
    names = list(by_name) + sorted(n for n in col.examples if n not in by_name)
    parts = [f'<p class="note">For each rule, {EXAMPLES_PER_RULE} of the documents it dropped first, '
             "chosen by the smallest hash of their id (the same documents on every run). Text is the "
             "start of the normalized document.</p>"]
    for name in names:
        ex = col.examples.get(name)
        rule = by_name.get(name, {})
        n = first.get(name, {}).get("docs", 0)
        keeps = esc(threshold_text(rule)) if rule else ""
        parts.append(f'<h3 id="ex-{esc(_slug(name))}">{esc(name)} <small>{keeps}'
                     f" · {fmt_int(n)} dropped first</small></h3>")
        if not ex or not ex.items():
            parts.append('<p class="note">No document was dropped by this rule first.</p>')
            continue
        for e in ex.items():
            sig = rule.get("signal", name)
            value = e["signals"].get(sig)
            others = [f for f in e["failures"] if f != name]
            parts.append('<div class="ex"><p class="meta">'
                         f"<code>{esc(e['id'])}</code> · {esc(e['source'])} · {fmt_bytes(e['bytes'])} · "
                         f'<b>{esc(sig)} = {fmt_num(value) if value is not None else "(missing)"}</b>'
                         f"{' (rule keeps ' + esc(threshold_text(rule)) + ')' if rule else ''}"
                         + (f" · also fails: {esc(', '.join(others))}" if others else "")
                         + "</p>" + _head_block(e["head"]) + "</div>")
    return _section("examples", "Dropped examples per rule", "".join(parts))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def near_dedup_block(near: Mapping | None) -> str:
    """MinHash LSH settings, connected-component rounds, cluster sizes and the largest clusters."""
    if not near:
        return '<p class="note">Near-duplicate detection was off for this run.</p>'
    out = ["<h3>Near duplicates (MinHash LSH)</h3>",
           f'<p>{fmt_int(near.get("bands", 0))} bands x {fmt_int(near.get("rows", 0))} rows '
           f'({fmt_int(near.get("num_perm", 0))} permutations, {near.get("shingle_words", "?")}-word '
           f'shingles; 50% detection at Jaccard {near.get("s_curve_midpoint", "?")}); exact-Jaccard '
           f'check {"on at " + str(near.get("threshold")) if near.get("exact_check") else "off"}. '
           f'Connected components settled after {fmt_int(near.get("rounds", 0))} round(s) '
           f'(bound {fmt_int(near.get("max_rounds", 0))}); {fmt_int(near.get("clusters", 0))} clusters '
           f'of two or more hold {fmt_int(near.get("duplicates", 0))} duplicates.</p>']
    sizes = near.get("sizes") or {}
    if sizes:
        ordered = sorted(sizes.items(), key=lambda kv: dedup.cluster_bucket_order(kv[0]))
        out.append(_table(["cluster size", "clusters"], [[esc(k), fmt_int(v)] for k, v in ordered]))
    largest = near.get("largest") or []
    if largest:
        out.append("<h3>Largest clusters</h3>")
        for c in largest:
            members = ", ".join(f"<code>{esc(m)}</code>" for m in c.get("members", [])[:5])
            out.append('<div class="ex"><p class="meta">'
                       f"{fmt_int(c.get('size', 0))} documents, keeper <code>{esc(c.get('keeper', ''))}</code>"
                       f" · {esc(c.get('keeper_source') or '')}; members {members}</p>"
                       + _head_block(c.get("keeper_head", "")) + "</div>")
    return "".join(out)


def duplicates_section(col: Collector, stats: Mapping) -> str:
    dup = stats.get("outcomes", {}).get(DUPLICATE, {})
    total = stats.get("input", {})
    reasons = stats.get("reasons", {}).get(DUPLICATE, {})
    rows = [[esc(r), fmt_int(v.get("docs", 0)), pct(v.get("docs", 0), total.get("docs", 0)),
             fmt_bytes(v.get("bytes", 0)), pct(v.get("bytes", 0), total.get("bytes", 0))]
            for r, v in sorted(reasons.items())]
    out = [f'<p>{fmt_int(dup.get("docs", 0))} documents ({fmt_bytes(dup.get("bytes", 0))}) were removed as '
           "duplicates of a kept document (the keeper of a group has the highest keeper signal, "
           "if one is set, then the smallest id).</p>"]
    if rows:
        out.append(_table(["kind", "documents", "of input", "bytes", "of input bytes"], rows))
    out.append(near_dedup_block(stats.get("near_dedup")))
    items = col.duplicates.items()
    if items:
        out.append(f'<h3>Examples</h3><p class="note">{len(items)} duplicates with the smallest id '
                   "hash.</p>")
        for e in items:
            out.append('<div class="ex"><p class="meta">'
                       f"<code>{esc(e['id'])}</code> is a duplicate of "
                       f"<code>{esc(e['duplicate_of'] or '?')}</code>"
                       f" · {esc(e['source'])} · {fmt_bytes(e['bytes'])}</p>"
                       + _head_block(e["head"]) + "</div>")
    return _section("duplicates", "Duplicates", "".join(out))


def dead_letters_section(col: Collector, stats: Mapping) -> str:
    by_stage = stats.get("reasons", {}).get(DEAD_LETTER, {})
    dl = stats.get("outcomes", {}).get(DEAD_LETTER, {})
    out = [f'<p>{fmt_int(dl.get("docs", 0))} records ({fmt_bytes(dl.get("bytes", 0))}) could not be '
           "processed and were set aside with their error.</p>"]
    if by_stage:
        out.append(_table(["stage", "records", "bytes"], [
            [esc(s), fmt_int(v.get("docs", 0)), fmt_bytes(v.get("bytes", 0))]
            for s, v in sorted(by_stage.items())]))
    if col.dead:
        classes = sorted(col.dead.items(), key=lambda kv: (kv[0][0], -kv[1]["docs"], kv[0][1]))
        rows = [[esc(stage), esc(cls), fmt_int(v["docs"]), fmt_bytes(v["bytes"])]
                for (stage, cls), v in classes]
        out.append("<h3>By stage and error</h3>" + _table(["stage", "error", "records", "bytes"], rows))
        out.append("<h3>Examples</h3>")
        for (stage, cls), v in classes:
            out.append(f"<h4>{esc(stage)} · {esc(cls)}</h4>")
            for e in v["examples"].items():
                out.append('<div class="ex"><p class="meta">'
                           f"<code>{esc(e['id'])}</code>{' · ' + esc(e['where']) if e['where'] else ''} · "
                           f"{fmt_bytes(e['bytes'])} · <b>{esc(e['error'])}</b></p>"
                           + (_head_block(e["head"]) if e["head"] else "") + "</div>")
    elif dl.get("docs"):
        out.append('<p class="note">No dead-letter files were found to show their errors.</p>')
    return _section("dead-letters", "Dead letters", "".join(out))


def sources_section(stats: Mapping) -> str:
    sources = stats.get("sources", {})
    if not sources:
        return _section("sources", "Sources", "<p>No per-source counts in stats.json.</p>")
    rows = []
    tot = {k: [0, 0] for k in OUTCOMES}
    for name, by in sorted(sources.items()):
        n = sum(by.get(k, {}).get("docs", 0) for k in OUTCOMES)
        b = sum(by.get(k, {}).get("bytes", 0) for k in OUTCOMES)
        for k in OUTCOMES:
            tot[k][0] += by.get(k, {}).get("docs", 0)
            tot[k][1] += by.get(k, {}).get("bytes", 0)
        kept = by.get("kept", {})
        rows.append([esc(name), fmt_int(n), fmt_bytes(b)]
                    + [fmt_int(by.get(k, {}).get("docs", 0)) for k in OUTCOMES]
                    + [pct(kept.get("docs", 0), n), fmt_bytes(kept.get("bytes", 0)),
                       pct(kept.get("bytes", 0), b)])
    n = sum(v[0] for v in tot.values())
    b = sum(v[1] for v in tot.values())
    rows.append(["<b>all</b>", fmt_int(n), fmt_bytes(b)] + [fmt_int(tot[k][0]) for k in OUTCOMES]
                + [pct(tot["kept"][0], n), fmt_bytes(tot["kept"][1]), pct(tot["kept"][1], b)])
    return _section("sources", "Sources", _table(
        ["source", "documents", "bytes", "kept", "dropped", "duplicate", "dead letter", "kept share",
         "kept bytes", "kept bytes share"], rows, "sources"))


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0;
background:#f6f6f4}
main{max-width:1120px;margin:0 auto;padding:20px 28px 60px;background:#fff}
h1{font-size:26px;margin:8px 0 4px}
h2{font-size:20px;margin:0 0 10px;padding-top:8px;border-top:2px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}h3 small{font-weight:normal;color:#666}
h4{margin:12px 0 4px;font-size:13px}
section{margin-top:28px}nav a{margin-right:12px}a{color:#2a5db0}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px}
th,td{padding:3px 9px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#f0f0ee;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:last-child td{border-bottom:2px solid #ccc}
table.rules td:nth-child(2){white-space:nowrap}td small{color:#666}
.note{color:#555;max-width:880px}.ok{color:#2e7d32;font-weight:600}.bad{color:#b00020;font-weight:700}
.badge{padding:8px 12px;border-radius:4px;font-weight:600;display:inline-block}
.badge.ok{background:#e6f4ea;border:1px solid #2e7d32}
.badge.fail{background:#fde7ea;border:2px solid #b00020;color:#b00020;font-size:16px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dl.facts dt{color:#666}dl.facts dd{margin:0;font-weight:600;word-break:break-all}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px 18px}
figure{margin:6px 0}figcaption{font-size:12px;color:#444;max-width:520px}
.legend{font-size:12px;color:#444}.legend span{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.legend i.thr-key{border-left:2px dashed #111;width:0;height:12px}
.ex{margin:6px 0 12px;border-left:3px solid #ddd;padding-left:10px}
.ex .meta{margin:0 0 3px;font-size:12.5px}
pre.head{white-space:pre-wrap;word-break:break-word;background:#fafaf7;border:1px solid #eee;padding:6px 8px;
margin:0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:12em;overflow:auto}
code{font-size:12px;word-break:break-all}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
svg{display:block;margin:6px 0;max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#333}
svg .lb{font-size:12px}svg .v{font-size:11px;fill:#444}svg .lg{font-size:12px}
svg .in{fill:#fff;font-size:12px}
svg .tk{font-size:10px;fill:#555}svg .ax{stroke:#777;stroke-width:1}svg .grid{stroke:#e6e6e6}
svg .bg{fill:#fcfcfb;stroke:#eee}svg .thr{stroke:#111;stroke-width:1.5;stroke-dasharray:4 3}
svg .thl{font-size:10.5px;fill:#111;font-weight:600}
"""

SECTIONS = (("summary", "Summary"), ("funnel", "Funnel"), ("rules", "Rules"), ("signals", "Signals"),
            ("languages", "Languages"), ("lengths", "Lengths"), ("examples", "Dropped examples"),
            ("duplicates", "Duplicates"), ("dead-letters", "Dead letters"), ("sources", "Sources"))


def render_report(stats: Mapping, manifest: Mapping | None, ledger_rows: Iterable[Mapping],
                  dead_letters: Iterable[Mapping] = (), *, sample_values: int = SAMPLE_VALUES) -> str:
    """The report page as a string. `ledger_rows` and `dead_letters` are consumed once, streaming."""
    manifest = manifest or {}
    rules = [dict(r) for r in stats.get("policy", {}).get("rules", [])]
    col = Collector(rules, sample_values)
    for row in ledger_rows:
        col.add_row(row)
    for letter in dead_letters:
        col.add_dead_letter(letter)
    config = manifest.get("config", {})
    title = f"Sieve report: {stats.get('policy', {}).get('name', '?')} on {config.get('input', '?')}"
    body = [summary_section(stats, manifest), funnel_section(stats), rules_section(stats),
            signals_section(col, rules), languages_section(col, rules), lengths_section(col, rules),
            examples_section(col, stats, rules), duplicates_section(col, stats),
            dead_letters_section(col, stats), sources_section(stats)]
    header = (f"<h1>Sieve corpus report</h1><p class=\"note\">{esc(title[len('Sieve report: '):])} · "
              f"format {esc(manifest.get('format', '?'))}</p>")
    return html_page(title, header, SECTIONS, body, CSS)


def html_page(title: str, header: str, sections, body: list[str], css: str) -> str:
    """A self-contained page: no script, nothing fetched (the CSP allows inline styles and data:
    images only), `header` (HTML) above a link to each (id, name) of `sections`, then `body`."""
    nav = "<nav>" + "".join(f'<a href="#{sid}">{name}</a>' for sid, name in sections) + "</nav>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{css}</style></head><body><main>"
            f"{header}{nav}" + "".join(body) + "</main></body></html>\n")


# ---------------------------------------------------------------------------------------------
# Files


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _local_open(path: str, mode: str):
    return open(path, mode)


def _local_list(pattern: str) -> list[str]:
    return sorted(glob.glob(pattern))


def _read_json(path: str, opener: Opener):
    with opener(path, "rb") as f:
        return json.loads(f.read())


def iter_jsonl(paths: Iterable[str], opener: Opener = _local_open):
    """Rows of JSON-lines files, one line at a time."""
    for path in sorted(paths):
        with opener(path, "rb") as f:
            for line in iter(f.readline, b""):
                if line.strip():
                    yield json.loads(line)


def write_report(out_dir: str, opener: Opener = _local_open, lister: Lister = _local_list) -> str:
    """Writes OUT/report.html from OUT's stats, manifest, ledger and dead letters; returns its path.

    `opener(path, mode)` opens a file in "rb" or "wb" mode and `lister(pattern)` lists a glob, so
    that a caller can pass Beam FileSystems-based ones for gs:// outputs, e.g.
    `opener=lambda p, m: FileSystems.open(p) if m == "rb" else FileSystems.create(p)` and
    `lister=lambda pat: [m.path for m in FileSystems.match([pat])[0].metadata_list]`.
    """
    stats = _read_json(_join(out_dir, STATS), opener)
    try:
        manifest = _read_json(_join(out_dir, MANIFEST), opener)
    except OSError:  # a run whose tokenizer or shards failed may have no manifest
        manifest = {}
    ledger = iter_jsonl(lister(_join(out_dir, LEDGER_GLOB)), opener)
    dead = iter_jsonl(lister(_join(out_dir, DEAD_LETTER_GLOB)), opener)
    page = render_report(stats, manifest, ledger, dead)
    path = _join(out_dir, REPORT)
    with opener(path, "wb") as f:
        f.write(page.encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m quality.report",
                                     description="Write OUT/report.html from a finished Sieve run.")
    parser.add_argument("out", help="the pipeline's --output directory")
    args = parser.parse_args(argv)
    print(write_report(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
