"""Packaging the job for Google Cloud Dataflow: a worker and Flex Template image (`Dockerfile`),
the template's metadata (`metadata.json`, generated from `SieveOptions` by
`python -m pipeline.dataflow.metadata`) and the template's entry point (`flex_main.py`).
The README's "Dataflow" section has the build-and-run recipe."""
