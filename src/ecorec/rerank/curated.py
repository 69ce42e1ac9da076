"""Curated injection: operations' pools placed at their position hints for targeted users.

Major events, launches and cold-start pushes are run by people: a
:class:`~ecorec.core.entities.CuratedPool` names items, a time window, target segments and a
``position_hint`` (0-based slot). For a request inside a pool's window from a user in a target
segment (``request.context["segment"]``, else ``User.segment`` from the catalog; an empty
``segments`` targets everyone), the pool's first ``items_per_pool`` eligible items are placed
at ``hint, hint + 1, ...``: moved there when the ranking already has them lower, injected when
it does not, left where they are when the ranking put them higher (a pin never demotes). Pools
without a hint are left to the ``curated`` recall channel unless ``default_position`` is set.

Pools are read and validated by the curated recall channel's own reader
(:meth:`ecorec.recall.curated.CuratedRecall.refresh`), so both see the same pools and the same
bad-input rules: a pool with an unknown item or a window that ends before it starts is skipped
with a warning, deleted items are dropped, and a pool whose window has passed (or not begun)
is simply not active. Injected items bypass merge, so its filters are applied here: items the
user already consumed (``exclude_seen``), marked not-interested, or by a blocked creator are
not placed. Every placed item carries ``curated:<pool_id>``.

Put ``curated`` after the stages that re-order (MMR, DPP, rules, creator and fairness): a
later stage that re-orders would move the pins.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import NonNegativeInt, PositiveInt

from ecorec.core.component import Component, ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Consent, Profile
from ecorec.data.protocols import Catalog
from ecorec.features.entities import CatalogSnapshot, Entities, attached
from ecorec.recall.curated import CuratedRecall, Pool

log = logging.getLogger(__name__)


class CuratedInjectionConfig(ComponentConfig):
    """Parameters of :class:`CuratedInjection`.

    Args:
        items_per_pool: items of one pool placed per request (at consecutive slots).
        default_position: slot of pools without a hint; ``None``: such pools are not placed.
        exclude_seen: never place an item the user already consumed.

    """

    items_per_pool: PositiveInt = 1
    default_position: NonNegativeInt | None = None
    exclude_seen: bool = True


class CuratedInjection(Component):
    """Places active curated pools' items at their position hints for targeted segments.

    Args:
        config: a :class:`CuratedInjectionConfig` or its dict.
        entities: user and item metadata (tests); otherwise from :meth:`attach`.

    Example:
        >>> from ecorec.core.entities import CuratedPool, Item
        >>> from ecorec.data.catalog import SQLCatalog
        >>> catalog = SQLCatalog("sqlite:///:memory:")
        >>> catalog.put([Item("a"), Item("b"), Item("x"),
        ...              CuratedPool("launch", "Launch", ("x",), position_hint=1)])
        4
        >>> curated = CuratedInjection()
        >>> curated.attach(catalog)
        >>> ranked = [Candidate("a", 2.0, "popular"), Candidate("b", 1.0, "popular")]
        >>> out = curated(Request("u", ts=5.0), Profile("u"), ranked)
        >>> [(c.item_id, c.reasons) for c in out]
        [('a', []), ('x', ['curated:launch']), ('b', [])]

    """

    name: ClassVar[str] = "curated"
    Config: ClassVar[type[ComponentConfig]] = CuratedInjectionConfig
    config: CuratedInjectionConfig

    def __init__(
        self,
        config: CuratedInjectionConfig | dict[str, Any] | None = None,
        entities: Entities | None = None,
    ) -> None:
        super().__init__(config)
        self.entities = entities
        self.catalog: Catalog | None = None
        self.pools: list[Pool] = []

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read the pools and, unless given, user and item metadata from ``catalog``."""
        self.catalog = catalog
        self.entities = attached(self.entities, catalog, snapshot)
        self.refresh()

    def refresh(self) -> int:
        """Re-read the pools from the attached catalog (operations edit them while serving).

        Returns:
            How many valid pools are loaded (invalid ones are skipped with a warning).

        """
        if self.catalog is None:
            return 0
        reader = CuratedRecall()
        count = reader.refresh(self.catalog)
        self.pools = list(reader.pools or [])
        return count

    def segment(self, request: Request, profile: Profile) -> str | None:
        """The request's stated segment, else (with personalisation consent) the user's."""
        given = request.context.get("segment")
        if isinstance(given, str) and given:
            return given
        if not profile.allows(Consent.PERSONALIZATION) or self.entities is None:
            return None
        user = self.entities.user(request.user_id)
        return user.segment if user is not None else None

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        if not ranked or not self.pools:
            return list(ranked)
        segment = self.segment(request, profile)
        where = {c.item_id: k for k, c in enumerate(ranked)}
        pins: dict[int, Candidate] = {}
        placed: set[str] = set()
        for pool in self.pools:
            hint = pool.position_hint
            hint = self.config.default_position if hint is None else hint
            if hint is None or not pool.active(request.ts, segment):
                continue
            count = 0
            for item_id in pool.item_ids:
                if count >= self.config.items_per_pool:
                    break
                if item_id in placed or not self._eligible(item_id, profile):
                    continue
                position = hint + count
                while position in pins:
                    position += 1
                count += 1
                placed.add(item_id)
                candidate = self._candidate(item_id, ranked, where, position)
                reason = f"curated:{pool.pool_id}"
                if reason not in candidate.reasons:
                    candidate.reasons.append(reason)
                index = where.get(item_id)
                if index is None or index > position:
                    pins[position] = candidate
        return _assemble(ranked, pins)

    def _eligible(self, item_id: str, profile: Profile) -> bool:
        """Not consumed (when excluded), not marked not-interested, not by a blocked creator."""
        if item_id in profile.negatives or (self.config.exclude_seen and item_id in profile.seen):
            return False
        if profile.blocked_creators and self.entities is not None:
            item = self.entities.item(item_id)
            if item is not None and item.creator_id in profile.blocked_creators:
                return False
        return True

    @staticmethod
    def _candidate(
        item_id: str, ranked: list[Candidate], where: dict[str, int], position: int
    ) -> Candidate:
        """The ranked candidate of ``item_id``, or a new one scored like the slot it takes."""
        index = where.get(item_id)
        if index is not None:
            return ranked[index]
        score = ranked[min(position, len(ranked) - 1)].score
        return Candidate(item_id, score, "curated")


def _assemble(ranked: list[Candidate], pins: dict[int, Candidate]) -> list[Candidate]:
    """``ranked`` with each pinned candidate at its position (or last, past the end)."""
    if not pins:
        return list(ranked)
    pinned = {id(c) for c in pins.values()}
    rest = [c for c in ranked if id(c) not in pinned]
    waiting = sorted(pins.items())
    out: list[Candidate] = []
    r = 0
    while r < len(rest) or waiting:
        if waiting and (waiting[0][0] <= len(out) or r >= len(rest)):
            out.append(waiting.pop(0)[1])
        else:
            out.append(rest[r])
            r += 1
    return out
