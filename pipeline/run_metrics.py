"""What a run cost in data moved: bytes entering every grouping and every side input.

Beam's portable runners (FnApiRunner, in process or in worker processes; Prism; Flink and Spark
through the job server) report, for each PCollection, its element count and a sample of its
elements' encoded sizes (the `beam:metric:element_count:v1` and
`beam:metric:sampled_byte_size:v1` monitoring infos). Joined with the pipeline's graph this gives,
at no cost to the job, an estimate of the bytes that enter each GroupByKey (CoGroupByKey and
CombinePerKey included: both expand to one) and each side input (see `data_moved` for how a
lifted combine is counted). Dataflow shows its own "shuffle bytes" on the job page; its result object carries no
monitoring infos, so there `measure` returns None.

The figures are estimates from sampled sizes and vary a little between runs; that is why they are
written to OUTPUT/run_metrics.json, which is not part of the manifest or of `stats.json`.
"""

from __future__ import annotations

from apache_beam.metrics import monitoring_infos as mi
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

GROUP_BY_KEY_URN = common_urns.primitives.GROUP_BY_KEY.urn
PAR_DO_URN = common_urns.primitives.PAR_DO.urn
COMBINE_PER_KEY_URN = common_urns.composites.COMBINE_PER_KEY.urn


def pcollection_bytes(monitoring_infos) -> dict[str, tuple[int, float]]:
    """{pcollection id: (elements, estimated bytes)} from a run's monitoring infos.

    Estimated bytes = element count x mean sampled encoded size. A PCollection read by several
    fused stages is reported by each; those reports are summed only once per id and stage, which
    is what `FnApiMetrics` does too: counts are taken as the largest report, sizes as their mean.
    """
    counts: dict[str, int] = {}
    sizes: dict[str, list[float]] = {}
    for m in monitoring_infos:
        pc = m.labels.get(mi.PCOLLECTION_LABEL)
        if not pc:
            continue
        if m.urn == mi.ELEMENT_COUNT_URN:
            counts[pc] = max(counts.get(pc, 0), mi.extract_counter_value(m))
        elif m.urn == mi.SAMPLED_BYTE_SIZE_URN:
            dist = mi.extract_distribution(m)  # (count, sum, min, max)
            if dist[0]:
                sizes.setdefault(pc, []).append(dist[1] / dist[0])
    return {pc: (n, n * (sum(sizes[pc]) / len(sizes[pc]) if pc in sizes else 0.0))
            for pc, n in counts.items()}


def _side_inputs(t: beam_runner_api_pb2.PTransform) -> list[str]:
    if t.spec.urn != PAR_DO_URN:
        return []
    payload = beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload)
    return [t.inputs[tag] for tag in payload.side_inputs if tag in t.inputs]


def data_moved(proto: beam_runner_api_pb2.Pipeline, sizes: dict[str, tuple[int, float]]) -> dict:
    """Bytes entering each GroupByKey and side input of `proto`, largest first.

    A GroupByKey that a CombinePerKey expands to is counted at the combine's output: runners lift
    the combine, so what they shuffle is partial results per key and bundle, which its output (one
    result per key) approximates from below. Its input is shown as `before_lifting`."""
    ts = proto.components.transforms
    parent = {child: tid for tid, t in ts.items() for child in t.subtransforms}
    groupings, side = [], {}
    for tid, t in ts.items():
        if t.spec.urn == GROUP_BY_KEY_URN:
            combine = ts.get(parent.get(tid, ""))
            for pc in t.inputs.values():
                n, b = sizes.get(pc, (0, 0.0))
                row = {"step": t.unique_name, "elements": n, "bytes": round(b)}
                if combine is not None and combine.spec.urn == COMBINE_PER_KEY_URN:
                    out = [sizes.get(o, (0, 0.0)) for o in combine.outputs.values()]
                    row.update(elements=sum(o[0] for o in out), bytes=round(sum(o[1] for o in out)),
                               before_lifting={"elements": n, "bytes": round(b)})
                groupings.append(row)
        for pc in _side_inputs(t):
            n, b = sizes.get(pc, (0, 0.0))
            side.setdefault(pc, {"pcollection": proto.components.pcollections[pc].unique_name,
                                 "elements": n, "bytes": round(b)})
    groupings.sort(key=lambda g: (-g["bytes"], g["step"]))
    side_list = sorted(side.values(), key=lambda s: (-s["bytes"], s["pcollection"]))
    return {"shuffle_bytes": sum(g["bytes"] for g in groupings), "groupings": groupings,
            "side_input_bytes": sum(s["bytes"] for s in side_list), "side_inputs": side_list}


def measure(pipeline, result) -> dict | None:
    """`data_moved` for a finished run, or None when the runner reports no monitoring infos."""
    infos = getattr(result, "monitoring_infos", None)
    if infos is None:
        return None
    # Ids are assigned by the pipeline's own ComponentIdMap, so this proto names PCollections as
    # the one the runner executed did.
    return data_moved(pipeline.to_runner_api(), pcollection_bytes(infos()))
