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
from ecorec.core.config import DeadlinesConfig
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

    Degradation: every stage has a time budget (``deadlines``, milliseconds) and a fallback, so a
    slow or broken stage costs quality, never the response. Nothing here raises for a stage's
    sake; each fallback is named in ``stages["fallbacks"]`` and sets ``degraded``:

    - recall over budget (``recall:timeout``): channels are in priority order, so once the budget
      is spent the remaining channels are not called (``stages["timed_out"]``); the channel that
      overran keeps its output, it is already paid for.
    - recall empty (``recall:empty``): when nothing at all came back, the non-personalised
      channels not yet called run anyway, budget or not: an empty feed is the worse outcome.
    - a brand-new user (``stages["cold_start"]``): personalised channels know nothing of them,
      so the slate comes from the non-personalised ones (popular, curated). That is the
      designed path, not a fault, so it does not set ``degraded``; the service may count it.
    - rank raising (``rank:error``) or over budget (``rank:timeout``): the merge order is kept,
      which is the channels' priority order, i.e. what :class:`RecallOrderRanker` would give.
    - a re-ranker raising (``rerank:<name>:error``): it is skipped, counted in ``failures`` as
      ``rerank.<name>``, and the list passes through unchanged.
    - re-rank over budget (``rerank:timeout``): the remaining re-rankers are skipped
      (``stages["rerank_skipped"]``).
    - more requests than the process can serve: the service answers the excess with
      :meth:`light` (``overload``), see :mod:`ecorec.service.overload`.
    - the profile store down (``profiles:unavailable``, when it has a ``degraded`` flag, see
      :class:`~ecorec.data.profiles.fallback.FallbackProfileStore`): the request is served from
      the in-process fallback's partial profile.

    Budgets are checked between calls, not enforced by threads: a stage that hangs forever still
    hangs; a stage that is merely slow has its result discarded (rank) or its successors skipped
    (recall, re-rank).

    Args:
        channels: recall channels, in priority order.
        merge: the merge/filter stage.
        ranker: scores candidates; the best first.
        rerankers: applied in order to the ranked list.
        profiles: the online profile store.
        clock: time source for request timestamps (tests pin it).
        deadlines: the per-stage budgets (default :class:`DeadlinesConfig`'s generous ones).
        timer: monotonic seconds for budgets (tests inject one that slow fakes advance).

    Example:
        >>> budgets = DeadlinesConfig(recall=30, rank=20, rerank=10)
        >>> pipeline = Pipeline([popular], Merge(), ranker, deadlines=budgets)  # doctest: +SKIP

    """

    def __init__(
        self,
        channels: Sequence[RecallChannel],
        merge: Merge,
        ranker: Ranker,
        rerankers: Sequence[Reranker] = (),
        profiles: ProfileSource | None = None,
        clock: Callable[[], float] = time.time,
        deadlines: DeadlinesConfig | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not channels:
            raise ValueError("a pipeline needs at least one recall channel")
        self.channels = list(channels)
        self.merge = merge
        self.ranker = ranker
        self.rerankers = list(rerankers)
        self.profiles = profiles
        self.clock = clock
        self.deadlines = deadlines if deadlines is not None else DeadlinesConfig()
        self.timer = timer
        self.failures: dict[str, int] = {}

    def profile(self, user_id: str) -> Profile:
        return self.profiles.get(user_id) if self.profiles is not None else Profile(user_id)

    def __call__(self, request: Request) -> Slate:
        """Answer ``request`` with a slate of at most ``request.n`` items."""
        request, profile, stages = self._begin(request)
        started = self.timer()
        outputs = self._recall(request, profile, stages)
        candidates = self.merge(request, profile, outputs)
        stages["merged"] = len(candidates)
        ranked = self._rank(request, profile, candidates, stages)
        ranked = self._rerank(request, profile, ranked, stages)
        return self._slate(request, ranked, stages, started)

    def light(self, request: Request, reason: str = "overload") -> Slate:
        """A cheap slate for when the full path cannot answer in time (a service past capacity).

        Only the channels that are not personalised (popular, curated: lists computed at
        training time) and the merge with every filter it applies (seen, not interested,
        blocked, deleted, consent), in merge order: no ranker and no re-rankers, so no ads
        and no explore slot either. About a tenth of a full request's CPU, so that a queue
        of waiting requests drains instead of growing. The slate is ``degraded`` with
        ``reason`` as its fallback, and the personalised channels are listed as skipped.
        """
        request, profile, stages = self._begin(request)
        started = self.timer()
        outputs: dict[str, list[Candidate]] = {}
        for channel in self.channels:
            if getattr(channel, "personalized", False):
                stages["skipped"].append(channel.name)
            else:
                self._call_channel(channel, request, profile, outputs, stages)
        stages["fallbacks"].append(reason)
        candidates = self.merge(request, profile, outputs)
        stages["merged"] = len(candidates)
        stages["rerank_skipped"] = [r.name for r in self.rerankers]
        return self._slate(request, candidates, stages, started)

    def _begin(self, request: Request) -> tuple[Request, Profile, dict[str, Any]]:
        """The request with its id and time filled in, the user's profile, empty stage notes."""
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
        profile = self.profile(request.user_id)  # first: reading it may reveal the store down
        stages: dict[str, Any] = {
            "recall": {},
            "failed": [],
            "skipped": [],
            "timed_out": [],
            # a profile store that fell back (Redis down) serves a partial profile
            "fallbacks": ["profiles:unavailable"]
            if getattr(self.profiles, "degraded", False)
            else [],
        }
        return request, profile, stages

    def _slate(
        self, request: Request, ranked: list[Candidate], stages: dict[str, Any], started: float
    ) -> Slate:
        stages["ms"] = round((self.timer() - started) * 1000, 3)
        items = [_slot(c, position) for position, c in enumerate(ranked[: request.n])]
        reason = None if items else _empty_reason(stages)
        degraded = bool(stages["failed"] or stages["fallbacks"])
        return Slate(request.request_id, items, degraded, stages, reason)

    def _call_channel(
        self,
        channel: RecallChannel,
        request: Request,
        profile: Profile,
        outputs: dict[str, list[Candidate]],
        stages: dict[str, Any],
    ) -> None:
        try:
            outputs[channel.name] = channel(request, profile)
        except Exception:  # a broken channel must not take the request down
            log.exception("recall channel %s failed", channel.name)
            self.failures[channel.name] = self.failures.get(channel.name, 0) + 1
            stages["failed"].append(channel.name)
            return
        stages["recall"][channel.name] = len(outputs[channel.name])

    def _recall(
        self, request: Request, profile: Profile, stages: dict[str, Any]
    ) -> dict[str, list[Candidate]]:
        """Call the channels in priority order until the recall budget is spent."""
        outputs: dict[str, list[Candidate]] = {}
        personal = bool(
            profile.allows(Consent.PERSONALIZATION) and request.context.get("personalized", True)
        )
        budget = self.deadlines.recall / 1000
        started = self.timer()
        for channel in self.channels:
            if getattr(channel, "personalized", False) and not personal:
                stages["skipped"].append(channel.name)
            elif self.timer() - started >= budget:
                stages["timed_out"].append(channel.name)
            else:
                self._call_channel(channel, request, profile, outputs, stages)
        if stages["timed_out"]:
            stages["fallbacks"].append("recall:timeout")
        if not any(outputs.values()):
            late = [
                c
                for c in self.channels
                if c.name in stages["timed_out"] and not getattr(c, "personalized", False)
            ]
            for channel in late:
                stages["timed_out"].remove(channel.name)
                self._call_channel(channel, request, profile, outputs, stages)
            stages["fallbacks"].append("recall:empty")
        # a cold user is served by design, not by a fallback: recorded, but not ``degraded``
        stages["cold_start"] = personal and profile.is_new()
        return outputs

    def _rank(
        self,
        request: Request,
        profile: Profile,
        candidates: list[Candidate],
        stages: dict[str, Any],
    ) -> list[Candidate]:
        """The ranker's order, or the merge order when it raises or overruns its budget."""
        if not candidates:
            return candidates
        started = self.timer()
        try:
            ranked = self.ranker(request, profile, candidates)
        except Exception:
            log.exception("ranker %s failed; serving recall order", self.ranker.name)
            self.failures[self.ranker.name] = self.failures.get(self.ranker.name, 0) + 1
            stages["fallbacks"].append("rank:error")
            return candidates
        if self.timer() - started > self.deadlines.rank / 1000:
            stages["fallbacks"].append("rank:timeout")
            return candidates
        return ranked

    def _rerank(
        self,
        request: Request,
        profile: Profile,
        ranked: list[Candidate],
        stages: dict[str, Any],
    ) -> list[Candidate]:
        """Apply the re-rankers in order; skip a broken one, stop when the budget is spent."""
        budget = self.deadlines.rerank / 1000
        started = self.timer()
        for index, reranker in enumerate(self.rerankers):
            if self.timer() - started >= budget:
                stages["rerank_skipped"] = [r.name for r in self.rerankers[index:]]
                stages["fallbacks"].append("rerank:timeout")
                break
            try:
                ranked = reranker(request, profile, ranked)
            except Exception:  # the list before this re-ranker is still a good answer
                log.exception("re-ranker %s failed; skipped", reranker.name)
                key = f"rerank.{reranker.name}"
                self.failures[key] = self.failures.get(key, 0) + 1
                stages["fallbacks"].append(f"rerank:{reranker.name}:error")
        return ranked


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
