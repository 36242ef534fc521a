"""Command line: `python -m pretrain --shards OUT_DIR [--objective NAME] [options]`."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import sys

from pretrain import objectives
from pretrain.config import TrainConfig, model_kind
from pretrain.data import PACKINGS
from pretrain.model import KINDS, PRESETS
from pretrain.train import train


def objective_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def typed_params(objective: str, pairs: list[tuple[str, str]]) -> dict:
    """--param NAME=VALUE pairs, checked against the objective and typed by its defaults."""
    spec = objectives.OBJECTIVES[objective]
    defaults = {n: p.default for n, p in inspect.signature(spec.fn).parameters.items()}
    out = {}
    for name, value in pairs:
        if name not in spec.params:
            raise SystemExit(f"objective {objective!r} has no parameter {name!r}; "
                             f"its parameters: {', '.join(spec.params) or 'none'}")
        out[name] = type(defaults[name])(value)
    return out


def _objectives_help() -> str:
    lines = []
    for name, spec in objectives.OBJECTIVES.items():
        defaults = {n: p.default for n, p in inspect.signature(spec.fn).parameters.items()}
        params = ", ".join(f"{p}={defaults[p]}" for p in spec.params) or "no parameters"
        packing = f" (packing {spec.packing})" if spec.packing else ""
        lines.append(f"  {name}{packing}: {params}")
    return "objectives and their --param names (defaults):\n" + "\n".join(lines)


# Every flag's default is the TrainConfig field's, so the two cannot drift apart.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING}


def parse_args(argv=None) -> TrainConfig:
    p = argparse.ArgumentParser(
        prog="python -m pretrain",
        description="Pretrain an encoder, decoder or encoder-decoder on a sieve-shards/1 "
                    "output directory (manifest.json + shards/*.tar), the objective applied at "
                    "load time; evaluate on held-out data during and after training. Under "
                    "torchrun (python -m torch.distributed.run --nproc_per_node N -m pretrain "
                    "...) it trains with DDP.",
        epilog=_objectives_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True, metavar="OUT_DIR",
                   help="pipeline output directory holding manifest.json and shards/")
    p.add_argument("--out", metavar="RUN_DIR", default=DEFAULTS["out"],
                   help="run directory for metrics.jsonl and checkpoint.pt "
                        "(default: OUT_DIR/pretrain)")
    p.add_argument("--model", choices=list(PRESETS), default=DEFAULTS["model"],
                   help="size preset: tiny (2 layers, d=128, for CPU tests), small (8 layers, "
                        "d=512, ~25M non-embedding parameters) or base (12 layers, d=768, ~85M, "
                        "~110M with a 32k vocabulary); default: %(default)s")
    p.add_argument("--model_kind", choices=KINDS, default=DEFAULTS["model_kind"],
                   help="encoder, decoder or encdec; default (and the only choice): the "
                        "objective's: mlm/wwm/span/sop/electra -> encoder, clm/prefix/plm -> decoder, "
                        "t5 -> encdec")
    p.add_argument("--embedding_dim", type=int, default=DEFAULTS["embedding_dim"], metavar="E",
                   help="ALBERT's factorized embedding: token and position embeddings of size E "
                        "(e.g. 128) projected to the hidden size, and back before the tied "
                        "output projection (default: the hidden size, no projection)")
    p.add_argument("--generator_fraction", type=float, default=DEFAULTS["generator_fraction"],
                   help="electra: the generator's width as a share of the discriminator's, "
                        "same depth, embeddings tied (default: 0.25, ELECTRA's reference code)")
    p.add_argument("--init", metavar="CHECKPOINT", default=DEFAULTS["init"],
                   help="start from this checkpoint's model weights (e.g. general pretraining, "
                        "then continue on a task's own text: task-adaptive pretraining); the "
                        "architecture is the checkpoint's, and the optimizer, schedule and data "
                        "start afresh. OUT_DIR must use the checkpoint's tokenizer "
                        "(python -m pipeline --tokenizer GENERAL_OUT/tokenizer.model)")
    p.add_argument("--dropout", type=float, default=DEFAULTS["dropout"],
                   help="dropout probability (default: the preset's, 0.0)")
    p.add_argument("--seq_len", type=int, default=DEFAULTS["seq_len"],
                   help="tokens per packed sequence, bos included (default: %(default)s)")
    p.add_argument("--batch_size", type=int, default=DEFAULTS["batch_size"],
                   help="sequences per micro-batch per process (default: %(default)s)")
    p.add_argument("--grad_accum", type=int, default=DEFAULTS["grad_accum"],
                   help="micro-batches per optimizer step (default: %(default)s); a step takes "
                        "batch_size x grad_accum x processes sequences")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                   help="stop after this many optimizer steps; also the lr schedule's length "
                        "(default: %(default)s)")
    p.add_argument("--tokens", type=float, default=DEFAULTS["tokens"],
                   help="training budget in packed input tokens (e.g. 2e8); sets --steps to "
                        "ceil(tokens / tokens per step)")
    p.add_argument("--flops", type=float, default=DEFAULTS["flops"],
                   help="training budget in FLOPs (e.g. 1e15), as the model counts them "
                        "(forward + backward, the run's first line prints FLOPs per token); "
                        "sets --steps to ceil(flops / (FLOPs per token x tokens per step)), so "
                        "objectives and models of different cost get equal compute")
    p.add_argument("--stop_at_step", type=int, default=DEFAULTS["stop_at_step"],
                   help="stop and checkpoint after this step, the schedule still that of "
                        "--steps/--tokens (for runs in chunks; --resume continues)")
    p.add_argument("--max_minutes", type=float, default=DEFAULTS["max_minutes"],
                   help="stop after this much wall-clock time even if --steps is not reached "
                        "(the lr schedule is then cut short; default: %(default)s)")
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"],
                   help="peak learning rate (default: 1e-3 for tiny, 6e-4 for small)")
    p.add_argument("--warmup_steps", type=int, default=DEFAULTS["warmup_steps"],
                   help="linear warmup steps before cosine decay (default: 5%% of --steps)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                   help="seeds torch (initialization) and the data (shard order, masking) "
                        "(default: %(default)s)")
    p.add_argument("--num_workers", type=int, default=DEFAULTS["num_workers"],
                   help="DataLoader worker processes; batches are dealt among them "
                        "(default: %(default)s); the batch order does not depend on it")
    p.add_argument("--partitions", type=int, default=DEFAULTS["partitions"],
                   help="canonical partitions of each epoch's token stream (stream packing): "
                        "each DDP rank x DataLoader worker reads only the shards of its "
                        "partitions when it divides this number, and the order depends on this "
                        "number alone; 1 (default): one stream that every reader reads whole. "
                        "Set it to ranks x workers of the largest run that will share the order")
    p.add_argument("--device", default=DEFAULTS["device"],
                   help="torch device: cpu, cuda or cuda:N (default: %(default)s); under "
                        "torchrun each process takes cuda:LOCAL_RANK")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=DEFAULTS["precision"],
                   help="auto: bf16 autocast on cuda, fp32 elsewhere (default: %(default)s)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--objective", choices=list(objectives.OBJECTIVES), default=DEFAULTS["objective"],
                   help="load-time objective (default: %(default)s): mlm (RoBERTa), wwm "
                        "(whole words), span (SpanBERT), sop (ALBERT SOP + MLM), clm (causal "
                        "LM), prefix (prefix LM), t5 (span corruption, encoder-decoder), electra "
                        "(ELECTRA replaced-token detection: generator + discriminator), plm "
                        "(XLNet permuted LM: a random factorization order, its last 1/K "
                        "predicted through two-stream attention; a decoder)")
    p.add_argument("--param", action="append", type=objective_param, default=[],
                   metavar="NAME=VALUE",
                   help="an objective parameter, repeatable, e.g. --param mask_prob=0.2 "
                        "(the list is below)")
    p.add_argument("--packing", choices=PACKINGS, default=DEFAULTS["packing"],
                   help="stream: cut anywhere, no padding; full_sentences: RoBERTa "
                        "FULL-SENTENCES; doc_sentences: RoBERTa DOC-SENTENCES (default: the "
                        "objective's own, else stream)")
    p.add_argument("--log_every", type=int, default=DEFAULTS["log_every"],
                   help="log every this many steps (default: %(default)s)")
    p.add_argument("--checkpoint_every", type=int, default=DEFAULTS["checkpoint_every"],
                   help="also checkpoint every this many steps (default: only at the end)")
    p.add_argument("--eval_every", type=int, default=DEFAULTS["eval_every"],
                   help="held-out evaluation every this many steps (default: only at the end)")
    p.add_argument("--eval_shards", default=DEFAULTS["eval_shards"], metavar="EVAL_DIR",
                   help="held-out data: a second pipeline output written with this run's "
                        "tokenizer (python -m pipeline --tokenizer OUT_DIR/tokenizer.model); "
                        "default: the last --holdout_shards shards of OUT_DIR, which training "
                        "then does not read (none if OUT_DIR has only that many)")
    p.add_argument("--holdout_shards", type=int, default=DEFAULTS["holdout_shards"],
                   help="shards of OUT_DIR held out when there is no --eval_shards "
                        "(default: %(default)s)")
    p.add_argument("--eval_tokens", type=int, default=DEFAULTS["eval_tokens"],
                   help="held-out tokens evaluated, whole documents in shard order "
                        "(default: %(default)s)")
    p.add_argument("--probe", "--probe_data", dest="probe_data", default=DEFAULTS["probe_data"], metavar="DIR",
                   help="after training, the Reuters grain/corn probe on the .arff files in DIR "
                        "(Debian weka: usr/share/doc/weka/examples)")
    p.add_argument("--no_tensorboard", dest="tensorboard", action="store_false",
                   help="no TensorBoard events (written to RUN_DIR/tb when tensorboard is "
                        "installed)")
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN_DIR/checkpoint.pt (model, optimizer, step, "
                        "schedule, RNG, data position): the losses equal an uninterrupted "
                        "run's, with any num_workers")
    args = vars(p.parse_args(argv))
    args["objective_params"] = typed_params(args["objective"], args.pop("param"))
    if args["tokens"] is not None:
        args["tokens"] = int(args["tokens"])
    cfg = TrainConfig(**args)
    try:
        model_kind(cfg)
    except ValueError as e:
        p.error(str(e))
    return cfg


def main(argv=None) -> int:
    cfg = parse_args(argv)
    summary = train(cfg)
    if summary["rank"] != 0:
        return 0
    mfu = f", MFU {summary['mfu']:.1%}" if summary["mfu"] is not None else ""
    print(f"done: {summary['steps']} of {summary['total_steps']} steps "
          f"({summary['steps_this_run']} in this run) in {summary['elapsed_s']:.1f} s\n"
          f"loss: first {summary['first_loss']:.4f} -> last {summary['last_loss']:.4f} "
          f"(means over up to 5 steps)\n"
          f"throughput: {summary['tokens_per_s']:.0f} tokens/s{mfu}\n"
          f"checkpoint: {summary['checkpoint']}")
    for name, value in summary["eval"].items():
        if name == "probe":
            for task, m in value.items():
                print(f"probe {task}: accuracy {m['accuracy']:.4f} F1 {m['f1']:.4f} "
                      f"(majority {m['majority_accuracy']:.4f}; {m['train']} train, "
                      f"{m['test']} test)")
        else:
            print(f"held-out {name}: {value:.4f}" if isinstance(value, float)
                  else f"held-out {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
