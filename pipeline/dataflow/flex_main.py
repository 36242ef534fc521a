"""The Flex Template's entry point (FLEX_TEMPLATE_PYTHON_PY_FILE): Dataflow's launcher runs it
with the template parameters as `--name=value` arguments. A Flex launcher must exit once the job
is submitted, so `--wait false` is forced; the job writes its own report."""

from __future__ import annotations

import sys

from pipeline.__main__ import main


def flex_argv(argv: list[str]) -> list[str]:
    return [a for a in argv if not a.startswith("--wait")] + ["--wait=false"]


if __name__ == "__main__":
    sys.exit(main(flex_argv(sys.argv[1:])))
