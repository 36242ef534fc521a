"""The quick mode of benchmarks/objective_comparison.py: every new objective trained at the same
FLOPs, fine-tuned and probed, tabulated; a rerun reuses the runs."""

import json

import torch

from benchmarks import objective_comparison as oc
from tests.pretrain_helpers import reuters_fixture, sample_shards


def test_quick_mode_trains_every_objective_at_equal_compute(tmp_path, capsys, monkeypatch):
    torch.set_num_threads(2)
    shards = sample_shards(tmp_path / "shards", num_docs=80, max_chars=1200, vocab_size=300,
                           num_shards=2)
    data_dir = reuters_fixture(tmp_path / "reuters", train=48, test=24)
    out = tmp_path / "out"
    assert oc.main(["--quick", "--shards", shards, "--data", data_dir, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    runs = json.loads((out / "comparison.json").read_text())["runs"]
    assert [r["objective"] for r in runs] == ["mlm", "electra", "plm", oc.UNTRAINED]
    floor = runs.pop()  # the untrained baseline: the first objective's model, no step taken
    assert floor["steps"] == 0 and floor["held_out"] == {} and set(floor["finetune"]) == {"grain", "corn"}
    assert f"| `{oc.UNTRAINED}` | 1 | 0 | – | – |" in printed
    tokens_per_step = oc.QUICK["seq_len"] * oc.QUICK["batch_size"]
    for r in runs:
        # --flops sets the steps: the budget over (FLOPs per token x tokens per step), at least 1
        spent = r["steps"] * tokens_per_step * r["flops_per_token"]
        assert r["steps"] >= 1 and spent - r["flops_per_token"] * tokens_per_step < oc.QUICK["flops"] <= spent + 1
        assert set(r["finetune"]) == set(r["probe"]) == {"grain", "corn"}
        assert 0 <= r["finetune"]["grain"]["f1"] <= 1 and r["held_out"]
        assert f"| `{r['objective']}` | 1 |" in printed
    assert len({r["flops_per_token"] for r in runs}) == 3  # different costs, the same budget
    import pretrain.train

    def fail(*a, **k):
        raise AssertionError("a finished run trained again")

    monkeypatch.setattr(pretrain.train, "train", fail)
    assert oc.main(["--quick", "--shards", shards, "--data", data_dir, "--out", str(out)]) == 0
