"""Re-rankers: turn a ranked list into the slate a person sees (diversity first).

Each is a Pipeline component, ``__call__(request, profile, ranked) -> ranked``, applied in the
order ``[pipeline.rerank] order`` gives; none drops a candidate (the Pipeline cuts to ``n``).
"""

from ecorec.rerank.dpp import DPPReranker, fast_greedy_map
from ecorec.rerank.mmr import MMRReranker, mmr_order
from ecorec.rerank.rules import RuleBreakup
from ecorec.rerank.similarity import ItemSimilarity

__all__ = [
    "DPPReranker",
    "ItemSimilarity",
    "MMRReranker",
    "RuleBreakup",
    "fast_greedy_map",
    "mmr_order",
]
