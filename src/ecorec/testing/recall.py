"""The contract every recall channel passes (LensKit's ``lenskit.testing`` habit).

A channel's test class subclasses :class:`RecallChannelContract` and provides two fixtures:
``channel`` (a fresh, untrained instance) and ``training_data`` (a :class:`TrainingData` it can
learn from). The contract then checks what the Pipeline relies on; the subclass adds the
channel's own known-answer tests.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ecorec.core.component import NotTrainedError
from ecorec.core.contracts import Candidate, Request
from ecorec.core.profile import Profile
from ecorec.data.training import TrainingData


def profile_for(data: TrainingData, user_id: str, limit: int = 50) -> Profile:
    """The profile a user would have after the interactions in ``data`` (newest last)."""
    pairs: list[tuple[str, float]] = []
    for batch in data.interactions():
        mask = pa.compute.equal(batch.column("user_id"), user_id)
        rows = batch.filter(mask)
        pairs += zip(rows.column("item_id").to_pylist(), rows.column("ts").to_pylist(), strict=True)
    pairs.sort(key=lambda p: p[1])
    return Profile(user_id, recent=pairs[-limit:], seen={i for i, _ in pairs})


def some_user(data: TrainingData) -> str:
    """A user with at least one interaction in ``data``."""
    for batch in data.interactions():
        if batch.num_rows:
            return str(batch.column("user_id")[0].as_py())
    raise AssertionError("training data has no interaction")


class RecallChannelContract:
    """Behaviour every channel must show; subclasses provide ``channel`` and ``training_data``."""

    n = 20

    @pytest.fixture
    def trained(self, channel: Any, training_data: TrainingData) -> Any:
        channel.train(training_data)
        return channel

    def test_untrained_fails_fast(self, channel: Any, training_data: TrainingData) -> None:
        assert not channel.is_trained()
        user = some_user(training_data)
        with pytest.raises(NotTrainedError):
            channel(Request(user, n=self.n), Profile(user))

    def test_candidates_are_well_formed(self, trained: Any, training_data: TrainingData) -> None:
        assert trained.is_trained()
        user = some_user(training_data)
        out = trained(Request(user, n=self.n), profile_for(training_data, user))
        assert isinstance(out, list)
        assert all(isinstance(c, Candidate) for c in out)
        assert all(c.channel == trained.name for c in out)
        assert len({c.item_id for c in out}) == len(out), "duplicate items"
        assert all(isinstance(c.item_id, str) and math.isfinite(c.score) for c in out)
        assert [c.score for c in out] == sorted((c.score for c in out), reverse=True)
        assert len(out) <= trained.config.n

    def test_negatives_never_come_back(self, trained: Any, training_data: TrainingData) -> None:
        user = some_user(training_data)
        profile = profile_for(training_data, user)
        first = trained(Request(user, n=self.n), profile)
        if not first:
            pytest.skip("channel returns nothing for this user")  # nothing to mark
        profile.negatives.update(c.item_id for c in first[:3])
        again = trained(Request(user, n=self.n), profile)
        assert not {c.item_id for c in again} & profile.negatives

    def test_unknown_user_does_not_raise(self, trained: Any) -> None:
        out = trained(Request("never-seen-user", n=self.n), Profile("never-seen-user"))
        assert isinstance(out, list)

    def test_save_load_roundtrip(
        self, trained: Any, training_data: TrainingData, tmp_path: Path
    ) -> None:
        metrics = trained.save(tmp_path)
        assert isinstance(metrics, dict)
        fresh = type(trained)(trained.config)
        fresh.load(tmp_path)
        user = some_user(training_data)
        profile = profile_for(training_data, user)
        expected = [
            (c.item_id, round(c.score, 5)) for c in trained(Request(user, n=self.n), profile)
        ]
        got = [(c.item_id, round(c.score, 5)) for c in fresh(Request(user, n=self.n), profile)]
        assert got == expected
        for path in tmp_path.iterdir():  # safe formats only: no pickle files
            assert path.suffix not in (".pkl", ".pickle"), path

    def test_empty_data_fails_clearly(self, channel: Any) -> None:
        empty = pa.table(
            {
                "user_id": pa.array([], pa.string()),
                "item_id": pa.array([], pa.string()),
                "rating": pa.array([], pa.float64()),
                "timestamp": pa.array([], pa.float64()),
            }
        )
        with pytest.raises(ValueError, match=r"(?i)no .*interaction|empty"):
            channel.train(TrainingData(table=empty))
