"""The agents' state machines: churn, fatigue, creators' stages and quitting, advertisers' cuts."""

from __future__ import annotations

import numpy as np

from ecorec.core.contracts import SlateItem
from ecorec.core.entities import Ad, Advertiser, Item
from ecorec.core.events import EventType
from ecorec.simulate.advertisers import AdvertiserAgents, AdvertiserParams
from ecorec.simulate.creators import CreatorAgents, CreatorParams
from ecorec.simulate.environment import World, request_utility
from ecorec.simulate.policies import assign_arms
from ecorec.simulate.users import UserAgents, UserParams

T = 20


def _users(n: int, params: UserParams | None = None, topic: int = 0) -> UserAgents:
    theta = np.full((n, T), 0.01 / (T - 1))
    theta[:, topic] = 0.99
    return UserAgents(
        ids=[f"u{k}" for k in range(n)],
        interests=theta,
        activity=np.full(n, 1.0),
        payer=np.zeros(n, bool),
        joined=np.zeros(n),
        group=np.zeros(n, np.int64),
        params=params or UserParams(drift=0.0),
    )


def _world(n_items: int = 40) -> World:
    # items 0..19 are all topic 0 ("news"), 20..39 topic 1; one creator each half
    items = [
        Item(
            f"i{k}",
            creator_id="c0" if k < n_items // 2 else "c1",
            category="news" if k < n_items // 2 else "entertainment",
            quality=0.6,
            duration=60.0,
            attrs={"topics": {"news" if k < n_items // 2 else "entertainment": 1.0}},
        )
        for k in range(n_items)
    ]
    return World.from_entities(items, [], [], ["c0", "c1"])


def _slate(ids: list[str]) -> list[SlateItem]:
    return [SlateItem(i, p, 1.0, "popular", []) for p, i in enumerate(ids)]


def test_users_churn_when_satisfaction_stays_low():
    users = _users(200, UserParams(drift=0.0, churn_patience=3))
    rng = np.random.default_rng(0)
    active = np.ones(200, bool)
    low = np.full(200, 0.02)
    low[:100] = 0.9  # half are well served
    for _ in range(2):
        users.end_day(low, active, churn_rate=0.0, rng=rng)
    assert users.alive.all()  # two bad days are not yet enough
    churned = users.end_day(low, active, churn_rate=0.0, rng=rng)
    assert churned[100:].all() and not churned[:100].any()
    # the churned never come back: no sessions, ever
    assert users.sessions(0.0, 86_400.0, rng)[100:].sum() == 0


def test_satisfaction_drives_sessions():
    users = _users(4000)
    users.satisfaction[:2000] = 0.9
    users.satisfaction[2000:] = 0.0
    counts = users.sessions(0.0, 86_400.0, np.random.default_rng(1))
    assert counts[:2000].mean() > 3 * counts[2000:].mean()


def test_fatigue_lowers_clicks_on_a_repeated_topic():
    world = _world()
    fresh, tired = _users(3000), _users(3000)
    rng = np.random.default_rng(2)
    # the tired users have just been shown a lot of their favourite topic
    for u in range(3000):
        tired.shown(u, np.array([-1]), np.zeros((6, 3), np.int64), np.tile([1.0, 0, 0], (6, 1)))
    ids = [f"i{k}" for k in range(8)]
    clicks = {}
    for name, users in (("fresh", fresh), ("tired", tired)):
        n = 0
        for u in range(3000):
            r = world.respond(users, u, f"r{name}{u}", 1.0, _slate(ids), rng)
            n += sum(e.type == EventType.CLICK for e in r.events)
        clicks[name] = n
    assert clicks["tired"] < 0.8 * clicks["fresh"]


def test_repetitive_slates_draw_more_negative_feedback():
    world = _world()
    rng = np.random.default_rng(3)
    ids = [f"i{k}" for k in range(8)]  # topic 0, which the users love
    negatives = {}
    for name in ("varied", "repeated"):
        users = _users(2000)
        n = 0
        for u in range(2000):
            if name == "repeated":  # the same slate twice in a row
                world.respond(users, u, f"p{u}", 1.0, _slate(ids), rng)
            shown = ids if name == "repeated" else [f"i{k}" for k in range(8, 16)]
            r = world.respond(users, u, f"r{name}{u}", 2.0, _slate(shown), rng)
            n += sum(e.type == EventType.NOT_INTERESTED for e in r.events)
        negatives[name] = n
    assert negatives["repeated"] > 3 * max(negatives["varied"], 1)


def test_irrelevant_slates_are_rejected_more_than_relevant_ones():
    world = _world()
    rng = np.random.default_rng(4)
    relevant, irrelevant = _users(2000, topic=0), _users(2000, topic=5)
    ids = [f"i{k}" for k in range(8)]
    counts = {}
    for name, users in (("relevant", relevant), ("irrelevant", irrelevant)):
        counts[name] = sum(
            sum(
                e.type == EventType.NOT_INTERESTED
                for e in world.respond(users, u, "r", 1.0, _slate(ids), rng).events
            )
            for u in range(2000)
        )
    assert counts["irrelevant"] > 5 * max(counts["relevant"], 1)


def test_request_utility_known_answers():
    assert request_utility(0.0, 0) == 0.0
    assert request_utility(2.5, 0) == 1.0
    assert abs(request_utility(0.8, 1) - 0.3) < 1e-12
    assert request_utility(0.2, 1) == 0.0


def _creators(n: int, **params) -> CreatorAgents:
    return CreatorAgents(
        [f"c{k}" for k in range(n)],
        np.zeros(n, np.int64),
        np.full(n, 0.5),
        np.zeros(n, np.int64),
        np.full(n, 0.5),
        CreatorParams(**params),
    )


def test_creators_quit_after_starvation_and_get_promoted_with_exposure():
    creators = _creators(10, quit_patience=5, stage_window=3, mid_ratio=2.0, head_ratio=4.0)
    exposure = np.array([0.0, 0.0, 50.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    income = np.zeros(10)
    for day in range(5):
        moved = creators.end_day(exposure, income)
        if day < 4:
            assert creators.alive.all()
    assert moved["quit"] == [0, 1]
    assert not creators.alive[:2].any() and creators.alive[2:].all()
    # creator 2 had ~5.7x the mean exposure: novice -> mid -> head, one step per day
    assert creators.stage[2] == 2 and (creators.stage[3:] == 0).all()
    # a quitter publishes nothing; the star publishes more than the average creator
    assert creators.motivation[2] > creators.motivation[3] and creators.motivation[0] == 0.0
    assert creators.to_publish(np.random.default_rng(0))[:2].sum() == 0


def test_income_keeps_a_creator_from_quitting():
    creators = _creators(3, quit_patience=2)
    for _ in range(4):
        creators.end_day(np.array([0.0, 10.0, 10.0]), np.array([1.0, 0.0, 0.0]))
    assert creators.alive.all()


def test_advertisers_cut_spend_when_cpa_stays_above_target():
    agents = AdvertiserAgents.of(
        [
            Advertiser("a", daily_budget=100.0, target_cpa=10.0),
            Advertiser("b", daily_budget=100.0, target_cpa=10.0),
        ],
        AdvertiserParams(patience=2, cut=0.5),
    )
    spend = np.array([50.0, 50.0])
    # a: 50 spent for 1 conversion (CPA 50 > 10); b: 10 conversions (CPA 5)
    assert agents.end_day(spend, np.array([1.0, 10.0]), np.array([30.0, 300.0])) == []
    assert agents.end_day(spend, np.array([1.0, 10.0]), np.array([30.0, 300.0])) == [0]
    assert agents.budget.tolist() == [50.0, 100.0]
    assert agents.summary()["budget_cuts"] == 1


def test_traffic_split_is_deterministic_and_follows_weights():
    ids = [f"u{k:05d}" for k in range(20_000)]
    arms = assign_arms(ids, [1.0, 3.0], seed=5)
    assert np.array_equal(arms, assign_arms(list(reversed(ids)), [1.0, 3.0], 5)[::-1])
    assert abs(arms.mean() - 0.75) < 0.01
    assert not np.array_equal(arms, assign_arms(ids, [1.0, 3.0], seed=6))


def test_ads_in_a_world_convert_at_their_rates():
    ads = [Ad("ad1", "a", bid=1.0, category="news", true_ctr=0.9, true_cvr=1.0, target_cpa=10.0)]
    world = World.from_entities([], ads, [Advertiser("a", daily_budget=10.0, target_cpa=10.0)], [])
    users = _users(50)
    slot = [SlateItem("ad:ad1", 3, 1.0, "ads", [], is_ad=True, ad_id="ad1")]
    rng = np.random.default_rng(5)
    reactions = [world.respond(users, u, f"r{u}", 1.0, slot, rng) for u in range(50)]
    converted = sum(r.conversions.get(0, (0, 0.0))[0] for r in reactions)
    assert converted == sum(len(r.ad_clicks) for r in reactions) > 40
