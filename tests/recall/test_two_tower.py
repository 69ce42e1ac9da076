import math

import numpy as np
import pyarrow as pa
import pytest
import torch

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.training import TrainingData
from ecorec.recall.two_tower import TwoTowerRecall
from ecorec.recall.two_tower.features import FeatureSpace, InteractionStream, catalog_items
from ecorec.recall.two_tower.training import in_batch_softmax_loss
from ecorec.recall.two_tower.vocab import OOV, PAD, IdVocab, stable_hash
from ecorec.testing.recall import RecallChannelContract

FAST = {
    "embedding_size": 16,
    "hidden_sizes": [32],
    "num_threads": 1,
}


class TestTwoTowerContract(RecallChannelContract):
    @pytest.fixture
    def channel(self):
        config = {**FAST, "n": 50, "epochs": 2, "batch_size": 256}
        return TwoTowerRecall({**config, "ann": {"hnsw_m": 8, "ef_construction": 40}})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


# -- a hand-made world whose answers are known ----------------------------------------------
#
# Two disjoint communities of 60 users each. Every user consumed 6 of their community's 10 items,
# a seeded random choice in random order, so nothing but the community is there to learn: the
# 4 items of its community a user has not seen are what the model must rank first, before any
# item of the other community. Items carry their community as category, tag and creator, plus
# one cold item "a_new" that nobody consumed.

SIDES = ("a", "b")
ITEMS_PER_SIDE = 10
USERS_PER_SIDE = 60
PER_USER = 6


def consumed(side, k):
    rng = np.random.default_rng([SIDES.index(side), k])
    return [f"{side}{i}" for i in rng.choice(ITEMS_PER_SIDE, PER_USER, replace=False)]


def world_table():
    users, items, stamps = [], [], []
    for side in SIDES:
        for k in range(USERS_PER_SIDE):
            for step, item in enumerate(consumed(side, k)):
                users.append(f"{side}u{k}")
                items.append(item)
                stamps.append(float(step))
    n = len(users)
    return pa.table({"user_id": users, "item_id": items, "rating": [1.0] * n, "timestamp": stamps})


def world_items(deleted=()):
    items = [
        Item(
            f"{side}{i}",
            creator_id=f"c{side}",
            category=side,
            tags=(f"t{side}",),
            deleted=f"{side}{i}" in deleted,
        )
        for side in SIDES
        for i in range(ITEMS_PER_SIDE)
    ]
    # cold: no interaction, no known creator; only its category and tag say what it is
    return [*items, Item("a_new", category="a", tags=("ta",))]


def world_data(deleted=()):
    return TrainingData(table=world_table(), items=world_items(deleted))


# a small space: with room to spare the ids would memorise each user's 6 items and stop
# telling the unseen items of their community from the other community's
WORLD = {
    **FAST,
    "embedding_size": 4,
    "hidden_sizes": [8],
    "n": 30,
    "epochs": 30,
    "batch_size": 128,
    "learning_rate": 0.01,
    "temperature": 0.1,
    "id_dropout": 0.2,
    "ann": {"kind": "flat"},
}


def profile_of(side, k):
    recent = [(item, float(step)) for step, item in enumerate(consumed(side, k))]
    return Profile(
        f"{side}u{k}", recent=recent, seen={i for i, _ in recent}, interests={side: PER_USER}
    )


@pytest.fixture(scope="module")
def world():
    channel = TwoTowerRecall(WORLD)
    channel.train(world_data())
    return channel


def ids(candidates):
    return [c.item_id for c in candidates]


@pytest.mark.parametrize(("side", "k"), [("a", 0), ("a", 7), ("b", 3), ("b", 20)])
def test_unseen_items_of_the_users_community_come_first(world, side, k):
    profile = profile_of(side, k)
    got = [i for i in ids(world(Request(profile.user_id), profile)) if i != "a_new"]
    unseen = {f"{side}{i}" for i in range(ITEMS_PER_SIDE)} - profile.seen
    assert set(got[: len(unseen)]) == unseen
    assert not profile.seen & set(got)


def test_cold_item_is_served_from_its_features(world):
    # nobody consumed "a_new": its vector comes from category "a" and tag "ta" only
    assert "a_new" in world.index
    for k in (1, 5, 11):
        profile = profile_of("a", k)
        got = ids(world(Request(profile.user_id), profile))
        first_b = min(pos for pos, item in enumerate(got) if item.startswith("b"))
        assert got.index("a_new") < first_b
    profile = profile_of("b", 2)
    got = ids(world(Request(profile.user_id), profile))
    assert got.index("a_new") > max(pos for pos, item in enumerate(got) if item.startswith("b"))


def test_new_user_is_served_from_profile_alone(world):
    # declared interests only (an onboarding survey), then a first click as the profile records it
    by_interest = ids(world(Request("new"), Profile("new", interests={"b": 2.0})))
    assert by_interest[0].startswith("b")
    first_click = Profile("new")
    first_click.apply(ProfileDelta(recent=[("a3", 1.0)], interests={"a": 1.0}))
    assert ids(world(Request("new"), first_click))[0].startswith("a")
    assert world(Request("new"), Profile("new")) == []  # no signal at all: popular's job


def test_a_click_a_moment_ago_changes_the_query_and_candidates(world):
    profile = Profile("new", recent=[("a0", 1.0)], seen={"a0"}, interests={"a": 1.0})
    before_vector = world.user_vector(profile)
    assert ids(world(Request("new"), profile))[0].startswith("a")
    for step, item in enumerate(["b0", "b1", "b2"], start=2):
        profile.apply(ProfileDelta(recent=[(item, float(step))], interests={"b": 1.0}))
    after = ids(world(Request("new"), profile))
    assert not np.allclose(before_vector, world.user_vector(profile))
    assert after[0].startswith("b")
    assert not {"a0", "b0", "b1", "b2"} & set(after)

    known = profile_of("a", 4)  # a known user: the click moves the query and re-scores items
    before = [(c.item_id, c.score) for c in world(Request(known.user_id), known)]
    vector = world.user_vector(known)
    known.apply(ProfileDelta(recent=[("b0", 10.0)], interests={"b": 1.0}))
    after = {c.item_id: c.score for c in world(Request(known.user_id), known)}
    assert not np.allclose(vector, world.user_vector(known))
    assert "b0" not in after
    assert any(not math.isclose(score, after[item]) for item, score in before if item in after)


def test_negatives_and_seen_are_excluded(world):
    profile = profile_of("a", 0)
    profile.negatives.add("a7")
    got = ids(world(Request(profile.user_id), profile))
    assert "a7" not in got and not profile.seen & set(got)
    keep_seen = TwoTowerRecall({**WORLD, "exclude_seen": False})
    keep_seen.model, keep_seen.space, keep_seen.index = world.model, world.space, world.index
    assert profile.seen <= set(ids(keep_seen(Request(profile.user_id), profile)))


def test_deleted_items_are_learned_from_but_never_indexed():
    channel = TwoTowerRecall({**WORLD, "epochs": 2})
    channel.train(world_data(deleted={"a2"}))
    assert "a2" not in channel.index and "a3" in channel.index
    assert len(channel.index) == 2 * ITEMS_PER_SIDE  # 19 live + the cold item


def test_training_is_seeded_locally_and_leaves_torch_global_state_alone():
    threads, rng_state = torch.get_num_threads(), torch.random.get_rng_state()
    small = {**WORLD, "epochs": 2, "num_threads": threads + 1}  # set while training only
    first, second = TwoTowerRecall(small), TwoTowerRecall(small)
    first.train(world_data())
    second.train(world_data())
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    profile = profile_of("a", 3)
    assert np.array_equal(first.user_vector(profile), second.user_vector(profile))
    other = TwoTowerRecall({**small, "seed": 1})
    other.train(world_data())
    assert not np.array_equal(first.user_vector(profile), other.user_vector(profile))


def test_one_item_dataset_trains():
    table = pa.table({"user_id": ["u", "v"], "item_id": ["x", "x"], "timestamp": [1.0, 2.0]})
    channel = TwoTowerRecall({**FAST, "epochs": 1, "ann": {"kind": "flat"}})
    channel.train(TrainingData(table=table.append_column("rating", pa.array([1.0, 1.0]))))
    assert ids(channel(Request("w"), Profile("w", recent=[("x", 3.0)]))) == ["x"]


# -- the pieces ------------------------------------------------------------------------------


def test_samples_see_only_the_past():
    # user u: i1 at t=1, i2 and i3 together at t=2, i4 at t=3; user v: i5 at t=1
    table = pa.table(
        {
            "user_id": ["u", "v", "u", "u", "u"],
            "item_id": ["i4", "i5", "i2", "i1", "i3"],
            "ts": [3.0, 1.0, 2.0, 1.0, 2.0],
        }
    )
    category = {"i1": "x", "i2": "y", "i3": "x", "i4": "y", "i5": "x"}
    metadata = catalog_items(Item(i, category=c) for i, c in category.items())
    space = FeatureSpace(
        users=IdVocab.build(["u", "v"], 10),
        items=IdVocab.build(list(category), 10),
        creators=IdVocab.build([], 10),
        categories=["x", "y"],
        tags=[],
    )
    items = space.item_features(np.array(sorted(category)), metadata, max_tags=2)
    stream = InteractionStream.build(table, space, items)
    row = dict(zip(space.items.ids.tolist(), space.items.rows.tolist(), strict=True))
    positive = [str(items.item_ids[r]) for r in stream.item]
    assert positive[0] == "i1" and positive[3] == "i4" and positive[4] == "i5"
    inputs = stream.user_inputs(np.arange(len(stream)), history_length=3, n_categories=2)
    history = [sorted(int(r) for r in h if r != PAD) for h in inputs.history]
    assert history == [
        [],  # i1: nothing before it
        [row["i1"]],  # i2 at t=2 sees i1 only, not i3 of the same moment
        [row["i1"]],  # i3 likewise
        sorted([row["i1"], row["i2"], row["i3"]]),  # i4
        [],  # v's first interaction
    ]
    np.testing.assert_allclose(
        inputs.interests,
        [[0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 2 / 3, 1 / 3], [0, 0, 0]],
        rtol=1e-6,
    )
    short = stream.user_inputs(np.array([3]), history_length=1, n_categories=2)
    assert short.history.shape == (1, 1) and short.history[0, 0] in (row["i2"], row["i3"])


def test_in_batch_loss_known_values():
    eye = torch.eye(2)
    keys = torch.tensor([0, 1])
    plain = in_batch_softmax_loss(eye, eye, keys, None, temperature=1.0)
    assert math.isclose(float(plain), math.log(1 + math.exp(-1)), rel_tol=1e-6)
    # log-Q: item 0 is sampled 9x more than item 1, so as a negative it is discounted
    log_q = torch.log(torch.tensor([0.9, 0.1]))
    corrected = in_batch_softmax_loss(eye, eye, keys, log_q, temperature=1.0)
    row0 = -math.log(math.exp(1 - log_q[0]) / (math.exp(1 - log_q[0]) + math.exp(-log_q[1])))
    row1 = -math.log(math.exp(1 - log_q[1]) / (math.exp(1 - log_q[1]) + math.exp(-log_q[0])))
    assert math.isclose(float(corrected), (row0 + row1) / 2, rel_tol=1e-5)
    # the same item twice in a batch is never its own negative
    same = in_batch_softmax_loss(eye, torch.ones(2, 2), torch.tensor([7, 7]), None, 1.0)
    assert float(same) == pytest.approx(0.0, abs=1e-7)


def test_vocab_rows_hashing_and_oov():
    assert int(stable_hash(np.array(["a"]))[0]) == 0xAF63DC4C8601EC8C  # FNV-1a 64 of "a"
    small = IdVocab.build(["x", "y", "z"], buckets=10)
    assert sorted(small.rows.tolist()) == [2, 3, 4] and small.n_rows == 5
    assert small.rows_of(["y", "nope"]).tolist()[1] == OOV
    assert small.rows_of(["nope"], unknown=PAD).tolist() == [PAD]
    many = [f"id{i}" for i in range(1000)]
    hashed = IdVocab.build(many, buckets=64)
    rows = hashed.rows_of(many)
    assert hashed.n_rows == 66 and rows.min() >= 2 and rows.max() < 66
    assert len(set(rows.tolist())) > 50  # spread over the buckets
    assert np.array_equal(rows, IdVocab.build(list(reversed(many)), buckets=64).rows_of(many))


def test_user_features_choose_what_the_user_tower_reads():
    ids_only = TwoTowerRecall({**WORLD, "user_features": ["user_id"]})
    ids_only.train(world_data())
    assert ids_only.model.user_tower.mlp[0].in_features == WORLD["embedding_size"]
    profile = profile_of("b", 9)
    unseen = {f"b{i}" for i in range(ITEMS_PER_SIDE)} - profile.seen
    assert set(ids(ids_only(Request(profile.user_id), profile))[: len(unseen)]) == unseen
    # a new user's interests are not read: nothing to go on
    assert ids_only(Request("new"), Profile("new", interests={"a": 1.0})) == []
