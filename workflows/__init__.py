"""Studies that chain the rooms: corpus -> pipeline -> pretrain -> evaluation -> report.

`python -m workflows run workflows/quality_vs_quantity.yaml --profile P --out DIR` runs the
quality-versus-quantity study (`workflows/study.py`); `workflows/study_corpus.py` builds its data.
"""
