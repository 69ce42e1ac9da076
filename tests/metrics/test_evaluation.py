"""The recall evaluator: channels scored with the protocol's masks, skipped, failing, fused."""

import pytest
from pydantic import Field

from ecorec.core.component import Component, ComponentConfig
from ecorec.core.config import ConfigError, load_config
from ecorec.core.contracts import Candidate
from ecorec.metrics import evaluation
from ecorec.metrics.evaluation import RecallEvaluator
from ecorec.metrics.fused import equal_quotas, fused_quotas
from ecorec.metrics.protocols import K_MAX, prepare_split
from tests.metrics.test_protocols import _dataset
from tests.metrics.test_protocols import _rows as _items


class ScriptedConfig(ComponentConfig):
    n: int = Field(10, gt=0)


def scripted(channel_name, script, fail_train=None, fail_users=()):
    """A channel whose answer is ``script(split_view, user_id, profile)``: known by design."""

    class Scripted(Component):
        name = channel_name
        personalized = True
        Config = ScriptedConfig
        calls = []

        def train(self, data, options=None):
            if fail_train is not None:
                raise fail_train
            self.data = data

        def is_trained(self):
            return hasattr(self, "data")

        def __call__(self, request, profile):
            type(self).calls.append((request, profile))
            if request.user_id in fail_users:
                raise RuntimeError("boom")
            items = script(request.user_id, profile)[: self.config.n]
            return [Candidate(i, float(len(items) - r), self.name) for r, i in enumerate(items)]

    return Scripted


@pytest.fixture
def split():
    return prepare_split(_dataset(), "recbole-811", seed=1)


def _run(monkeypatch, split, channels, config=None):
    monkeypatch.setattr(evaluation, "CHANNELS", channels)
    evaluator = RecallEvaluator(split, list(channels), config)
    evaluator.train()
    return evaluator.evaluate()


def test_oracle_scores_one_and_masked_items_never_count(monkeypatch, split):
    def oracle(user, profile):  # train, then valid, then test items: only test may count
        return sorted(profile.seen) + _items(split.valid, user) + _items(split.test, user)

    result = _run(monkeypatch, split, {"oracle": scripted("oracle", oracle)})
    metrics = result["channels"]["oracle"]
    assert metrics["recall@10"] == metrics["ndcg@10"] == metrics["mrr@10"] == 1.0
    assert metrics["mean_candidates"] == 1.0  # everything else was masked
    assert result["split"]["test"] == 4 and result["protocol"] == "recbole-811"


def test_requests_and_profiles_are_what_the_pipeline_would_send(monkeypatch, split):
    channel = scripted("spy", lambda user, profile: [])
    _run(monkeypatch, split, {"spy": channel})
    request, profile = channel.calls[0]
    assert request.user_id == "u0" and request.n == K_MAX and request.request_id == "eval-u0"
    assert request.ts == split.now
    assert profile.seen == set(_items(split.train, "u0"))


def test_channels_are_asked_for_enough_candidates_to_survive_the_valid_mask(monkeypatch, split):
    monkeypatch.setattr(evaluation, "CHANNELS", {"s": scripted("s", lambda u, p: [])})
    evaluator = RecallEvaluator(
        split,
        ["s"],
        load_config(None, {"pipeline": {"recall": {"channels": ["s"], "s": {"n": 5}}}}),
    )
    assert evaluator._build("s").config.n == K_MAX + 1  # one valid item per user here


def test_a_channel_that_cannot_apply_is_skipped_with_its_reason(monkeypatch, split):
    result = _run(
        monkeypatch,
        split,
        {
            "curated": scripted("curated", lambda u, p: [], fail_train=ValueError("no pools")),
            "ok": scripted("ok", lambda u, p: ["i00"]),
        },
    )
    assert result["channels"]["curated"] == {"skipped": "no pools"}
    assert result["fused"]["channels"] == ["ok"]
    assert "recall@10" in result["channels"]["ok"]


def test_request_time_failures_are_counted_and_the_others_still_served(monkeypatch, split):
    def oracle(user, profile):
        return _items(split.test, user)

    result = _run(monkeypatch, split, {"flaky": scripted("flaky", oracle, fail_users={"u0"})})
    assert result["channels"]["flaky"]["failures"] == 1
    assert result["channels"]["flaky"]["recall@10"] == pytest.approx(3 / 4)


def test_fused_set_follows_merge_quotas_and_order(monkeypatch, split):
    # "a" proposes the test item at its rank 3, "b" at rank 1; quotas a=2, b=rest: merge order
    # is a's first two (misses), then b's items: the test item lands at fused rank 3
    def a(user, profile):
        return ["i15", "i16", *_items(split.test, user)]

    def b(user, profile):
        return [*_items(split.test, user), "i17"]

    channels = {"a": scripted("a", a), "b": scripted("b", b)}
    config = load_config(
        None, {"pipeline": {"recall": {"channels": ["a", "b"], "quota": {"a": 2}}}}
    )
    result = _run(monkeypatch, split, channels, config)
    assert result["fused"]["quota"] == {"a": 2, "b": 198}
    assert result["fused"]["mrr@10"] == pytest.approx(1 / 3)
    assert result["fused"]["mean_candidates"] == 4.0  # i15, i16, test item, i17
    assert result["channels"]["b"]["mrr@10"] == 1.0


def test_quota_helpers():
    assert equal_quotas(["a", "b", "c"]) == {"a": 67, "b": 67, "c": 66}
    assert sum(equal_quotas([str(i) for i in range(12)]).values()) == 200
    assert fused_quotas(["a", "b", "c"], {"a": 100, "z": 5}) == {"a": 100, "b": 50, "c": 50}
    assert fused_quotas(["a", "b"], {"a": 300}) == {"a": 300, "b": 0}


def test_unknown_channels_are_a_config_error(monkeypatch, split):
    monkeypatch.setattr(evaluation, "CHANNELS", {"ok": scripted("ok", lambda u, p: [])})
    with pytest.raises(ConfigError, match="unknown recall channel.*nope.*known: ok"):
        RecallEvaluator(split, ["ok", "nope"])


def test_fused_lists_rebuild_the_fused_set_without_asking_channels_again(monkeypatch, split):
    def a(user, profile):
        return ["i15", "i16", *_items(split.test, user), *_items(split.valid, user)]

    def b(user, profile):
        return [*_items(split.valid, user), "i17", *_items(split.test, user)]

    monkeypatch.setattr(evaluation, "CHANNELS", {"a": scripted("a", a), "b": scripted("b", b)})
    evaluator = RecallEvaluator(split, ["a", "b"])
    evaluator.train()
    result = evaluator.evaluate()
    again = split.score(evaluator.fused_lists(evaluator.quotas()), "test")
    assert {k: result["fused"][k] for k in again} == again
    other = split.score(evaluator.fused_lists({"b": 1, "a": 1}), "test")
    assert other["recall@200"] == 1.0
    valid = split.score(evaluator.fused_lists({"b": 1, "a": 1}, "valid"), "valid")
    assert valid["mrr@10"] == 1.0  # b's valid item first: relevant on the valid part
