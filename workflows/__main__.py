"""Command line: `python -m workflows run STUDY.yaml --profile P --out DIR [--corpus DIR]`."""

from __future__ import annotations

import argparse
import sys

from workflows.study import REPORT, RESULTS, load_study, run_study


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workflows", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run (or resume) a study and write its report")
    r.add_argument("study", help="study definition, e.g. workflows/quality_vs_quantity.yaml")
    r.add_argument("--profile", required=True, help="a profile of the study (smoke, cpu, gpu)")
    r.add_argument("--out", required=True, help="study directory: cached steps, results, report")
    r.add_argument("--corpus", default=None,
                   help="a corpus built by python -m workflows.study_corpus (profiles that do "
                        "not use the bundled sample)")
    args = p.parse_args(argv)
    study = load_study(args.study, args.profile)
    results = run_study(study, args.out, corpus_dir=args.corpus)
    q = results["questions"]
    print(f"study {results['study']} ({results['profile']}): {len(results['arms'])} arms x "
          f"{len(results['seeds'])} seeds; {results['steps']['ran']} steps ran, "
          f"{results['steps']['reused']} reused; {results['wall_s']} s")
    for name in ("Q1", "Q2", "Q3"):
        print(f"  {name} {q[name]['verdict']}: {q[name]['summary']}")
    for tier in q["multiplier"].get("tiers", []):
        print(f"  multiplier {tier.get('tier')}: {tier.get('text')} {tier.get('interval')}")
    print(f"  {args.out}/{RESULTS}\n  {args.out}/{REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
