"""Pretraining objectives at equal compute, scored downstream: held-out loss, frozen probe and
fine-tuning on Reuters grain/corn, over seeds.

    python -m benchmarks.objective_comparison --shards OUT --data WEKA_EXAMPLES --out DIR
        [--objectives mlm electra plm] [--seeds 0 1 2] [--flops 3e12] [--model tiny]
        [--seq_len 128] [--batch_size 16] [--device cpu]
    python -m benchmarks.objective_comparison --quick --shards OUT --data WEKA_EXAMPLES --out DIR
        # seconds, one seed; what tests/benchmarks/test_objective_comparison.py runs

Each (objective, seed) is one `pretrain.train` run, as `python -m pretrain --objective O --flops
F --seed S` runs it: the same training FLOPs (`--flops`, counted by the model: ELECTRA's
generator and discriminator, XLNet's two streams, the MLM head at the masked positions only),
so cheaper objectives take more steps; the same data, model preset, sequence length, batch and
learning rate. Then `pretrain.finetune.downstream`: every weight fine-tuned (the recipe of
`pretrain.finetune`, the run's seed) and the frozen probe. The `untrained` row (unless
--no_baseline) is the floor: the first objective's model with its random initialization
(torch seed = the run's seed), no pretraining, scored the same way; a pretraining objective
that does not beat it taught the model nothing the task can use. The held-out metric is each
objective's own (MLM loss, ELECTRA loss, bits per byte), so it compares seeds of one objective,
not objectives; the downstream scores compare objectives.

Results: DIR/<objective>-<seed>/done.json per run (a rerun reuses them), DIR/comparison.json and
a Markdown table on stdout: means ± sample standard deviations over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

QUICK = dict(objectives=["mlm", "electra", "plm"], seeds=[0], flops=2e9, seq_len=32,
             batch_size=8)


UNTRAINED = "untrained"


def untrained_checkpoint(cfg, out: Path) -> dict:
    """A checkpoint of `cfg`'s model as initialized (torch seed cfg.seed), in the shape
    `pretrain.train` saves, so it is scored exactly as a trained one."""
    from dataclasses import asdict

    import torch

    from pretrain import data
    from pretrain.checkpoint import save_checkpoint
    from pretrain.train import build_model

    manifest = data.read_manifest(cfg.shards)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, manifest)
    os.makedirs(out, exist_ok=True)
    path = str(out / "checkpoint.pt")
    save_checkpoint(path, {"model": model.state_dict(), "config": asdict(model.cfg),
                           "train_config": asdict(cfg), "step": 0,
                           "tokenizer_sha256": manifest["tokenizer"]["sha256"]})
    return {"steps": 0, "elapsed_s": 0.0, "eval": None, "checkpoint": path,
            "flops_per_token": 0.0}


def run_one(shards: str, data_dir: str, out: Path, *, objective: str, seed: int, flops: float,
            model: str, seq_len: int, batch_size: int, device: str, tasks,
            untrained_as: str = "mlm") -> dict:
    from pretrain import finetune
    from pretrain.config import TrainConfig
    from pretrain.train import train

    done = out / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    out.mkdir(parents=True, exist_ok=True)
    cfg = TrainConfig(shards=shards, out=str(out / "run"), model=model,
                      objective=untrained_as if objective == UNTRAINED else objective,
                      flops=flops, seed=seed, seq_len=seq_len, batch_size=batch_size,
                      device=device, max_minutes=float("inf"), tensorboard=False, log_every=100)
    summary = untrained_checkpoint(cfg, out / "run") if objective == UNTRAINED else train(cfg)
    scores = finetune.downstream(summary["checkpoint"], data_dir, seeds=[seed], tasks=tasks,
                                 device=device)
    metric = {k: v for k, v in (summary["eval"] or {}).items()
              if k not in ("tokens", "sequences", "bytes", "probe")}
    result = {"objective": objective, "seed": seed, "steps": summary["steps"],
              "flops_per_token": summary["flops_per_token"],
              "train_tokens": summary["steps"] * seq_len * batch_size,
              "elapsed_s": round(summary["elapsed_s"], 1), "held_out": metric,
              "finetune": {t: runs[0] for t, runs in scores["finetune"].items()},
              "probe": scores["probe"]}
    done.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def _pm(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3f}" + (f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else "")


def table(results: list[dict], tasks: list[str]) -> str:
    objectives = list(dict.fromkeys(r["objective"] for r in results))
    from pretrain import objectives as objs

    head = ["objective", "seeds", "steps", "MFLOPs/token", "held-out (its own metric)"]
    head += [f"{t} probe F1" for t in tasks] + [f"{t} fine-tuned F1" for t in tasks]
    head += [f"{t} fine-tuned acc." for t in tasks]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for o in objectives:
        rs = [r for r in results if r["objective"] == o]
        row = [f"`{o}`", str(len(rs)), f"{statistics.fmean(r['steps'] for r in rs):,.0f}",
               f"{rs[0]['flops_per_token'] / 1e6:.2f}" if o != UNTRAINED else "–"]
        if o == UNTRAINED:
            row.append("–")
        else:
            metric = objs.OBJECTIVES[o].evaluation.metric
            metric = metric if metric in rs[0]["held_out"] else "loss"
            row.append(f"{metric} " + _pm([r["held_out"][metric] for r in rs]))
        row += [_pm([r["probe"][t]["f1"] for r in rs]) for t in tasks]
        row += [_pm([r["finetune"][t]["f1"] for r in rs]) for t in tasks]
        row += [_pm([r["finetune"][t]["accuracy"] for r in rs]) for t in tasks]
        lines.append("| " + " | ".join(row) + " |")
    majority = {t: results[0]["finetune"][t]["majority_accuracy"] for t in tasks}
    lines.append("")
    lines.append("majority-class accuracy: " + ", ".join(f"{t} {v:.4f}" for t, v in majority.items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shards", required=True, help="a pipeline output (manifest.json + shards)")
    p.add_argument("--data", required=True, help="directory of Reuters{Grain,Corn}-{train,test}.arff")
    p.add_argument("--out", required=True)
    p.add_argument("--objectives", nargs="+", default=["mlm", "electra"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--flops", type=float, default=3e12, help="training FLOPs of every run")
    p.add_argument("--model", default="tiny")
    p.add_argument("--seq_len", type=int, default=128)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--tasks", nargs="+", default=["grain", "corn"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--no_baseline", action="store_true",
                   help=f"leave out the {UNTRAINED} row (the first objective's model, not trained)")
    p.add_argument("--quick", action="store_true", help="a few steps, one seed, every new objective")
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    start = time.perf_counter()
    out = Path(args.out)
    names = list(args.objectives) + ([] if args.no_baseline else [UNTRAINED])
    results = [run_one(args.shards, args.data, out / f"{o}-{s}", objective=o, seed=s,
                       flops=args.flops, model=args.model, seq_len=args.seq_len,
                       batch_size=args.batch_size, device=args.device, tasks=args.tasks,
                       untrained_as=args.objectives[0])
               for o in names for s in args.seeds]
    (out / "comparison.json").write_text(json.dumps(
        {"settings": {k: v for k, v in vars(args).items()}, "runs": results}, indent=2,
        sort_keys=True) + "\n")
    print(f"equal compute: {args.flops:.3g} training FLOPs per run, model {args.model}, "
          f"seq_len {args.seq_len}, batch {args.batch_size}; {args.shards}")
    print(table(results, args.tasks))
    print(f"{time.perf_counter() - start:.0f} s; {out}/comparison.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
