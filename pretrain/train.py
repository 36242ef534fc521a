"""The pretraining loop: AdamW, linear warmup + cosine decay, clipping, logs, checkpoint."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch

from pretrain import data, objectives
from pretrain.model import Encoder, ModelConfig, preset

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"

# AdamW settings of RoBERTa (Liu et al. 2019, section 3.1 and table 9): betas (0.9, 0.98),
# eps 1e-6, weight decay 0.01; peak lr 6e-4 for BASE. The tiny model tolerates 1e-3.
ADAM_BETAS = (0.9, 0.98)
ADAM_EPS = 1e-6
WEIGHT_DECAY = 0.01
DEFAULT_LR = {"tiny": 1e-3, "small": 6e-4}
WARMUP_SHARE = 0.05      # warmup steps as a share of --steps when --warmup_steps is not given
MIN_LR_RATIO = 0.1       # cosine decays to this share of the peak (nanoGPT / Chinchilla)
GRAD_CLIP = 1.0
SUMMARY_STEPS = 5        # first/last losses in the summary are averaged over this many steps
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16, for MFU


@dataclass
class TrainConfig:
    shards: str
    out: Optional[str] = None         # default: <shards>/pretrain
    model: str = "tiny"
    seq_len: int = 128
    batch_size: int = 16
    steps: int = 2000                 # also the horizon of the lr schedule
    max_minutes: float = 2.0
    lr: Optional[float] = None        # default: DEFAULT_LR[model]
    warmup_steps: Optional[int] = None
    seed: int = 0
    num_workers: int = 0
    device: str = "cpu"
    objective: str = "mlm"
    objective_params: dict = field(default_factory=dict)
    packing: Optional[str] = None     # default: the objective's required packing, else stream
    log_every: int = 10
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
    return torch.optim.AdamW(groups, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS)


def load_checkpoint(path: str, device: str = "cpu") -> dict:
    """Loads a checkpoint with weights_only=True: it holds only tensors and plain containers."""
    return torch.load(path, map_location=device, weights_only=True)


def model_from_checkpoint(ckpt: dict) -> Encoder:
    model = Encoder(ModelConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    return model


def model_inputs(batch: dict, objective: str, device: str) -> dict:
    """The Encoder's keyword arguments for a batch of an objective."""
    kw = {"input_ids": batch["input_ids"].to(device, non_blocking=True),
          "labels": batch["labels"].to(device, non_blocking=True)}
    if objective == "sop":
        kw["sop_labels"] = batch["sop_labels"].to(device, non_blocking=True)
    elif objective == "clm":
        kw["causal"] = True
    elif objective == "prefix":
        kw["attn_mask"] = batch["attention_mask"].to(device, non_blocking=True)
    return kw


def _peak_flops(device: str) -> Optional[float]:
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((tf * 1e12 for key, tf in PEAK_TFLOPS.items() if key in name), None)


def train(cfg: TrainConfig) -> dict:
    """Trains until cfg.steps or cfg.max_minutes; returns a summary dict."""
    out = cfg.out or os.path.join(cfg.shards, "pretrain")
    spec = objectives.OBJECTIVES.get(cfg.objective)
    if spec is None:
        raise ValueError(f"unknown objective {cfg.objective!r}; known: "
                         f"{', '.join(objectives.OBJECTIVES)}")
    if spec.trainable:
        raise ValueError(f"objective {cfg.objective!r} cannot be trained yet: {spec.trainable}; "
                         f"its loader works (pretrain.data.make_loader(..., objective="
                         f"{cfg.objective!r}))")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(cfg.seed)
    tokenizer = data.read_manifest(cfg.shards)["tokenizer"]
    model_cfg = preset(cfg.model, vocab_size=int(tokenizer["vocab_size"]),
                       max_len=max(512, cfg.seq_len), pad_id=int(tokenizer["special_ids"]["pad"]),
                       sop_head=cfg.objective == "sop")
    model = Encoder(model_cfg).to(cfg.device)
    peak_lr = cfg.lr if cfg.lr is not None else DEFAULT_LR.get(cfg.model, 6e-4)
    warmup = cfg.warmup_steps
    if warmup is None:
        warmup = max(1, int(WARMUP_SHARE * cfg.steps))
    optimizer = make_optimizer(model, peak_lr)
    loader = data.SieveLoader(cfg.shards, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                              seed=cfg.seed, num_workers=cfg.num_workers,
                              pin_memory=cfg.device.startswith("cuda"), objective=cfg.objective,
                              objective_params=cfg.objective_params, packing=cfg.packing)
    step = 0
    ckpt_path = os.path.join(out, CHECKPOINT)
    if cfg.resume and os.path.exists(ckpt_path):
        ckpt = load_checkpoint(ckpt_path, cfg.device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step = ckpt["step"]
        loader.load_state_dict(ckpt["data"])
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if cfg.device.startswith("cuda")
                else contextlib.nullcontext())
    flops_per_token, peak_flops = model.flops_per_token(cfg.seq_len), _peak_flops(cfg.device)

    print(f"model {cfg.model}: {model.num_params() / 1e6:.2f}M non-embedding parameters, "
          f"{model.num_params(False) / 1e6:.2f}M in all; run dir {out}", flush=True)
    batches, losses, started = iter(loader), [], time.time()
    window_tokens = total_tokens = 0
    window_start, deadline = started, started + 60 * cfg.max_minutes
    with open(os.path.join(out, METRICS), "a") as metrics:
        while step < cfg.steps and time.time() < deadline:
            batch = next(batches)
            inputs = model_inputs(batch, cfg.objective, cfg.device)
            x = inputs["input_ids"]
            lr = lr_at(step, peak=peak_lr, warmup=warmup, total=cfg.steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast:
                _, loss = model(**inputs)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            step += 1
            losses.append(loss.item())
            window_tokens += x.numel()
            total_tokens += x.numel()
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.time()
                tok_s = window_tokens / max(now - window_start, 1e-9)
                record = {"step": step, "loss": round(losses[-1], 4), "lr": round(lr, 8),
                          "epoch": loader.epoch, "tokens_per_s": round(tok_s, 1),
                          "tflops": round(tok_s * flops_per_token / 1e12, 4),
                          "elapsed_s": round(now - started, 2)}
                if peak_flops:
                    record["mfu"] = round(tok_s * flops_per_token / peak_flops, 4)
                print(" ".join(f"{k} {v}" for k, v in record.items()), flush=True)
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                window_tokens, window_start = 0, now
    elapsed = time.time() - started

    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                  "config": asdict(model_cfg), "train_config": asdict(cfg),
                  "data": {**loader.state_dict(), "seq_len": cfg.seq_len,
                           "objective": cfg.objective}}
    torch.save(checkpoint, ckpt_path + ".tmp")
    os.replace(ckpt_path + ".tmp", ckpt_path)  # never leave a half-written checkpoint behind
    n = min(SUMMARY_STEPS, len(losses))
    return {"steps": step, "steps_this_run": len(losses), "elapsed_s": elapsed,
            "first_loss": sum(losses[:n]) / n if n else float("nan"),
            "last_loss": sum(losses[-n:]) / n if n else float("nan"),
            "tokens_per_s": total_tokens / max(elapsed, 1e-9),
            "losses": losses, "checkpoint": ckpt_path, "run_dir": out}
