"""The one module that wires the Beam graph: read -> annotate -> select -> dedup -> tokenize -> shard.

Documents cross one grouping, by shard (`shards.WriteShards`), where the dedup decisions made
on small records are applied and the kept documents tokenized and written. Every document that
leaves the corpus becomes an outcome row, so the ledger and stats.json can show that
input = kept + dropped + duplicates + dead-lettered.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.pvalue import AsSingleton

from pipeline import accounting, dedup, output_dir, records, shard_format, shards, stages, tokenize
from pipeline.files import create_file
from pipeline.read import ReadAnnotated, ReadDocuments
from quality import policy as policies

from quality.outputs import ANNOTATED_DIR, CLUSTERS_DIR, DEAD_LETTER_DIR, LEDGER_DIR, STATS


def corpus_config(opts, input_label: str) -> dict:
    from pipeline.options import corpus_config_keys

    config = {k: getattr(opts, k) for k in corpus_config_keys()}
    config["input"] = input_label
    return config


def check_policy_inputs(policy, opts) -> None:
    """Before any work: every rule must read a signal that the annotate stage records (the
    quality classifier's only with --quality_model, or from annotated documents that may hold
    it). A rule over a missing signal would pass every document unjudged."""
    from quality import signals

    with_model = bool(opts.quality_model or opts.from_annotated)
    with_blocklist = bool(opts.url_blocklist or opts.from_annotated)
    known = signals.recorded_signals(with_model, with_blocklist)
    needed = sorted({f"{r.signal} needs {signals.needs(r.signal)}" for r in policy.rules
                     if signals.needs(r.signal) and r.signal not in known})
    hint = f" ({'; '.join(needed)})" if needed else ""
    policy.check_signals(known, hint)


def with_blocklist_rule(policy, opts):
    """With --url_blocklist, the policy's first rule is `url_blocklist` (RefinedWeb and FineWeb
    filter URLs before anything else), unless the policy places it itself."""
    from dataclasses import replace

    from quality.url import BLOCKLIST_RULE

    if not opts.url_blocklist or any(r.name == BLOCKLIST_RULE.name for r in policy.rules):
        return policy
    return replace(policy, rules=(BLOCKLIST_RULE, *policy.rules))


def checked_policy(opts):
    """The run's policy (--policy, with --url_blocklist's rule), validated in full before any
    work: its schema (`quality.policy`) and the signals its rules read. Raises PolicyError."""
    policy = with_blocklist_rule(policies.load(opts.policy), opts)
    try:
        check_policy_inputs(policy, opts)
    except policies.PolicyError:
        raise
    except ValueError as e:
        raise policies.PolicyError(str(e)) from None
    return policy


def build(p: beam.Pipeline, opts, input_pattern: str, input_label: str, policy=None) -> None:
    """Documents flow through map stages (read, annotate, select) to one grouping, by shard;
    every global step before it (repeated ids, policy cuts, dedup, the tokenizer sample, the
    shard count) runs on small records derived from them."""
    out = opts.output
    policy = checked_policy(opts) if policy is None else policy
    # Off the local file system, every write waits for the check that the output holds no
    # previous run (`pipeline.output_dir`); locally the launcher has cleared it.
    fresh = None if output_dir.is_local(out) else AsSingleton(
        p | "Output directory" >> beam.Create([out])
        | "Output is fresh" >> beam.Map(output_dir.check_fresh))

    def after_check(pc, label):
        return pc if fresh is None else pc | label >> beam.Map(lambda x, _: x, fresh)

    if opts.from_annotated:
        # Re-selection: the documents and their signals come from a previous run's annotated/.
        docs = p | "Read annotated" >> ReadAnnotated(opts.from_annotated)
        input_docs, input_dead, early_dead, annotated_docs = docs, (), (), docs
        unique_docs = docs
    else:
        read = p | "Read" >> ReadDocuments(
            input_pattern, text_field=opts.text_field, id_field=opts.id_field,
            max_doc_bytes=opts.max_doc_bytes, max_record_bytes=opts.max_record_bytes,
            sample_fraction=opts.sample_fraction, input_format=opts.input_format,
            extractor=opts.extractor, text_lines=opts.text_lines,
            split_bytes=opts.split_bytes)
        unique = read.docs | "Unique ids" >> stages.DedupIds()
        to_annotate = AsSingleton(unique.docs | "Count to annotate" >> beam.combiners.Count.Globally())
        annotate = stages.Annotate(opts.quality_model, opts.progress_seconds, _workers(p.options),
                                   url_blocklist=opts.url_blocklist)
        annotated = unique.docs | "Annotate" >> beam.ParDo(annotate, to_annotate).with_outputs(
            records.DEAD_LETTER_TAG, main="docs")
        input_docs, input_dead, unique_docs = read.docs, (read.dead_letter,), unique.docs
        early_dead = (read.dead_letter, unique.dead_letter, annotated.dead_letter)
        annotated_docs = annotated.docs
    cuts = top_fraction_cuts(p, annotated_docs, policy)
    select = stages.Select(policy, invert=opts.invert_policy)
    selected = (annotated_docs
                | "Select" >> (beam.ParDo(select, AsSingleton(cuts)) if cuts else beam.ParDo(select))
                .with_outputs(records.DROPPED_TAG, main="docs"))
    decided, near_settings = deduplicate(selected.docs, opts)
    kept = decided["alive"]  # (node, candidate) of the documents dedup keeps
    # The documents wait for the decisions, the tokenizer and the shard count as (id, compressed
    # JSON): several times smaller than Python objects, in the runner's buffers and the shuffle.
    packed = selected.docs | "Pack" >> beam.Map(lambda d: (d["id"], records.pack(d)))

    if opts.tokenizer:
        path = after_check(p | "Tokenizer path" >> beam.Create([opts.tokenizer]), "Path after check")
        tok = path | "Load tokenizer" >> beam.ParDo(tokenize.LoadTokenizer(out))
    else:
        chosen = (kept
                  | "Tokenizer candidates" >> beam.Map(lambda kv: tokenize.sample_candidate(kv[1]))
                  | "Tokenizer sample" >> beam.combiners.Top.Smallest(opts.tokenizer_sample_docs)
                  | "Within character budget" >> beam.Map(tokenize.choose_sample,
                                                          opts.tokenizer_sample_chars))
        chosen = after_check(chosen, "Sample after check")
        tok = (packed
               | "Tokenizer sample texts" >> beam.FlatMap(_sample_text, AsSingleton(chosen))
               | "Collect sample" >> beam.combiners.ToList()
               | "Train tokenizer" >> beam.ParDo(tokenize.TrainTokenizer(opts.vocab_size, out),
                                                 AsSingleton(chosen)))

    if opts.num_shards > 0:
        num_shards = p | "Fixed shard count" >> beam.Create([opts.num_shards])
    else:
        target = opts.shard_target_mb
        num_shards = (kept
                      | "Estimate sizes" >> beam.Map(lambda kv: shards.estimated_size(kv[1]))
                      | "Total size and documents" >> beam.CombineGlobally(beam.combiners.TupleCombineFn(sum, sum))
                      | "Shard count" >> beam.Map(shards.num_shards_for, target, opts.min_shards))
    n_shards = AsSingleton(after_check(num_shards, "Shard count after check"))
    early_letters = early_dead | "Early dead letters" >> beam.Flatten(pipeline=p)
    rows = ((selected.dropped | "Dropped rows" >> beam.Map(lambda r: (records.DROPPED_TAG, r)),
             early_letters | "Dead-letter rows" >> beam.Map(lambda r: (records.DEAD_LETTER_TAG, r)))
            | "All rows" >> beam.Flatten())
    dirs = {shards.OUTCOMES_TAG: FileSystems.join(out, LEDGER_DIR),
            records.DEAD_LETTER_TAG: FileSystems.join(out, DEAD_LETTER_DIR),
            records.CLUSTERS_TAG: FileSystems.join(out, CLUSTERS_DIR)}
    written = ({"docs": packed, "decisions": decided["decisions"], "rows": rows}
               | "Shards" >> shards.WriteShards(out, n_shards, AsSingleton(tok), opts.write_text,
                                                _unit(opts), dirs))

    tok_info = tok | "Tokenizer info" >> beam.Map(tokenize.tokenizer_info)
    config = corpus_config(opts, input_label)
    manifest = (written.shards
                | "Shard infos" >> beam.combiners.ToList()
                | "Manifest" >> beam.Map(_write_manifest, AsSingleton(tok_info), out, config))

    if opts.write_annotated and not opts.from_annotated:
        annotated_docs | "Annotated files" >> shards.WriteSortedJsonl(
            FileSystems.join(out, ANNOTATED_DIR), "annotated", n_shards, compress=True)

    if near_settings is not None:
        near_stats = dedup.near_stats(written[records.CLUSTERS_TAG], near_settings, decided["rounds"])
    else:
        near_stats = p | "No near dedup" >> beam.Create([None])

    outcomes = written[shards.OUTCOMES_TAG]
    counts = outcomes | "Count outcomes" >> beam.CombineGlobally(accounting.CountOutcomes())
    inputs = ((input_docs | "Doc bytes" >> beam.Map(lambda d: d["bytes"]),
               *(d | f"Dead-letter bytes {i}" >> beam.Map(lambda r: r["bytes"])
                 for i, d in enumerate(input_dead)))
              | "All inputs" >> beam.Flatten()
              | "Count input" >> beam.CombineGlobally(accounting.CountInput()))
    resolved = (cuts | "Resolved policy" >> beam.Map(lambda c: policy.resolve(c).to_dict())
                if cuts else p | "Policy" >> beam.Create([policy.to_dict()]))
    stage_docs = count_stages({"read": unique_docs, "annotated": annotated_docs,
                               "selected": selected.docs}, written[shards.STAGE_TAG])
    failure_examples = (written[records.DEAD_LETTER_TAG]
                        | "Stage failures" >> beam.FlatMap(_stage_failure)
                        | "First failures" >> beam.combiners.Top.Smallest(FAILURE_EXAMPLES))
    stats = (counts | "Stats" >> beam.Map(_write_stats, AsSingleton(inputs), AsSingleton(manifest),
                                          AsSingleton(tok_info), AsSingleton(resolved),
                                          AsSingleton(near_stats), AsSingleton(stage_docs),
                                          AsSingleton(failure_examples), opts.max_failure_fraction, out))
    # The report is the job's last step, after every ledger, dead-letter and stats file is
    # written, so that on a remote runner the launcher may exit once the job is submitted.
    stats | "Report" >> beam.Map(lambda _, out: output_dir.write_report(out), out)


FAILURE_EXAMPLES = 10  # annotate/tokenize errors named in stats.json, smallest ids first


def _stage_failure(letter):
    if letter["stage"] in accounting.FAILURE_STAGES:
        yield letter["stage"], letter["id"], letter["error"][:500]


def count_stages(pcolls: dict, labels=None):
    """{stage: documents} counted on each stage's output PCollection (and on the shard writer's
    stage labels), as a singleton: the accounting's flow compares them with what each stage
    let go (`accounting.flow`)."""
    counted = [pc | f"Count {stage}" >> beam.Map(lambda _, s=stage: s) for stage, pc in pcolls.items()]
    if labels is not None:
        counted.append(labels)
    return (counted | "Stage outputs" >> beam.Flatten()
            | "Count stage outputs" >> beam.combiners.Count.PerElement()
            | "Stage counts" >> beam.combiners.ToDict())


def _sample_text(packed, chosen):
    doc_id, blob = packed
    if doc_id in chosen:
        yield from tokenize.sample_text(records.unpack(blob), chosen)


def _workers(options) -> int:
    """Worker processes of a local multi-process runner (progress lines assume an even share)."""
    from apache_beam.options.pipeline_options import DirectOptions

    direct = options.view_as(DirectOptions)
    return (direct.direct_num_workers or 1) if direct.direct_running_mode != "in_memory" else 1


def _unit(opts) -> str | None:
    return None if opts.subdoc_dedup == "none" else opts.subdoc_dedup


def deduplicate(docs, opts):
    """URL, exact and near-duplicate documents, then repeated paragraphs or spans, decided on
    small records (`pipeline.dedup.Decide`): document-level dedup first, so a duplicate's
    paragraphs do not count as repeats of its keeper's. Returns (Decide's outputs, the near
    dedup settings or None)."""
    keeper = opts.dedup_keeper_signal
    near = None
    if opts.near_dedup:
        near = dedup.NearSettings.make(
            opts.minhash_bands, opts.minhash_rows, opts.minhash_threshold,
            exact_check=opts.exact_jaccard_check, threshold=opts.jaccard_threshold,
            keeper_signal=keeper, max_rounds=opts.dedup_max_rounds)
    feats = dedup.features(docs, keeper, opts.url_dedup, near, _unit(opts))
    decided = feats | "Dedup decisions" >> dedup.Decide(
        keeper, url=opts.url_dedup, exact=True, near=near, unit=_unit(opts))
    return decided, near


def top_fraction_cuts(p, docs, policy):
    """For each top-fraction rule, the value cut computed over every annotated document, as a
    singleton {rule name: cut}; None when the policy has no such rule.

    Values are counted exactly after rounding to CUT_SIGNIFICANT_DIGITS, in a combiner, so the
    cut is the same on every runner and no worker holds more than the distinct values.
    """
    rules = policy.top_fraction_rules()
    if not rules:
        return None
    per_rule = []
    for rule in rules:
        per_rule.append(
            docs
            | f"Values of {rule.name}" >> beam.FlatMap(_rounded_value, rule.signal)
            | f"Count values of {rule.name}" >> beam.CombineGlobally(accounting.CountValues())
            | f"Cut of {rule.name}" >> beam.Map(_cut, rule.name, rule.top_fraction))
    return per_rule | "All cuts" >> beam.Flatten() | "Cuts" >> beam.combiners.ToDict()


CUT_SIGNIFICANT_DIGITS = 6


def _rounded_value(doc, signal):
    value = doc["signals"].get(signal)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(f"{value:.{CUT_SIGNIFICANT_DIGITS}g}")


def _cut(counts, name, fraction):
    cut = policies.top_fraction_cut(counts, fraction)
    # No document has the signal: nothing can be in its top fraction.
    return name, cut if cut is not None else float("inf")


def _write_manifest(shard_infos, tok_info, out, config):
    manifest = shard_format.build_manifest(
        shards=shard_infos, tokenizer_sha256=tok_info["sha256"], vocab_size=tok_info["vocab_size"],
        special_ids=shard_format.SPECIAL_IDS, config=config)
    with create_file(FileSystems.join(out, shard_format.MANIFEST), "application/json") as f:
        f.write(shard_format.dump_manifest(manifest))
    return manifest["totals"]


def _write_stats(counts, inputs, manifest_totals, tok_info, policy, near_stats, stage_docs,
                 failure_examples, max_failure_fraction, out):
    stats = accounting.build_stats(counts, inputs, manifest_totals, tok_info, policy, stage_docs,
                                   max_failure_fraction, failure_examples)
    stats["near_dedup"] = near_stats
    shards.write_json(FileSystems.join(out, STATS), stats)
    return stats
