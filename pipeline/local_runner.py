"""A fix for Beam 2.77's FnApiRunner losing input data with worker processes (issue 12).

The bug, in Beam (apache_beam/runners/worker/data_plane.py and .../fn_api_runner/):
FnApiRunner's gRPC data server is built with `DATA_BUFFER_TIME_LIMIT_MS = 1000`
(`worker_handlers.GrpcServer`), so every stream the runner opens to send a bundle's input to
an SDK worker is a `TimeBasedBufferingClosableOutputStream`. A background thread flushes that
stream every second: `flush()` takes the buffer (`self.get()`), hands it to the send queue, then
empties the buffer (`self._clear()`). The runner's writer (`BundleManager._send_input_to_worker`)
keeps writing on its own thread without that stream's lock, so every chunk written between the
`get()` and the `_clear()` is dropped. Nothing fails: the worker sees the end-of-stream marker and
processes the bundle without those elements. Only gRPC workers use these streams
(`--direct_running_mode=multi_processing` or `multi_threading`); in process, FnApiRunner uses an
in-memory channel. The larger a bundle's input, the longer the writer runs and the more flushes
it meets, so the loss grows with the input: never seen on the bundled sample, 2 of 5 runs on
215 MB, every run on 894 MB. Measured (issue 12): a 2-worker run on 894 MB sent 93,358 rows to
one worker for the shard grouping, in 24 chunks of about 10.5 MB; the worker received 2 messages
holding 18 of them (188,775,226 of 251,699,419 bytes) and processed 70,010 rows.
`tests/pipeline/test_local_runner.py` reproduces the race on Beam's class itself, deterministically, and
`benchmarks/beam_data_loss.py` on a small pipeline.

The fix (`install`), for the driver process, before a pipeline runs:
- `DATA_BUFFER_TIME_LIMIT_MS = 0`: the runner's streams (and the SDK harness of the
  multi-threaded mode, which reads the same constant) buffer by size only: no flushing thread,
  no race. Beam's `_send_input_to_worker` never flushes by size, so each part of a bundle's
  input now travels as one message, sent when it is complete. It must not be cut into many
  smaller messages: the runner sends a bundle's whole input before it asks the worker to start
  the bundle, and the queues between them hold only a few messages (5 on the worker, 100 MB
  on each of the runner's two). A flush every 10 MB deadlocked a 600 MB input; a whole part
  passes because a queue always takes one message of any size.
- `BundleManager._send_input_to_worker` checks that size: one gRPC/protobuf message stops at
  2 GB, so a part over Beam's `_FLUSH_MAX_SIZE` fails with an error that says what to do (more
  worker processes make smaller parts; a corpus that size belongs on Dataflow) instead of
  failing inside gRPC.

SDK workers started by FnApiRunner already use size-based streams (`data_buffer_time_limit_ms`
0 unless an experiment sets it), so nothing changes on their side. Dataflow does not run this
code. `install` checks that the two names it replaces exist, so a Beam upgrade that moves them
fails loudly (and `tests/pipeline/test_local_runner.py` says whether the race is still there).
"""

from __future__ import annotations

AFFECTED_BEAM = "2.77.0"  # the pinned version whose internals this replaces (pyproject.toml)
_INSTALLED = False


def _send_input_to_worker(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
    """Beam's BundleManager._send_input_to_worker (one message per part, sent on close), with
    a clear error for a part over gRPC's message size."""
    from apache_beam.runners.worker import data_plane

    assert self._worker_handler is not None
    chunks = list(byte_streams or [])
    size = sum(len(c) for c in chunks)
    if size > data_plane._FLUSH_MAX_SIZE:
        raise RuntimeError(
            f"FnApiRunner: {size / 2**30:.2f} GiB of input for one bundle part of "
            f"{read_transform_id!r} is over gRPC's 2 GiB message limit; run with more "
            "--direct_num_workers (smaller parts) or on Dataflow")
    data_out = self._worker_handler.data_conn.output_stream(process_bundle_id, read_transform_id)
    for byte_stream in chunks:
        data_out.write(byte_stream)
    data_out.close()


def install() -> None:
    """Apply the fix (idempotent). Call before running a pipeline on FnApiRunner."""
    global _INSTALLED
    if _INSTALLED:
        return
    from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers

    for owner, name in ((worker_handlers, "DATA_BUFFER_TIME_LIMIT_MS"),
                        (fn_runner.BundleManager, "_send_input_to_worker")):
        if not hasattr(owner, name):
            raise RuntimeError(
                f"pipeline.local_runner: Beam no longer has {owner.__name__}.{name}; the fix for "
                f"FnApiRunner's data loss (written for Beam {AFFECTED_BEAM}) needs a new look")
    worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0
    fn_runner.BundleManager._send_input_to_worker = _send_input_to_worker
    _INSTALLED = True
