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
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch
import torch.distributed as dist
from tqdm import tqdm

from pretrain import data, evaluate, objectives
from pretrain.model import ModelConfig, Transformer, preset

CHECKPOINT = "checkpoint.pt"
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

# Which model kind trains which objective.
KIND_OF_OBJECTIVE = {"mlm": "encoder", "wwm": "encoder", "span": "encoder", "sop": "encoder",
                     "clm": "decoder", "prefix": "decoder", "t5": "encdec"}


@dataclass
class TrainConfig:
    shards: str
    out: Optional[str] = None         # default: <shards>/pretrain
    model: str = "tiny"
    model_kind: Optional[str] = None  # default: KIND_OF_OBJECTIVE[objective]
    dropout: Optional[float] = None   # default: the preset's (0.0)
    seq_len: int = 128
    batch_size: int = 16              # sequences per micro-batch per process
    grad_accum: int = 1               # micro-batches per optimizer step
    steps: int = 2000                 # also the horizon of the lr schedule
    tokens: Optional[int] = None      # token budget: sets steps (packed input tokens)
    stop_at_step: Optional[int] = None  # stop (and checkpoint) here, keeping the schedule
    max_minutes: float = 2.0
    lr: Optional[float] = None        # default: DEFAULT_LR[model]
    warmup_steps: Optional[int] = None
    seed: int = 0
    num_workers: int = 0
    device: str = "cpu"
    precision: str = "auto"           # auto (bf16 on cuda, fp32 elsewhere), bf16, fp32
    compile: bool = False
    objective: str = "mlm"
    objective_params: dict = field(default_factory=dict)
    packing: Optional[str] = None     # default: the objective's required packing, else stream
    log_every: int = 10
    checkpoint_every: int = 0         # 0: only when the run stops
    eval_every: int = 0               # 0: only at the end
    eval_shards: Optional[str] = None  # held-out pipeline output (same tokenizer)
    holdout_shards: int = 1           # else: the last N shards are held out (if there are more)
    train_shards: Optional[list] = None  # train on these shard names only (none held out)
    eval_tokens: int = evaluate.EVAL_TOKENS
    probe_data: Optional[str] = None  # directory of Reuters*.arff: run the probe at the end
    tensorboard: bool = True          # RUN_DIR/tb, when torch.utils.tensorboard imports
    resume: bool = False


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


def load_checkpoint(path: str, device: str = "cpu") -> dict:
    """Loads a checkpoint with weights_only=True: it holds only tensors and plain containers."""
    return torch.load(path, map_location=device, weights_only=True)


def model_from_checkpoint(ckpt: dict) -> Transformer:
    model = Transformer(ModelConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model


def model_kind(cfg: TrainConfig) -> str:
    kind = KIND_OF_OBJECTIVE[cfg.objective]
    if cfg.model_kind not in (None, kind):
        raise ValueError(f"objective {cfg.objective!r} trains a {kind} model, not "
                         f"{cfg.model_kind!r}")
    return kind


def build_model(cfg: TrainConfig, manifest: dict) -> Transformer:
    tok = manifest["tokenizer"]
    vocab = int(tok["vocab_size"])
    if cfg.objective == "t5":  # T5's sentinels extend the vocabulary (objectives.t5)
        vocab += int(cfg.objective_params.get("extra_ids", objectives.T5_EXTRA_IDS))
    return Transformer(preset(cfg.model, vocab_size=vocab, max_len=max(512, cfg.seq_len + 1),
                              pad_id=int(tok["special_ids"]["pad"]), kind=model_kind(cfg),
                              sop_head=cfg.objective == "sop",
                              **({} if cfg.dropout is None else {"dropout": cfg.dropout}),
                              decoder_start_id=int(tok["special_ids"]["bos"])))


def model_inputs(batch: dict, objective: str, device: str) -> dict:
    """The model's keyword arguments for a batch of an objective."""
    kw = {"input_ids": batch["input_ids"].to(device, non_blocking=True),
          "labels": batch["labels"].to(device, non_blocking=True)}
    if objective == "sop":
        kw["sop_labels"] = batch["sop_labels"].to(device, non_blocking=True)
    elif objective == "prefix":
        kw["attn_mask"] = batch["attention_mask"].to(device, non_blocking=True)
    return kw


def flops_per_token(model: Transformer, cfg: TrainConfig) -> float:
    """Training FLOPs per packed input token (the unit of tokens/s and of the budget)."""
    if cfg.objective == "t5":
        p = {k: v for k, v in cfg.objective_params.items() if k in ("noise_density", "mean_span")}
        noise, spans = objectives.t5_lengths(cfg.seq_len, **p)
        return model.flops_per_sequence(cfg.seq_len - noise + spans, noise + spans) / cfg.seq_len
    return model.flops_per_sequence(cfg.seq_len) / cfg.seq_len


def peak_flops(device: str) -> Optional[float]:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((tf * 1e12 for key, tf in PEAK_TFLOPS.items() if key in name), None)


def autocast_for(cfg: TrainConfig, device: str):
    """A context factory: bf16 autocast (default on cuda) or nothing (fp32)."""
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.startswith("cuda"))
    if cfg.precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, not {cfg.precision!r}")
    device_type = "cuda" if device.startswith("cuda") else "cpu"
    return ((lambda: torch.autocast(device_type, dtype=torch.bfloat16)) if bf16
            else contextlib.nullcontext)


class Evaluator:
    """The held-out documents (read once) and the probe, for evaluations during and after a run.

    Held-out data: `eval_shards` (a second pipeline output, which must share the training
    tokenizer) read whole up to eval_tokens; else the training output's last `holdout_shards`
    shards by name, which training then never reads; else (a single shard) none.
    """

    def __init__(self, cfg: TrainConfig, manifest: dict, heldout: list[str]):
        self.cfg, self.manifest, self.docs, self.source = cfg, manifest, [], None
        if cfg.eval_shards:
            other = data.read_manifest(cfg.eval_shards)
            if other["tokenizer"]["sha256"] != manifest["tokenizer"]["sha256"]:
                raise ValueError(f"{cfg.eval_shards} was tokenized with another tokenizer than "
                                 f"{cfg.shards}: write it with --tokenizer {cfg.shards}/tokenizer.model")
            self.docs = evaluate.read_documents(cfg.eval_shards, None, cfg.eval_tokens)
            self.source = cfg.eval_shards
        elif heldout:
            self.docs = evaluate.read_documents(cfg.shards, heldout, cfg.eval_tokens)
            self.source = f"{cfg.shards} shards {', '.join(heldout)}"

    def __call__(self, model: Transformer, device: str, autocast, final: bool = False) -> dict:
        tok = self.manifest["tokenizer"]
        special = {k: int(v) for k, v in tok["special_ids"].items()}
        out = {}
        if self.docs:
            out.update(evaluate.held_out_loss(
                model, self.docs, seq_len=self.cfg.seq_len, special=special, device=device,
                objective_params=self.cfg.objective_params, vocab_size=int(tok["vocab_size"]),
                autocast=autocast))
        if final and self.cfg.probe_data:
            sp = evaluate.run_tokenizer(self.cfg.shards, self.manifest)
            out["probe"] = evaluate.probe(model, sp, self.cfg.probe_data, seq_len=self.cfg.seq_len,
                                          special=special, device=device, autocast=autocast)
        return out


def run_evaluation(model: Transformer, cfg: TrainConfig, final: bool = True) -> dict:
    """Evaluates a model as a run with `cfg` would (used by `python -m pretrain.evaluate`)."""
    manifest = data.read_manifest(cfg.shards)
    _, heldout = evaluate.split_shards(manifest, cfg.holdout_shards)
    return Evaluator(cfg, manifest, heldout)(model, cfg.device, autocast_for(cfg, cfg.device), final)


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


def _save(path: str, checkpoint: dict) -> None:
    torch.save(checkpoint, path + ".tmp")
    os.replace(path + ".tmp", path)  # never leave a half-written checkpoint behind


def train(cfg: TrainConfig) -> dict:
    """Trains until the step budget, stop_at_step or max_minutes; returns a summary dict."""
    if cfg.objective not in objectives.OBJECTIVES:
        raise ValueError(f"unknown objective {cfg.objective!r}; known: "
                         f"{', '.join(objectives.OBJECTIVES)}")
    rank, world, device = _setup_distributed(cfg)
    main_process = rank == 0
    out = cfg.out or os.path.join(cfg.shards, "pretrain")
    os.makedirs(out, exist_ok=True)
    manifest = data.read_manifest(cfg.shards)
    train_shards, heldout = evaluate.split_shards(manifest, 0 if cfg.eval_shards else cfg.holdout_shards)
    if cfg.train_shards is not None:  # a subset (e.g. a study's unique-token budget)
        unknown = sorted(set(cfg.train_shards) - {s["name"] for s in manifest["shards"]})
        if unknown or not cfg.train_shards:
            raise ValueError(f"train_shards must name shards of {cfg.shards}; unknown: {unknown}")
        train_shards, heldout = sorted(cfg.train_shards), []
    torch.manual_seed(cfg.seed)
    raw_model = build_model(cfg, manifest).to(device)
    tokens_per_step = cfg.batch_size * cfg.grad_accum * world * cfg.seq_len
    total_steps = math.ceil(cfg.tokens / tokens_per_step) if cfg.tokens else cfg.steps
    schedule = {"peak_lr": cfg.lr if cfg.lr is not None else DEFAULT_LR.get(cfg.model, 6e-4),
                "warmup": cfg.warmup_steps if cfg.warmup_steps is not None
                else max(1, int(WARMUP_SHARE * total_steps)), "total": total_steps}
    optimizer = make_optimizer(raw_model, schedule["peak_lr"])
    loader = data.SieveLoader(cfg.shards, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                              seed=cfg.seed, num_workers=cfg.num_workers, rank=rank,
                              world_size=world, pin_memory=device.startswith("cuda"),
                              objective=cfg.objective, objective_params=cfg.objective_params,
                              packing=cfg.packing, shards=train_shards)
    step, ckpt_path = 0, os.path.join(out, CHECKPOINT)
    if cfg.resume and os.path.exists(ckpt_path):
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
    fpt, peak = flops_per_token(raw_model, cfg), peak_flops(device)
    writer = _tensorboard(out) if cfg.tensorboard and main_process else None
    stop = min(total_steps, cfg.stop_at_step or total_steps)

    def checkpoint() -> dict:
        return {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "schedule": schedule, "config": asdict(raw_model.cfg), "train_config": asdict(cfg),
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
        print(f"model {cfg.model} {raw_model.cfg.kind}: {raw_model.num_params() / 1e6:.2f}M "
              f"non-embedding parameters, {raw_model.num_params(False) / 1e6:.2f}M in all; "
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
                _save(ckpt_path, checkpoint())
        if pending:  # stopped by the deadline between log steps
            values = torch.stack(pending)
            if world > 1:
                dist.all_reduce(values)
                values /= world
            losses += values.tolist()
        bar.close()
        elapsed = time.time() - started
        if main_process:
            _save(ckpt_path, checkpoint())
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
            "elapsed_s": elapsed, "rank": rank, "world_size": world,
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
