"""The study report: one self-contained HTML page from the quality-versus-quantity results.

It shows what the study found and how sure it is: the setup and its compute, the verdicts of
Q1-Q3 with their effects in pooled SDs and the published results they are compared with, every
arm's held-out bpb, a plot of bpb against unique tokens per tier with each seed's value, which
domains each step helped or hurt, the effective-data multiplier with its bootstrap interval, and
the downstream probe apart from the held-out loss. Like the corpus report (quality/report/),
whose helpers and style it reuses, the page has no script and no network (inline CSS and SVG, a
content security policy that forbids anything else), every string is escaped, and the same
results give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from quality.report import CSS, coord, esc, fmt_int, fmt_num, html_page, nice_ticks, section, svg, table
from workflows.analysis import analyse

SECTIONS = (("summary", "Summary"), ("verdicts", "Verdicts"), ("arms", "Arms"),
            ("plot", "Held-out loss against unique tokens"), ("domains", "Per-domain effects"),
            ("multiplier", "Effective-data multiplier"), ("probe", "Downstream probe"))
TIER_COLORS = ("#c62828", "#ef6c00", "#2e7d32", "#1565c0", "#6a1b9a", "#00838f")  # least -> most filtered
BADGES = {"supported": "ok", "not supported": "fail"}  # any other verdict gets the neutral badge
BOUND_SIGNS = {"lower": "≥ ", "upper": "≤ "}
STUDY_CSS = """
.badge.open{background:#f3f3f0;border:1px solid #888}
svg .mean{stroke:#fff;stroke-width:1}svg .seed{fill-opacity:.5}svg .junk{stroke:#111;stroke-width:1.2}
svg .line{fill:none;stroke-width:2}table.arms td{white-space:nowrap}
"""
PLOT_WIDTH, PLOT_HEIGHT = 820, 400
PLOT_MARGINS = (64, 220, 18, 48)  # left, right (the legend), top, bottom, in pixels
LOG_PAD = 0.15  # decades of room either side of the outermost arms on the x axis
LEGEND_CHARS = 26  # tier labels are clipped to this in the plot legend


def _bpb(stat: Mapping) -> str:
    return f"{stat['mean']:.4f} ± {stat['sd']:.4f}"


def _sd(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f} SD"


def _tokens(v: float) -> str:
    """A token count for an axis: 25k, 1.6M."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}"


def _label(results: Mapping, tier: str) -> str:
    return str(results.get("tier_labels", {}).get(tier, tier))


def _color(results: Mapping, tier: str) -> str:
    return TIER_COLORS[list(results["tiers"]).index(tier) % len(TIER_COLORS)]


# ---------------------------------------------------------------------------------------------
# Sections


def summary_section(results: Mapping) -> str:
    model = results.get("model", {})
    runs = [r for a in results["arms"] for r in a["runs"]]
    flops = sum(a.get("flops", 0) * len(a["runs"]) for a in results["arms"])
    wall = sum(r.get("elapsed_s", 0) for r in runs)
    facts = [("study", esc(results.get("study", "?"))), ("profile", esc(results.get("profile", "?"))),
             ("metric", esc(results.get("metric", "?")) + " on held-out data (lower is better)"),
             ("model", esc(f"{model.get('preset', '?')} {model.get('kind', '?')} "
                           f"({model.get('objective', '?')})")
              + f", {fmt_int(model.get('non_embedding_params', 0))} non-embedding parameters, sequence "
              f"{fmt_int(model.get('seq_len', 0))}, batch {fmt_int(model.get('batch_size', 0))}"),
             ("training tokens per arm", fmt_int(results["train_tokens"])),
             ("seeds", esc(", ".join(str(s) for s in results.get("seeds", [])))),
             ("domains", esc(", ".join(results["domains"]))),
             ("tiers", esc(" < ".join(_label(results, t) for t in results["tiers"]))),
             ("good tier (Q2, Q3)", esc(_label(results, results["good_tier"]))),
             ("arms, runs", f"{fmt_int(len(results['arms']))}, {fmt_int(len(runs))}"),
             ("total compute", f"{flops:.3g} FLOPs (arm FLOPs × seeds)"),
             ("training time (all runs)", f"{fmt_num(round(wall, 1))} s ({wall / 3600:.2f} h)")]
    if "compute_s" in results:  # every step of the study: data, pipeline runs, arms, evaluation
        facts.append(("whole study (all steps)", f"{fmt_num(results['compute_s'])} s "
                                                 f"({results['compute_s'] / 3600:.2f} h)"))
    return section("summary", "Summary", '<dl class="facts">' + "".join(
        f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>")


def _verdict_block(name: str, title: str, q: Mapping, refs: list[Mapping], extra: str = "") -> str:
    """A question's verdict badge, its summary, `extra` sentence and the published comparisons."""
    cls = BADGES.get(q["verdict"], "open")
    out = [f"<h3>{esc(name)}: {esc(title)}</h3>",
           f'<p class="badge {cls}">{esc(q["verdict"])} · effect {_sd(q["effect_sd"])} '
           f'(threshold ±{q["threshold_sd"]:g} SD)</p>', f"<p>{esc(q['summary'])} {esc(extra)}</p>"]
    out += [f'<p class="note"><b>{esc(r["agreement"])}</b> · {esc(r["summary"])}</p>' for r in refs if r]
    return "".join(out)


def verdicts_section(q: Mapping) -> str:
    q2 = q["Q2"]
    onset = (f"from {q2['repeats_hurt_from']:.3g} repeats" if q2["repeats_hurt_from"] is not None
             else f"nowhere up to {q2['max_repeats_tested']:.3g} repeats (the most tested)")
    body = [_verdict_block("Q1", "quality first", q["Q1"], [q["Q1"].get("t5")]),
            _verdict_block("Q2", "quantity second", q2, [q2["t5"], q2["muennighoff"]],
                           f"Repetition hurt by ≥{q2['threshold_sd']:g} SD {onset}."),
            _verdict_block("Q3", "junk hurts", q["Q3"], [])]
    rows = ([_comparison_row(f"{p['lower']} -> {p['higher']}", p) for p in q["Q1"]["pairs"]]
            + [_comparison_row(f"{c['arm_a']} vs {c['arm_b']}", c) for c in q2["comparisons"]])
    if rows:
        body.append("<h3>Q1 steps and Q2 budgets</h3>" + table(
            ["comparison (a vs b)", "bpb a", "bpb b", "b − a", "effect", "verdict"], rows))
    return section("verdicts", "Verdicts", "".join(body))


def _comparison_row(label: str, c: Mapping) -> list[str]:
    return [esc(label), f"{c['mean_a']:.4f} ± {c['sd_a']:.4f}", f"{c['mean_b']:.4f} ± {c['sd_b']:.4f}",
            f"{-c['difference_bpb']:+.4f}", _sd(c["effect_sd"]),
            esc(c["verdict"]) + (" (SD floored)" if c["sd_floored"] else "")]


def arms_section(results: Mapping, q: Mapping) -> str:
    domains = results["domains"]
    rows = []
    for a in results["arms"]:
        s = q["arms"][a["id"]]
        rows.append([esc(a["id"]), esc(a["tier"]), esc(a["kind"]), esc(a["budget"]), fmt_int(a["unique_tokens"]),
                     f"{a['repeats']:.3g}", fmt_int(a["train_tokens"]), f"{a.get('flops', 0):.3g}",
                     _bpb(s["overall"])] + [_bpb(s["domains"][d]) for d in domains] + [fmt_int(s["n"])])
    head = (["arm", "tier", "kind", "budget", "unique tokens", "repeats", "train tokens", "FLOPs", "bpb overall"]
            + [f"bpb {esc(d)}" for d in domains] + ["seeds"])
    return section("arms", "Arms", '<p class="note">Held-out bits per byte, mean ± sample SD over seeds.</p>'
                   + table(head, rows, "arms"))


class _LogX:
    """Maps token counts to x pixels on a log10 axis with 1-2-5 ticks."""

    def __init__(self, values: list[float], x0: float, width: float):
        logs = [math.log10(v) for v in values]
        self.lo, self.hi = min(logs) - LOG_PAD, max(logs) + LOG_PAD
        self.x0, self.width = x0, width

    def __call__(self, v: float) -> float:
        return self.x0 + self.width * (math.log10(v) - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[float]:
        decades = range(math.floor(self.lo), math.ceil(self.hi) + 1)
        ticks = [m * 10.0 ** k for k in decades for m in (1, 2, 5)
                 if self.lo <= math.log10(m * 10.0 ** k) <= self.hi]
        return ticks if len(ticks) <= 10 else [t for t in ticks if math.log10(t).is_integer()]


def plot_svg(results: Mapping, q: Mapping) -> str:
    """Overall bpb against unique tokens (log x): a line per tier through the means, a dot per seed."""
    left, right, top, bottom = PLOT_MARGINS
    pw, ph = PLOT_WIDTH - left - right, PLOT_HEIGHT - top - bottom
    arms = results["arms"]
    x = _LogX([a["unique_tokens"] for a in arms], left, pw)
    values = [r["bpb"]["overall"] for a in arms for r in a["runs"]]
    pad = (max(values) - min(values)) * 0.05 or 0.05
    ylo, yhi = min(values) - pad, max(values) + pad

    def y(v: float) -> float:
        return top + ph * (yhi - v) / (yhi - ylo)

    body = [f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="bg"/>']
    for t in nice_ticks(ylo, yhi, 5):
        body.append(f'<line x1="{left}" y1="{coord(y(t))}" x2="{left + pw}" y2="{coord(y(t))}" class="grid"/>'
                    f'<text x="{left - 5}" y="{coord(y(t) + 4)}" class="tk" text-anchor="end">{t:g}</text>')
    for t in x.ticks():
        xt = coord(x(t))
        body.append(f'<line x1="{xt}" y1="{top + ph}" x2="{xt}" y2="{top + ph + 4}" class="ax"/>'
                    f'<text x="{xt}" y="{top + ph + 16}" class="tk" text-anchor="middle">{_tokens(t)}</text>')
    body.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" class="ax"/>'
                f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" class="ax"/>'
                f'<text x="{left + pw / 2}" y="{PLOT_HEIGHT - 8}" class="lb" text-anchor="middle">'
                "unique tokens (log scale)</text>"
                f'<text x="14" y="{top + ph / 2}" class="lb" text-anchor="middle" '
                f'transform="rotate(-90 14 {top + ph / 2})">held-out bpb (overall)</text>')
    means = {a["id"]: (coord(x(a["unique_tokens"])), coord(y(q["arms"][a["id"]]["overall"]["mean"])))
             for a in arms}
    for tier in results["tiers"]:
        color = _color(results, tier)
        own = sorted((a for a in arms if a["tier"] == tier and a["kind"] == "budget"),
                     key=lambda a: a["unique_tokens"])
        points = " ".join(",".join(means[a["id"]]) for a in own)
        body.append(f'<polyline points="{points}" class="line" stroke="{color}"/>')
        for a in own:
            cx, cy = means[a["id"]]
            body += _seed_dots(a, x, y, color)
            body.append(f'<circle cx="{cx}" cy="{cy}" r="4.5" fill="{color}" class="mean"/>')
    for a in (a for a in arms if a["kind"] == "junk"):
        color = _color(results, a["tier"])
        body += _seed_dots(a, x, y, color)
        body.append(_diamond(x(a["unique_tokens"]), y(q["arms"][a["id"]]["overall"]["mean"]), color))
    body += _legend(results, left + pw + 16, top)
    return svg(PLOT_WIDTH, PLOT_HEIGHT, "Held-out bpb against unique tokens per tier", body)


def _seed_dots(arm: Mapping, x: _LogX, y, color: str) -> list[str]:
    return [f'<circle cx="{coord(x(arm["unique_tokens"]))}" cy="{coord(y(r["bpb"]["overall"]))}" r="2.2" '
            f'fill="{color}" class="seed"/>' for r in arm["runs"]]


def _diamond(cx: float, cy: float, color: str, r: float = 6.0) -> str:
    return (f'<path d="M{coord(cx)} {coord(cy - r)}L{coord(cx + r)} {coord(cy)}L{coord(cx)} {coord(cy + r)}'
            f'L{coord(cx - r)} {coord(cy)}Z" fill="{color}" class="junk"/>')


def _legend(results: Mapping, x0: float, y0: float) -> list[str]:
    out = []
    for i, tier in enumerate(results["tiers"]):
        yy = y0 + 10 + 18 * i
        label = _label(results, tier)
        label = label if len(label) <= LEGEND_CHARS else label[: LEGEND_CHARS - 1] + "…"
        out.append(f'<line x1="{coord(x0)}" y1="{coord(yy)}" x2="{coord(x0 + 22)}" y2="{coord(yy)}" '
                   f'class="line" stroke="{_color(results, tier)}"/>'
                   f'<text x="{coord(x0 + 28)}" y="{coord(yy + 4)}" class="lg">{esc(label)}</text>')
    yy = y0 + 10 + 18 * len(results["tiers"]) + 8
    out.append(f'<circle cx="{coord(x0 + 11)}" cy="{coord(yy)}" r="4.5" fill="#555" class="mean"/>'
               f'<text x="{coord(x0 + 28)}" y="{coord(yy + 4)}" class="lg">mean over seeds</text>'
               f'<circle cx="{coord(x0 + 11)}" cy="{coord(yy + 18)}" r="2.2" fill="#555" class="seed"/>'
               f'<text x="{coord(x0 + 28)}" y="{coord(yy + 22)}" class="lg">one seed</text>'
               + _diamond(x0 + 11, yy + 36, "#555")
               + f'<text x="{coord(x0 + 28)}" y="{coord(yy + 40)}" class="lg">junk arm</text>')
    return out


def plot_section(results: Mapping, q: Mapping) -> str:
    note = ('<p class="note">Every arm trains for the same number of tokens; fewer unique tokens means '
            "more repeats. Lines join each tier's budgets through the mean over seeds.</p>")
    return section("plot", "Held-out loss against unique tokens", plot_svg(results, q) + note)


def _domain_cells(effects: Mapping, domains: list[str]) -> list[str]:
    return [esc(effects[d]["change"]) + f" ({effects[d]['effect_sd']:+.2f} SD)" for d in domains]


def domains_section(results: Mapping, q: Mapping) -> str:
    domains = list(results["domains"])
    rows = [[esc(f"Q1: {p['lower']} -> {p['higher']}")] + _domain_cells(p["domains"], domains)
            for p in q["Q1"]["pairs"]]
    if q["Q3"]["comparison"]:
        c = q["Q3"]["comparison"]
        rows.append([esc(f"Q3: {c['arm_a']} vs {c['arm_b']}")] + _domain_cells(c["domains"], domains))
    note = (f'<p class="note">Per domain, a change counts at ±{q["Q1"]["threshold_sd"]:g} pooled SD. Q1: '
            "whether the more filtered tier helped or hurt the domain; Q3: whether adding junk did.</p>")
    head = ["comparison"] + [esc(d) for d in domains]
    return section("domains", "Per-domain effects", note + table(head, rows))


def multiplier_section(q: Mapping) -> str:
    m = q["multiplier"]
    out = [f"<p>{esc(m['summary'])}</p>"]
    if m["tiers"]:
        out.append(table(["raw arm", "unique tokens", "mean bpb", "curve used"], [
            [esc(p["arm"]), fmt_int(p["unique_tokens"]), f"{p['bpb']:.4f}", f"{p['envelope']:.4f}"]
            for p in m["raw_curve"]]))
        out.append('<p class="note">' + ("The raw curve falls with more unique tokens." if m["monotone"] else
                   "The raw curve is not monotone: where a larger budget measured worse, the curve keeps "
                   "the best bpb reached so far (running minimum).") +
                   " U* is read off it piecewise linearly in log U, never extrapolated: better than raw at "
                   "its largest budget gives a lower bound (≥), worse than its smallest an upper bound (≤). "
                   "The interval resamples each arm's seeds with replacement.</p>")
        out.append(table(["tier", "arm", "unique tokens", "mean bpb", "raw tokens to match", "multiplier",
                          "95% interval", "resamples at ≥ / ≤ bound"], [
            [esc(t["tier"]), esc(t["arm"]), fmt_int(t["unique_tokens"]), f"{t['bpb']:.4f}",
             BOUND_SIGNS.get(t["bound"], "") + fmt_int(t["raw_unique_tokens"]),
             esc(t["text"]), f"{t['interval'][0]:.3g} – {t['interval'][1]:.3g}",
             f"{t['share_lower_bound']:.1%} / {t['share_upper_bound']:.1%} of {fmt_int(t['resamples'])}"]
            for t in m["tiers"]]))
    return section("multiplier", "Effective-data multiplier", "".join(out))


# The probe's columns, threshold-free scores first (pretrain.evaluate.probe), then its baselines:
# the same probe on random weights and on a bag of words. A column shows where some arm has it.
PROBE_COLUMNS = (("auroc", "probe AUROC"), ("average_precision", "probe AP"),
                 ("f1", "probe F1"), ("accuracy", "probe accuracy"),
                 ("random_auroc", "random-weights AUROC"),
                 ("random_average_precision", "random-weights AP"),
                 ("bow_auroc", "bag-of-words AUROC"), ("bow_average_precision", "bag-of-words AP"))


def _l2(stat: Mapping) -> str:
    """The cross-validated L2 over the seeds: one value, or the mean with its SD."""
    return f"{stat['mean']:.0e}" if stat["sd"] == 0 else f"{stat['mean']:.1e} ± {stat['sd']:.1e}"


def probe_section(results: Mapping, q: Mapping) -> str:
    tasks = sorted({t for s in q["arms"].values() for t in s["probe"]})
    if not tasks:
        return section("probe", "Downstream probe", '<p class="note">No downstream probe was run.</p>')
    tuned = any(s.get("finetune") for s in q["arms"].values())
    out = ['<p class="note">Reuters topic classification per arm, kept apart from the held-out loss: '
           "a logistic regression on frozen features (the mean over the text tokens), its L2 "
           "and decision threshold chosen by cross-validation on the training split; AUROC and "
           "average precision (AP; chance is the positive rate) first, F1 and accuracy at the "
           "threshold second, beside the same probe on random weights and on a bag of words"
           + (" and every weight fine-tuned with a classification head "
              "(<code>pretrain.finetune</code>, one run per seed)" if tuned else "")
           + "; mean ± sample SD over the seeds that ran it, beside the majority-class "
           "baseline.</p>"]
    for task in tasks:
        stats = {a["id"]: q["arms"][a["id"]]["probe"].get(task) for a in results["arms"]}
        columns = [(k, label) for k, label in PROBE_COLUMNS
                   if any(p and k in p for p in stats.values())]
        with_l2 = any(p and "l2" in p for p in stats.values())
        rows = []
        for a in results["arms"]:
            p = stats[a["id"]]
            if p:
                row = [esc(a["id"]), fmt_int(p[columns[0][0]]["n"])]
                row += [_bpb(p[k]) if k in p else "–" for k, _ in columns]
                row += [_l2(p["l2"]) if "l2" in p else "–"] if with_l2 else []
                if tuned:
                    f = (q["arms"][a["id"]].get("finetune") or {}).get(task)
                    row += [_bpb(f["f1"]), _bpb(f["accuracy"])] if f else ["–", "–"]
                rows.append(row + [f"{p['majority_accuracy']['mean']:.4f}"])
        head = ["arm", "seeds"] + [label for _, label in columns]
        head += ["probe L2 (CV)"] if with_l2 else []
        head += ["fine-tuned F1", "fine-tuned accuracy"] if tuned else []
        out.append(f"<h3>{esc(task)}</h3>" + table(head + ["majority-class accuracy"], rows))
    return section("probe", "Downstream probe", "".join(out))


def render_study_report(results: Mapping) -> str:
    """The page as a string; the questions are computed with `analyse` when results lack them."""
    q = results.get("questions") or analyse(results)
    title = f"Sieve study: {results.get('study', '?')} ({results.get('profile', '?')})"
    body = [summary_section(results), verdicts_section(q), arms_section(results, q), plot_section(results, q),
            domains_section(results, q), multiplier_section(q), probe_section(results, q)]
    return html_page(title, f"<h1>{esc(title)}</h1>", SECTIONS, body, CSS + STUDY_CSS)


def write_study_report(results: Mapping, path: str) -> str:
    """Writes the page to `path` as UTF-8 and returns the path."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_study_report(results))
    return path
