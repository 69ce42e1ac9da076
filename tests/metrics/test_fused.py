"""The fused set: quotas, backfill to the set size, and the fast merge equal to Merge."""

import numpy as np

from ecorec.core.contracts import Candidate, Request
from ecorec.metrics.evaluation import fused_candidates
from ecorec.metrics.fused import backfilled, fused_codes, merge_ranked


def test_merge_ranked_by_hand():
    ranked = [np.array([1, 2, 3, 4]), np.array([2, 5, 6]), np.array([7])]
    out, counts = merge_ranked(ranked, [2, 2, 5], size=10)
    assert out == [1, 2, 5, 6, 7]  # b's 2 was taken by a: it costs b no quota
    assert counts == [2, 2, 1]
    assert merge_ranked(ranked, [2, 2, 5], size=3)[0] == [1, 2, 5]


def test_backfill_gives_an_empty_channels_quota_to_the_others():
    ranked = {"a": np.arange(0, 100), "b": np.arange(100, 200), "empty": np.empty(0, np.int64)}
    codes = fused_codes(ranked, {"a": 10, "b": 10, "empty": 10}, size=30)
    assert len(codes) == 30
    assert codes[:10] == list(range(10))  # merge order: a's share (now 25) first
    assert sorted(codes) == list(range(15)) + list(range(100, 115))


def test_backfill_stops_when_nobody_has_more():
    ranked = {"a": np.arange(3), "b": np.arange(3, 5)}
    assert fused_codes(ranked, {"a": 1, "b": 1}, size=200) == [0, 1, 2, 3, 4]


def test_backfill_keeps_a_full_set_as_is():
    calls = []

    def once(quotas):
        calls.append(dict(quotas))
        return list(range(sum(quotas.values()))), {}

    assert len(backfilled(once, {"a": 150, "b": 60}, size=200)) == 200
    assert calls == [{"a": 150, "b": 60}]


def test_fast_merge_equals_the_pipeline_merge_on_random_outputs():
    rng = np.random.default_rng(5)
    for trial in range(30):
        names = ["a", "b", "c", "d"]
        ranked = {n: rng.choice(300, size=rng.integers(0, 120), replace=False) for n in names}
        masked = set(rng.choice(300, size=40, replace=False).tolist())
        quotas = dict(zip(names, rng.integers(0, 90, size=4).tolist(), strict=True))
        outputs = {
            n: [Candidate(str(i), float(len(r) - k), n) for k, i in enumerate(r)]
            for n, r in ranked.items()
        }
        slow = fused_candidates(Request("u"), {str(i) for i in masked}, outputs, quotas)
        fast = fused_codes(
            {n: np.array([i for i in r if i not in masked], np.int64) for n, r in ranked.items()},
            quotas,
        )
        assert [int(c.item_id) for c in slow] == fast, trial
