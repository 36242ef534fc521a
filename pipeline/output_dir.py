"""A run's output directory on any Beam file system: what a previous run left there, the rule for
reusing a directory, and the report's file access.

The rule: Sieve never deletes a file it did not write, and a run never deletes its own inputs.
- On the local file system the launcher prepares the directory before a run (`prepare_local`):
  it refuses an output that holds an input of the run (--input, --from_annotated, --tokenizer,
  --quality_model, --url_blocklist, --policy), or that is a file or cannot be written. A folder
  that Sieve wrote holds a marker (`outputs.RUN_MARKER`) which lists, once a run is complete,
  every file that run wrote; the next run deletes exactly those (or, after a run that did not
  complete, the files named like Sieve's outputs and its partial files), so a smaller run leaves
  no strays. A folder without the marker that holds files named like Sieve's outputs is refused:
  they may be the user's.
- Anywhere else (gs://, s3://, ...) the launcher touches nothing, since on a remote runner it
  may have no access to the bucket, and the job itself refuses a directory that holds a previous
  run's manifest or shards (`check_fresh`, the first step every write waits for): give each
  remote run a new directory, such as a timestamped one.
"""

from __future__ import annotations

import json
import os

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.files import create_file
from quality import outputs

# Outputs a previous run may have left.
OUTPUT_PATTERNS = (f"{outputs.SHARDS_DIR}/shard-*.tar", f"{outputs.LEDGER_DIR}/*.jsonl",
                   f"{outputs.DEAD_LETTER_DIR}/*.jsonl", f"{outputs.CLUSTERS_DIR}/*.jsonl",
                   f"{outputs.ANNOTATED_DIR}/*.jsonl.gz",
                   outputs.MANIFEST, outputs.STATS, outputs.REPORT, outputs.RUN_METRICS,
                   outputs.TOKENIZER_MODEL, outputs.TOKENIZER_VOCAB)
# Where a run writes files, each of which may hold a killed run's partial files.
OUTPUT_FOLDERS = ("", outputs.SHARDS_DIR, outputs.LEDGER_DIR, outputs.DEAD_LETTER_DIR,
                  outputs.CLUSTERS_DIR, outputs.ANNOTATED_DIR)
MARKER_FORMAT = "sieve-output/1"
RUNNING, COMPLETE = "running", "complete"


def is_local(path: str) -> bool:
    """True for a path on the local file system (no scheme, or file://)."""
    return FileSystems.get_scheme(path) in (None, "file")


def previous_outputs(output: str) -> list[str]:
    found = []
    for pattern in OUTPUT_PATTERNS:
        found += [m.path for m in FileSystems.match([FileSystems.join(output, pattern)])[0].metadata_list]
    return sorted(found)


class OutputNotFresh(ValueError):
    pass


class OutputRefused(ValueError):
    """A local --output that a run may not use as it is; the message says why and what to do."""


def _local(path: str) -> str:
    return os.path.realpath(path.removeprefix("file://"))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _partial_files(out: str) -> list[str]:
    found = []
    for folder in OUTPUT_FOLDERS:
        where = os.path.join(out, folder)
        if os.path.isdir(where):
            found += [os.path.join(where, name) for name in os.listdir(where)
                      if name.startswith(".") and outputs.PARTIAL_MARK in name]
    return found


def read_marker(output: str) -> dict | None:
    path = os.path.join(output, outputs.RUN_MARKER)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError) as e:
        raise OutputRefused(f"{path} is not a marker Sieve wrote ({type(e).__name__}: {e}); "
                            f"remove it yourself or choose another --output") from None
    if not isinstance(marker, dict) or marker.get("format") != MARKER_FORMAT:
        raise OutputRefused(f"{path} is not a marker Sieve wrote; remove it yourself or choose "
                            f"another --output")
    return marker


def _write_marker(output: str, state: str, files: list[str] | None = None) -> None:
    marker = {"format": MARKER_FORMAT, "state": state,
              "note": "Written by python -m pipeline: the next run into this folder deletes the "
                      "files listed here (all files named like Sieve's outputs while a run is "
                      "not complete), and nothing else."}
    if files is not None:
        marker["files"] = files
    with create_file(os.path.join(output, outputs.RUN_MARKER)) as f:
        f.write(json.dumps(marker, indent=1, sort_keys=True).encode("utf-8") + b"\n")


def files_to_clear(output: str) -> list[str]:
    """What a run into local `output` deletes first: what the previous run's marker says that
    run wrote. Raises OutputRefused when a file named like an output is not Sieve's."""
    found = previous_outputs(output)
    marker = read_marker(output)
    if marker is None:
        if found:
            raise OutputRefused(
                f"--output {output} holds {len(found)} file(s) named like Sieve's outputs (e.g. "
                f"{found[0]}) but no {outputs.RUN_MARKER} saying that Sieve wrote them. Sieve "
                f"deletes only files it wrote: choose an empty or new --output, or remove them "
                f"yourself.")
        return []
    if marker.get("state") != COMPLETE:  # a run that did not finish may have written any of them
        return found + _partial_files(output)
    listed = {os.path.normpath(os.path.join(output, name)) for name in marker.get("files", [])}
    foreign = [path for path in found if os.path.normpath(path) not in listed]
    if foreign:
        raise OutputRefused(
            f"--output {output} holds {len(foreign)} file(s) named like Sieve's outputs that the "
            f"previous run did not write (e.g. {foreign[0]}; its {outputs.RUN_MARKER} lists what "
            f"it wrote). Sieve deletes only files it wrote: move them away or choose another "
            f"--output.")
    return found + _partial_files(output)


def prepare_local(output: str, inputs: dict[str, list[str]]) -> None:
    """Before a local run, on the launcher: refuse an output that holds one of the run's
    `inputs` ({what: [paths]}), is not a folder or cannot be written; delete what the previous
    run wrote there (`files_to_clear`); mark the folder as Sieve's, run in progress."""
    out = _local(output)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise OutputRefused(f"--output {output} exists and is not a directory")
    for what, paths in inputs.items():
        for path in paths:
            if path and is_local(path) and _inside(_local(path), out):
                raise OutputRefused(
                    f"--output {output} holds the run's {what} {path}: a run clears its output "
                    f"folder first, so it would delete its own input. Write to another --output.")
    doomed = files_to_clear(out) if os.path.isdir(out) else []
    try:
        os.makedirs(out, exist_ok=True)
        _write_marker(out, RUNNING)
    except OSError as e:
        raise OutputRefused(f"cannot write to --output {output}: {type(e).__name__}: {e}") from None
    if doomed:
        FileSystems.delete(sorted(set(doomed)))


def mark_complete(output: str) -> list[str]:
    """After a local run completes: the marker lists every file the run wrote (relative paths)."""
    out = _local(output)
    written = sorted(os.path.relpath(path, out) for path in previous_outputs(out))
    _write_marker(out, COMPLETE, written)
    return written


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
