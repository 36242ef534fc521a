"""Quality signals for pretraining text: pure functions on plain data, no Beam and no torch.

Text units (`quality.text`), normalization (`quality.normalize`), rule sets (`quality.gopher`,
`quality.c4`, `quality.fineweb`), language identification (`quality.langid`), rules and policies
(`quality.rules`) and the named and YAML policies built from the rule sets (`quality.policy`).
"""
