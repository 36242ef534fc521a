"""Pretraining speed on one GPU: tokens/s, MFU and memory per model size, length and compile mode,
then a short training with held-out evaluation. One command, at most about 8 minutes on an H100:

    python -m benchmarks.gpu_pretrain                     # the table + a short training
    python -m benchmarks.gpu_pretrain --smoke             # CPU, tiny sizes, a few steps (tested)
    python -m benchmarks.gpu_pretrain --device cpu --presets tiny --compile off   # CPU figures

Throughput: `pretrain.model.Transformer` of each preset and kind (default: decoder, i.e. clm,
which computes logits at every position), trained on random tokens already on the device (the
loader is measured separately: benchmarks/objectives_throughput.py) with the training loop's
settings: bf16 autocast, fused AdamW, gradient clipping, `--tokens_per_step` tokens a step.
Per configuration: `--warmup` untimed steps (compilation happens there and is reported), then
`--steps` timed steps between two synchronizations. MFU = tokens/s x training FLOPs per token
(`Transformer.flops_per_sequence`: 6 x parameters used, the tied vocabulary projection
included, + 12 x layers x d x T for attention, no discount for the causal mask) / the GPU's
dense bf16 peak (`pretrain.train.PEAK_TFLOPS`, H100 SXM 989 TFLOPs).

Short training: `python -m pretrain`'s own `train()` on the bundled sample's English documents
as byte-level tokens (id = byte + 5 after Sieve's 5 special ids, `.txt` members kept, 4 shards,
the last held out), or on `--shards DIR` (a pipeline output carried along), with evaluation
during and after training (bits per byte for the decoder), and with `--probe_data DIR` (weka's
Reuters .arff files; needs --shards, whose tokenizer the probe uses) the probe.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time

import numpy as np
import torch

from pipeline import shard_format
from pretrain import train as train_lib
from pretrain.config import TrainConfig
from pretrain.model import Transformer, preset

SAMPLE = os.path.join(os.path.dirname(__file__), os.pardir, "pipeline", "sample", "sample.jsonl.gz")
SPECIAL_IDS = shard_format.SPECIAL_IDS
VOCAB = 32768  # a typical sentencepiece vocabulary, a multiple of 64 for the tensor cores


def throughput(preset_name: str, kind: str, seq_len: int, compile_: bool, *, device: str,
               tokens_per_step: int, warmup: int, steps: int, vocab: int = VOCAB) -> dict:
    torch.manual_seed(0)
    model = Transformer(preset(preset_name, vocab_size=vocab, max_len=max(512, seq_len),
                               kind=kind)).to(device)
    optimizer = train_lib.make_optimizer(model, 1e-4)
    step_model = torch.compile(model) if compile_ else model
    batch = max(1, tokens_per_step // seq_len)
    x = torch.randint(5, vocab, (batch, seq_len), device=device)
    labels = x.roll(-1, dims=1)
    if kind == "encoder":  # MLM: 15% of the positions predicted
        labels = torch.where(torch.rand(x.shape, device=device) < 0.15, labels, -100)
    cuda = device.startswith("cuda")
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else (
        lambda: torch.autocast("cpu", enabled=False))

    def step():
        with autocast():
            _, loss = step_model(x, labels=labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_lib.GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    t1 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss.item()
    sync()
    t2 = time.perf_counter()
    tok_s = batch * seq_len * steps / (t2 - t1)
    flops = model.flops_per_sequence(seq_len) / seq_len
    peak = train_lib.peak_flops(device)
    return {"model": preset_name, "kind": kind, "params_M": round(model.num_params(False) / 1e6, 1),
            "seq_len": seq_len, "batch": batch, "compile": compile_,
            "tokens_per_s": round(tok_s), "tflops": round(tok_s * flops / 1e12, 1),
            "mfu": round(tok_s * flops / peak, 4) if peak else None,
            "peak_mem_GiB": round(torch.cuda.max_memory_allocated() / 2 ** 30, 2) if cuda else None,
            "warmup_s": round(t1 - t0, 1)}


def byte_shards(out_dir: str, num_shards: int = 4, max_docs: int = 1000) -> str:
    """The bundled sample's English documents as byte-level tokens, in sieve-shards/1."""
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rows = [r for r in rows if (r.get("meta") or {}).get("lang") == "en"][:max_docs]
    per_shard = [[] for _ in range(num_shards)]
    for r in rows:
        per_shard[shard_format.shard_index(r["id"], num_shards)].append(r)
    shards = []
    for docs in per_shard:
        members, tokens = [], 0
        for r in sorted(docs, key=lambda r: r["id"]):
            ids = np.frombuffer(r["text"].encode("utf-8"), dtype=np.uint8).astype(np.uint16) + 5
            tokens += ids.size
            members += shard_format.sample_members(
                shard_format.sample_key(r["id"]), ids, {"id": r["id"], "sentence_starts": [0]},
                r["text"])
        shards.append((members, len(docs), tokens))
    shard_format.write_local(out_dir, shards, tokenizer_sha256="0" * 64, vocab_size=256 + 5,
                             special_ids=SPECIAL_IDS, config={"byte_level": True})
    return out_dir


def table(rows: list[dict]) -> str:
    cols = ["model", "kind", "params_M", "seq_len", "batch", "compile", "tokens_per_s", "tflops",
            "mfu", "peak_mem_GiB", "warmup_s"]
    fmt = lambda k, v: (f"{v:.1%}" if k == "mfu" and v is not None else
                        f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="CPU, tiny, a few steps: a code check")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--presets", nargs="+", default=["small", "base"])
    p.add_argument("--kinds", nargs="+", default=["decoder"],
                   help="decoder (clm), encoder (mlm: the head on 15%% of positions), encdec")
    p.add_argument("--seq_lens", nargs="+", type=int, default=[128, 512])
    p.add_argument("--compile", choices=("off", "on", "both"), default="both")
    p.add_argument("--tokens_per_step", type=int, default=65536)
    p.add_argument("--vocab", type=int, default=VOCAB, help="vocabulary size (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps (compilation included)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
    p.add_argument("--budget_s", type=float, default=330,
                   help="skip the remaining table rows after this many seconds (default: "
                        "%(default)s, leaving the training its share of 8 minutes)")
    p.add_argument("--train_minutes", type=float, default=1.5)
    p.add_argument("--train_model", default="small")
    p.add_argument("--shards", default=None, help="a pipeline output for the short training")
    p.add_argument("--probe_data", default=None, help="weka's Reuters*.arff (needs --shards)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.smoke:
        args.device = args.device or "cpu"
        args.presets, args.seq_lens, args.compile = ["tiny"], [32, 64], "off"
        args.tokens_per_step, args.warmup, args.steps, args.vocab = 512, 1, 2, 1000
        args.train_minutes, args.train_model = 0.2, "tiny"
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        print(f"device: {torch.cuda.get_device_name(torch.device(device))}, torch {torch.__version__}")
    else:
        print(f"device: cpu ({torch.get_num_threads()} threads), torch {torch.__version__}")
    started, rows = time.time(), []
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.compile]
    for kind in args.kinds:
        for name in args.presets:
            for seq_len in args.seq_lens:
                for compile_ in modes:
                    if time.time() - started > args.budget_s:
                        rows.append({"model": name, "kind": kind, "seq_len": seq_len,
                                     "compile": compile_, "tokens_per_s": "skipped (time)"})
                        continue
                    try:
                        row = throughput(name, kind, seq_len, compile_, device=device,
                                         tokens_per_step=args.tokens_per_step,
                                         warmup=args.warmup, steps=args.steps, vocab=args.vocab)
                    except Exception as e:  # an OOM or compile failure: report, go on
                        row = {"model": name, "kind": kind, "seq_len": seq_len,
                               "compile": compile_, "tokens_per_s": f"{type(e).__name__}: {e}"[:80]}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if device.startswith("cuda"):
                        torch.cuda.empty_cache()
    print("\n" + table(rows) + "\n", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        shards = args.shards or byte_shards(os.path.join(tmp, "bytes"),
                                            max_docs=200 if args.smoke else 1000)
        cfg = TrainConfig(
            shards=shards, out=os.path.join(tmp, "run"), model=args.train_model, objective="clm",
            seq_len=64 if args.smoke else 512, batch_size=4 if args.smoke else 32,
            steps=10 if args.smoke else 400, max_minutes=args.train_minutes, device=device,
            compile=device.startswith("cuda"), log_every=5 if args.smoke else 50,
            eval_every=5 if args.smoke else 200, eval_tokens=2000 if args.smoke else 262_144,
            probe_data=args.probe_data if args.shards else None, tensorboard=False)
        summary = train_lib.train(cfg)
    mfu = f", MFU {summary['mfu']:.1%}" if summary["mfu"] else ""
    print(f"\nshort training ({args.train_model} decoder, clm, seq_len {cfg.seq_len}, "
          f"{'given shards' if args.shards else 'bundled sample as bytes'}): "
          f"{summary['steps']} steps in {summary['elapsed_s']:.0f} s, "
          f"{summary['tokens_per_s']:,.0f} tokens/s{mfu}; loss {summary['first_loss']:.3f} -> "
          f"{summary['last_loss']:.3f}")
    for e in summary["evals"] + [summary["eval"]]:
        print("  eval:", json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                      for k, v in e.items()}))
    print(f"total {time.time() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"table": rows, "training": {k: v for k, v in summary.items()
                                                   if k != "losses"}}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
