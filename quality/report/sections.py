"""The sections of the page, one function each, the page's CSS and `render_report`, which streams
the ledger and dead letters through a `Collector` and assembles the page."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from quality import dedup
from quality.outputs import DEAD_LETTER, DROPPED, DUPLICATE, KEPT, OUTCOMES
from quality.report.charts import CLASSES, _f, _svg, hbar_chart, histogram_data, histogram_svg, legend
from quality.report.collect import (DROPPED_OTHER, EXAMPLES_PER_RULE, SAMPLE_VALUES, Collector, DocSample,
                                    SignalStats)
from quality.report.format import _table, esc, fmt_bytes, fmt_int, fmt_num, pct, threshold_text

TOP_LANGUAGES = 25  # rows in the language table; the rest are summed in one row
OUTCOME_COLORS = {KEPT: "#2e7d32", DUPLICATE: "#7e97c8", DROPPED: "#c62828", DEAD_LETTER: "#6d4c41"}


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>'


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
