"""Does task-adaptive pretraining help? Three stages against two, over seeds.

    python -m workflows.tapt --general RUN_DIR/checkpoint.pt --data WEKA_EXAMPLES --out DIR
        [--seeds 0 1 2] [--tapt_epochs 100] [--tasks grain corn] [--device cpu] [--workers 0]

Gururangan et al. 2020 ("Don't Stop Pretraining", section 4) continue pretraining a general model
on the unlabelled text of the task itself (task-adaptive pretraining, TAPT) before fine-tuning,
and report that it helps. This workflow tests that on Reuters-21578 grain and corn (the probe's
and `pretrain.finetune`'s tasks) from a general checkpoint a user trained:

1. `task-text`: the training stories of the tasks, each once, labels dropped; a story that also
   occurs in a test split is left out, so the test set is never pretrained on. Written as
   DIR/task/reuters-train.jsonl.gz.
2. `task-shards`: the Beam job over it with the general run's tokenizer, as a user runs it
   (`python -m pipeline --input ... --tokenizer GENERAL_SHARDS/tokenizer.model --policy none`:
   the task's text is what the task is, so only exact and near duplicates are removed); the
   job's accounting identity is checked.
3. Arms, each seed s from the same general checkpoint:
   - `general`: fine-tune it (seed s) and probe it: two stages;
   - `tapt`: `python -m pretrain --init GENERAL --shards TASK_SHARDS` for `--tapt_epochs`
     epochs of the task text (the general run's objective, model, sequence length, batch and
     peak learning rate; fresh warmup and cosine schedule; data order seed s), then fine-tune
     (seed s) and probe: three stages;
   - `more-general` (the control, unless --no_control): the same number of tokens of continued
     pretraining on the general run's own shards, then fine-tune and probe: TAPT's extra compute
     without the task's text, so a gain of `tapt` over it is the text's, not the extra steps'.
4. DIR/tapt.json and DIR/REPORT.md: per task and arm, fine-tuned F1 and accuracy and the frozen
   probe's F1, mean and sample standard deviation over seeds; and per seed the paired
   difference tapt - general and tapt - more-general with its mean and standard deviation.

Each step writes DIR/<step>/done.json last; a rerun reuses finished steps.
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

# Gururangan et al. 2020, section 4 ("Task-Adaptive Pretraining"): TAPT trains 100 epochs over
# the task's unlabelled text.
TAPT_EPOCHS = 100
TAPT_SEEDS = (0, 1, 2)
TASK_TEXT = "reuters-train.jsonl.gz"
RESULT, REPORT = "tapt.json", "REPORT.md"
ARMS = ("general", "tapt", "more-general")


def _step(out: Path, name: str, fn: Callable[[Path], dict]) -> dict:
    """fn(step_dir)'s result, cached in out/name/done.json (written last)."""
    d = out / name
    done = d / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    d.mkdir(parents=True, exist_ok=True)
    result = fn(d)
    done.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


def task_text(data_dir: str, tasks: list[str], path: Path) -> dict:
    """The tasks' training stories, each once, minus any that is also a test story."""
    from pretrain import evaluate

    reuters = evaluate.load_reuters(data_dir)
    norm = lambda t: " ".join(html.unescape(t).split())
    test = {norm(t) for task in tasks for t, _ in reuters[task][1]}
    seen, rows, overlap = set(), [], 0
    for task in tasks:
        for i, (text, _label) in enumerate(reuters[task][0]):
            key = norm(text)
            if key in seen:
                continue
            seen.add(key)
            if key in test:
                overlap += 1
                continue
            rows.append({"id": f"reuters/{task}-train/{i:04d}", "text": html.unescape(text).strip()})
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        for r in rows:
            f.write((json.dumps(r, ensure_ascii=False) + "\n").encode("utf-8"))
    return {"documents": len(rows), "left_out_in_test": overlap, "path": str(path)}


def continue_pretraining(init: str, shards: str, out: Path, *, tokens: int, seed: int,
                         tcfg: Mapping, device: str, train_shards=None) -> dict:
    """`python -m pretrain --init INIT --shards SHARDS` for `tokens` packed tokens, with the
    general run's objective, model, lengths, batch and peak lr."""
    from pretrain.config import TrainConfig
    from pretrain.train import train

    keep = ("model", "objective", "objective_params", "packing", "seq_len", "batch_size",
            "grad_accum", "lr", "embedding_dim", "generator_fraction")
    cfg = TrainConfig(shards=shards, out=str(out / "run"), init=init, tokens=tokens, seed=seed,
                      device=device, holdout_shards=0, train_shards=train_shards,
                      max_minutes=float("inf"), tensorboard=False, log_every=50,
                      **{k: tcfg[k] for k in keep if tcfg.get(k) is not None})
    summary = train(cfg)
    if summary["steps"] < summary["total_steps"]:
        raise RuntimeError(f"{out}: stopped at step {summary['steps']} of {summary['total_steps']}")
    return {"checkpoint": summary["checkpoint"], "steps": summary["steps"], "tokens": tokens,
            "elapsed_s": round(summary["elapsed_s"], 1), "first_loss": summary["first_loss"],
            "last_loss": summary["last_loss"]}


def _mean_std(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else None, "n": len(values)}


def summarize(runs: Mapping[str, Mapping[int, dict]], tasks: list[str]) -> dict:
    """Per task and arm: means and standard deviations over seeds; paired differences."""
    out = {}
    for task in tasks:
        per_arm = {}
        for arm, by_seed in runs.items():
            ft = [by_seed[s]["finetune"][task][0] for s in sorted(by_seed)]
            per_arm[arm] = {"finetune_f1": _mean_std([r["f1"] for r in ft]),
                            "finetune_accuracy": _mean_std([r["accuracy"] for r in ft]),
                            "probe_f1": _mean_std([by_seed[s]["probe"][task]["f1"]
                                                   for s in sorted(by_seed)]),
                            "majority_accuracy": ft[0]["majority_accuracy"]}
        diffs = {}
        for base in ("general", "more-general"):
            if base not in runs or "tapt" not in runs:
                continue
            seeds = sorted(set(runs["tapt"]) & set(runs[base]))
            d = [runs["tapt"][s]["finetune"][task][0]["f1"] - runs[base][s]["finetune"][task][0]["f1"]
                 for s in seeds]
            diffs[f"tapt-{base}"] = {**_mean_std(d), "per_seed": d}
        out[task] = {"arms": per_arm, "paired_f1_difference": diffs}
    return out


def _pm(m: dict) -> str:
    return f"{m['mean']:.3f}" + (f" ± {m['std']:.3f}" if m["std"] is not None else "")


def report(result: Mapping) -> str:
    r = result
    lines = [
        "# Task-adaptive pretraining on Reuters-21578",
        "",
        f"General checkpoint `{r['general']}` ({r['objective']}, model {r['model']}); task "
        f"text: {r['task_text']['documents']} training stories ({r['task_text']['left_out_in_test']} "
        f"left out because they recur in a test split), {r['task_shards']['kept']} kept by the "
        f"pipeline, {r['task_shards']['tokens']:,} tokens. Task-adaptive stage: "
        f"{r['tapt_epochs']} epochs = {r['tapt_tokens']:,} tokens per seed. Seeds: "
        f"{', '.join(map(str, r['seeds']))}; means ± sample standard deviations over them.",
        "",
        "| task | arm | fine-tuned F1 | fine-tuned accuracy | frozen probe F1 | majority |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for task, t in r["summary"].items():
        for arm, a in t["arms"].items():
            lines.append(f"| {task} | {arm} | {_pm(a['finetune_f1'])} | "
                         f"{_pm(a['finetune_accuracy'])} | {_pm(a['probe_f1'])} | "
                         f"{a['majority_accuracy']:.4f} |")
    lines += ["", "Paired by seed (same fine-tuning seed), the difference in fine-tuned F1:", "",
              "| task | comparison | mean ± std | per seed |", "|---|---|--:|---|"]
    for task, t in r["summary"].items():
        for name, d in t["paired_f1_difference"].items():
            lines.append(f"| {task} | {name} | {_pm(d)} | "
                         + ", ".join(f"{x:+.3f}" for x in d["per_seed"]) + " |")
    lines += ["", f"Fine-tuning recipe: `pretrain.finetune` ({json.dumps(r['recipe'])}).", ""]
    return "\n".join(lines)


def run(general: str, data_dir: str, out: str, *, seeds=TAPT_SEEDS, tapt_epochs=TAPT_EPOCHS,
        tasks=None, device: str = "cpu", workers: int = 0, control: bool = True) -> dict:
    from pretrain import data, evaluate, finetune
    from pretrain.checkpoint import load_checkpoint
    from workflows.study import _summary, run_pipeline

    start = time.perf_counter()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = list(tasks or evaluate.PROBE_TASKS)
    seeds = [int(s) for s in seeds]
    ckpt = load_checkpoint(general, "cpu")
    tcfg = ckpt.get("train_config") or {}
    general_shards = tcfg.get("shards")
    if not general_shards:
        raise ValueError(f"{general} names no training shards (train_config.shards)")
    general_manifest = data.read_manifest(general_shards)
    tokenizer = str(Path(general_shards) / "tokenizer.model")

    text = _step(out_dir, "task-text", lambda d: task_text(data_dir, tasks, d / TASK_TEXT))

    def shards_step(d: Path) -> dict:
        stats = run_pipeline(["--input", text["path"], "--output", str(d / "out"),
                              "--tokenizer", tokenizer, "--policy", "none"], workers=workers)
        manifest = data.read_manifest(str(d / "out"))
        return {"dir": str(d / "out"), **_summary(stats), "tokens": manifest["totals"]["tokens"]}

    shards = _step(out_dir, "task-shards", shards_step)
    tokens = int(tapt_epochs * shards["tokens"])
    # The control continues on what the general run trained on (its held-out shards excluded).
    general_train = tcfg.get("train_shards") or evaluate.split_shards(
        general_manifest, 0 if tcfg.get("eval_shards") else int(tcfg.get("holdout_shards", 1)))[0]

    def score(checkpoint: str, seed: int) -> Callable[[Path], dict]:
        return lambda d: finetune.downstream(checkpoint, data_dir, seeds=[seed], tasks=tasks,
                                             device=device)

    def continued(arm: str, seed: int, shards_dir: str, train_shards=None) -> dict:
        """`arm`'s continued pretraining from the general checkpoint, then its scores."""
        pre = _step(out_dir, f"{arm}-{seed}-pretrain", lambda d: continue_pretraining(
            general, shards_dir, d, tokens=tokens, seed=seed, tcfg=tcfg, device=device,
            train_shards=train_shards))
        return {**_step(out_dir, f"{arm}-{seed}", score(pre["checkpoint"], seed)), "pretrain": pre}

    runs: dict[str, dict[int, dict]] = {arm: {} for arm in ARMS if control or arm != "more-general"}
    for seed in seeds:
        runs["general"][seed] = _step(out_dir, f"general-{seed}", score(general, seed))
        runs["tapt"][seed] = continued("tapt", seed, shards["dir"])
        if control:
            runs["more-general"][seed] = continued("more-general", seed, general_shards,
                                                   list(general_train))

    result = {"general": general, "general_shards": general_shards, "data": data_dir,
              "objective": tcfg.get("objective"), "model": tcfg.get("model"), "seeds": seeds,
              "tasks": tasks, "tapt_epochs": tapt_epochs, "tapt_tokens": tokens,
              "task_text": text, "task_shards": shards, "runs": {a: {str(s): r for s, r in v.items()}
                                                                  for a, v in runs.items()},
              "summary": summarize(runs, tasks),
              "recipe": runs["general"][seeds[0]]["recipe"],
              "wall_s": round(time.perf_counter() - start, 1)}
    (out_dir / RESULT).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (out_dir / REPORT).write_text(report(result))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m workflows.tapt", description=__doc__.split("\n")[0])
    p.add_argument("--general", required=True, help="the general run's RUN_DIR/checkpoint.pt")
    p.add_argument("--data", required=True, help="directory of Reuters{Grain,Corn}-{train,test}"
                                                 ".arff (Debian weka: usr/share/doc/weka/examples)")
    p.add_argument("--out", required=True, help="workflow directory (steps, tapt.json, REPORT.md)")
    p.add_argument("--seeds", nargs="+", type=int, default=list(TAPT_SEEDS))
    p.add_argument("--tapt_epochs", type=float, default=TAPT_EPOCHS,
                   help="epochs of the task text in the task-adaptive stage (default: "
                        "%(default)s, Gururangan et al. 2020)")
    p.add_argument("--tasks", nargs="+", default=None, help="grain, corn (default: both)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=0,
                   help="Beam worker processes for the task-text job (0: in process)")
    p.add_argument("--no_control", action="store_true",
                   help="skip the more-general arm (continued pretraining on the general shards)")
    args = p.parse_args(argv)
    if not (args.tapt_epochs > 0 and math.isfinite(args.tapt_epochs)):
        p.error("--tapt_epochs must be a positive number")
    result = run(args.general, args.data, args.out, seeds=args.seeds, tapt_epochs=args.tapt_epochs,
                 tasks=args.tasks, device=args.device, workers=args.workers,
                 control=not args.no_control)
    print(report(result))
    print(f"{result['wall_s']} s; {args.out}/{RESULT}, {args.out}/{REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
