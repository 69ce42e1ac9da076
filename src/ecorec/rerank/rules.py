"""Rule-based break-up: no long runs of one category, creator or topic in a slate.

The oldest diversity tool in feeds, and still the one editors ask for by name: "never three
cooking videos in a row", "never the same creator twice within four slots". Rules are hard
constraints applied greedily: each position takes the best remaining candidate that breaks no
rule; when every remaining candidate breaks one, the best remaining is taken anyway (nothing is
dropped, a slate is never cut short by its own rules).

Attributes are sets: ``category`` and ``creator`` have one value, ``topic`` one per tag, and a
run of a topic is consecutive items that all carry that tag. An item without metadata has no
values and breaks no rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any, ClassVar, Literal, cast

from pydantic import Field, NonNegativeInt, PositiveInt

from ecorec.core.component import Component, ComponentConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.data.protocols import Catalog
from ecorec.features.entities import CatalogSnapshot, Entities, attached

Attribute = Literal["category", "creator", "topic"]
ATTRIBUTES: tuple[Attribute, ...] = ("category", "creator", "topic")
#: the default runs: at most two items of one category in a row
DEFAULT_MAX_RUN: dict[Attribute, int] = {"category": 2}


class RuleSet(ComponentConfig):
    """One scene's rules.

    The defaults are on, not empty: without a creator rule the default ranker filled whole
    simulated slates with one creator's items and most creators starved and quit within a
    month (BENCHMARKS.md, simulator); with ``creator_gap = 2`` creator retention went from
    0.11 to 0.39 at equal revenue. Set ``max_run = {}`` and ``creator_gap = 0`` to turn the
    stage into a no-op.

    Args:
        max_run: attribute -> most consecutive items sharing a value of it (default: at most
            two of one category in a row).
        creator_gap: fewest other items between two items of one creator (0: no rule; default
            2).
        window: positions the rules apply to; later ones keep their ranked order.

    """

    max_run: dict[Attribute, PositiveInt] = Field(default_factory=lambda: dict(DEFAULT_MAX_RUN))
    creator_gap: NonNegativeInt = 2
    window: PositiveInt = 50


class SceneRules(ComponentConfig):
    """A scene's overrides: fields given replace the defaults, ``max_run`` keys merge."""

    max_run: dict[Attribute, PositiveInt] | None = None
    creator_gap: NonNegativeInt | None = None
    window: PositiveInt | None = None


class RulesConfig(RuleSet):
    """Parameters of :class:`RuleBreakup`: default rules plus per-scene overrides.

    ``scenes = {detail = {max_run = {category = 1}}}`` tightens the category rule on detail
    pages and keeps the other defaults.
    """

    scenes: dict[str, SceneRules] = Field(default_factory=dict)

    def for_scene(self, scene: str) -> RuleSet:
        """The rules that apply in ``scene``."""
        base = RuleSet(max_run=self.max_run, creator_gap=self.creator_gap, window=self.window)
        override = self.scenes.get(scene)
        if override is None:
            return base
        return RuleSet(
            max_run={**base.max_run, **(override.max_run or {})},
            creator_gap=base.creator_gap if override.creator_gap is None else override.creator_gap,
            window=override.window or base.window,
        )


Values = dict[Attribute, frozenset[str]]


def item_values(item: Item | None) -> Values:
    """The rule attributes of ``item`` (all empty when unknown)."""
    if item is None:
        return {a: frozenset() for a in ATTRIBUTES}
    return {
        "category": frozenset([item.category] if item.category else []),
        "creator": frozenset([item.creator_id] if item.creator_id else []),
        "topic": frozenset(t for t in item.tags if t),
    }


def broken_rules(placed: Sequence[Values], values: Values, rules: RuleSet) -> list[str]:
    """The rules ``values`` would break if placed after ``placed`` (empty: it fits)."""
    return _breaks(values, _blocked(placed, rules))


#: A rule that the next item can break: its name, the attribute it reads, and the values of
#: that attribute which would break it.
Blocked = tuple[str, Attribute, frozenset[str]]


def _blocked(placed: Sequence[Values], rules: RuleSet) -> list[Blocked]:
    """What the next item must avoid after ``placed``, computed once per position.

    A run rule breaks when one of the item's values is in every one of the last ``limit``
    items (their intersection); the creator gap when its creator is among the last ``gap``
    items' creators (their union). Rules no value can break are left out.
    """
    blocked: list[Blocked] = []
    for attribute, limit in rules.max_run.items():
        if len(placed) >= limit:
            run = [p[attribute] for p in placed[-limit:]]
            blocked.append((attribute, attribute, frozenset.intersection(*run)))
    gap = rules.creator_gap
    if gap and placed:
        creators = frozenset().union(*[p["creator"] for p in placed[-gap:]])
        blocked.append(("creator_gap", "creator", creators))
    return [b for b in blocked if b[2]]


def _breaks(values: Values, blocked: Sequence[Blocked]) -> list[str]:
    return [name for name, attribute, bad in blocked if not values[attribute].isdisjoint(bad)]


def break_up(values: Sequence[Values], rules: RuleSet) -> tuple[list[int], dict[int, list[str]]]:
    """Greedy order of ``values`` (indices, best first) under ``rules``.

    Returns:
        The new order, and for each candidate promoted over better ones the rules those broke.

    """
    remaining = list(range(len(values)))
    order: list[int] = []
    placed: list[Values] = []
    promoted: dict[int, list[str]] = {}
    for _ in range(min(rules.window, len(values))):
        skipped: list[str] = []
        pick = 0
        blocked = _blocked(placed, rules)
        for slot, index in enumerate(remaining):
            broken = _breaks(values[index], blocked)
            if not broken:
                pick = slot
                break
            skipped.extend(b for b in broken if b not in skipped)
        else:
            pick = 0  # every one breaks a rule: the best remaining, never a shorter slate
            skipped = []
        index = remaining.pop(pick)
        if pick:
            promoted[index] = skipped
        order.append(index)
        placed.append(values[index])
    return order + remaining, promoted


class RuleBreakup(Component):
    """Re-orders a ranked list so no run of a category, creator or topic exceeds its cap.

    A candidate placed ahead of better-ranked ones gets the reason
    ``rerank:rules(<rules those broke>)``. Scores are left as ranked.

    Args:
        config: a :class:`RulesConfig` or its dict.
        entities: item metadata (tests); otherwise from :meth:`attach`.

    Example:
        >>> items = [Item("a", category="x"), Item("b", category="x"), Item("c", category="y")]
        >>> rules = RuleBreakup({"max_run": {"category": 1}}, entities=Entities.of(items=items))
        >>> ranked = [Candidate(i, 1.0, "popular") for i in "abc"]
        >>> [c.item_id for c in rules(Request("u"), Profile("u"), ranked)]
        ['a', 'c', 'b']

    """

    name: ClassVar[str] = "rules"
    Config: ClassVar[type[ComponentConfig]] = RulesConfig
    config: RulesConfig

    def __init__(
        self,
        config: RulesConfig | Mapping[str, Any] | None = None,
        entities: Entities | None = None,
    ) -> None:
        super().__init__(dict(config) if isinstance(config, Mapping) else config)
        # the rows themselves, not an ItemSimilarity: the rules compare values, never
        # vectors, and a similarity's per-item feature table cost 4 s and ~130 MB at 1M items
        self.entities = entities
        self._values: dict[str, Values] = {}
        # the config is fixed: each configured scene's rules, and the default (None), built once
        self._scenes: dict[str | None, RuleSet] = {}

    def attach(self, catalog: Catalog, snapshot: CatalogSnapshot | None = None) -> None:
        """Read item metadata from ``catalog`` at request time."""
        self.entities = attached(self.entities, catalog, snapshot)

    def values(self, item_ids: Sequence[str]) -> list[Values]:
        """The rule attributes of each id; known items are cached, unknown ones re-read."""
        found = list(map(self._values.get, item_ids))
        if None not in found:  # every item known (most requests): one lookup each
            return cast(list[Values], found)
        missing = list(dict.fromkeys(i for i, v in zip(item_ids, found, strict=True) if v is None))
        found_items = (
            self.entities.items_of(missing) if self.entities is not None else [None] * len(missing)
        )
        for item_id, item in zip(missing, found_items, strict=True):
            if item is not None:
                self._values[item_id] = item_values(item)
        return list(map(self._values.get, item_ids, repeat(item_values(None))))

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]:
        scene = request.scene if request.scene in self.config.scenes else None
        rules = self._scenes.get(scene)
        if rules is None:
            rules = self._scenes.setdefault(scene, self.config.for_scene(request.scene))
        if len(ranked) < 2 or not (rules.max_run or rules.creator_gap):
            return list(ranked)
        order, promoted = break_up(self.values([c.item_id for c in ranked]), rules)
        for index, broken in promoted.items():
            ranked[index].reasons.append(f"rerank:rules({','.join(broken)})")
        return [ranked[k] for k in order]
