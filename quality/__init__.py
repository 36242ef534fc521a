"""Quality signals for pretraining text: pure functions on plain data, no Beam and no torch.

Text units (`quality.text`), normalization (`quality.normalize`), rule sets (`quality.gopher`),
language identification (`quality.langid`) and selection policies (`quality.policy`).
"""
