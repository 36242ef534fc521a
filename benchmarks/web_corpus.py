"""Build a real web-format corpus (WARC + WET, 50k+ records) for checking the web readers at scale.

    python -m benchmarks.web_corpus --html DIR [--html DIR ...] --jsonl 'CORPUS/*.jsonl.gz' --out OUT

writes ``OUT/pages-{0,1}.warc.gz``: every ``*.html`` under each ``--html`` folder (real pages:
for example the HTML of Debian's ``python3.11-doc``, ``debian-handbook`` and ``openjdk-17-doc``,
../shared/DATA.md) as a gzip-per-record WARC ``response`` (HTTP 200, ``text/html``, the URL
``https://deb.invalid/<folder name>/<path>``: warcio parses HTTP headers of http(s) records only), split by a hash of the path; and ``OUT/text-{0,1}.warc.wet.gz``:
every record of the JSONL corpus (``benchmarks/real_corpus.py``) as a WET ``conversion`` record
with its URL. Record ids and dates are derived from the paths and ids, so a rebuild gives the same
bytes. Then run the job on ``OUT/*`` in each runner mode (``benchmarks/stress_runs.py``).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import io
import json
import uuid
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

DATE = "2026-12-03T00:00:00Z"


def _id(name: str) -> str:
    return f"<urn:uuid:{uuid.UUID(hashlib.md5(name.encode()).hexdigest())}>"


def _part(name: str, parts: int = 2) -> int:
    return hashlib.sha1(name.encode()).digest()[0] % parts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--html", action="append", default=[], type=Path)
    ap.add_argument("--jsonl", default=None)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = {"responses": 0, "conversions": 0}
    files = [open(args.out / f"pages-{i}.warc.gz", "wb") for i in range(2)]
    writers = [WARCWriter(f, gzip=True) for f in files]
    for root in args.html:
        for page in sorted(root.rglob("*.html")):
            rel = f"{root.name}/{page.relative_to(root).as_posix()}"
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            w = writers[_part(rel)]
            w.write_record(w.create_warc_record(
                f"https://deb.invalid/{rel}", "response", payload=io.BytesIO(page.read_bytes()), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": _id(rel), "WARC-Date": DATE}))
            counts["responses"] += 1
    for f in files:
        f.close()
    files = [open(args.out / f"text-{i}.warc.wet.gz", "wb") for i in range(2)]
    writers = [WARCWriter(f, gzip=True) for f in files]
    for path in sorted(glob.glob(args.jsonl)) if args.jsonl else []:
        with gzip.open(path, "rt", encoding="utf-8") as src:
            for line in src:
                rec = json.loads(line)
                w = writers[_part(rec["id"])]
                w.write_record(w.create_warc_record(
                    rec.get("url") or f"record://{rec['id']}", "conversion",
                    payload=io.BytesIO(rec["text"].encode("utf-8", "surrogatepass")),
                    warc_headers_dict={"WARC-Record-ID": _id(rec["id"]), "WARC-Date": DATE,
                                       "Content-Type": "text/plain"}))
                counts["conversions"] += 1
    for f in files:
        f.close()
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
