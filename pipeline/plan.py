"""`python -m pipeline --plan FRACTION ...`: what the whole job will cost, from two small runs.

The job runs locally twice, on FRACTION of the input records and then on half of it
(`--sample_fraction`, a stable hash of file name and line), each into a temporary directory. For
each measured quantity (wall time, CPU time of the launcher and its worker processes, data moved
into groupings, bytes written) the two runs give a line, fixed + per input byte, and the plan is
that line at the whole input. Sieve's growth is near linear (benchmarks/README.md: 4.16x the
input took 3.39x the time), so a line is the model; the plan says what it assumes.
"""

from __future__ import annotations

import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable

from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")
PLAN_ONLY = ("--plan", "--plan_workers", "--output", "--sample_fraction")


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _without(argv: list[str], names) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        name = a.split("=", 1)[0]
        if name in names:
            skip = "=" not in a
            continue
        out.append(a)
    return out


def _written_bytes(directory: str, skip: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(directory)
               for f in files if f != skip)


def measure(argv: list[str], fraction: float, run: Callable[[list[str]], dict],
            read_run_metrics: Callable[[str], dict | None]) -> dict:
    """One local run on `fraction` of the input (`run`: the launcher's, which returns the stats):
    its measurements."""
    from quality import outputs

    tmp = tempfile.mkdtemp(prefix="sieve-plan-")
    try:
        wall0, cpu0 = time.perf_counter(), _cpu_seconds()
        stats = run(_without(argv, PLAN_ONLY) + ["--output", tmp, "--sample_fraction", repr(fraction)])
        wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
        moved = read_run_metrics(tmp) or {}
        return {"fraction": fraction, "docs": stats["input"]["docs"], "input_bytes": stats["input"]["bytes"],
                "wall_s": wall, "cpu_s": cpu, "shuffle_bytes": moved.get("shuffle_bytes", 0),
                "output_bytes": _written_bytes(tmp, outputs.RUN_METRICS),
                "kept": stats["identity"]["docs"]["kept"], "identity_holds": stats["identity_holds"]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fit(small: dict, large: dict, key: str) -> tuple[float, float]:
    """(fixed, per input byte) of the line through the two runs; the fixed part is at least 0."""
    dx = large["input_bytes"] - small["input_bytes"]
    per = (large[key] - small[key]) / dx if dx > 0 else large[key] / max(large["input_bytes"], 1)
    per = max(per, 0.0)
    return max(large[key] - per * large["input_bytes"], 0.0), per


def plan(argv: list[str], options, fraction: float, workers: int | None, *,
         run: Callable[[list[str]], dict], read_run_metrics: Callable[[str], dict | None]) -> dict:
    """The plan; `run` and `read_run_metrics` are the launcher's (`pipeline.__main__`)."""
    runner = options.view_as(StandardOptions).runner
    if runner not in LOCAL_RUNNERS:
        raise SystemExit(f"--plan runs the job locally: leave out --runner {runner} and give the "
                         f"workers to plan for with --plan_workers")
    if not 0 < fraction <= 0.5:
        raise SystemExit(f"--plan takes a fraction in (0, 0.5], not {fraction}")
    local_workers = options.view_as(DirectOptions).direct_num_workers or 1
    if options.view_as(DirectOptions).direct_running_mode == "in_memory":
        local_workers = 1
    # The larger run first: the second run finds warm caches (models, imports), so running the
    # small one second errs toward a steeper line, a plan that costs more rather than less.
    large = measure(argv, fraction, run, read_run_metrics)
    small = measure(argv, fraction / 2, run, read_run_metrics)
    total_bytes = large["input_bytes"] / fraction  # the whole input, in the same text bytes
    full = {"input_bytes": total_bytes, "docs": large["docs"] / fraction}
    for key in ("wall_s", "cpu_s", "shuffle_bytes", "output_bytes"):
        fixed, per = fit(small, large, key)
        full[key] = fixed + per * total_bytes
        full[key + "_fixed"] = fixed
    target = workers or local_workers
    # The per-byte part of the wall time is spread over the workers; the fixed part is not.
    variable = full["wall_s"] - full["wall_s_fixed"]
    full["wall_s_on_target"] = full["wall_s_fixed"] + variable * local_workers / target
    return {"runs": [small, large], "full": full, "local_workers": local_workers,
            "target_workers": target}


def report(p: dict) -> str:
    small, large = p["runs"]
    f = p["full"]
    lines = [f"Sieve plan: two local runs ({p['local_workers']} worker(s)), fitted as fixed + per input byte"]
    for r in (small, large):
        lines.append(f"  sample {r['fraction']:.2%}: {r['docs']:,} documents, {r['input_bytes'] / 1e6:.1f} MB "
                     f"-> {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} CPU-s, {r['shuffle_bytes'] / 1e6:.1f} MB "
                     f"moved, {r['output_bytes'] / 1e6:.1f} MB written, {r['kept']:,} kept"
                     f"{'' if r['identity_holds'] else ' (IDENTITY FAILS)'}")
    lines += [f"  whole input (about {f['docs']:,.0f} documents, {f['input_bytes'] / 1e6:,.1f} MB of text):",
              f"    wall time here ({p['local_workers']} worker(s)): {f['wall_s']:,.0f} s "
              f"(of which {f['wall_s_fixed']:.0f} s fixed)",
              f"    wall time on {p['target_workers']} worker(s) of this machine's speed: "
              f"{f['wall_s_on_target']:,.0f} s, if the per-byte work spreads evenly",
              f"    CPU: {f['cpu_s'] / 3600:,.2f} CPU-hours (worker-hours at one vCPU each, at this "
              f"machine's speed)",
              f"    data moved into groupings: {f['shuffle_bytes'] / 1e6:,.0f} MB (local runners' "
              f"estimate; Dataflow bills shuffle on its own count)",
              f"    written: {f['output_bytes'] / 1e6:,.0f} MB (shards, ledger, report and the rest)",
              "  Assumes: cost linear in the input (measured near linear), the sample representative "
              "of the whole, and on Dataflow its own worker start-up on top."]
    return "\n".join(lines)
