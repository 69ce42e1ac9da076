"""Explore slots: which positions, which candidates, seeded choices, learning from the log."""

from __future__ import annotations

from collections import Counter

import pytest

from ecorec.bandits.epsilon import EpsilonGreedy
from ecorec.core.contracts import Candidate, Request
from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData
from ecorec.data.urls import open_event_log
from ecorec.rerank.explore import ExploreConfig, ExploreSlots

REASON = "rerank:explore(thompson)"


def ranked_list() -> list[Candidate]:
    """Ten organic candidates, then discovery ones from two channels (lowest scores)."""
    organic = [Candidate(f"o{k}", 100.0 - k, "item_cf") for k in range(10)]
    discovery = [Candidate(f"e{k}", 10.0 - k, "explore") for k in range(3)]
    discovery += [Candidate(f"t{k}", 5.0 - k, "long_tail") for k in range(3)]
    return organic + discovery


def test_slot_positions():
    assert ExploreConfig(share=0.1).slots(20) == [9, 19]
    assert ExploreConfig(share=0.25).slots(10) == [3, 7]
    assert ExploreConfig(share=0.0).slots(10) == []
    assert ExploreConfig(positions=[12, 2, 5, 2]).slots(10) == [2, 5]
    with pytest.raises(ValueError, match="positions"):
        ExploreConfig(positions=[-1])
    with pytest.raises(ValueError):
        ExploreConfig(reward_types=["glance"])


def test_empty_in_empty_out():
    assert ExploreSlots()(Request("u", request_id="r"), Profile("u"), []) == []


def test_slots_take_discovery_candidates_and_nothing_is_lost():
    slots = ExploreSlots({"share": 0.25})
    ranked = ranked_list()
    out = slots(Request("u", n=10, request_id="r1"), Profile("u"), ranked)
    assert sorted(c.item_id for c in out) == sorted(c.item_id for c in ranked)
    for position in (3, 7):
        assert out[position].channel in {"explore", "long_tail"}
        assert out[position].reasons == [REASON]
        assert out[position].propensity is not None and 0 < out[position].propensity <= 1
    organic = [c.item_id for k, c in enumerate(out[:10]) if k not in (3, 7)]
    assert organic == [f"o{k}" for k in range(8)]  # the best 8 keep their order
    untouched = [c for k, c in enumerate(out) if k not in (3, 7)]
    assert all(c.propensity is None and REASON not in c.reasons for c in untouched)


def test_a_discovery_item_ranked_into_the_slate_keeps_its_place():
    ranked = ranked_list()
    ranked.insert(1, Candidate("e_top", 99.5, "explore"))
    out = ExploreSlots({"positions": [5]})(Request("u", n=8, request_id="r"), Profile("u"), ranked)
    assert out[1].item_id == "e_top" and out[1].reasons == []
    assert out[5].item_id != "e_top" and out[5].reasons == [REASON]


def test_no_discovery_candidates_leaves_the_list_alone():
    ranked = [Candidate(f"o{k}", float(-k), "item_cf") for k in range(12)]
    out = ExploreSlots({"share": 0.5})(Request("u", n=10, request_id="r"), Profile("u"), ranked)
    assert [c.item_id for c in out] == [c.item_id for c in ranked]


def test_choices_replay_per_request_and_differ_across_requests():
    def pick(request_id: str) -> tuple[str, float | None]:
        out = ExploreSlots({"positions": [9]})(
            Request("u", n=10, request_id=request_id), Profile("u"), ranked_list()
        )
        return out[9].item_id, out[9].propensity

    assert pick("r7") == pick("r7")
    chosen = Counter(pick(f"r{k}")[0] for k in range(300))
    # six arms at the same prior: each is chosen with propensity 1/6
    assert set(chosen) == {"e0", "e1", "e2", "t0", "t1", "t2"}
    assert pick("r7")[1] == pytest.approx(1 / 6)
    assert all(20 <= v <= 80 for v in chosen.values())


def test_channel_arms_take_the_channels_best_candidate():
    slots = ExploreSlots({"positions": [9], "arms": "channel"})
    out = slots(Request("u", n=10, request_id="r3"), Profile("u"), ranked_list())
    assert out[9].item_id in {"e0", "t0"}
    assert out[9].propensity == pytest.approx(0.5)
    assert out[9].reasons[1] in {"explore_arm:explore", "explore_arm:long_tail"}


def impressions_and_clicks(policy: str = "thompson") -> list[Event]:
    """40 logged explore decisions each for e0 (always clicked) and t0 (never)."""
    events = []
    for k in range(80):
        arm = "e0" if k % 2 else "t0"
        extra = {"arm": arm, "policy": policy, "propensity": 0.5}
        events.append(
            Event(f"i{k}", 1000.0 + k, "u", EventType.IMPRESSION, arm, request_id=f"q{k}",
                  position=9, extra=extra)
        )  # fmt: skip
        if arm == "e0":
            events.append(Event(f"c{k}", 1001.0 + k, "u", EventType.CLICK, arm, request_id=f"q{k}"))
        # an ordinary ranked slot of the same request: not a bandit decision, never learned
        events.append(
            Event(f"o{k}", 1000.0 + k, "u", EventType.IMPRESSION, "o0", request_id=f"q{k}",
                  position=0, extra={"channel": "popular"})
        )  # fmt: skip
    return events


def test_trained_policy_prefers_the_clicked_arm_and_survives_save_load(tmp_path):
    log = open_event_log(f"sqlite:///{tmp_path / 'events.db'}")
    log.append(impressions_and_clicks())
    slots = ExploreSlots({"positions": [1], "policy_params": {"propensity_nodes": 128}})
    slots.train(TrainingData(events=log))
    assert slots.policy.n_updates == 80
    means = slots.policy.means()  # type: ignore[attr-defined]
    assert means["e0"] == pytest.approx(41 / 42) and means["t0"] == pytest.approx(1 / 42)
    assert "o0" not in means

    def choices(policy: ExploreSlots) -> list[str]:
        ranked = [Candidate("o0", 9.0, "item_cf"), Candidate("t0", 2.0, "long_tail"),
                  Candidate("e0", 1.0, "explore")]  # fmt: skip
        return [
            policy(Request("u", n=2, request_id=f"r{k}"), Profile("u"), ranked)[1].item_id
            for k in range(50)
        ]

    assert choices(slots).count("e0") >= 48
    slots.save(tmp_path / "model")
    restored = ExploreSlots({"positions": [1], "policy_params": {"propensity_nodes": 128}})
    restored.load(tmp_path / "model")
    assert choices(restored) == choices(slots)

    slots.train(TrainingData(events=log))  # retraining replays, it does not double count
    assert slots.policy.n_updates == 80


def test_epsilon_greedy_policy_and_online_updates():
    slots = ExploreSlots({"positions": [1], "policy": "epsilon_greedy"})
    assert isinstance(slots.policy, EpsilonGreedy)
    assert slots.update_from_events(impressions_and_clicks()) == 0  # another policy's log
    assert slots.update_from_events(impressions_and_clicks("epsilon_greedy")) == 80
    policy = slots.policy
    assert isinstance(policy, EpsilonGreedy)
    assert dict(zip(policy.arms, (policy.sums / policy.counts).tolist(), strict=True)) == {
        "e0": 1.0,
        "t0": 0.0,
    }
    ranked = [Candidate("o0", 9.0, "item_cf"), Candidate("t0", 2.0, "long_tail"),
              Candidate("e0", 1.0, "explore")]  # fmt: skip
    out = slots(Request("u", n=2, request_id="r"), Profile("u"), ranked)
    assert out[1].reasons == ["rerank:explore(epsilon_greedy)"]


def test_requests_and_the_nearline_listener_share_the_policy_safely():
    """Arms appear from requests and from nearline outcomes at once; nothing breaks or is lost."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    stage = ExploreSlots({"share": 0.5, "seed": 1})

    def serve(k: int) -> int:
        ranked = [Candidate(f"r{k}-{j}", 10.0 - j, "explore") for j in range(10)]
        out = stage(Request("u", n=10, request_id=f"q{k}", ts=1.0), Profile("u"), ranked)
        return sum("rerank:explore(thompson)" in c.reasons for c in out)

    def listen() -> None:
        for k in range(2_000):
            stage.observe("thompson", f"n{k}", 0.0)
            stage.observe("thompson", f"n{k}", 1.0)

    listener = threading.Thread(target=listen)
    listener.start()
    with ThreadPoolExecutor(8) as pool:
        chosen = list(pool.map(serve, range(400)))
    listener.join()
    assert all(n == 5 for n in chosen)
    means = stage.policy.means()  # type: ignore[attr-defined]
    assert len(means) == 2_000 + 400 * 5  # the 5 lower-ranked candidates of each request
    prior = stage.policy.config  # type: ignore[attr-defined]
    expected = (prior.prior_alpha + 1) / (prior.prior_alpha + prior.prior_beta + 1)
    assert means["n1999"] == pytest.approx(expected)
