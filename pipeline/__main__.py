"""`python -m pipeline`: run the Sieve job (default: the bundled sample into ./out) and summarize it."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from pipeline import accounting, graph, local_runner, output_dir, run_metrics
from pipeline.options import SieveOptions
from quality import outputs
from quality.policy import PolicyError

SAMPLE = Path(__file__).resolve().parent / "sample" / "sample.jsonl.gz"
SAMPLE_LABEL = "bundled:pipeline/sample/sample.jsonl.gz"
# Beam 2.77's DirectRunner (also its default runner) first tries to run on Prism, downloading
# the Prism binary from the network, and falls back only when that fails. FnApiRunner is the
# runner DirectRunner falls back to: naming it keeps a run the same offline and online, with no
# network access attempted. It runs in process or, with --direct_running_mode=multi_processing
# and --direct_num_workers=N, in N worker processes.
DEFAULT_RUNNER = "FnApiRunner"


class UsageError(ValueError):
    """A command line, input or output that a run must refuse before doing any work."""


def unknown_options(argv: list[str]) -> list[str]:
    """The options in `argv` that neither Sieve nor any Beam options class defines, each with
    the closest known option if there is one. Beam only logs "Discarding unparseable args", so
    a misspelled --inptu would quietly run the bundled sample."""
    import difflib

    from apache_beam.options.pipeline_options import _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)  # the parser Beam's get_all_options builds
    _, unknown = parser.parse_known_args(argv)
    known = [o for action in parser._actions for o in action.option_strings]
    found = []
    for arg in unknown:
        if not arg.startswith("-"):
            continue
        name = arg.split("=", 1)[0]
        close = difflib.get_close_matches(name, known, n=1)
        found.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return found


def pipeline_options(argv: list[str]) -> PipelineOptions:
    unknown = unknown_options(argv)
    if unknown:
        raise UsageError(f"unknown option(s): {', '.join(unknown)}; python -m pipeline --help "
                         f"lists Sieve's options and Beam's")
    options = PipelineOptions(argv)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = DEFAULT_RUNNER
    return options


def run_inputs(opts: SieveOptions, pattern: str | None) -> dict[str, list[str]]:
    """{what: [paths]} of the files a run reads besides its documents' text: none may lie in
    the output folder, which a local run clears first."""
    found = {"--from_annotated folder": [opts.from_annotated], "--tokenizer": [opts.tokenizer],
             "--quality_model": [opts.quality_model], "--url_blocklist": [opts.url_blocklist],
             "--policy file": [opts.policy] if opts.policy.endswith((".yaml", ".yml")) else []}
    if pattern is not None:
        found["--input"] = [pattern] + [m.path for m in FileSystems.match([pattern])[0].metadata_list] \
            if output_dir.is_local(pattern) else []
    return {what: [p for p in paths if p] for what, paths in found.items()}


def check_input(pattern: str) -> None:
    """A local --input glob must match something: an empty one would run and report 0 = 0."""
    if not output_dir.is_local(pattern):
        return  # matched by the job (MatchFiles refuses an empty match there)
    from pipeline.read import unlisted_entries

    if not FileSystems.match([pattern])[0].metadata_list and not any(unlisted_entries(pattern)):
        raise UsageError(f"--input {pattern} matches no file")


def launch(argv: list[str]) -> tuple[SieveOptions, beam.Pipeline, object]:
    """Builds and submits the job; returns (its Sieve options, the pipeline, the runner's result).

    Before any work: unknown options, the policy, an empty local input and a local --output
    that holds an input or is not Sieve's to clear are refused (`pipeline.output_dir`). The
    launcher reads and writes nothing remote: a remote --output is checked by the job itself,
    and the report is the job's own last step, so on Dataflow `--wait false` may exit right
    after submitting.
    """
    options = pipeline_options(argv)
    opts = options.view_as(SieveOptions)
    if opts.from_annotated:
        pattern, label = None, f"annotated:{opts.from_annotated}"
    elif opts.input:
        pattern, label = opts.input, opts.input
    else:
        pattern, label = str(SAMPLE), SAMPLE_LABEL
    policy = graph.checked_policy(opts)
    if pattern is not None:
        check_input(pattern)
    if output_dir.is_local(opts.output):
        output_dir.prepare_local(opts.output, run_inputs(opts, pattern))
    local_runner.install()  # FnApiRunner's worker-process data loss (issue 12), fixed
    p = beam.Pipeline(options=options)
    graph.build(p, opts, pattern, label, policy)
    return opts, p, p.run()


def submitted_only(options: PipelineOptions) -> bool:
    """True when the launcher does not wait for the job: --wait false, or a dry run."""
    return not options.view_as(SieveOptions).wait or options.view_as(TestOptions).dry_run


def run(argv: list[str] | None = None) -> dict:
    """Runs the job to its end; returns the stats dict it wrote to OUTPUT/stats.json."""
    opts, p, result = launch(list(sys.argv[1:] if argv is None else argv))
    result.wait_until_finish()
    with FileSystems.open(FileSystems.join(opts.output, outputs.STATS),
                          compression_type=CompressionTypes.UNCOMPRESSED) as f:
        stats = json.load(f)
    moved = run_metrics.measure(p, result)
    if moved is not None:
        moved["input_bytes"] = stats["input"]["bytes"]
        moved["shuffle_bytes_per_input_byte"] = round(
            moved["shuffle_bytes"] / max(stats["input"]["bytes"], 1), 3)
        with output_dir.open_file(FileSystems.join(opts.output, outputs.RUN_METRICS), "wb") as f:
            f.write(json.dumps(moved, indent=1).encode("utf-8"))
    if output_dir.is_local(opts.output):
        output_dir.mark_complete(opts.output)
    return stats


def read_run_metrics(output: str) -> dict | None:
    """OUTPUT/run_metrics.json (data moved, `pipeline.run_metrics`), or None if the runner gave none."""
    path = FileSystems.join(output, outputs.RUN_METRICS)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return json.load(f)


def summary(stats: dict, seconds: float, output: str) -> str:
    ident = stats["identity"]["docs"]
    lines = [f"Sieve: {stats['input']['docs']} documents ({stats['input']['bytes'] / 1e6:.1f} MB) "
             f"in {seconds:.1f} s ({stats['input']['docs'] / max(seconds, 1e-9):.0f} docs/s)",
             f"  kept        {ident['kept']:>8}",
             f"  dropped     {ident['dropped']:>8}",
             f"  duplicate   {ident['duplicate']:>8}",
             f"  dead_letter {ident['dead_letter']:>8}",
             f"  identity: {ident['input']} input = {ident['sum']} accounted -> "
             f"{'holds' if stats['identity_holds'] else 'FAILS'}"]
    for outcome in (outputs.DROPPED, outputs.DUPLICATE, outputs.DEAD_LETTER):
        for reason, v in sorted(stats["reasons"].get(outcome, {}).items(), key=lambda kv: -kv[1]["docs"]):
            lines.append(f"    {outcome:<11} {reason:<40} {v['docs']:>7} docs {v['bytes'] / 1e6:>8.2f} MB")
    near = stats.get("near_dedup")
    if near:
        lines.append(f"  near dedup: {near['clusters']} clusters, {near['duplicates']} duplicates, "
                     f"components in {near['rounds']} round(s) -> "
                     f"{FileSystems.join(output, outputs.CLUSTERS_DIR)}")
    for problem in accounting.problems(stats):
        lines.append(f"  FAILED: {problem}")
    sh = stats["shards"]
    lines.append(f"  shards: {sh['shards']} files, {sh['samples']} samples, {sh['tokens']} tokens "
                 f"(vocab {stats['tokenizer']['vocab_size']}) -> {output}")
    lines.append(f"  report: {FileSystems.join(output, outputs.REPORT)}")
    moved = read_run_metrics(output)
    if moved:
        top = moved["groupings"][0] if moved["groupings"] else {"step": "-", "bytes": 0}
        lines.append(f"  data moved (estimated from Beam's sampled sizes): "
                     f"{moved['shuffle_bytes'] / 1e6:.1f} MB into {len(moved['groupings'])} groupings "
                     f"= {moved['shuffle_bytes_per_input_byte']} bytes per input byte "
                     f"(largest: {top['step']}, {top['bytes'] / 1e6:.1f} MB); "
                     f"{moved['side_input_bytes'] / 1e6:.1f} MB into side inputs "
                     f"-> {FileSystems.join(output, outputs.RUN_METRICS)}")
    return "\n".join(lines)


def help_text() -> str:
    """`python -m pipeline --help`: Sieve's options, then the Beam options a run commonly sets.

    Beam's PipelineOptions parses known arguments only and has no help of its own for them, so
    the help is built here from the same `_add_argparse_args` the job parses with."""
    from apache_beam.options.pipeline_options import DirectOptions

    parser = argparse.ArgumentParser(
        prog="python -m pipeline", description=__doc__.strip("`. ").split(": ", 1)[-1],
        epilog=f"With no --input the bundled sample is read. The runner defaults to "
               f"{DEFAULT_RUNNER} (in process; --direct_running_mode=multi_processing "
               f"--direct_num_workers=N for N worker processes); --runner DataflowRunner with "
               f"--project, --region and --temp_location runs the same job on Dataflow (README: "
               f"Dataflow). Every other Beam pipeline option (GoogleCloudOptions, WorkerOptions, "
               f"SetupOptions, ...) is accepted too.")
    SieveOptions._add_argparse_args(parser.add_argument_group("Sieve options"))
    for title, cls in (("Beam: runner", StandardOptions), ("Beam: local runner", DirectOptions)):
        cls._add_argparse_args(parser.add_argument_group(title))
    return parser.format_help()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print(help_text())
        return 0
    logging.getLogger().setLevel(logging.WARNING)
    try:
        return _main(argv)
    except (UsageError, output_dir.OutputRefused, PolicyError) as e:
        print(f"python -m pipeline: {e}", file=sys.stderr)
        return 2


def _main(argv: list[str]) -> int:
    start = time.perf_counter()
    options = pipeline_options(argv)
    opts = options.view_as(SieveOptions)
    if opts.plan is not None:
        from pipeline import plan

        print(plan.report(plan.plan(argv, options, opts.plan, opts.plan_workers, run=run,
                                    read_run_metrics=read_run_metrics)))
        return 0
    if submitted_only(options):
        _, _, result = launch(argv)
        job = getattr(result, "job_id", None)
        print(f"Sieve: job {'built (dry run)' if options.view_as(TestOptions).dry_run else 'submitted'}"
              f"{f' as {job()}' if callable(job) else ''}; its outputs and report will be in "
              f"{opts.output}")
        return 0
    stats = run(argv)
    print(summary(stats, time.perf_counter() - start, opts.output))
    # Everything is written either way; a run with a problem says so and fails.
    return 1 if accounting.problems(stats) else 0


if __name__ == "__main__":
    sys.exit(main())
