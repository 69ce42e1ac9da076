"""deltas_from_events: known answers for every event type that changes a profile."""

from __future__ import annotations

from collections.abc import Iterable

from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile
from ecorec.data.profiles import DEFAULT_WEIGHTS, deltas_from_events

ITEMS = {"i1": ("music", "c1"), "i2": ("news", "c2"), "i3": ("music", "c2"), "i4": (None, "c3")}


class Lookup:
    """Item lookup that records how it was called."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, ids: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        ids = list(ids)
        self.calls.append(ids)
        return {i: ITEMS[i] for i in ids if i in ITEMS}


def ev(n: int, ts: float, user: str, kind: EventType, **kw: object) -> Event:
    return Event(f"e{n}", ts, user, kind, **kw)  # type: ignore[arg-type]


def test_known_answer() -> None:
    events = [
        ev(1, 10.0, "u1", EventType.IMPRESSION, item_id="i1", position=0),
        ev(2, 12.0, "u1", EventType.CLICK, item_id="i1"),
        ev(3, 13.0, "u1", EventType.PLAY, item_id="i1", value=30.0),
        ev(4, 11.0, "u1", EventType.LIKE, item_id="i3"),
        ev(5, 14.0, "u1", EventType.NOT_INTERESTED, item_id="i2"),
        ev(6, 15.0, "u1", EventType.BLOCK_CREATOR, creator_id="c9"),
        ev(7, 16.0, "u1", EventType.RATING, item_id="unknown", value=4.0),
        ev(8, 5.0, "u2", EventType.SHARE, item_id="i2"),
        ev(9, 6.0, "u2", EventType.CONVERSION, ad_id="ad1", value=9.99),
        ev(10, 7.0, "u2", EventType.COMMENT, item_id="i4"),
        ev(11, 1.0, "u3", EventType.IMPRESSION, item_id="i1", position=1),
        ev(12, 1.0, "u3", EventType.TIP, creator_id="c1", value=1.0),
    ]
    lookup = Lookup()
    deltas = deltas_from_events(events, lookup)

    assert lookup.calls == [["i1", "i2", "i3", "i4", "unknown"]]  # one batched lookup
    assert set(deltas) == {"u1", "u2"}  # u3 only saw and tipped: nothing to change
    u1 = deltas["u1"]
    # sorted by ts; i1 once (first consumption), the unknown item still counts as seen
    assert u1.recent == [("i3", 11.0), ("i1", 12.0), ("unknown", 16.0)]
    assert u1.interests == {"music": 3.0, "news": -1.0}  # click+play on i1, like on i3
    assert u1.negatives == {"i2"}
    assert u1.blocked_creators == {"c9"}
    assert u1.consent == {}
    u2 = deltas["u2"]
    assert u2.recent == [("i2", 5.0), ("i4", 7.0)]  # the ad conversion is not content
    assert u2.interests == {"news": 1.0}  # i4 has no category
    assert not u2.negatives and not u2.blocked_creators


def test_custom_weights_and_folding() -> None:
    events = [
        ev(1, 1.0, "u1", EventType.CLICK, item_id="i1"),
        ev(2, 2.0, "u1", EventType.LIKE, item_id="i1"),
        ev(3, 3.0, "u1", EventType.NOT_INTERESTED, item_id="i3"),
        ev(4, 4.0, "u1", EventType.PLAY, item_id="i2", value=3.0),
    ]
    weights = {"like": 5.0, "not_interested": -2.5, "play": 0.0}
    delta = deltas_from_events(events, Lookup(), weights=weights)["u1"]
    assert delta.interests == {"music": 1.0 + 5.0 - 2.5}  # play weighs 0: no "news" key
    assert delta.recent == [("i1", 1.0), ("i2", 4.0)]
    profile = Profile("u1")
    profile.apply(delta)
    assert profile.negatives == {"i3"} and profile.interests == {"music": 3.5}


def test_default_weights_are_documented_values() -> None:
    assert DEFAULT_WEIGHTS["click"] == 1.0 and DEFAULT_WEIGHTS["not_interested"] == -1.0
    assert "impression" not in DEFAULT_WEIGHTS


def test_no_events_no_lookup() -> None:
    lookup = Lookup()
    assert deltas_from_events([ev(1, 1.0, "u1", EventType.IMPRESSION, item_id="i1")], lookup) == {}
    assert lookup.calls == []
