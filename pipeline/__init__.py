"""The Beam job that turns raw text into a filtered, deduplicated, tokenized webdataset corpus.

Importing this package imports no Beam: `pipeline.shard_format` is shared with the torch side.
The graph is wired in `pipeline.graph`; `python -m pipeline` runs it.
"""
