"""Beam dedup: exact, URL and near-duplicate documents, and repeated paragraphs or spans.

The science (shingles, signatures, bands, Jaccard, units) is in `quality/minhash.py`; this
package is the wiring, written so that nothing needs one machine's view of the corpus and no
global step carries documents:

- `decide`: one pass over the documents (`Features`) gives small records (node, URL key, text
  hash, band keys, shingle and unit hashes); `Decide` makes every decision on them and returns
  (document id, decision) records, applied where the document is anyway: in the job's shard
  writer (`pipeline/shards.py`), so a document is grouped once, by its shard.
- `keys`: nodes and hot-key-safe grouping. Keepers: a node sorts by the keeper signal (higher
  first; documents without it last), then by id, so a group's smallest node is its keeper and
  nothing has to be broadcast to the members afterwards. Hot keys: a bucket (or exact-duplicate
  group, or URL, or star centre) that 100,000 documents share must not put 100,000 values on one
  key. Groups are formed with `CombinePerKey` over a bounded accumulator (`BoundedGroup`): up to
  `hot_key_values` distinct members, else only the count, min and max; combiner lifting merges
  partial accumulators before the shuffle. A group that overflows is "hot": its min goes out as
  a small side input and every member reads it in a plain ParDo.
- `near`: MinHash LSH. Every document puts one (band, band hash) key per band; a bucket links
  each member to its smallest member (no all-pairs); an optional exact Jaccard check drops weak
  links. `components`: connected components of the links by alternating large-star /
  small-star (Kiveris et al. 2014), unrolled to `max_rounds` rounds, failing loudly if the
  bound is reached first.
- Sub-document dedup needs no join on the paragraph at all: `CombinePerKey(min)` names each
  paragraph's owner, and the owner is told what it keeps.
- `transforms`: the same steps as stand-alone transforms, documents in and out (one join each).
"""

from pipeline.dedup.components import ConnectedComponents
from pipeline.dedup.decide import Decide, Features, features, near_stats, route
from pipeline.dedup.keys import (CLUSTER_EXAMPLES, DEFAULT_HOT_KEY_VALUES, DEFAULT_MAX_ROUNDS,
                                 LARGEST_CLUSTERS, STATS_TAG, BoundedGroup, _rank, id_of, node_of)
from pipeline.dedup.near import ClusterReport, NearSettings
from pipeline.dedup.transforms import ExactDedup, NearDedup, SubdocDedup, UrlDedup
from pipeline.records import CLUSTERS_TAG, DROPPED_TAG, DUPLICATE_TAG

__all__ = ["CLUSTER_EXAMPLES", "CLUSTERS_TAG", "DEFAULT_HOT_KEY_VALUES", "DEFAULT_MAX_ROUNDS",
           "DROPPED_TAG", "DUPLICATE_TAG", "LARGEST_CLUSTERS", "STATS_TAG", "BoundedGroup",
           "ClusterReport", "ConnectedComponents", "Decide", "ExactDedup", "Features", "NearDedup",
           "NearSettings", "SubdocDedup", "UrlDedup", "_rank", "features", "id_of",
           "near_stats", "node_of", "route"]
