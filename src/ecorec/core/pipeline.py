"""The one request path: recall channels -> merge/filter -> ranker -> re-rankers -> slate.

The CLI, the simulator, the benchmarks and the HTTP service all call the same
:class:`Pipeline`; there is no second "demo" path.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ecorec.core.component import Ranker, RecallChannel, Reranker
from ecorec.core.contracts import Candidate, Request, Slate, SlateItem
from ecorec.core.profile import Consent, Profile

log = logging.getLogger(__name__)


class ProfileSource(Protocol):
    """Where the pipeline reads the user's online state (any ProfileStore)."""

    def get(self, user_id: str) -> Profile: ...


class Merge(Protocol):
    """Quotas, dedupe and filters over the channels' outputs (see ``recall.merge``)."""

    def __call__(
        self, request: Request, profile: Profile, outputs: dict[str, list[Candidate]]
    ) -> list[Candidate]: ...


class Pipeline:
    """Runs a request through every stage and records what each did.

    A channel that raises is skipped and counted (``stages["failed"]``, ``degraded``) so one
    broken source never costs the user their feed. Channels marked ``personalized = True`` are
    not called for a user who has withdrawn personalisation consent, nor for a request whose
    ``context`` says ``"personalized": false`` (a logged-out view, an erased user).

    Args:
        channels: recall channels, in priority order.
        merge: the merge/filter stage.
        ranker: scores candidates; the best first.
        rerankers: applied in order to the ranked list.
        profiles: the online profile store.
        clock: time source (tests pin it).

    """

    def __init__(
        self,
        channels: Sequence[RecallChannel],
        merge: Merge,
        ranker: Ranker,
        rerankers: Sequence[Reranker] = (),
        profiles: ProfileSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not channels:
            raise ValueError("a pipeline needs at least one recall channel")
        self.channels = list(channels)
        self.merge = merge
        self.ranker = ranker
        self.rerankers = list(rerankers)
        self.profiles = profiles
        self.clock = clock
        self.failures: dict[str, int] = {}

    def profile(self, user_id: str) -> Profile:
        return self.profiles.get(user_id) if self.profiles is not None else Profile(user_id)

    def __call__(self, request: Request) -> Slate:
        """Answer ``request`` with a slate of at most ``request.n`` items."""
        if request.n <= 0:
            raise ValueError(f"n must be positive, got {request.n}")
        request_id = request.request_id or uuid.uuid4().hex
        if not request.request_id or not request.ts:
            request = Request(
                request.user_id,
                request.scene,
                request.n,
                request.context,
                request_id,
                request.ts or self.clock(),
            )
        profile = self.profile(request.user_id)
        stages: dict[str, Any] = {"recall": {}, "failed": [], "skipped": []}
        outputs: dict[str, list[Candidate]] = {}
        started = time.perf_counter()
        personal = profile.allows(Consent.PERSONALIZATION) and request.context.get(
            "personalized", True
        )
        for channel in self.channels:
            if getattr(channel, "personalized", False) and not personal:
                stages["skipped"].append(channel.name)
                continue
            try:
                outputs[channel.name] = channel(request, profile)
            except Exception:  # a broken channel must not take the request down
                log.exception("recall channel %s failed", channel.name)
                self.failures[channel.name] = self.failures.get(channel.name, 0) + 1
                stages["failed"].append(channel.name)
                continue
            stages["recall"][channel.name] = len(outputs[channel.name])
        candidates = self.merge(request, profile, outputs)
        stages["merged"] = len(candidates)
        ranked = self.ranker(request, profile, candidates)
        for reranker in self.rerankers:
            ranked = reranker(request, profile, ranked)
        stages["ms"] = round((time.perf_counter() - started) * 1000, 3)
        items = [_slot(c, position) for position, c in enumerate(ranked[: request.n])]
        reason = None if items else _empty_reason(stages)
        return Slate(request_id, items, bool(stages["failed"]), stages, reason)


def _empty_reason(stages: dict[str, Any]) -> str:
    """Why a slate came back empty, from what the stages recorded."""
    if not any(stages["recall"].values()):
        failed = f"; failed: {', '.join(stages['failed'])}" if stages["failed"] else ""
        return f"no recall channel proposed an item{failed}"
    if not stages["merged"]:
        return "every proposed item was filtered (seen, not interested, blocked or deleted)"
    return "the re-rankers kept no candidate"


def _slot(candidate: Candidate, position: int) -> SlateItem:
    reasons = [f"recall:{name}" for name in candidate.channels] + candidate.reasons
    return SlateItem(
        item_id=candidate.item_id,
        position=position,
        score=float(candidate.score),
        channel=candidate.channel,
        reasons=reasons,
        is_ad=candidate.is_ad,
        ad_id=candidate.ad_id,
        propensity=candidate.propensity,
    )
