"""Command line: `python -m pretrain --shards OUT_DIR [options]` pretrains an encoder on shards."""

from __future__ import annotations

import argparse
import sys

from pretrain.model import PRESETS
from pretrain.train import TrainConfig, train


def parse_args(argv=None) -> TrainConfig:
    p = argparse.ArgumentParser(
        prog="python -m pretrain",
        description="Pretrain a RoBERTa-style encoder with masked language modelling on a "
                    "sieve-shards/1 output directory (manifest.json + shards/*.tar).")
    p.add_argument("--shards", required=True, metavar="OUT_DIR",
                   help="pipeline output directory holding manifest.json and shards/")
    p.add_argument("--out", metavar="RUN_DIR", default=None,
                   help="run directory for metrics.jsonl and checkpoint.pt "
                        "(default: OUT_DIR/pretrain)")
    p.add_argument("--model", choices=sorted(PRESETS), default="tiny",
                   help="model preset: tiny (2 layers, d=128, for CPU tests) or small "
                        "(8 layers, d=512, ~25M non-embedding parameters); default: %(default)s")
    p.add_argument("--seq_len", type=int, default=128,
                   help="tokens per packed sequence, bos included (default: %(default)s)")
    p.add_argument("--batch_size", type=int, default=16,
                   help="sequences per step (default: %(default)s)")
    p.add_argument("--steps", type=int, default=2000,
                   help="stop after this many optimizer steps; also the lr schedule's length "
                        "(default: %(default)s)")
    p.add_argument("--max_minutes", type=float, default=2.0,
                   help="stop after this much wall-clock time even if --steps is not reached "
                        "(the lr schedule is then cut short; default: %(default)s)")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (default: 1e-3 for tiny, 6e-4 for small)")
    p.add_argument("--warmup_steps", type=int, default=None,
                   help="linear warmup steps before cosine decay (default: 5%% of --steps)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds torch (initialization) and the data (shard order, masking) "
                        "(default: %(default)s)")
    p.add_argument("--num_workers", type=int, default=0,
                   help="DataLoader worker processes; shards are split among them "
                        "(default: %(default)s)")
    p.add_argument("--device", default="cpu",
                   help="torch device: cpu, cuda or cuda:N (default: %(default)s)")
    p.add_argument("--log_every", type=int, default=10,
                   help="log every this many steps (default: %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN_DIR/checkpoint.pt (model, optimizer, step, data "
                        "position; replays exactly with the same batch_size and num_workers)")
    return TrainConfig(**vars(p.parse_args(argv)))


def main(argv=None) -> int:
    summary = train(parse_args(argv))
    print(f"done: {summary['steps']} steps ({summary['steps_this_run']} in this run) in "
          f"{summary['elapsed_s']:.1f} s\n"
          f"loss: first {summary['first_loss']:.4f} -> last {summary['last_loss']:.4f} "
          f"(means over up to 5 steps)\n"
          f"throughput: {summary['tokens_per_s']:.0f} tokens/s\n"
          f"checkpoint: {summary['checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
