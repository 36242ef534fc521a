"""A run's output directory on any Beam file system: what a previous run left there, the rule for
reusing a directory, and the report's file access.

The rule: on the local file system the launcher removes a previous run's outputs before a run, so
a smaller run leaves no strays. Anywhere else (gs://, s3://, ...) the launcher touches nothing,
since on a remote runner it may have no access to the bucket, and the job itself refuses a
directory that holds a previous run's manifest or shards (`check_fresh`, the first step every
write waits for): give each remote run a new directory, such as a timestamped one.
"""

from __future__ import annotations

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.shards import create_file
from quality import outputs

# Outputs a previous run may have left.
OUTPUT_PATTERNS = (f"{outputs.SHARDS_DIR}/shard-*.tar", f"{outputs.LEDGER_DIR}/*.jsonl",
                   f"{outputs.DEAD_LETTER_DIR}/*.jsonl", f"{outputs.CLUSTERS_DIR}/*.jsonl",
                   f"{outputs.ANNOTATED_DIR}/*.jsonl.gz",
                   outputs.MANIFEST, outputs.STATS, outputs.REPORT, outputs.RUN_METRICS,
                   outputs.TOKENIZER_MODEL, outputs.TOKENIZER_VOCAB)


def is_local(path: str) -> bool:
    """True for a path on the local file system (no scheme, or file://)."""
    return FileSystems.get_scheme(path) in (None, "file")


def previous_outputs(output: str) -> list[str]:
    found = []
    for pattern in OUTPUT_PATTERNS:
        found += [m.path for m in FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list]
    return sorted(found)


def clear_previous_outputs(output: str) -> None:
    """Removes what a previous run wrote into a local `output` (and nothing else)."""
    found = previous_outputs(output)
    if found:
        FileSystems.delete(found)


class OutputNotFresh(ValueError):
    pass


def check_fresh(output: str) -> str:
    """A Beam step's function: fails the job when `output` holds a previous run's outputs."""
    found = previous_outputs(output)
    if found:
        raise OutputNotFresh(f"{output} holds a previous run's outputs ({len(found)} files, e.g. "
                             f"{found[0]}): give each run on a remote file system a new --output "
                             f"directory")
    return output


def open_file(path: str, mode: str):
    """The report's opener: read ("rb") or create ("wb") through Beam's FileSystems."""
    if mode == "rb":
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    return create_file(path, "text/html" if path.endswith(".html") else "application/octet-stream")


def list_files(pattern: str) -> list[str]:
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def write_report(output: str) -> str:
    """OUTPUT/report.html from OUTPUT's stats, manifest, ledger and dead letters, read and
    written through FileSystems; memory stays bounded (the report keeps fixed-size samples)."""
    from quality import report

    return report.write_report(output, opener=open_file, lister=list_files)
