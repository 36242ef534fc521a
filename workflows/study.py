"""The study runner: corpus -> classifier -> one annotate run -> tier re-selections -> arms -> report.

    python -m workflows run workflows/quality_vs_quantity.yaml --profile smoke --out DIR

Every step goes through the other rooms' public entry points: `workflows.study_corpus` (the data),
`quality.train_classifier` (the fastText classifier), `pipeline` (`run`, the whole Beam job as a
user runs it), `pretrain` (`train`, then `evaluate.held_out_loss` / `evaluate.probe` on the
checkpoint) and `workflows.analysis` / `workflows.report` (numbers and page).

Steps and what they share:
- `annotate`: the Beam job once over the training pool, policy `none`, exact dedup only, the
  classifier's score recorded, `--write_annotated`. Its output is the raw tier, and its
  tokenizer (trained on a sample of that whole mixture, never on the evaluation set) is the one
  tokenizer of every tier, of the junk text and of the evaluation sets.
- `tier-<name>`: the same job `--from_annotated` under the tier's policy and dedup settings: no
  signal is computed twice. `junk`: the good tier's policy inverted (`--invert_policy`): what it
  rejects. `eval-<domain>`: each held-out domain tokenized with the shared tokenizer.
- arms: a tier at a unique-token budget (the first `fraction x num_shards` shards by name;
  documents go to shards by a hash of their id, so that is a uniform sample), trained for the
  profile's `train_tokens` whatever the budget (the data repeats as needed), once per seed; the
  junk arm trains on the good tier plus about as many tokens of its rejected text.

Each step's result is cached under DIR/steps/<step>-<key>/ with the key the sha256 of its
inputs' contents and its settings (STUDY_FORMAT included): a rerun redoes only what changed, and
an interrupted study resumes at the first step without a `done.json`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from quality.outputs import MANIFEST, TOKENIZER_MODEL

STUDY_FORMAT = 1          # bump when a step's meaning changes: every cached step is then redone
DONE = "done.json"
RESULTS = "results.json"
REPORT = "study_report.html"
# Every arm's shard subset is a whole number of shards: budgets of 1/16 need >= 16 shards.
DEFAULT_NUM_SHARDS = 16


# ---------------------------------------------------------------------------------------------
# Study definition

def load_study(path: str | os.PathLike, profile: str) -> dict:
    """The study's YAML with `profiles[profile]` merged over its `defaults`."""
    with open(path, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    profiles = spec.get("profiles", {})
    if profile not in profiles:
        raise ValueError(f"{path}: no profile {profile!r}; profiles: {', '.join(profiles)}")
    settings = {**spec.get("defaults", {}), **profiles[profile]}
    study = {k: v for k, v in spec.items() if k not in ("defaults", "profiles")}
    study.update(profile=profile, settings=settings)
    check_study(study)
    return study


def check_study(study: Mapping) -> None:
    tiers = [t["name"] for t in study["tiers"]]
    s = study["settings"]
    if len(set(tiers)) != len(tiers) or len(tiers) < 2:
        raise ValueError(f"tiers must be at least two distinct names, got {tiers}")
    if study["good_tier"] not in tiers:
        raise ValueError(f"good_tier {study['good_tier']!r} is not a tier ({tiers})")
    fractions = [budget_fraction(b) for b in s["budgets"]]
    if "1" not in [str(b) for b in s["budgets"]]:
        raise ValueError("budgets must include '1' (all of what a tier keeps)")
    for b, f in zip(s["budgets"], fractions):
        if not 0 < f <= 1 or (f * s["num_shards"]).denominator != 1:
            raise ValueError(f"budget {b}: must be in (0, 1] and a whole number of the "
                             f"{s['num_shards']} shards")
    if len(s["seeds"]) < 1:
        raise ValueError("at least one seed")


def budget_fraction(budget: Any) -> Fraction:
    return Fraction(str(budget))


# ---------------------------------------------------------------------------------------------
# Cache

def file_digest(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def step_key(material: Mapping) -> str:
    blob = json.dumps({"format": STUDY_FORMAT, **material}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Steps:
    """Cached steps under ROOT/steps: `run(name, material, fn)` returns fn(dir)'s result, which
    is saved (after fn returns) in dir/done.json; a step with that file is not run again, a step
    without it (interrupted) is cleared and redone."""

    def __init__(self, root: Path, log: Callable[[str], None] = print):
        self.root, self.log, self.ran, self.reused = root / "steps", log, [], []
        self.seconds: dict[str, float] = {}  # every step's own time, when it ran

    def run(self, name: str, material: Mapping, fn: Callable[[Path], dict]) -> dict:
        key = step_key(material)
        d = self.root / f"{name}-{key[:16]}"
        done = d / DONE
        if done.exists():
            saved = json.loads(done.read_text())
            self.reused.append(name)
            self.seconds[name] = saved["seconds"]
            return saved["result"]
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        t0 = time.perf_counter()
        self.log(f"[study] {name} ...")
        result = fn(d)
        seconds = time.perf_counter() - t0
        tmp = d / (DONE + ".tmp")
        tmp.write_text(json.dumps({"key": key, "material": material, "seconds": round(seconds, 2),
                                   "result": result}, indent=1, sort_keys=True, default=str))
        os.replace(tmp, done)
        self.ran.append(name)
        self.seconds[name] = round(seconds, 2)
        self.log(f"[study] {name}: {seconds:.1f} s")
        return result


# ---------------------------------------------------------------------------------------------
# Pipeline steps

def run_pipeline(args: list[str], workers: int = 0) -> dict:
    """The whole Beam job, as `python -m pipeline ARGS` runs it, launched from this process (with
    `workers` > 0, on that many FnApiRunner worker processes); fails on any problem the job
    reports (identity, counted flow, failure fraction). The worker count is not part of a step's
    key: the job writes the same bytes whatever it is."""
    import logging

    from pipeline import accounting
    from pipeline.__main__ import run

    logging.getLogger().setLevel(logging.WARNING)
    mode = (["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
            if workers > 0 else [])
    stats = run([*args, "--runner=FnApiRunner", *mode])
    problems = accounting.problems(stats)
    if problems:
        raise RuntimeError(f"pipeline {' '.join(args)}: " + "; ".join(problems))
    return stats


def _shards(out: Path) -> dict:
    manifest = json.loads((out / MANIFEST).read_text())
    return {"dir": str(out), "shards": {s["name"]: s["tokens"] for s in manifest["shards"]},
            "docs": manifest["totals"]["samples"], "tokens": manifest["totals"]["tokens"],
            "tokenizer_sha256": manifest["tokenizer"]["sha256"]}


def _summary(stats: Mapping) -> dict:
    ident = stats["identity"]["docs"]
    return {k: ident[k] for k in ("input", "kept", "dropped", "duplicate", "dead_letter")}


def tier_policy(tier: Mapping, step_dir: Path) -> str:
    """The --policy of a tier: a preset, or (with classifier_top_fraction) the preset plus a
    top-fraction rule on the classifier's score, written as YAML in the step's directory."""
    from quality import classifier
    from quality.policy import load

    top = tier.get("classifier_top_fraction")
    if top is None:
        return tier["policy"]
    spec = load(tier["policy"]).to_dict()
    spec["name"] = f"{spec['name']}+classifier_top_{top}"
    spec["rules"].append({"name": "classifier_top_fraction", "signal": classifier.SIGNAL,
                          "top_fraction": float(top),
                          "source": "DCLM (Li et al. 2024): fastText classifier, top fraction kept"})
    path = step_dir / "policy.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def pipeline_args(tier: Mapping, settings: Mapping) -> list[str]:
    return [f"--near_dedup={str(bool(tier.get('near_dedup', False))).lower()}",
            "--url_dedup=false", f"--num_shards={settings['num_shards']}"]


# ---------------------------------------------------------------------------------------------
# Arms

def budget_shards(shards: Mapping[str, int], fraction: Fraction) -> list[str]:
    names = sorted(shards)
    return names[:int(fraction * len(names))]


def junk_mixture(good: Mapping, junk: Mapping, out: Path) -> dict:
    """A shards directory holding the good tier's shards and the junk output's first shards
    (by name) until they reach the good tier's tokens: hard links (copies across devices) and
    one manifest, as the pipeline writes it, so pretrain reads it as any output."""
    from pipeline import shard_format

    want = sum(good["shards"].values())
    picked, got = [], 0
    for name in sorted(junk["shards"]):
        if got >= want:
            break
        picked.append(name)
        got += junk["shards"][name]
    (out / shard_format.SHARDS_DIR).mkdir(parents=True)
    base = json.loads((Path(good["dir"]) / shard_format.MANIFEST).read_text())
    entries = []
    for prefix, src, names in (("good", good, sorted(good["shards"])), ("junk", junk, picked)):
        manifest = json.loads((Path(src["dir"]) / shard_format.MANIFEST).read_text())
        by_name = {s["name"]: s for s in manifest["shards"]}
        for name in names:
            new = f"{prefix}-{name}"
            target = out / shard_format.SHARDS_DIR / new
            source = Path(src["dir"]) / by_name[name]["path"]
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            entries.append({**by_name[name], "name": new, "path": f"{shard_format.SHARDS_DIR}/{new}"})
    shutil.copyfile(Path(good["dir"]) / base["tokenizer"]["path"], out / base["tokenizer"]["path"])
    base.update(shards=entries, totals={
        "shards": len(entries), "samples": sum(e["samples"] for e in entries),
        "tokens": sum(e["tokens"] for e in entries), "bytes": sum(e["bytes"] for e in entries)})
    base["config"] = {"mixture": {"good": good["dir"], "junk": junk["dir"], "junk_shards": picked}}
    (out / shard_format.MANIFEST).write_text(json.dumps(base, indent=2, sort_keys=True))
    result = _shards(out)
    result.update(good_tokens=want, junk_tokens=got)
    return result


class Evaluation:
    """The held-out domains, read once: bpb per domain and over their union (summed NLL over
    summed bytes), the Reuters probe when the profile names its data, and fine-tuning on the same
    tasks (`pretrain.finetune`, one run with the arm's seed) when it also sets `finetune`."""

    def __init__(self, evals: Mapping[str, Mapping], settings: Mapping):
        from pretrain import evaluate

        self.settings = settings
        self.docs = {d: evaluate.read_documents(e["dir"], None, settings["eval_tokens"])
                     for d, e in sorted(evals.items())}

    def __call__(self, checkpoint: str, shards_dir: str,
                 seed: int = 0) -> tuple[dict, dict | None, dict | None]:
        from pretrain import data, evaluate, finetune
        from pretrain.checkpoint import load_checkpoint, model_from_checkpoint

        s = self.settings
        model = model_from_checkpoint(load_checkpoint(checkpoint)).to(s["device"])
        manifest = data.read_manifest(shards_dir)
        special = {k: int(v) for k, v in manifest["tokenizer"]["special_ids"].items()}
        domains, nll, size = {}, 0.0, 0
        for d, docs in self.docs.items():
            out = evaluate.held_out_loss(model, docs, seq_len=s["seq_len"], special=special,
                                         device=s["device"])
            domains[d] = out["bpb"]
            nll += out["bpb"] * math.log(2) * out["bytes"]
            size += out["bytes"]
        bpb = {"overall": evaluate.bits_per_byte(nll, size), "domains": domains}
        probe = tuned = None
        if s.get("probe_data"):
            sp = evaluate.run_tokenizer(shards_dir, manifest)
            probe = evaluate.probe(model, sp, s["probe_data"], seq_len=s["seq_len"],
                                   special=special, device=s["device"], seed=seed)
            if s.get("finetune"):
                result = finetune.finetune(model, sp, s["probe_data"], seq_len=s["seq_len"],
                                           special=special, seeds=[seed], device=s["device"])
                keep = ("accuracy", "f1", "precision", "recall", "majority_accuracy")
                tuned = {task: {k: r["runs"][0][k] for k in keep}
                         for task, r in result["tasks"].items()}
        return bpb, probe, tuned


def train_arm(shards_dir: str, names: list[str], seed: int, settings: Mapping, out: Path,
              evaluation: Evaluation) -> dict:
    from pretrain.config import TrainConfig
    from pretrain.train import train

    s = settings
    cfg = TrainConfig(shards=shards_dir, out=str(out), model=s["model"], objective=s["objective"],
                      seq_len=s["seq_len"], batch_size=s["batch_size"], tokens=s["train_tokens"],
                      seed=seed, train_shards=names, max_minutes=s["max_minutes_per_arm"],
                      device=s["device"], precision=s.get("precision", "auto"),
                      compile=bool(s.get("compile", False)), tensorboard=False,
                      log_every=s.get("log_every", 10), holdout_shards=0)
    summary = train(cfg)
    if summary["steps"] < summary["total_steps"]:
        raise RuntimeError(f"{out}: stopped at step {summary['steps']} of {summary['total_steps']} "
                           f"(max_minutes_per_arm {s['max_minutes_per_arm']}): arms would not "
                           "have equal compute")
    bpb, probe, tuned = evaluation(summary["checkpoint"], shards_dir, seed)
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    return {"seed": seed, "bpb": bpb, "probe": probe, "finetune": tuned, "steps": summary["steps"],
            "elapsed_s": round(summary["elapsed_s"], 2),
            "tokens_per_s": round(summary["tokens_per_s"], 1), "epoch": last.get("epoch"),
            "final_loss": summary["last_loss"]}


def model_facts(shards_dir: str, settings: Mapping) -> dict:
    """Preset, kind, parameters and training FLOPs per token of the arms' model."""
    from pretrain import data
    from pretrain.config import TrainConfig, model_kind
    from pretrain.train import build_model, flops_per_token

    cfg = TrainConfig(shards=shards_dir, model=settings["model"], objective=settings["objective"],
                      seq_len=settings["seq_len"], batch_size=settings["batch_size"])
    model = build_model(cfg, data.read_manifest(shards_dir))
    return {"preset": settings["model"], "kind": model_kind(cfg), "objective": settings["objective"],
            "non_embedding_params": model.num_params(), "params": model.num_params(False),
            "seq_len": settings["seq_len"], "batch_size": settings["batch_size"],
            "flops_per_token": flops_per_token(model, cfg), "device": settings["device"]}


# ---------------------------------------------------------------------------------------------
# The study

def corpus_files(study: Mapping, out: Path, corpus_dir: str | None) -> dict:
    from workflows import study_corpus

    s = study["settings"]
    if s["corpus"] == "sample":
        return study_corpus.from_sample(out / "corpus", max_train_docs=s.get("max_train_docs"))
    root = corpus_dir or s.get("corpus_dir")
    if not root:
        raise ValueError("this profile reads a built corpus: pass --corpus DIR (made by "
                         "python -m workflows.study_corpus --workdir DIR)")
    files = study_corpus.layout(root)
    missing = [str(p) for p in [*files["train"], files["positive"], files["negative"],
                                *files["eval"].values()] if not Path(p).exists()]
    if missing or not files["eval"]:
        raise FileNotFoundError(f"{root}: not a built study corpus (missing {missing or 'eval/'}); "
                                "build it with python -m workflows.study_corpus --workdir DIR")
    return files


def run_study(study: Mapping, out: str | os.PathLike, corpus_dir: str | None = None,
              log: Callable[[str], None] = print) -> dict:
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    s = study["settings"]
    steps = Steps(out, log)
    started = time.perf_counter()
    files = corpus_files(study, out, corpus_dir)
    if s.get("probe") and files.get("probe"):
        s = {**s, "probe_data": str(files["probe"])}
    digests = {"train": [file_digest(p) for p in files["train"]],
               "positive": file_digest(files["positive"]), "negative": file_digest(files["negative"]),
               "eval": {d: file_digest(p) for d, p in files["eval"].items()}}

    def classifier_step(d: Path) -> dict:
        from quality import train_classifier

        path = d / "quality.bin"
        if train_classifier.main(["--positive", str(files["positive"]), "--negative",
                                  str(files["negative"]), "--out", str(path),
                                  "--seed", str(s.get("classifier_seed", 0))]) != 0:
            raise RuntimeError("classifier training failed")
        return {"model": str(path)}

    clf_material = {"step": "classifier", "positive": digests["positive"],
                    "negative": digests["negative"], "seed": s.get("classifier_seed", 0)}
    clf = steps.run("classifier", clf_material, classifier_step)

    tiers = {t["name"]: t for t in study["tiers"]}
    first = study["tiers"][0]
    if first.get("policy", "none") != "none" or first.get("classifier_top_fraction"):
        raise ValueError(f"the first tier ({first['name']}) is the annotate run: policy none")
    annotate_material = {"step": "annotate", "train": digests["train"], "classifier": clf_material,
                         "tier": first, "num_shards": s["num_shards"], "vocab_size": s["vocab_size"]}

    def annotate_step(d: Path) -> dict:
        train_glob = Path(files["train"][0]).parent / "part-*.jsonl.gz"
        stats = run_pipeline([f"--input={train_glob}",
                              f"--output={d / 'out'}", "--policy=none", "--write_annotated=true",
                              f"--quality_model={clf['model']}", f"--vocab_size={s['vocab_size']}",
                              *pipeline_args(first, s)], s.get("pipeline_workers", 0))
        return {**_shards(d / "out"), "accounting": _summary(stats)}

    annotated = steps.run(f"tier-{first['name']}", annotate_material, annotate_step)
    tokenizer = str(Path(annotated["dir"]) / TOKENIZER_MODEL)
    outputs = {first["name"]: annotated}

    def reselect(name: str, tier: Mapping, extra: list[str]) -> dict:
        material = {"step": "tier", "annotate": annotate_material, "tier": tier, "extra": extra,
                    "num_shards": s["num_shards"]}

        def fn(d: Path) -> dict:
            stats = run_pipeline([f"--from_annotated={Path(annotated['dir']) / 'annotated'}",
                                  f"--output={d / 'out'}", f"--tokenizer={tokenizer}",
                                  f"--policy={tier_policy(tier, d)}", *pipeline_args(tier, s), *extra],
                                 s.get("pipeline_workers", 0))
            return {**_shards(d / "out"), "accounting": _summary(stats)}

        return steps.run(name, material, fn)

    for tier in study["tiers"][1:]:
        outputs[tier["name"]] = reselect(f"tier-{tier['name']}", tier, [])
    good = tiers[study["good_tier"]]
    junk_out = reselect("junk", good, ["--invert_policy=true"])

    evals = {}
    for domain, path in sorted(files["eval"].items()):
        material = {"step": "eval", "domain": domain, "file": digests["eval"][domain],
                    "annotate": annotate_material}

        def eval_step(d: Path, path=path) -> dict:
            stats = run_pipeline([f"--input={path}", f"--output={d / 'out'}", "--policy=none",
                                  f"--tokenizer={tokenizer}", "--near_dedup=false",
                                  "--url_dedup=false", "--num_shards=1", "--write_text=true"],
                                 s.get("pipeline_workers", 0))
            return {**_shards(d / "out"), "accounting": _summary(stats)}

        evals[domain] = steps.run(f"eval-{domain}", material, eval_step)

    mixture = steps.run("junk-mixture", {"step": "mixture", "good": outputs[good["name"]],
                                         "junk": junk_out},
                        lambda d: junk_mixture(outputs[good["name"]], junk_out, d / "out"))

    train_settings = {k: s[k] for k in ("model", "objective", "seq_len", "batch_size",
                                        "train_tokens", "device") if k in s}
    train_settings.update({k: s[k] for k in ("precision", "compile") if k in s})
    eval_material = {"evals": {d: e["tokenizer_sha256"] + str(sorted(e["shards"].items()))
                               for d, e in evals.items()},
                     "eval_tokens": s["eval_tokens"], "probe_data": s.get("probe_data")}
    if s.get("finetune") and s.get("probe_data"):  # absent otherwise: earlier keys still hold
        eval_material["finetune"] = True
    evaluation = None
    arms = []
    model = model_facts(annotated["dir"], s)

    def arm(arm_id: str, kind: str, tier: str, budget: str, source: Mapping, names: list[str],
            extra: dict) -> dict:
        runs = []
        for seed in s["seeds"]:
            material = {"step": "arm", "source": source, "shards": names, "seed": seed,
                        "train": train_settings, "eval": eval_material}

            def fn(d: Path, seed=seed) -> dict:
                nonlocal evaluation
                evaluation = evaluation or Evaluation(evals, s)
                return train_arm(source["dir"], names, seed, s, d / "run", evaluation)

            runs.append(steps.run(f"arm-{arm_id.replace('/', '_')}-seed{seed}", material, fn))
        unique = sum(source["shards"][n] for n in names)
        return {"id": arm_id, "kind": kind, "tier": tier, "budget": budget,
                "budget_fraction": float(budget_fraction(budget)), "unique_tokens": unique,
                "train_tokens": s["train_tokens"], "repeats": s["train_tokens"] / max(unique, 1),
                "docs": None if kind == "junk" else _docs_in(source, names),
                "flops": model["flops_per_token"] * s["train_tokens"], "runs": runs, **extra}

    for tier in study["tiers"]:
        src = outputs[tier["name"]]
        for budget in s["budgets"]:
            names = budget_shards(src["shards"], budget_fraction(budget))
            arms.append(arm(f"{tier['name']}@{budget}", "budget", tier["name"], str(budget), src,
                            names, {}))
    arms.append(arm(f"{good['name']}+junk@1", "junk", good["name"], "1", mixture,
                    sorted(mixture["shards"]),
                    {"junk_tokens": mixture["junk_tokens"], "good_tokens": mixture["good_tokens"]}))

    results = {
        "study": study["study"], "profile": study["profile"], "metric": "bpb",
        "tiers": [t["name"] for t in study["tiers"]],
        "tier_labels": {t["name"]: t.get("label", t["name"]) for t in study["tiers"]},
        "good_tier": study["good_tier"], "train_tokens": s["train_tokens"], "model": model,
        "seeds": list(s["seeds"]), "domains": sorted(evals), "arms": arms,
        "settings": dict(s),
        "pipeline": {name: {"docs": o["docs"], "tokens": o["tokens"], "accounting": o["accounting"]}
                     for name, o in {**outputs, "junk": junk_out}.items()},
        "eval_sets": {d: {"docs": e["docs"], "tokens": e["tokens"]} for d, e in evals.items()},
        "corpus": {"sources": str(files["sources_json"]), "digests": digests},
        "steps": {"ran": len(steps.ran), "reused": len(steps.reused), "seconds": steps.seconds},
        "compute_s": round(sum(steps.seconds.values()), 1),  # all steps, whenever they ran
        "wall_s": round(time.perf_counter() - started, 1),   # this invocation
    }
    from workflows.analysis import analyse
    from workflows.report import write_study_report

    results["questions"] = analyse(results)
    (out / RESULTS).write_text(json.dumps(results, indent=1, sort_keys=True, allow_nan=False))
    write_study_report(results, str(out / REPORT))
    return results


def _docs_in(source: Mapping, names: list[str]) -> int | None:
    """Documents in the named shards, from the manifest beside them."""
    manifest = json.loads((Path(source["dir"]) / MANIFEST).read_text())
    return sum(s["samples"] for s in manifest["shards"] if s["name"] in set(names))
