"""workflows.tapt end to end on fixtures: the task text leaves the test stories out, goes through
the Beam job with the general tokenizer, and the three arms are trained, fine-tuned, probed and
summarized from the very runs recorded; a rerun reuses every step."""

import json
import os
import statistics

import pytest
import torch

from pretrain import evaluate
from pretrain.checkpoint import load_checkpoint
from pretrain.config import TrainConfig
from pretrain.train import train
from tests.pretrain_helpers import reuters_fixture, sample_shards
from workflows import tapt


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("tapt")
    general_shards = sample_shards(root / "general", num_docs=120, max_chars=1500,
                                   vocab_size=400, num_shards=3)
    summary = train(TrainConfig(shards=general_shards, out=str(root / "general-run"), seq_len=32,
                                batch_size=8, steps=6, log_every=3, tensorboard=False,
                                eval_tokens=500))
    data_dir = reuters_fixture(root / "reuters", train=60, test=30)
    # One test story repeated in the training split: it must not be pretrained on.
    for task in ("Grain", "Corn"):
        test_path = os.path.join(data_dir, f"Reuters{task}-test.arff")
        first_test = [line for line in open(test_path) if line.startswith("'")][0]
        with open(os.path.join(data_dir, f"Reuters{task}-train.arff"), "a") as f:
            f.write(first_test)
    out = root / "out"
    result = tapt.run(summary["checkpoint"], data_dir, str(out), seeds=[0, 1], tapt_epochs=2)
    return summary, data_dir, out, result


def test_task_text_is_the_training_stories_without_the_test_ones(workflow):
    _, data_dir, out, result = workflow
    import gzip

    rows = [json.loads(line) for line in gzip.open(out / "task-text" / tapt.TASK_TEXT, "rt")]
    reuters = evaluate.load_reuters(data_dir)
    norm = lambda t: " ".join(t.split())
    test = {norm(t) for task in reuters.values() for t, _ in task[1]}
    train = {norm(t) for task in reuters.values() for t, _ in task[0]}
    texts = [norm(r["text"]) for r in rows]
    assert len(set(texts)) == len(texts) and not set(texts) & test
    assert set(texts) == train - test and result["task_text"]["left_out_in_test"] == 1
    shards = result["task_shards"]
    assert shards["input"] == len(rows) == (shards["kept"] + shards["dropped"]
                                            + shards["duplicate"] + shards["dead_letter"])
    assert shards["kept"] > 0 and shards["tokens"] > 0


def test_arms_continue_from_the_general_checkpoint(workflow):
    summary, _, out, result = workflow
    general = load_checkpoint(summary["checkpoint"], "cpu")
    assert set(result["runs"]) == {"general", "tapt", "more-general"}
    for arm, shards_dir in (("tapt", result["task_shards"]["dir"]),
                            ("more-general", result["general_shards"])):
        for seed in ("0", "1"):
            pre = result["runs"][arm][seed]["pretrain"]
            assert pre["tokens"] == result["tapt_tokens"] == 2 * result["task_shards"]["tokens"]
            ckpt = load_checkpoint(pre["checkpoint"], "cpu")
            tcfg = ckpt["train_config"]
            assert tcfg["init"] == summary["checkpoint"] and tcfg["shards"] == shards_dir
            assert tcfg["seed"] == int(seed) and tcfg["seq_len"] == 32
            assert ckpt["tokenizer_sha256"] == general["tokenizer_sha256"]
            assert any(not torch.equal(ckpt["model"][k], v) for k, v in general["model"].items())
    # the control trains on what the general run trained on, never its held-out shard
    ctl = load_checkpoint(result["runs"]["more-general"]["0"]["pretrain"]["checkpoint"], "cpu")
    from pretrain import data
    names = sorted(x["name"] for x in data.read_manifest(result["general_shards"])["shards"])
    assert general["train_config"]["holdout_shards"] == 1 and len(names) == 3
    assert ctl["train_config"]["train_shards"] == names[:2]


def test_summary_is_computed_from_the_recorded_runs(workflow):
    _, _, out, result = workflow
    for task in ("grain", "corn"):
        s = result["summary"][task]
        for arm in ("general", "tapt", "more-general"):
            f1 = [result["runs"][arm][seed]["finetune"][task][0]["f1"] for seed in ("0", "1")]
            assert s["arms"][arm]["finetune_f1"]["mean"] == pytest.approx(statistics.fmean(f1))
            assert s["arms"][arm]["finetune_f1"]["std"] == pytest.approx(statistics.stdev(f1))
            probe = [result["runs"][arm][seed]["probe"][task]["f1"] for seed in ("0", "1")]
            assert s["arms"][arm]["probe_f1"]["mean"] == pytest.approx(statistics.fmean(probe))
        d = s["paired_f1_difference"]["tapt-general"]["per_seed"]
        assert d == pytest.approx([result["runs"]["tapt"][x]["finetune"][task][0]["f1"]
                                   - result["runs"]["general"][x]["finetune"][task][0]["f1"]
                                   for x in ("0", "1")])
    text = (out / tapt.REPORT).read_text()
    assert "| grain | tapt |" in text and "tapt-more-general" in text
    assert json.loads((out / tapt.RESULT).read_text())["summary"] == result["summary"]


def test_rerun_reuses_every_step(workflow, monkeypatch):
    summary, data_dir, out, result = workflow

    def fail(*a, **k):
        raise AssertionError("a finished step ran again")

    monkeypatch.setattr(tapt, "continue_pretraining", fail)
    from pretrain import finetune

    monkeypatch.setattr(finetune, "downstream", fail)
    again = tapt.run(summary["checkpoint"], data_dir, str(out), seeds=[0, 1], tapt_epochs=2)
    assert again["summary"] == result["summary"]


def test_study_evaluation_adds_fine_tuned_scores(workflow, tmp_path):
    """The study's per-arm evaluation (workflows.study.Evaluation) with `finetune` set: the
    probe as before plus one pretrain.finetune run with the arm's seed."""
    from pretrain import data, finetune
    from pretrain.checkpoint import model_from_checkpoint
    from workflows.study import Evaluation

    general, data_dir, _, _ = workflow
    shards = load_checkpoint(general["checkpoint"], "cpu")["train_config"]["shards"]
    summary = train(TrainConfig(shards=shards, out=str(tmp_path / "clm"), objective="clm",
                                seq_len=32, batch_size=8, steps=4, tensorboard=False,
                                eval_tokens=300))  # the study's arms are decoders
    settings = {"eval_tokens": 500, "seq_len": 32, "device": "cpu", "probe_data": data_dir}
    evaluation = Evaluation({"sample": {"dir": shards}}, settings)
    bpb, probe, tuned = evaluation(summary["checkpoint"], shards, 1)
    assert tuned is None and set(probe) == {"grain", "corn"} and bpb["overall"] > 0
    bpb2, probe2, tuned = Evaluation({"sample": {"dir": shards}}, {**settings, "finetune": True})(
        summary["checkpoint"], shards, 1)
    assert bpb2 == bpb and probe2 == probe
    manifest = data.read_manifest(shards)
    special = {k: int(v) for k, v in manifest["tokenizer"]["special_ids"].items()}
    direct = finetune.finetune(model_from_checkpoint(load_checkpoint(summary["checkpoint"], "cpu")),
                               evaluate.run_tokenizer(shards, manifest), data_dir, seq_len=32,
                               special=special, seeds=[1])
    for task in ("grain", "corn"):
        run = direct["tasks"][task]["runs"][0]
        assert tuned[task] == {k: run[k] for k in ("accuracy", "f1", "precision", "recall",
                                                    "majority_accuracy")}
