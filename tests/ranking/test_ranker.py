"""The deep ranker as a Pipeline stage: train from the EventLog, save, load, serve, fuse."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ecorec.core.component import NotTrainedError
from ecorec.core.config import ConfigError, EcorecConfig, StorageConfig
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Item
from ecorec.core.events import Event, EventType
from ecorec.core.profile import Profile, ProfileDelta
from ecorec.data.registry import ModelIntegrityError
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.data.training import TrainingData
from ecorec.factory import RANKERS, build_components, build_pipeline, train_all
from ecorec.ranking.ranker import DeepFMRanker
from ecorec.testing.recall import some_user

#: A model small and quick enough for tests that still learns the synthetic click.
SMALL = {"epochs": 3, "learning_rate": 0.01, "embedding_dim": 8, "mlp": [32]}
#: A request time after the whole generated history.
NOW = 1e12
FUSION = {"click": 1.0, "finish": 0.5, "like": 0.3, "negative": -1.0}


def _config(tmp_path, model: str = "deepfm", **params) -> EcorecConfig:
    return EcorecConfig.model_validate(
        {
            "storage": {"database_url": f"sqlite:///{tmp_path / 'ecorec.db'}"},
            "pipeline": {
                "recall": {"channels": ["popular"], "quota": {"popular": 60}},
                "rerank": {"order": []},  # the ranker's order, unchanged
                "rank": {
                    "model": model,
                    "fusion": FUSION,
                    model: {**SMALL, **params},
                },
            },
        }
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranker")
    stores = Stores(StorageConfig(database_url=f"sqlite:///{folder / 'ecorec.db'}"))
    spec = PlatformSpec(users=300, items=500, creators=30, advertisers=2, days=5, seed=11)
    write_platform(spec, stores.catalog, stores.events)
    yield folder, stores
    stores.close()


@pytest.fixture(scope="module")
def trained(platform):
    folder, stores = platform
    config = _config(folder)
    results = train_all(build_components(config), stores)
    return config, stores, results


def test_train_saves_a_registry_version_with_validation_metrics(trained) -> None:
    _, stores, results = trained
    deepfm = results["deepfm"]
    assert "version" in deepfm, deepfm
    valid = deepfm["metrics"]["valid"]
    assert set(valid) == {"click", "like", "finish", "negative"}
    assert valid["click"]["auc"] > 0.55  # the synthetic click depends on interest and quality


def test_pipeline_ranks_by_the_fused_score_of_one_forward_pass(trained) -> None:
    config, stores, _ = trained
    pipeline = build_pipeline(config, stores)
    user = some_user(TrainingData(stores.events, stores.catalog))
    slate = pipeline(Request(user, n=20))
    assert len(slate.items) == 20 and not slate.degraded
    assert all("rank:deepfm" in item.reasons for item in slate.items)
    scores = [item.score for item in slate.items]
    assert scores == sorted(scores, reverse=True)
    ranker = pipeline.ranker
    candidates = [Candidate(i.item_id, 0.0, "popular") for i in slate.items]
    ranked = ranker(Request(user, ts=NOW), Profile(user), candidates)
    for c in ranked:
        fused = sum(w * c.predictions[o] for o, w in FUSION.items())
        assert c.score == pytest.approx(fused, rel=1e-6)
        assert set(c.predictions) == {"click", "like", "finish", "negative"}


def test_a_click_changes_the_next_request_behaviour_features(trained) -> None:
    config, stores, _ = trained
    ranker = build_pipeline(config, stores).ranker
    items = stores.catalog.ids(Item, 50)
    profile = Profile("u-new")
    before = ranker.predict(Request("u-new", ts=NOW), profile, items)["click"]
    profile.apply(ProfileDelta(recent=[(items[0], NOW - 10), (items[1], NOW - 5)]))
    after = ranker.predict(Request("u-new", ts=NOW), profile, items)["click"]
    assert not np.allclose(before, after)


def test_unknown_users_and_items_score_through_oov(trained) -> None:
    config, stores, _ = trained
    ranker = build_pipeline(config, stores).ranker
    out = ranker(
        Request("nobody", ts=NOW),
        Profile("nobody"),
        [Candidate("no-such-item", 0.0, "x"), Candidate(stores.catalog.ids(Item, 1)[0], 0.0, "x")],
    )
    assert len(out) == 2 and all(np.isfinite(c.score) for c in out)


def test_a_tampered_model_file_is_refused(trained, tmp_path) -> None:
    config, stores, _ = trained
    registry = stores.registry
    version = registry.active("deepfm")
    weights = registry.root / "deepfm" / version / "weights.pt"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-8] + b"tampered")
        with pytest.raises(ModelIntegrityError, match="weights.pt"):
            build_pipeline(config, stores)
    finally:
        weights.write_bytes(original)


def test_fusion_must_name_predicted_objectives(tmp_path) -> None:
    config = EcorecConfig.model_validate(
        {"pipeline": {"rank": {"model": "deepfm", "fusion": {"clicks": 1.0}}}}
    )
    with pytest.raises(ConfigError, match="clicks"):
        build_components(config)
    with pytest.raises(ConfigError, match="unknown key 'epoch'"):
        build_components(_config(tmp_path, epoch=3))


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("wide_deep", {}),
        ("deepfm", {}),
        ("din", {}),
        ("dien", {}),
        ("esmm", {"objectives": ["click", "convert"]}),
        ("mmoe", {"objectives": ["click", "like", "finish", "watch_time"]}),
    ],
)
def test_every_family_trains_saves_loads_and_serves_the_same(platform, tmp_path, name, params):
    _, stores = platform
    cls = RANKERS[name]
    items = stores.catalog.ids(Item, 30)
    profile = Profile("u-x", recent=[(items[0], 1.0), (items[1], 2.0)])
    ranker = cls({"epochs": 1, "embedding_dim": 4, "max_samples": 4000, **params})
    ranker.train(TrainingData(stores.events, stores.catalog))
    ranker.save(tmp_path)
    loaded = cls({"epochs": 1, "embedding_dim": 4, **params})
    loaded.load(tmp_path)
    request = Request("u-x", ts=NOW)
    expected = ranker.predict(request, profile, items)
    assert set(expected) == set(params.get("objectives", ["click", "like", "finish", "negative"]))
    for objective, p in loaded.predict(request, profile, items).items():
        np.testing.assert_allclose(p, expected[objective], rtol=1e-6)
    ranked = loaded(request, profile, [Candidate(i, 0.0, "x") for i in items])
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)


def test_untrained_and_table_only_rankers_fail_clearly() -> None:
    ranker = DeepFMRanker()
    with pytest.raises(NotTrainedError):
        ranker(Request("u"), Profile("u"), [Candidate("a", 0.0, "x")])
    assert ranker(Request("u"), Profile("u"), []) == []
    table = pa.table({"user_id": ["u"], "item_id": ["a"], "rating": [5.0], "timestamp": [1]})
    with pytest.raises(ValueError, match="event log"):
        ranker.train(TrainingData(table=table))


def test_a_log_of_ratings_trains_the_click_head_and_fuses_only_it(tmp_path) -> None:
    """MovieLens-style logs have no impressions: ratings label click (rating >= 4)."""
    stores = Stores(StorageConfig(database_url=f"sqlite:///{tmp_path / 'ratings.db'}"))
    rng = np.random.default_rng(0)
    events = [
        Event(
            f"e{k}",
            float(k),
            f"u{u}",
            EventType.RATING,
            item_id=f"i{i}",
            value=5.0 if i < 20 else 1.0,
        )
        for k, (u, i) in enumerate(
            zip(rng.integers(0, 40, 3000), rng.integers(0, 40, 3000), strict=True)
        )
    ]
    stores.events.append(events)
    ranker = DeepFMRanker({**SMALL, "fusion": FUSION})
    ranker.train(TrainingData(stores.events, stores.catalog))
    assert ranker.unlabelled == {"like", "finish", "negative"}
    assert ranker.fusion.weights == {"click": 1.0}
    assert ranker.metrics["valid"]["click"]["auc"] > 0.9
    ranked = ranker(
        Request("u1", ts=NOW), Profile("u1"), [Candidate("i3", 0, "x"), Candidate("i30", 0, "x")]
    )
    assert [c.item_id for c in ranked] == ["i3", "i30"]
    assert ranked[0].score == pytest.approx(ranked[0].predictions["click"])
    stores.close()


def test_default_fusion_covers_only_the_objectives_predicted() -> None:
    assert DeepFMRanker().fusion.weights == {
        "click": 1.0,
        "finish": 0.5,
        "like": 0.3,
        "negative": -1.0,
    }
    assert DeepFMRanker({"objectives": ["click", "like"]}).fusion.weights == {
        "click": 1.0,
        "like": 0.3,
    }
    assert DeepFMRanker({"objectives": ["watch_time"]}).fusion.weights == {"watch_time": 1.0}
