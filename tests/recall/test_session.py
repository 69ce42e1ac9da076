import numpy as np
import pytest

from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.core.profile import Profile
from ecorec.data.matrix import InteractionMatrix
from ecorec.recall.session import SessionRecall, session_streams, transition_counts
from ecorec.testing.recall import RecallChannelContract
from tests.recall.cooc_helpers import data

MIN = 60.0


class TestSessionContract(RecallChannelContract):
    """On the generated platform (real event log: several events per consumption)."""

    @pytest.fixture
    def channel(self):
        return SessionRecall({"n": 50})

    @pytest.fixture
    def training_data(self, tiny_training_data):
        return tiny_training_data


class TestSessionContractDenseSessions(RecallChannelContract):
    """On clustered sessions, so the contract's user has a session with followers."""

    @pytest.fixture
    def channel(self):
        return SessionRecall({"n": 20})

    @pytest.fixture
    def training_data(self):
        rng = np.random.default_rng(0)
        rows = []
        for user in range(60):
            for visit in range(3):
                cluster = rng.integers(0, 4)
                start = (user * 3 + visit) * 1_000 * MIN
                picks = rng.choice(10, size=5, replace=False) + 10 * cluster
                rows += [(f"u{user}", f"i{i}", start + k * MIN) for k, i in enumerate(picks)]
        return data(rows)


# u1: x y z | 2 h gap | w ;  u2: x y (y repeated at once: one step) ;  u3: p q
ROWS = [
    ("u1", "x", 0.0),
    ("u1", "y", 1 * MIN),
    ("u1", "z", 2 * MIN),
    ("u1", "w", 122 * MIN),
    ("u2", "x", 0.0),
    ("u2", "y", 5 * MIN),
    ("u2", "y", 6 * MIN),
    ("u3", "p", 0.0),
    ("u3", "q", 1 * MIN),
]


def counts_by_id(window: int, backward: float) -> dict[tuple[str, str], float]:
    training = data(ROWS)
    matrix = InteractionMatrix.build(training, binary=True)
    session, item = session_streams(training, matrix, 30 * MIN)
    counts = transition_counts(session, item, matrix.n_items, window, backward).tocoo()
    ids = matrix.item_ids
    return {
        (str(ids[i]), str(ids[j])): float(v)
        for i, j, v in zip(counts.row, counts.col, counts.data, strict=True)
    }


def test_sessions_split_at_the_gap_and_count_by_distance():
    assert counts_by_id(window=2, backward=0.0) == {
        ("x", "y"): 2.0,  # u1 and u2 (u2's repeated y is one step)
        ("y", "z"): 1.0,
        ("x", "z"): 0.5,  # two positions apart
        ("p", "q"): 1.0,
        # z -> w never counted: two hours apart, another session
    }
    backward = counts_by_id(window=1, backward=0.5)
    assert backward[("y", "x")] == 1.0 and backward[("q", "p")] == 0.5


def test_followers_by_hand():
    session = SessionRecall({"alpha": 1.0, "window": 1, "backward_weight": 0.0})
    session.train(data(ROWS))
    out = session(Request("new", context={"session_items": ["y"]}), Profile("new"))
    # y occurs in 2 sessions and is followed by z once: 1 / 2
    assert [(c.item_id, c.score) for c in out] == [("z", pytest.approx(0.5))]


def test_brand_new_user_with_session_items():
    session = SessionRecall({"n": 5})
    session.train(data(ROWS))
    out = session(Request("new", context={"session_items": ["p"]}), Profile("new"))
    assert [c.item_id for c in out] == ["q"]
    nothing = session(Request("new", context={"session_items": ["unknown"]}), Profile("new"))
    assert nothing == []


def test_newest_session_item_weighs_most():
    session = SessionRecall({"position_decay": 0.5, "backward_weight": 1.0})
    session.train(data(ROWS))
    out = session(Request("new", context={"session_items": ["p", "z"]}), Profile("new"))
    assert [c.item_id for c in out][:2] == ["y", "q"]  # z (newest) -> y first
    out = session(Request("new", context={"session_items": ["z", "p"]}), Profile("new"))
    assert [c.item_id for c in out][0] == "q"


def test_profile_session_is_chained_within_the_gap_of_the_request():
    session = SessionRecall()
    session.train(data(ROWS))
    now = 1_000 * MIN
    profile = Profile(
        "u9",
        recent=[("p", now - 300 * MIN), ("x", now - 40 * MIN), ("z", now - 20 * MIN)],
    )
    # z is 20 min old, x 20 min before it: both in the session; p is hours older
    assert session.session_items(Request("u9", ts=now), profile) == ["x", "z"]
    items = {c.item_id for c in session(Request("u9", ts=now), profile)}
    assert "y" in items and "q" not in items
    # an hour after the last click the session is over
    assert session.session_items(Request("u9", ts=now + 60 * MIN), profile) == []
    assert session(Request("u9", ts=now + 60 * MIN), profile) == []


def test_exclusions_and_deleted_items():
    items = [Item(i, deleted=(i == "z")) for i in "xyzwpq"]
    session = SessionRecall()
    session.train(data(ROWS, items))
    request = Request("new", context={"session_items": ["x"]})
    assert [c.item_id for c in session(request, Profile("new"))] == ["y"]  # z deleted
    assert session(request, Profile("new", negatives={"y"})) == []
    back = session(Request("new", context={"session_items": ["y"]}), Profile("new"))
    assert "y" not in {c.item_id for c in back}  # the session's own items are consumed


def test_scores_are_normalised_by_popularity():
    session = SessionRecall({"alpha": 0.5, "window": 1, "backward_weight": 1.0})
    session.train(data(ROWS))
    out = session(Request("new", context={"session_items": ["x"]}), Profile("new"))
    # c(x, y) = 2, x and y each occur in 2 sessions: 2 / sqrt(2 * 2)
    assert [(c.item_id, round(c.score, 6)) for c in out] == [("y", 1.0)]
    assert np.isfinite(out[0].score)
