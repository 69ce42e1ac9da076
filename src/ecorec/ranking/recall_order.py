"""The pass-through ranker: keeps merge order, the fallback when no model is trained."""

from __future__ import annotations

from ecorec.core.component import Component
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile


class RecallOrderRanker(Component):
    """Ranks candidates in the order merge produced them (channel priority, then score).

    It is also what the pipeline degrades to when a model is missing or too slow, so it must
    never fail.
    """

    name = "recall_order"

    def __call__(
        self, request: Request, profile: Profile, candidates: list[Candidate]
    ) -> list[Candidate]:
        for candidate in candidates:
            candidate.reasons.append("rank:recall_order")
        return list(candidates)
