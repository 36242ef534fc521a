"""Language-ID accuracy of `quality.langid.LanguageIdentifier` on Debian's translated package descriptions.

    python -m benchmarks.langid_accuracy --lists /tmp/sieve-bench/lists --update
    python -m benchmarks.langid_accuracy --lists /tmp/sieve-bench/lists --json /tmp/langid.json

The Debian Description Translation Project (DDTP) ships each package description in up to 30+
languages (DATA.md, "Other languages"): `apt-get update -o Dir::State::Lists=DIR
-o Acquire::Languages=...` writes `DIR/*_i18n_Translation-xx.lz4`, deb822 stanzas whose
`Description-xx` field is the translation, so every text comes labelled with its language.
English is `Translation-en` (the originals). For each language the descriptions of at least 200
characters (synopsis line + long description, unfolded) are ranked by a salted SHA-1 of the
package name and the first 300 are scored; texts are normalized as the pipeline does first.

Printed per language: the count, accuracy (top label right), accuracy at the policy threshold
(top label right and score >= `langid.MIN_LANGUAGE_SCORE`, what `policy.language_rules` keeps),
the mean score, and the labels the errors went to. DDTP codes are mapped to fastText's labels:
regional variants fold into the language (`pt_BR` -> `pt`, `zh_CN`/`zh_TW` -> `zh`: lid.176 has
one `zh` label for both scripts) and Norwegian Bokmål `nb` -> `no` (lid.176 has `no` and `nn`).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import subprocess
import sys
from pathlib import Path

from pipeline.sample.build_sample import deb822, read_list, unfold_description
from quality.langid import MIN_LANGUAGE_SCORE, LanguageIdentifier
from quality.normalize import normalize_text

# DDTP languages requested from the mirror (bookworm main has Translation files for these; some
# hold only a handful of descriptions, which the table shows).
DDTP_LANGUAGES = ("en", "ca", "cs", "da", "de", "es", "eu", "fi", "fr", "hu", "it", "ja", "ko",
                  "nl", "pl", "pt", "pt_BR", "ru", "sk", "sv", "tr", "uk", "vi", "zh_CN", "zh_TW")
# DDTP code -> lid.176 label where they differ.
FASTTEXT_LABEL = {"pt_BR": "pt", "zh_CN": "zh", "zh_TW": "zh", "nb": "no"}
# DATA.md: "take descriptions of 200+ characters" (shorter ones are mostly one synopsis line with
# package names); the same floor as pipeline/sample/build_sample.py's DDTP_MIN_CHARS.
MIN_CHARS = 200
PER_LANGUAGE = 300
# Languages with fewer qualifying descriptions are listed but left out of the macro average.
MIN_FOR_AVERAGE = 50
SALT = "sieve-langid-bench-v1/"


def fasttext_label(ddtp_code: str) -> str:
    return FASTTEXT_LABEL.get(ddtp_code, ddtp_code)


def translation_files(lists: Path) -> dict[str, Path]:
    out = {}
    for p in sorted(lists.glob("*_debian_dists_bookworm_main_i18n_Translation-*")):
        code = p.name.split("Translation-", 1)[1].split(".")[0].replace("%5f", "_")
        out[code] = p
    return out


def update_lists(lists: Path, languages) -> None:
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    cache = lists.parent / "apt-cache"
    (cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "update", "-q", "-o", f"Dir::State::Lists={lists}",
                    "-o", f"Dir::Cache={cache}", "-o", f"Acquire::Languages={','.join(languages)}"],
                   check=True, stdout=subprocess.DEVNULL)


def load_descriptions(path: Path, code: str, min_chars: int, limit: int) -> list[tuple[str, str]]:
    """[(package, text)]: up to `limit` descriptions of at least `min_chars`, by salted rank."""
    cands = []
    for st in deb822(read_list(path)):
        field = st.get(f"Description-{code}")
        if field is None:
            continue
        text = unfold_description(field)
        if len(text) >= min_chars:
            rank = hashlib.sha1(f"{SALT}{code}/{st['Package']}".encode()).hexdigest()
            cands.append((rank, st["Package"], text))
    cands.sort()
    return [(pkg, text) for _, pkg, text in cands[:limit]]


def evaluate(lists: Path, languages, min_chars: int = MIN_CHARS, per_language: int = PER_LANGUAGE,
             n_examples: int = 2) -> dict:
    files = translation_files(lists)
    lid = LanguageIdentifier()
    results = {}
    for code in languages:
        if code not in files:
            results[code] = {"missing": True}
            continue
        docs = load_descriptions(files[code], code, min_chars, per_language)
        if not docs:
            results[code] = {"n": 0}
            continue
        want = fasttext_label(code)
        preds = lid.predict([normalize_text(t) for _, t in docs])
        correct = [lang == want for lang, _ in preds]
        at_threshold = [ok and score >= MIN_LANGUAGE_SCORE for ok, (_, score) in zip(correct, preds)]
        confusion = collections.Counter(lang for lang, _ in preds if lang != want)
        examples = [{"package": pkg, "predicted": lang, "score": round(score, 3),
                     "text": " ".join(text.split())[:100]}
                    for (pkg, text), (lang, score), ok in zip(docs, preds, correct) if not ok]
        results[code] = {
            "label": want, "n": len(docs), "correct": sum(correct),
            "accuracy": sum(correct) / len(docs),
            "correct_at_threshold": sum(at_threshold),
            "accuracy_at_threshold": sum(at_threshold) / len(docs),
            "mean_score": sum(s for _, s in preds) / len(preds),
            "errors_to": dict(confusion.most_common()),
            "error_examples": examples[:n_examples],
        }
    scored = [r for r in results.values() if r.get("n")]
    big = [r for r in scored if r["n"] >= MIN_FOR_AVERAGE]
    total = sum(r["n"] for r in scored)
    summary = {
        "n": total,
        "micro_accuracy": sum(r["correct"] for r in scored) / total,
        "micro_accuracy_at_threshold": sum(r["correct_at_threshold"] for r in scored) / total,
        "macro_accuracy": sum(r["accuracy"] for r in big) / len(big),
        "macro_accuracy_at_threshold": sum(r["accuracy_at_threshold"] for r in big) / len(big),
        "macro_languages": len(big),
        "threshold": MIN_LANGUAGE_SCORE, "min_chars": min_chars, "per_language": per_language,
    }
    return {"languages": results, "summary": summary}


def print_report(res: dict) -> None:
    s = res["summary"]
    print(f"lid.176.ftz on DDTP descriptions of >= {s['min_chars']} chars, up to "
          f"{s['per_language']} per language; threshold {s['threshold']}")
    print(f"{'ddtp':<6} {'label':<5} {'n':>4} {'acc':>7} {'acc@thr':>8} {'mean p':>7}  errors -> label:count")
    for code, r in res["languages"].items():
        if r.get("missing"):
            print(f"{code:<6} (no Translation file)")
            continue
        if not r.get("n"):
            print(f"{code:<6} (no description of {s['min_chars']}+ chars)")
            continue
        errs = " ".join(f"{k}:{v}" for k, v in list(r["errors_to"].items())[:6])
        flag = "" if r["n"] >= MIN_FOR_AVERAGE else "  (n < %d: not in macro avg)" % MIN_FOR_AVERAGE
        print(f"{code:<6} {r['label']:<5} {r['n']:>4} {r['accuracy']:>7.1%} "
              f"{r['accuracy_at_threshold']:>8.1%} {r['mean_score']:>7.3f}  {errs}{flag}")
    print(f"micro ({s['n']:,} texts): accuracy {s['micro_accuracy']:.2%}, at threshold "
          f"{s['micro_accuracy_at_threshold']:.2%}")
    print(f"macro ({s['macro_languages']} languages with n >= {MIN_FOR_AVERAGE}): accuracy "
          f"{s['macro_accuracy']:.2%}, at threshold {s['macro_accuracy_at_threshold']:.2%}")
    print("error examples:")
    for code, r in res["languages"].items():
        for ex in r.get("error_examples", []):
            print(f"  {code} -> {ex['predicted']} ({ex['score']}) {ex['package']}: {ex['text']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.langid_accuracy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lists", type=Path, default=Path("/tmp/sieve-bench/lists"),
                    help="apt lists directory holding the Translation-xx files")
    ap.add_argument("--update", action="store_true",
                    help="run apt-get update into --lists first (needs the Debian mirror, root)")
    ap.add_argument("--languages", nargs="+", default=list(DDTP_LANGUAGES))
    ap.add_argument("--min-chars", type=int, default=MIN_CHARS)
    ap.add_argument("--per-language", type=int, default=PER_LANGUAGE)
    ap.add_argument("--examples", type=int, default=2, help="error examples shown per language")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.update or not translation_files(args.lists):
        update_lists(args.lists, args.languages)
    res = evaluate(args.lists, args.languages, args.min_chars, args.per_language, args.examples)
    print_report(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
