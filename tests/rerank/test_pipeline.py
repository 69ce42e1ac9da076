"""Re-rankers in the one Pipeline: on the tiny platform, and built from configuration."""

from __future__ import annotations

import pytest

from ecorec.core.component import Trainable
from ecorec.core.config import ConfigError, load_config
from ecorec.core.contracts import Request
from ecorec.core.pipeline import Pipeline
from ecorec.data.lookup import ItemLookup
from ecorec.factory import build_components
from ecorec.features.entities import Entities
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge
from ecorec.recall.popular import PopularRecall
from ecorec.rerank.dpp import DPPReranker
from ecorec.rerank.mmr import MMRReranker
from ecorec.rerank.rules import RuleBreakup

TOML = """
[pipeline.recall]
channels = ["popular"]

[pipeline.rank]
model = "recall_order"

[pipeline.rerank]
order = ["dpp", "rules"]
dpp = {theta = 0.7, window = 20}
rules = {max_run = {category = 2, creator = 1}, scenes = {detail = {creator_gap = 3}}}
"""


@pytest.fixture(scope="module")
def popular(tiny_training_data):
    channel = PopularRecall({"n": 200})
    channel.train(tiny_training_data)
    return channel


def test_slate_obeys_the_rules_and_carries_the_reasons(popular, tiny_platform):
    rerankers = [
        MMRReranker({"lambda_": 0.8, "top_k": 30}),
        DPPReranker({"theta": 0.7, "top_k": 30, "window": 10}),
        RuleBreakup({"max_run": {"category": 1, "creator": 1}, "creator_gap": 0}),
    ]
    for reranker in rerankers:
        reranker.attach(tiny_platform.catalog)
    lookup = ItemLookup.from_catalog(tiny_platform.catalog)
    pipeline = Pipeline([popular], Merge(items=lookup), RecallOrderRanker(), rerankers)
    plain = Pipeline([popular], Merge(items=lookup), RecallOrderRanker())
    request = Request("nobody-yet", n=20)
    slate = pipeline(request)
    assert len(slate.items) == 20 and not slate.degraded

    entities = Entities.from_catalog(tiny_platform.catalog)
    placed = [entities.item(i.item_id) for i in slate.items]
    assert all(p is not None for p in placed)
    for before, after in zip(placed, placed[1:], strict=False):
        assert before.category != after.category  # type: ignore[union-attr]
        assert before.creator_id != after.creator_id  # type: ignore[union-attr]
    for item in slate.items:
        assert item.reasons[:2] == ["recall:popular", "rank:recall_order"]
        assert "rerank:mmr" in item.reasons and "rerank:dpp" in item.reasons
    categories = {p.category for p in placed}  # type: ignore[union-attr]
    plain_items = [entities.item(i.item_id) for i in plain(request).items]
    plain_categories = {p.category for p in plain_items}  # type: ignore[union-attr]
    assert len(categories) >= len(plain_categories)


def test_rerankers_build_from_toml(tmp_path):
    path = tmp_path / "ecorec.toml"
    path.write_text(TOML)
    components = build_components(load_config(path))
    dpp, rules = components.rerankers
    assert isinstance(dpp, DPPReranker) and isinstance(rules, RuleBreakup)
    assert (dpp.config.theta, dpp.config.window) == (0.7, 20)
    assert rules.config.for_scene("detail").creator_gap == 3
    assert not any(isinstance(r, Trainable) for r in components.rerankers)  # no training

    bad = tmp_path / "bad.toml"
    bad.write_text(TOML.replace("window = 20", "window = 20, sigma = 1"))
    with pytest.raises(ConfigError, match="dpp"):
        build_components(load_config(bad))
