"""Turn a batch of events into one :class:`ProfileDelta` per user.

This is the nearline path of DESIGN.md §1: feedback events become changes to the online
profile that the next request sees. The weights say how much each event type moves the
interest count of the item's category:

==================  =======  ======================================================
event type          weight   effect
==================  =======  ======================================================
click, play, like,  +1.0     item added to ``recent`` (once per batch, first ts);
share, comment,              +weight to the interest of the item's category
rating, conversion
not_interested      -1.0     item added to ``negatives``; -1 to its category
block_creator       --       ``creator_id`` added to ``blocked_creators``
anything else       --       ignored (an impression is not consumption; follow, tip,
                             subscribe, survey and flag do not change the profile)
==================  =======  ======================================================

A weight of 0 keeps an event type's ``recent`` effect but leaves interests alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ecorec.core.events import POSITIVE_TYPES, Event, EventType
from ecorec.core.profile import ProfileDelta

#: Interest weight per event type; see the module docstring.
DEFAULT_WEIGHTS: dict[str, float] = {
    **{str(kind): 1.0 for kind in POSITIVE_TYPES},
    EventType.NOT_INTERESTED.value: -1.0,
}

#: item_ids -> {item_id: (category, creator_id)}; ids it does not know are left out.
ItemLookup = Callable[[Iterable[str]], dict[str, tuple[str | None, str | None]]]


def deltas_from_events(
    events: Iterable[Event],
    item_lookup: ItemLookup,
    weights: Mapping[str, float] | None = None,
) -> dict[str, ProfileDelta]:
    """Fold ``events`` into one delta per user.

    Args:
        events: any order; ``recent`` of each delta is sorted by ts (oldest first).
        item_lookup: called once with every item id the batch needs; an unknown item still
            counts as consumed or rejected but moves no interest.
        weights: event type -> interest weight, replacing :data:`DEFAULT_WEIGHTS` for the types
            it names. Only positive types and ``not_interested`` are read.

    Returns:
        user_id -> delta, only for users whose delta is not empty.

    Example:
        >>> from ecorec.core.events import Event
        >>> lookup = lambda ids: {i: ("music", "c1") for i in ids}
        >>> delta = deltas_from_events([Event("e1", 5.0, "u1", "click", item_id="i1")], lookup)
        >>> delta["u1"].recent, delta["u1"].interests
        ([('i1', 5.0)], {'music': 1.0})

    """
    table = {**DEFAULT_WEIGHTS, **(weights or {})}
    relevant = [event for event in events if _kind(event) is not None]
    item_ids = {e.item_id for e in relevant if e.item_id and _kind(e) != EventType.BLOCK_CREATOR}
    items = item_lookup(sorted(item_ids)) if item_ids else {}

    deltas: dict[str, ProfileDelta] = {}
    first_seen: dict[tuple[str, str], float] = {}
    for event in sorted(relevant, key=lambda e: e.ts):
        kind = _kind(event)
        delta = deltas.setdefault(event.user_id, ProfileDelta())
        if kind == EventType.BLOCK_CREATOR:
            if event.creator_id:
                delta.blocked_creators.add(event.creator_id)
            continue
        if not event.item_id:
            continue  # an ad click or conversion: not content the user consumed
        category = items.get(event.item_id, (None, None))[0]
        if kind == EventType.NOT_INTERESTED:
            delta.negatives.add(event.item_id)
        elif (event.user_id, event.item_id) not in first_seen:
            first_seen[(event.user_id, event.item_id)] = event.ts
            delta.recent.append((event.item_id, event.ts))
        weight = table.get(str(kind), 0.0)
        if category is not None and weight:
            delta.interests[category] = delta.interests.get(category, 0.0) + weight
    return {user_id: delta for user_id, delta in deltas.items() if not delta.is_empty()}


def _kind(event: Event) -> EventType | None:
    """Return the event's type when it changes a profile, else None."""
    try:
        kind = EventType(event.type)
    except ValueError:
        return None
    if kind in POSITIVE_TYPES or kind in (EventType.NOT_INTERESTED, EventType.BLOCK_CREATOR):
        return kind
    return None
