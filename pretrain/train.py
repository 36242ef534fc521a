"""The pretraining loop: AdamW, warmup + cosine decay, accumulation, clipping, bf16, DDP, resume.

One process per GPU under `torchrun` (DDP; gloo on CPU), or a plain process. The step, top to
bottom in `train`: set the lr, run `grad_accum` micro-batches under autocast (gradients
synchronized on the last one only), clip, step. Every `log_every` steps a line with loss, lr,
tokens/s and MFU goes to the progress bar, RUN_DIR/metrics.jsonl and TensorBoard (when
installed); every `eval_every` steps and at the end, the held-out evaluation (pretrain.evaluate).

Checkpoints (RUN_DIR/checkpoint.pt, plain tensors and containers: `torch.load(...,
weights_only=True)`) hold the model, optimizer, step, schedule, torch RNG states and the loader
position, so a resumed run continues exactly: its losses equal the uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from dataclasses import asdict
from typing import Optional

import torch
import torch.distributed as dist
from tqdm import tqdm

from pretrain import data, evaluate, files, objectives, verify
from pretrain.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from pretrain.config import TrainConfig, autocast_for, model_kind
from pretrain.evaluate import Evaluator
from pretrain.model import ModelConfig, Transformer, preset

METRICS = "metrics.jsonl"
EVAL_RESULT = "eval.json"

# AdamW settings of RoBERTa (Liu et al. 2019, section 3.1 and table 9): betas (0.9, 0.98),
# eps 1e-6, weight decay 0.01; peak lr 6e-4 for BASE. The tiny model tolerates 1e-3.
ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-6
WEIGHT_DECAY = 0.01
DEFAULT_LR = {"tiny": 1e-3, "small": 6e-4, "base": 6e-4}
WARMUP_SHARE = 0.05      # warmup steps as a share of --steps when --warmup_steps is not given
MIN_LR_RATIO = 0.1       # cosine decays to this share of the peak (nanoGPT / Chinchilla)
GRAD_CLIP = 1.0
SUMMARY_STEPS = 5        # first/last losses in the summary are averaged over this many steps
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16, for MFU


def lr_at(step: int, *, peak: float, warmup: int, total: int) -> float:
    """Linear warmup to `peak` over `warmup` steps, then cosine decay to MIN_LR_RATIO * peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.AdamW:
    # Matrices and embeddings decay; biases and LayerNorm gains do not (nanoGPT).
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": WEIGHT_DECAY},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = all(p.is_cuda for p in params) or None
    return torch.optim.AdamW(groups, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, fused=fused)


def build_model(cfg: TrainConfig, manifest: dict) -> Transformer:
    tok = manifest["tokenizer"]
    vocab = build_model_vocab(cfg, manifest)  # e.g. T5's sentinels extend the vocabulary
    spec = objectives.OBJECTIVES[cfg.objective]
    options = dict(spec.model_options)
    if cfg.generator_fraction is not None:
        if "generator_fraction" not in options:
            raise ValueError(f"--generator_fraction is an electra option, not {cfg.objective!r}'s")
        options["generator_fraction"] = cfg.generator_fraction
    if cfg.embedding_dim is not None:
        options["emb_dim"] = cfg.embedding_dim
    if cfg.dropout is not None:
        options["dropout"] = cfg.dropout
    return Transformer(preset(cfg.model, vocab_size=vocab, max_len=max(512, cfg.seq_len + 1),
                              pad_id=int(tok["special_ids"]["pad"]), kind=model_kind(cfg),
                              decoder_start_id=int(tok["special_ids"]["bos"]), **options))


def init_model(cfg: TrainConfig, manifest: dict, load_weights: bool = True) -> Transformer:
    """The model of checkpoint `cfg.init` (its architecture; its weights unless `load_weights`
    is false, when a resumed run loads its own), checked against this run: the same tokenizer,
    a model of the objective's kind with the objective's options (an electra run needs a
    checkpoint with a generator), --dropout applied if given."""
    ckpt = load_checkpoint(cfg.init, "cpu")
    sha = ckpt.get("tokenizer_sha256")
    if sha is not None and sha != manifest["tokenizer"]["sha256"]:
        raise ValueError(f"{cfg.shards} was tokenized with another tokenizer than {cfg.init}: "
                         f"write it with python -m pipeline --tokenizer <the checkpoint's "
                         f"OUT_DIR>/tokenizer.model")
    config = dict(ckpt["config"])
    if cfg.dropout is not None:
        config["dropout"] = cfg.dropout
    if cfg.seq_len + 1 > config["max_len"]:
        raise ValueError(f"--seq_len {cfg.seq_len} needs more positions than {cfg.init} has "
                         f"({config['max_len']})")
    mcfg = ModelConfig(**config)
    spec = objectives.OBJECTIVES[cfg.objective]
    wanted = {"kind": model_kind(cfg), "vocab_size": build_model_vocab(cfg, manifest),
              **{k: v for k, v in spec.model_options if k != "generator_fraction"}}
    wrong = {k: (getattr(mcfg, k), v) for k, v in wanted.items() if getattr(mcfg, k) != v}
    if ("generator_fraction" in dict(spec.model_options)) != bool(mcfg.generator_fraction):
        wrong["generator_fraction"] = (mcfg.generator_fraction, "a generator" if
                                       mcfg.generator_fraction == 0 else "none")
    if wrong:
        raise ValueError(f"--init {cfg.init} does not fit objective {cfg.objective!r} on "
                         f"{cfg.shards}: " + ", ".join(f"{k} is {a!r}, needs {b!r}"
                                                       for k, (a, b) in wrong.items()))
    model = Transformer(mcfg)
    if load_weights:
        model.load_state_dict(ckpt["model"])
    return model


def build_model_vocab(cfg: TrainConfig, manifest: dict) -> int:
    """The model's vocabulary: the tokenizer's, plus the ids the objective adds (T5's sentinels)."""
    spec = objectives.OBJECTIVES[cfg.objective]
    vocab = int(manifest["tokenizer"]["vocab_size"])
    return vocab + (spec.extra_vocab(cfg.objective_params) if spec.extra_vocab else 0)


def model_inputs(batch: dict, objective: str, device: str) -> dict:
    """The model's keyword arguments for a batch of an objective."""
    kw = {"input_ids": batch["input_ids"].to(device, non_blocking=True),
          "labels": batch["labels"].to(device, non_blocking=True)}
    for key, keyword in objectives.OBJECTIVES[objective].model_inputs:
        kw[keyword] = batch[key].to(device, non_blocking=True)
    return kw


def flops_per_token(model: Transformer, cfg: TrainConfig) -> float:
    """Training FLOPs per packed input token (the unit of tokens/s and of the budget)."""
    spec = objectives.OBJECTIVES[cfg.objective]
    if spec.model_lengths is None:
        return model.flops_per_sequence(cfg.seq_len) / cfg.seq_len
    input_len, target_len = spec.model_lengths(cfg.seq_len, cfg.objective_params)
    return model.flops_per_sequence(input_len, target_len) / cfg.seq_len


def peak_flops(device: str) -> Optional[float]:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((tf * 1e12 for key, tf in PEAK_TFLOPS.items() if key in name), None)


def _setup_distributed(cfg: TrainConfig) -> tuple[int, int, str]:
    """(rank, world size, device); under torchrun, joins the process group (nccl or gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, cfg.device
    cuda = cfg.device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ['LOCAL_RANK'])}" if cuda else cfg.device
    if cuda:
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def train(cfg: TrainConfig) -> dict:
    """Trains until the step budget, stop_at_step or max_minutes; returns a summary dict."""
    if cfg.objective not in objectives.OBJECTIVES:
        raise ValueError(f"unknown objective {cfg.objective!r}; known: "
                         f"{', '.join(objectives.OBJECTIVES)}")
    rank, world, device = _setup_distributed(cfg)
    main_process = rank == 0
    if cfg.out is None and files.is_url(cfg.shards):
        raise ValueError(f"--shards {cfg.shards} is remote: give --out, a local run directory")
    out = cfg.out or os.path.join(cfg.shards, "pretrain")
    os.makedirs(out, exist_ok=True)
    manifest = data.read_manifest(cfg.shards)
    # Fail before a model is built: every shard the manifest lists is there, and the tokenizer
    # beside it (when there is one; the probe needs one) is the manifest's and loads.
    verify.check_shards_exist(cfg.shards, [s["path"] for s in manifest["shards"]])
    verify.check_tokenizer(cfg.shards, manifest, required=bool(cfg.probe_data))
    train_shards, heldout = evaluate.split_shards(manifest, 0 if cfg.eval_shards else cfg.holdout_shards)
    if cfg.train_shards is not None:  # a subset (e.g. a study's unique-token budget)
        unknown = sorted(set(cfg.train_shards) - {s["name"] for s in manifest["shards"]})
        if unknown or not cfg.train_shards:
            raise ValueError(f"train_shards must name shards of {cfg.shards}; unknown: {unknown}")
        train_shards, heldout = sorted(cfg.train_shards), []
    torch.manual_seed(cfg.seed)
    step, ckpt_path = 0, os.path.join(out, CHECKPOINT)
    resuming = cfg.resume and os.path.exists(ckpt_path)
    if cfg.init:
        raw_model = init_model(cfg, manifest, load_weights=not resuming).to(device)
    else:
        raw_model = build_model(cfg, manifest).to(device)
    tokens_per_step = cfg.batch_size * cfg.grad_accum * world * cfg.seq_len
    fpt, peak = flops_per_token(raw_model, cfg), peak_flops(device)
    if cfg.tokens and cfg.flops:
        raise ValueError("give a budget in tokens or in FLOPs, not both")
    if cfg.flops:  # equal compute across objectives and models: FLOPs per token differ
        total_steps = math.ceil(cfg.flops / (fpt * tokens_per_step))
    else:
        total_steps = math.ceil(cfg.tokens / tokens_per_step) if cfg.tokens else cfg.steps
    schedule = {"peak_lr": cfg.lr if cfg.lr is not None else DEFAULT_LR.get(cfg.model, 6e-4),
                "warmup": cfg.warmup_steps if cfg.warmup_steps is not None
                else max(1, int(WARMUP_SHARE * total_steps)), "total": total_steps}
    optimizer = make_optimizer(raw_model, schedule["peak_lr"])
    loader = data.SieveLoader(cfg.shards, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                              seed=cfg.seed, num_workers=cfg.num_workers, rank=rank,
                              world_size=world, pin_memory=device.startswith("cuda"),
                              objective=cfg.objective, objective_params=cfg.objective_params,
                              packing=cfg.packing, shards=train_shards, partitions=cfg.partitions)
    if resuming:
        ckpt = load_checkpoint(ckpt_path, "cpu")
        raw_model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, schedule = ckpt["step"], ckpt["schedule"]
        loader.load_state_dict(ckpt["data"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if device.startswith("cuda") and ckpt["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], torch.device(device))
    model = torch.compile(raw_model) if cfg.compile else raw_model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)
    autocast = autocast_for(cfg, device)
    evaluator = Evaluator(cfg, manifest, heldout) if main_process else None
    writer = _tensorboard(out) if cfg.tensorboard and main_process else None
    stop = min(total_steps, cfg.stop_at_step or total_steps)

    def checkpoint() -> dict:
        return {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "schedule": schedule, "config": asdict(raw_model.cfg), "train_config": asdict(cfg),
                "tokenizer_sha256": manifest["tokenizer"]["sha256"],
                "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(
                    torch.device(device)) if device.startswith("cuda") else None},
                "data": {**loader.state_dict(), "seq_len": cfg.seq_len, "objective": cfg.objective}}

    def log(record: dict) -> None:
        if not main_process:
            return
        bar.write(" ".join(f"{k} {v}" for k, v in record.items() if not isinstance(v, dict)))
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
        for k, v in record.items():
            if writer is not None and isinstance(v, (int, float)) and k != "step":
                writer.add_scalar(k, v, record["step"])

    def run_eval(final: bool) -> dict:
        result = evaluator(raw_model, device, autocast, final) if evaluator else {}
        if result:
            log({"step": step, **{f"eval_{k}": _round(v) for k, v in result.items()}})
        return result

    if main_process:
        mc = raw_model.cfg
        extras = "".join([f", embedding {mc.emb_dim} projected to {mc.d_model}" if raw_model.emb_in
                          is not None else "",
                          f", generator d={raw_model.generator.cfg.d_model} "
                          f"({raw_model.generator.num_params() / 1e6:.2f}M of them)"
                          if raw_model.generator is not None else "",
                          f", initialized from {cfg.init}" if cfg.init else ""])
        print(f"model {cfg.model} {mc.kind}: {raw_model.num_params() / 1e6:.2f}M "
              f"non-embedding parameters, {raw_model.num_params(False) / 1e6:.2f}M in all, "
              f"{fpt / 1e6:.2f} MFLOPs per token{extras}; "
              f"{world} process(es), {tokens_per_step} tokens/step, {total_steps} steps; "
              f"held-out: {evaluator.source or ('none (train_shards given)' if cfg.train_shards else 'none (one shard: pass --eval_shards)')}; "
              f"run dir {out}", flush=True)
    batches, losses, pending, evals = iter(loader), [], [], []
    window_tokens, started = 0, time.time()
    window_start, deadline = started, started + 60 * cfg.max_minutes
    bar = tqdm(total=stop, initial=step, disable=not main_process or None, unit="step",
               dynamic_ncols=True, file=sys.stderr)
    with open(os.path.join(out, METRICS), "a") if main_process else open(os.devnull, "w") as metrics:
        while step < stop and time.time() < deadline:
            lr = lr_at(step, peak=schedule["peak_lr"], warmup=schedule["warmup"],
                       total=schedule["total"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum):
                inputs = model_inputs(next(batches), cfg.objective, device)
                last = micro == cfg.grad_accum - 1
                with (model.no_sync() if world > 1 and not last else contextlib.nullcontext()):
                    with autocast():
                        _, loss = model(**inputs)
                    (loss / cfg.grad_accum).backward()
                step_loss += loss.detach() / cfg.grad_accum
                window_tokens += inputs["input_ids"].shape[0] * cfg.seq_len * world
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            pending.append(step_loss)
            if step % cfg.log_every == 0 or step == stop:
                values = torch.stack(pending)
                if world > 1:
                    dist.all_reduce(values)
                    values /= world
                losses += values.tolist()
                pending, now = [], time.time()
                tok_s = window_tokens / max(now - window_start, 1e-9)
                record = {"step": step, "loss": round(losses[-1], 4), "lr": round(lr, 8),
                          "epoch": loader.epoch, "tokens_per_s": round(tok_s, 1),
                          "tflops": round(tok_s * fpt / 1e12, 4), "elapsed_s": round(now - started, 2)}
                if peak:
                    record["mfu"] = round(tok_s * fpt / peak, 4)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", tok_s=f"{tok_s:,.0f}",
                                mfu=f"{record['mfu']:.1%}" if peak else "n/a", refresh=False)
                log(record)
                window_tokens, window_start = 0, now
            bar.update(1)
            if cfg.eval_every and step % cfg.eval_every == 0 and step < stop:
                evals.append(run_eval(final=False))
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and main_process:
                save_checkpoint(ckpt_path, checkpoint())
        if pending:  # stopped by the deadline between log steps
            values = torch.stack(pending)
            if world > 1:
                dist.all_reduce(values)
                values /= world
            losses += values.tolist()
        bar.close()
        elapsed = time.time() - started
        if main_process:
            save_checkpoint(ckpt_path, checkpoint())
        final = run_eval(final=True)
    if main_process and final:
        with open(os.path.join(out, EVAL_RESULT), "w") as f:
            json.dump({"step": step, **final}, f, indent=2, sort_keys=True)
    if writer is not None:
        writer.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    n = min(SUMMARY_STEPS, len(losses))
    steps_this_run = len(losses)
    return {"steps": step, "steps_this_run": steps_this_run, "total_steps": total_steps,
            "elapsed_s": elapsed, "rank": rank, "world_size": world, "flops_per_token": fpt,
            "first_loss": sum(losses[:n]) / n if n else float("nan"),
            "last_loss": sum(losses[-n:]) / n if n else float("nan"),
            "tokens_per_s": steps_this_run * tokens_per_step / max(elapsed, 1e-9),
            "mfu": (steps_this_run * tokens_per_step / max(elapsed, 1e-9) * fpt / peak
                    if peak else None),
            "losses": losses, "evals": evals, "eval": final, "checkpoint": ckpt_path,
            "run_dir": out}


def _round(v):
    if isinstance(v, float):
        return round(v, 5)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


def _tensorboard(out: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("tensorboard is not installed: metrics go to metrics.jsonl only "
              "(pip install tensorboard for RUN_DIR/tb)", flush=True)
        return None
    return SummaryWriter(os.path.join(out, "tb"))
