"""Save/load round trips (through a ModelRegistry) and learning from logged events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ecorec.bandits import (
    EpsilonGreedy,
    LinUCB,
    ThompsonSampling,
    load_policy,
    rewards_from_events,
)
from ecorec.bandits.base import BanditPolicy
from ecorec.core.events import Event, EventType
from ecorec.data.registry import ModelRegistry


def _trained(kind: str) -> BanditPolicy:
    rng = np.random.default_rng(5)
    policy: BanditPolicy
    if kind == "linucb":
        policy = LinUCB({"n_features": 3, "alpha": 0.5})
    elif kind == "thompson":
        policy = ThompsonSampling()
    else:
        policy = EpsilonGreedy({"epsilon": 0.3})
    for t in range(300):
        x = rng.standard_normal(3)
        arm = str(t % 7)
        policy.update(arm, float(rng.random() < 0.1 * (t % 7)), x)
    return policy


def _selections(policy: BanditPolicy, seed: int = 11) -> list[tuple[str, float]]:
    rng = np.random.default_rng(seed)
    contexts = np.random.default_rng(99).standard_normal((50, 3))
    out = []
    for x in contexts:
        arm, propensity = policy.select(x, rng=rng)
        out.append((arm, propensity))
    return out


@pytest.mark.parametrize("kind", ["thompson", "linucb", "epsilon_greedy"])
def test_registry_round_trip_gives_the_same_selections(kind: str, tmp_path: Path) -> None:
    policy = _trained(kind)
    policy.save(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"state.json", "arrays.npz"}
    registry = ModelRegistry(tmp_path / "registry")
    version = registry.save("explore-bandit", tmp_path / "out")
    registry.activate("explore-bandit", version)
    loaded = load_policy(registry.open("explore-bandit"))
    assert type(loaded) is type(policy)
    assert loaded.config == policy.config
    assert loaded.arms == policy.arms
    assert loaded.n_updates == policy.n_updates == 300
    assert _selections(loaded) == _selections(policy)


def test_load_refuses_another_kind(tmp_path: Path) -> None:
    _trained("thompson").save(tmp_path)
    with pytest.raises(ValueError, match="thompson"):
        EpsilonGreedy().load(tmp_path)


def _impression(n: int, item: str, request: str, **extra: object) -> Event:
    return Event(
        f"imp{n}",
        float(n),
        "u1",
        EventType.IMPRESSION,
        item_id=item,
        request_id=request,
        position=0,
        extra={"policy": "thompson", "propensity": 0.5, **extra},
    )


def _click(n: int, item: str, request: str) -> Event:
    return Event(f"clk{n}", float(n) + 0.5, "u1", EventType.CLICK, item_id=item, request_id=request)


def test_rewards_pair_impressions_with_clicks() -> None:
    events = [
        _click(1, "i1", "r1"),  # arrives before its impression
        _impression(1, "i1", "r1"),
        _impression(2, "i2", "r2"),
        _impression(3, "i1", "r3", arm="slot-a", context=[1.0, 2.0]),
        _click(3, "i1", "r3"),
        _click(4, "i2", "r9"),  # another request: not this impression's click
        _impression(1, "i1", "r1"),  # a duplicate delivery
        Event("plain", 5.0, "u1", EventType.IMPRESSION, item_id="i5", request_id="r5"),
        _impression(6, "i6", "r6", policy="linucb"),
    ]
    rewards = rewards_from_events(events, policy="thompson")
    assert [(r.arm, r.reward, r.propensity) for r in rewards] == [
        ("i1", 1.0, 0.5),
        ("i2", 0.0, 0.5),
        ("slot-a", 1.0, 0.5),
    ]
    context = rewards[2].context
    assert context is not None
    np.testing.assert_array_equal(context, [1.0, 2.0])


def test_update_from_events_matches_direct_updates() -> None:
    events = [_impression(k, f"i{k % 3}", f"r{k}") for k in range(30)]
    events += [_click(k, f"i{k % 3}", f"r{k}") for k in range(30) if k % 3 == 0 or k % 5 == 0]
    from_events = ThompsonSampling()
    assert from_events.update_from_events(reversed(events)) == 30
    direct = ThompsonSampling()
    for k in range(30):
        direct.update(f"i{k % 3}", float(k % 3 == 0 or k % 5 == 0))
    assert from_events.means() == direct.means()
    assert from_events.means()["i0"] == pytest.approx(11 / 12)
