"""Contract tests every ProfileStore backend must pass (the ``lenskit.testing`` habit).

A backend's test module subclasses :class:`ProfileStoreContract` and provides a ``store``
fixture yielding a fresh, empty store::

    class TestMyProfileStore(ProfileStoreContract):
        @pytest.fixture
        def store(self):
            with closing(MyProfileStore(...)) as store:
                yield store

The expected answers are computed with :meth:`Profile.apply` itself, so a backend that passes
returns the same profiles as every other backend.
"""

from __future__ import annotations

import threading

from ecorec.core.profile import RECENT_LIMIT, Consent, Profile, ProfileDelta
from ecorec.data.protocols import ProfileStore


def expected_profile(user_id: str, *deltas: ProfileDelta) -> Profile:
    """Fold ``deltas`` with the reference logic: the answer every backend must give."""
    profile = Profile(user_id)
    for delta in deltas:
        profile.apply(delta)
    return profile


class ProfileStoreContract:
    """Known-answer tests of the :class:`ProfileStore` protocol; needs a ``store`` fixture."""

    def test_unknown_user_is_empty(self, store: ProfileStore) -> None:
        profile = store.get("nobody")
        assert profile == Profile("nobody")
        assert profile.is_new()

    def test_apply_every_part(self, store: ProfileStore) -> None:
        delta = ProfileDelta(
            recent=[("i1", 10.0), ("i2", 11.5)],
            negatives={"i9"},
            blocked_creators={"c3"},
            interests={"music": 2.0, "news": -1.0},
            consent={Consent.TRAINING.value: False},
        )
        returned = store.apply("u1", delta)
        assert returned == expected_profile("u1", delta)
        assert store.get("u1") == returned

    def test_sets_accumulate(self, store: ProfileStore) -> None:
        deltas = [
            ProfileDelta(negatives={"i1", "i2"}, blocked_creators={"c1"}),
            ProfileDelta(negatives={"i2", "i3"}, blocked_creators={"c2"}),
        ]
        for delta in deltas:
            store.apply("u1", delta)
        profile = store.get("u1")
        assert profile.negatives == {"i1", "i2", "i3"}
        assert profile.blocked_creators == {"c1", "c2"}

    def test_interests_add_exactly_like_profile_apply(self, store: ProfileStore) -> None:
        # 0.1 + 0.2 is where a store doing its own float arithmetic would drift.
        deltas = [
            ProfileDelta(interests={"music": 0.1, "news": 1.0}),
            ProfileDelta(interests={"music": 0.2}),
            ProfileDelta(interests={"news": -3.0, "sport": 1e-9}),
        ]
        for delta in deltas:
            store.apply("u1", delta)
        assert store.get("u1").interests == expected_profile("u1", *deltas).interests
        assert store.get("u1").interests["music"] == 0.1 + 0.2

    def test_recent_sorted_newest_last_and_capped(self, store: ProfileStore) -> None:
        in_order = ProfileDelta(recent=[(f"a{i}", float(i)) for i in range(150)])
        late = ProfileDelta(recent=[(f"b{i}", i + 0.5) for i in range(100, 0, -1)])
        ties = ProfileDelta(recent=[("t1", 120.0), ("t2", 120.0), ("n", 1_000.0)])
        for delta in (in_order, late, ties):
            store.apply("u1", delta)
        profile = store.get("u1")
        assert profile.recent == expected_profile("u1", in_order, late, ties).recent
        assert len(profile.recent) == RECENT_LIMIT
        assert [ts for _, ts in profile.recent] == sorted(ts for _, ts in profile.recent)
        assert profile.recent[-1] == ("n", 1_000.0)
        assert ("a0", 0.0) not in profile.recent  # the oldest fell off

    def test_recent_appends_in_order(self, store: ProfileStore) -> None:
        deltas = [ProfileDelta(recent=[(f"i{n}", float(n))]) for n in range(RECENT_LIMIT + 5)]
        for delta in deltas:
            store.apply("u1", delta)
        profile = store.get("u1")
        assert profile.recent == expected_profile("u1", *deltas).recent
        assert profile.recent[0] == ("i5", 5.0)

    def test_recent_keeps_repeats(self, store: ProfileStore) -> None:
        deltas = [ProfileDelta(recent=[("i1", 1.0)]), ProfileDelta(recent=[("i1", 2.0)])]
        for delta in deltas:
            store.apply("u1", delta)
        assert store.get("u1").recent == [("i1", 1.0), ("i1", 2.0)]

    def test_consent_defaults_to_allowed(self, store: ProfileStore) -> None:
        assert store.get("u1").allows(Consent.PERSONALIZATION)
        store.apply("u1", ProfileDelta(consent={Consent.PERSONALIZATION.value: False}))
        profile = store.get("u1")
        assert not profile.allows(Consent.PERSONALIZATION)
        assert profile.allows(Consent.ADS_PERSONALIZATION)
        store.apply("u1", ProfileDelta(consent={Consent.PERSONALIZATION.value: True}))
        assert store.get("u1").allows(Consent.PERSONALIZATION)

    def test_empty_delta_changes_nothing(self, store: ProfileStore) -> None:
        first = store.apply("u1", ProfileDelta(recent=[("i1", 1.0)], negatives={"i2"}))
        assert store.apply("u1", ProfileDelta()) == first
        assert store.get("u1") == first

    def test_users_are_independent(self, store: ProfileStore) -> None:
        store.apply("u1", ProfileDelta(negatives={"i1"}))
        store.apply("u2", ProfileDelta(interests={"music": 1.0}))
        assert store.get("u1") == expected_profile("u1", ProfileDelta(negatives={"i1"}))
        assert store.get("u2").negatives == set()

    def test_delete(self, store: ProfileStore) -> None:
        store.apply(
            "u1",
            ProfileDelta(
                recent=[("i1", 1.0)],
                negatives={"i2"},
                interests={"music": 1.0},
                consent={"training": False},
            ),
        )
        store.apply("u2", ProfileDelta(negatives={"i3"}))
        store.delete("u1")
        store.delete("never-seen")
        assert store.get("u1") == Profile("u1")
        assert store.get("u2").negatives == {"i3"}

    def test_returned_profile_is_a_copy(self, store: ProfileStore) -> None:
        returned = store.apply("u1", ProfileDelta(negatives={"i1"}, interests={"music": 1.0}))
        returned.negatives.add("oops")
        returned.interests["music"] = 99.0
        store.get("u1").recent.append(("oops", 0.0))
        assert store.get("u1") == expected_profile(
            "u1", ProfileDelta(negatives={"i1"}, interests={"music": 1.0})
        )

    def test_apply_is_atomic_per_user(self, store: ProfileStore) -> None:
        threads, applies = 8, 25

        def work(worker: int) -> None:
            for n in range(applies):
                store.apply(
                    "u1",
                    ProfileDelta(
                        recent=[(f"w{worker}-{n}", float(n))],
                        negatives={f"w{worker}-{n}"},
                        interests={"music": 1.0},
                    ),
                )

        pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        profile = store.get("u1")
        assert profile.interests == {"music": float(threads * applies)}
        assert len(profile.negatives) == threads * applies
        assert len(profile.recent) == threads * applies
