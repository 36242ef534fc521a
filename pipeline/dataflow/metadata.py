"""`python -m pipeline.dataflow.metadata [--check]`: the Flex Template metadata, generated from
`SieveOptions`, so that every option of the job is a template parameter with its help text.

`--check` exits 1 when the committed `metadata.json` differs from what the options give (a test
runs it); without it the JSON is written to `metadata.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.options import SieveOptions

PATH = Path(__file__).resolve().parent / "metadata.json"
# Options a template user sets through Dataflow's own launch settings, not as parameters.
LAUNCHER_ONLY = frozenset({"wait", "plan", "plan_workers"})  # --progress_seconds logs on workers too


def metadata() -> dict:
    parser = argparse.ArgumentParser()
    SieveOptions._add_argparse_args(parser)
    params = []
    for action in parser._actions:
        if action.dest in ("help",) or action.dest in LAUNCHER_ONLY:
            continue
        default = "" if action.default is None else f" Default: {action.default}."
        params.append({"name": action.dest, "label": action.dest.replace("_", " "),
                       "helpText": f"{action.help}{default}", "isOptional": True})
    return {"name": "Sieve: build a pretraining corpus",
            "description": "Read raw JSONL text, identify languages, score quality signals, select "
                           "by a policy, deduplicate, tokenize and write webdataset shards, a "
                           "manifest, a ledger of every input record and a quality report.",
            "parameters": params}


def render() -> str:
    return json.dumps(metadata(), indent=2, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.dataflow.metadata")
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    args = ap.parse_args(argv)
    if args.check:
        same = PATH.exists() and PATH.read_text(encoding="utf-8") == render()
        print(f"{PATH}: {'up to date' if same else 'stale: run python -m pipeline.dataflow.metadata'}")
        return 0 if same else 1
    PATH.write_text(render(), encoding="utf-8")
    print(PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
