"""Charts as inline SVG: grouped horizontal bars, and histograms stacked by outcome with the
policy's thresholds marked."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from quality.report.collect import DROPPED_HERE, DROPPED_OTHER, DUPLICATE_CLASS, KEPT_CLASS
from quality.report.format import esc, fmt_num

LINEAR_BINS = 40
LOG_SCALE_FROM = 1000  # a non-negative signal whose 99th percentile passes this gets a log axis

# Outcome classes in histograms, in stacking order: (class, label, color).
CLASSES = ((KEPT_CLASS, "kept", "#2e7d32"), (DUPLICATE_CLASS, "duplicate", "#7e97c8"),
           (DROPPED_OTHER, "dropped by another rule", "#e0a0a0"),
           (DROPPED_HERE, "dropped by this signal's rule", "#c62828"))


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
