"""Plain-dict records that flow through the graph: documents, dead letters and outcomes.

A document is a dict with `id`, `text`, `source`, `url`, `meta`, `signals` and `bytes` (UTF-8
size of its text as read). Every input record ends as exactly one outcome: kept, dropped (with
the first failing rule's name), duplicate (with the keeper's id) or dead_letter (with the error).
"""

from __future__ import annotations

import json
import zlib

from quality.outputs import CLUSTERS_DIR, DEAD_LETTER, DROPPED, DUPLICATE, EXAMPLE_CHARS, KEPT, OUTCOMES  # noqa: F401

# Tagged outputs that carry rows of one outcome (and dedup's cluster rows) between stages.
DEAD_LETTER_TAG = DEAD_LETTER  # every stage that dead-letters records
DROPPED_TAG = DROPPED          # selection's and dedup's dropped rows
DUPLICATE_TAG = DUPLICATE      # dedup's duplicate rows
CLUSTERS_TAG = CLUSTERS_DIR   # near dedup's cluster rows (OUTPUT/clusters/)

# The stages that dead-letter records: a dead letter's `stage`, and its ledger row's reason.
READ_STAGE, ANNOTATE_STAGE, TOKENIZE_STAGE = "read", "annotate", "tokenize"
# Annotate's dead letters for bad data rather than a failing signal: a text that is nothing but
# control characters and invisible space, empty once normalized.
NORMALIZE_STAGE = "normalize"
EMPTY_AFTER_NORMALIZATION = "empty text after normalization"
SUBDOC_EMPTY_SUFFIX = "_dedup_empty"  # reason of a document that sub-document dedup emptied


def subdoc_empty_reason(unit: str) -> str:
    """The drop reason of a document whose every `unit` (paragraph, sentence_span) was removed."""
    return unit + SUBDOC_EMPTY_SUFFIX


def is_subdoc_empty(reason: str) -> bool:
    return reason.endswith(SUBDOC_EMPTY_SUFFIX)


DEAD_LETTER_HEAD_CHARS = 200  # how much of a bad record a dead letter keeps, for a person to recognise it


def make_doc(doc_id: str, text: str, source: str, url: str | None, meta: dict,
             pos: tuple[str, int] = ("", 0)) -> dict:
    """`pos` is (file, line) of the record, used only to break ties between equal ids."""
    return {"id": doc_id, "text": text, "source": source, "url": url, "meta": meta,
            "signals": {}, "bytes": len(text.encode("utf-8")), "pos": list(pos)}


def dead_letter(record_id: str, stage: str, error: str, nbytes: int, head: str = "",
                **extra) -> dict:
    return {"id": record_id, "stage": stage, "error": error, "bytes": nbytes,
            "head": head[:DEAD_LETTER_HEAD_CHARS], **extra}


def outcome(record_id: str, kind: str, nbytes: int, reason: str | None = None,
            duplicate_of: str | None = None, source: str | None = None, **extra) -> dict:
    """A ledger row. Documents that were annotated also carry `signals`, `failures` (every rule
    of the policy they fail: what each rule would drop alone) and `head` (the text's start)."""
    return {"id": record_id, "outcome": kind, "reason": reason, "duplicate_of": duplicate_of,
            "bytes": nbytes, "source": source, **extra}


def doc_outcome(doc: dict, kind: str, **fields) -> dict:
    """The ledger row of an annotated document (with what a text transform removed, if any)."""
    if "transform" in doc:
        fields["transform"] = doc["transform"]
    return outcome(doc["id"], kind, doc["bytes"], source=doc["source"], signals=doc["signals"],
                   failures=doc.get("failures", []), head=doc["text"][:EXAMPLE_CHARS], **fields)


def dead_letter_outcome(letter: dict) -> dict:
    return outcome(letter["id"], DEAD_LETTER, letter["bytes"], reason=letter["stage"],
                   source=letter.get("source"), error=letter["error"])


# zlib level 1: documents waiting for a global decision, and grouped by shard, are held as
# compressed JSON (about a third of their text's size on the real corpus) instead of Python
# objects (several times it); level 1 compresses at over 100 MB/s per core.
PACK_LEVEL = 1


def pack(doc: dict) -> bytes:
    """A document as compressed JSON: what documents travel as between stages. JSON, never
    pickle, so nothing a worker reads back can run code."""
    # surrogatepass: a JSON record may hold an unpaired surrogate escape outside its text (a
    # metadata field); it must come back as it went in rather than fail the encoding.
    return zlib.compress(json.dumps(doc, ensure_ascii=False, separators=(",", ":"),
                                    allow_nan=True).encode("utf-8", "surrogatepass"), PACK_LEVEL)


def unpack(blob: bytes) -> dict:
    return json.loads(zlib.decompress(blob).decode("utf-8", "surrogatepass"))
