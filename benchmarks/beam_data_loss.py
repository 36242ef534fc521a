"""A minimal reproduction of Beam 2.77's FnApiRunner losing a bundle's input with worker
processes (issue 12; the bug and the fix are described in `pipeline/local_runner.py`).

    python -m benchmarks.beam_data_loss [--fixed] [--mb 200] [--flush_ms 1000]

One Beam pipeline, no Sieve code in it: N elements of 1 KB are made by a ParDo, then read
again by a ParDo that waits for a side input (their count), so FnApiRunner holds them in a
buffer and sends them to the workers as a bundle's input, in chunks of about 10 MB. That second
ParDo counts what reaches it (a Beam counter). With `--direct_running_mode=multi_processing
--direct_num_workers=2` and Beam as it is, the count comes up short once the buffer is large
enough that the runner's writes meet its once-a-second flush (`--flush_ms` sets that period;
shorter makes the race more frequent). `--fixed` applies `pipeline.local_runner.install()`
first. Prints one JSON line: elements made, elements that arrived, lost, and the settings; the
exit status is 1 when any were lost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

ELEMENT_BYTES = 1000
PRODUCERS = 8  # elements are made by this many keys, spread over the workers


def _make(key: int, per_key: int):
    pad = b"x" * (ELEMENT_BYTES - 16)
    for i in range(per_key):
        yield b"%08d%08d" % (key, i) + pad


class _Arrived(beam.DoFn):
    def __init__(self):
        self.arrived = Metrics.counter("beam_data_loss", "arrived")

    def process(self, element, total):
        self.arrived.inc()
        yield len(element)


def run(mb: int, workers: int, flush_ms: int | None, fixed: bool) -> dict:
    from apache_beam.runners.portability.fn_api_runner import worker_handlers

    if fixed:
        from pipeline import local_runner

        local_runner.install()
    elif flush_ms is not None:
        worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = flush_ms
    n = mb * 1_000_000 // ELEMENT_BYTES
    per_key = n // PRODUCERS
    made = per_key * PRODUCERS
    opts = PipelineOptions([f"--direct_num_workers={workers}",
                            "--direct_running_mode=" + ("multi_processing" if workers > 1 else "in_memory")])
    p = beam.Pipeline(runner="FnApiRunner", options=opts)
    elems = (p | beam.Create(list(range(PRODUCERS))) | beam.Reshuffle()
             | "Make" >> beam.FlatMap(_make, per_key))
    total = elems | "Count made" >> beam.combiners.Count.Globally()
    _ = elems | "Arrive" >> beam.ParDo(_Arrived(), beam.pvalue.AsSingleton(total))
    t0 = time.time()
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name("arrived"))["counters"]
    arrived = sum(c.committed for c in counters)
    return {"made": made, "arrived": arrived, "lost": made - arrived, "mb": mb, "workers": workers,
            "flush_ms": 0 if fixed else (flush_ms or worker_handlers.DATA_BUFFER_TIME_LIMIT_MS),
            "fixed": fixed, "seconds": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=200, help="data made, in MB (1 KB elements)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--flush_ms", type=int, default=None,
                    help="the runner's time-based flush period (Beam's default: 1000)")
    ap.add_argument("--fixed", action="store_true", help="apply pipeline.local_runner.install() first")
    args = ap.parse_args(argv)
    row = run(args.mb, args.workers, args.flush_ms, args.fixed)
    print(json.dumps(row), flush=True)
    return 1 if row["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
