"""Quality signals for pretraining text: pure functions on plain data, no Beam and no torch.

Text units (`quality.text`), normalization (`quality.normalize`), rule sets (`quality.gopher`,
`quality.c4`, `quality.fineweb`), language identification (`quality.langid`), rules and policies
(`quality.rules`), the registry of signal sets and their rules that annotate and policy
validation read (`quality.signals`), the named and YAML policies built from it
(`quality.policy`), the fastText quality classifier (`quality.classifier`), MinHash
(`quality.minhash`) and the other dedup science (`quality.dedup`), the names of a run's outputs
(`quality.outputs`) and the corpus report (`quality.report`). Imports: the standard library,
numpy, fasttext, xxhash, datasketch and yaml.
"""
