"""The accounting identity: input = kept + dropped by reason + duplicates + dead-lettered.

Counted in documents and in bytes (UTF-8 text as read; raw record bytes for unreadable ones),
per outcome and per reason, and per source. `stats.json` records both sides and whether they
agree; a run whose identity fails says so in its summary and exits non-zero.
"""

from __future__ import annotations

from collections import Counter

import apache_beam as beam

from pipeline import records


class _CounterCombine(beam.CombineFn):
    """A combiner whose accumulator is a Counter: merging adds counts, whatever the order."""

    def create_accumulator(self):
        return Counter()

    def merge_accumulators(self, accs):
        total = Counter()
        for acc in accs:
            total.update(acc)
        return total


class CountOutcomes(_CounterCombine):
    """Outcome rows -> {outcome: {docs, bytes}, reasons: {outcome/reason: {docs, bytes}}, sources}."""

    def add_input(self, acc, row):
        reason = row["reason"] or ""
        source = row.get("source") or "(unreadable)"
        keys = [("outcome", row["outcome"]), ("reason", row["outcome"], reason),
                ("source", source, row["outcome"])]
        keys += [("would_drop", rule) for rule in row.get("failures", ())]
        for key in keys:
            acc[key + ("docs",)] += 1
            acc[key + ("bytes",)] += row["bytes"]
        for name, value in (row.get("signals") or {}).items():
            if name.startswith("dedup.") and name.endswith("_removed_bytes") and value:
                unit = name[len("dedup."):-len("_removed_bytes")]
                acc[("subdoc", unit, row["outcome"], "docs_changed")] += 1
                acc[("subdoc", unit, row["outcome"], "removed_bytes")] += value
        transform = row.get("transform")
        if transform:
            name = transform["name"]
            acc[("transform", name, row["outcome"], "docs")] += 1
            acc[("transform", name, row["outcome"], "docs_changed")] += transform["removed_bytes"] > 0
            acc[("transform", name, row["outcome"], "removed_lines")] += transform["removed_lines"]
            acc[("transform", name, row["outcome"], "removed_bytes")] += transform["removed_bytes"]
        return acc

    def extract_output(self, acc):
        out = {"outcomes": {k: {"docs": 0, "bytes": 0} for k in records.OUTCOMES},
               "reasons": {}, "sources": {}, "would_drop": {}, "transform": {}}
        for key, value in sorted(acc.items()):
            if key[0] == "subdoc":
                out.setdefault("subdoc_dedup", {}).setdefault(key[1], {}).setdefault(
                    key[2], {})[key[3]] = value
            elif key[0] == "transform":
                # per transform and per final outcome of the documents it rewrote
                out["transform"].setdefault(key[1], {}).setdefault(key[2], {})[key[3]] = value
            elif key[0] == "outcome":
                out["outcomes"][key[1]][key[2]] = value
            elif key[0] == "would_drop":
                out["would_drop"].setdefault(key[1], {})[key[2]] = value
            elif key[0] == "reason":
                out["reasons"].setdefault(key[1], {}).setdefault(key[2] or key[1], {})[key[3]] = value
            else:
                out["sources"].setdefault(key[1], {}).setdefault(key[2], {})[key[3]] = value
        return out


class CountValues(_CounterCombine):
    """Values -> {value: count}: an exact distribution of (rounded) signal values."""

    def add_input(self, acc, value):
        acc[value] += 1
        return acc

    def extract_output(self, acc):
        return dict(acc)


class CountInput(beam.CombineFn):
    def create_accumulator(self):
        return (0, 0)

    def add_input(self, acc, nbytes):
        return (acc[0] + 1, acc[1] + nbytes)

    def merge_accumulators(self, accs):
        accs = list(accs)
        return (sum(a[0] for a in accs), sum(a[1] for a in accs))

    def extract_output(self, acc):
        return {"docs": acc[0], "bytes": acc[1]}


FUNNEL = (  # stage name, and (outcome, which of its reasons) that leave the corpus there
    ("read", ((records.DEAD_LETTER, lambda r: r == records.READ_STAGE),)),
    ("annotated", ((records.DEAD_LETTER, lambda r: r in (records.NORMALIZE_STAGE, records.ANNOTATE_STAGE)),)),
    ("selected", ((records.DROPPED, lambda r: not records.is_subdoc_empty(r)),)),
    ("deduplicated", ((records.DUPLICATE, lambda r: True), (records.DROPPED, records.is_subdoc_empty))),
    ("tokenized", ((records.DEAD_LETTER, lambda r: r == records.TOKENIZE_STAGE),)),
)


def funnel(counts: dict, inputs: dict, manifest_totals: dict) -> list[dict]:
    """Documents and bytes remaining after each stage, from input down to what was written:
    the input less what left with a named outcome (the counted flow is `flow`)."""
    rows = [{"stage": "input", "docs": inputs["docs"], "bytes": inputs["bytes"]}]
    for stage, leaving in FUNNEL:
        gone = _leaving(counts, leaving)
        prev = rows[-1]
        rows.append({"stage": stage, "docs": prev["docs"] - sum(v["docs"] for v in gone),
                     "bytes": prev["bytes"] - sum(v["bytes"] for v in gone)})
    rows[-1]["tokens"] = manifest_totals.get("tokens", 0)
    return rows


def _leaving(counts: dict, leaving) -> list[dict]:
    return [v for outcome, which in leaving
            for r, v in counts["reasons"].get(outcome, {}).items() if which(r)]


WRITTEN = "written"  # the last flow step: tokenized documents in, kept ledger rows out


def flow(counts: dict, inputs: dict, stage_docs: dict) -> list[dict]:
    """Per stage: documents in (counted at the previous stage's output), documents that left
    with a named outcome there, and documents counted at its output. `holds` is in = left + out;
    a stage where it fails lost (or invented) documents. `stage_docs` counts each stage's
    output PCollection in the job itself ({stage: docs}); the last step compares the tokenized
    documents with the kept rows the shard writer emitted."""
    rows, docs_in = [], inputs["docs"]
    steps = [*FUNNEL, (WRITTEN, ())]
    for stage, leaving in steps:
        left = sum(v["docs"] for v in _leaving(counts, leaving))
        out = (counts["outcomes"][records.KEPT]["docs"] if stage == WRITTEN
               else stage_docs.get(stage, 0))
        rows.append({"stage": stage, "in": docs_in, "left": left, "out": out,
                     "holds": docs_in == left + out})
        docs_in = out
    return rows


FAILURE_STAGES = (records.ANNOTATE_STAGE, records.TOKENIZE_STAGE)  # dead letters there mean a bug, not bad data
_FAILURE_INPUT = {records.ANNOTATE_STAGE: "read", records.TOKENIZE_STAGE: "deduplicated"}  # the flow row feeding each


def failures(counts: dict, flow_rows: list[dict], max_fraction: float, examples) -> dict:
    """Dead letters of annotate and tokenize against each stage's input: above `max_fraction`
    the run is failed (`exceeded`), with the first errors (smallest ids) to start from."""
    out_of = {r["stage"]: r["out"] for r in flow_rows}
    dead = counts["reasons"].get(records.DEAD_LETTER, {})
    stages = {}
    for stage in FAILURE_STAGES:
        n_in = out_of.get(_FAILURE_INPUT[stage], 0)
        failed = dead.get(stage, {}).get("docs", 0)
        fraction = failed / n_in if n_in else 0.0
        stages[stage] = {"input": n_in, "failed": failed, "fraction": fraction,
                         "exceeded": fraction > max_fraction}
    return {"max_fraction": max_fraction, "stages": stages,
            "first_errors": [{"stage": s, "id": i, "error": e} for s, i, e in examples]}


def build_stats(counts: dict, inputs: dict, manifest_totals: dict, tokenizer: dict,
                policy: dict, stage_docs: dict | None = None, max_failure_fraction: float = 1.0,
                failure_examples=()) -> dict:
    outs = counts["outcomes"]
    identity = {}
    for unit in ("docs", "bytes"):
        rhs = sum(outs[k][unit] for k in records.OUTCOMES)
        identity[unit] = {"input": inputs[unit], **{k: outs[k][unit] for k in records.OUTCOMES},
                          "sum": rhs, "holds": rhs == inputs[unit]}
    stats = {"input": inputs, **counts, "identity": identity,
             "funnel": funnel(counts, inputs, manifest_totals),
             "identity_holds": all(v["holds"] for v in identity.values()),
             "shards": manifest_totals, "tokenizer": tokenizer, "policy": policy}
    if stage_docs is not None:
        stats["flow"] = flow(counts, inputs, stage_docs)
        stats["failures"] = failures(counts, stats["flow"], max_failure_fraction, failure_examples)
    return stats


def problems(stats: dict) -> list[str]:
    """What makes a run failed, one line each: the identity, a stage that lost documents, a
    failure fraction over its bound. Empty for a good run."""
    out = []
    ident = stats["identity"]
    for unit in ("docs", "bytes"):
        v = ident[unit]
        if not v["holds"]:
            out.append(f"identity fails in {unit}: {v['input']} input, {v['sum']} accounted "
                       f"(kept {v['kept']} + dropped {v['dropped']} + duplicate {v['duplicate']} "
                       f"+ dead_letter {v['dead_letter']}): {v['input'] - v['sum']} unaccounted")
    for row in stats.get("flow", []):
        if not row["holds"]:
            lost = row["in"] - row["left"] - row["out"]
            out.append(f"stage {row['stage']}: {row['in']} documents in, {row['left']} left with "
                       f"an outcome, {row['out']} out: {lost} {'lost' if lost > 0 else 'extra'}")
    sample = (stats.get("tokenizer") or {}).get("sample")
    if sample and not sample["chosen"] == sample["collected"] == sample["distinct"]:
        out.append(f"tokenizer sample: {sample['chosen']} documents chosen, {sample['collected']} "
                   f"texts collected ({sample['distinct']} distinct): the model was trained on "
                   f"another sample than the one chosen")
    fails = stats.get("failures")
    if fails:
        for stage, v in fails["stages"].items():
            if v["exceeded"]:
                first = [e for e in fails["first_errors"] if e["stage"] == stage][:3]
                named = "; ".join(f"{e['id']}: {e['error']}" for e in first)
                out.append(f"{stage} failed on {v['failed']} of {v['input']} documents "
                           f"({v['fraction']:.2%} > --max_failure_fraction "
                           f"{fails['max_fraction']:g}); first errors: {named}")
    return out
