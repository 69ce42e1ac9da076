"""The ESMM ad scorer: train on logged ad impressions, save/load, serve in the ads stage."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ecorec.ads.esmm_scorer import FOLDER, ESMMAdScorer
from ecorec.ads.reranker import AdsReranker
from ecorec.core.config import StorageConfig
from ecorec.core.contracts import Request
from ecorec.core.entities import Ad, User
from ecorec.core.pipeline import Pipeline
from ecorec.core.profile import Profile
from ecorec.data.lookup import ItemLookup
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.data.synthetic.spec import ResponseParams
from ecorec.data.training import TrainingData
from ecorec.ranking.recall_order import RecallOrderRanker
from ecorec.recall.merge import Merge
from ecorec.recall.popular import PopularRecall

from ._helpers import DAY0

#: Small and quick, yet it learns the synthetic ad click.
SMALL = {"model": {"embedding_dim": 8, "mlp": [32]}, "train": {"epochs": 3, "learning_rate": 0.01}}
#: After the whole generated history.
NOW = 1e12


@pytest.fixture(scope="module")
def ad_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """A platform whose every request carries an ad: about 15k ad impressions, 50 conversions."""
    folder = tmp_path_factory.mktemp("esmm_ads")
    stores = Stores(StorageConfig(database_url=f"sqlite:///{folder / 'ecorec.db'}"))
    spec = PlatformSpec(
        users=4000,
        items=800,
        creators=40,
        advertisers=10,
        days=6,
        seed=3,
        response=ResponseParams(ad_fill=1.0),
    )
    write_platform(spec, stores.catalog, stores.events)
    yield stores
    stores.close()


@pytest.fixture(scope="module")
def trained(ad_platform: Stores) -> ESMMAdScorer:
    scorer = ESMMAdScorer({**SMALL, "convert_weight": 10.0})
    scorer.train(TrainingData(ad_platform.events, ad_platform.catalog))
    return scorer


def _ranks(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(np.asarray(x, dtype=np.float64))).astype(np.float64)


def test_save_load_round_trip_gives_the_same_probabilities(
    trained: ESMMAdScorer, ad_platform: Stores, tmp_path: Path
) -> None:
    ads = list(ad_platform.catalog.scan(Ad))
    ids = [a.ad_id for a in ads] + ["never-seen-ad"]
    request, profile = Request("u-x", ts=NOW), Profile("u-x", recent=[("i1", 1.0)])
    pctr, pcvr = trained.predict(request, profile, ids)
    assert pctr.shape == pcvr.shape == (len(ids),)
    assert ((pctr > 0) & (pctr < 1)).all() and ((pcvr > 0) & (pcvr < 1)).all()
    assert trained.metrics["convert_weight"] == 10.0 and trained.metrics["conversions"] >= 20
    trained.save(tmp_path)
    loaded = ESMMAdScorer(SMALL)
    loaded.load(tmp_path)
    again = loaded.predict(request, profile, ids)
    np.testing.assert_allclose(again[0], pctr, rtol=1e-6)
    np.testing.assert_allclose(again[1], pcvr, rtol=1e-6)
    assert [len(p) for p in loaded.predict(request, profile, [])] == [0, 0]


def test_pcvr_is_the_cvr_tower_and_pctr_ranks_ads_by_their_true_ctr(
    trained: ESMMAdScorer, ad_platform: Stores
) -> None:
    ads = list(ad_platform.catalog.scan(Ad))
    ids = [a.ad_id for a in ads]
    request, profile = Request("u-x", ts=NOW), Profile("u-x")
    pctr, pcvr = trained.predict(request, profile, ids)
    # ESMM's identity: the CTCVR head is pCTR x pCVR, so pCVR is the tower, not the product
    ranker = trained.ranker
    assert ranker.features is not None and ranker.model is not None
    from ecorec.features.rows import online_rows

    rows = online_rows(request, profile, ids, ranker.features.max_history)
    with torch.inference_mode():
        ctcvr = torch.sigmoid(
            ranker.model(ranker.features.encode(rows, ranker.entities))["convert"]
        )
    np.testing.assert_allclose(pctr * pcvr, ctcvr.double().numpy(), rtol=1e-4)
    # the synthetic ground truth: the ads' own click rates (Spearman, measured 0.51)
    rho = np.corrcoef(_ranks(pctr), _ranks([a.true_ctr for a in ads]))[0, 1]
    assert rho > 0.25


def test_the_convert_weight_is_picked_on_validation(ad_platform: Stores) -> None:
    scorer = ESMMAdScorer({**SMALL, "convert_weights": [1.0, 30.0]})
    metrics = scorer.train(TrainingData(ad_platform.events, ad_platform.catalog))
    tried = metrics["valid_ctcvr_auc_by_weight"]
    assert set(tried) == {"1.0", "30.0"}
    assert metrics["convert_weight"] == float(max(tried, key=lambda w: tried[w]))
    assert metrics["valid"]["convert"]["auc"] == max(tried.values())


def test_an_ad_published_after_training_keeps_its_catalog_features(
    trained: ESMMAdScorer, ad_platform: Stores, tmp_path: Path
) -> None:
    trained.save(tmp_path)
    scorer = ESMMAdScorer(SMALL)
    scorer.load(tmp_path)
    known = next(iter(ad_platform.catalog.scan(Ad)))
    later = Ad(
        "ad-published-later",
        known.advertiser_id,
        known.bid_type,
        bid=known.bid,
        category=known.category,
        landing_quality=known.landing_quality,
    )
    ad_platform.catalog.put([later])
    scorer.attach(ad_platform.catalog)
    request, profile = Request("u-x", ts=NOW), Profile("u-x")
    pctr, _ = scorer.predict(request, profile, [later.ad_id, "ad-nowhere", known.ad_id])
    # both ids are OOV; the new ad's advertiser, category and landing quality still count
    assert pctr[0] != pytest.approx(pctr[1])
    assert "ad-published-later" in scorer.ranker.entities.items


def test_the_ads_stage_trains_saves_loads_and_serves_the_esmm(
    ad_platform: Stores, tmp_path: Path
) -> None:
    data = TrainingData(ad_platform.events, ad_platform.catalog)
    config = {"floor": {"base": 0.1}, "scorer": "esmm", "esmm": {**SMALL, "convert_weight": 10}}
    stage = AdsReranker(config)
    stage.train(data)
    assert isinstance(stage.scorer, ESMMAdScorer) and stage.estimates is not None
    metrics = stage.save(tmp_path)
    assert metrics["scorer"] == "esmm" and (tmp_path / FOLDER).is_dir()
    loaded = AdsReranker(config)
    loaded.load(tmp_path)
    loaded.attach(ad_platform.catalog)
    assert isinstance(loaded.scorer, ESMMAdScorer)
    popular = PopularRecall({"n": 200})
    popular.train(data)
    pipeline = Pipeline(
        [popular],
        Merge(items=ItemLookup.from_catalog(ad_platform.catalog)),
        RecallOrderRanker(),
        [loaded],
        profiles=ad_platform.profiles,
    )
    users = ad_platform.catalog.ids(User, limit=30)
    ads = []
    for k, user_id in enumerate(users):
        slate = pipeline(Request(user_id, n=20, request_id=f"e{k}", ts=DAY0 + 3600 * (k % 24)))
        ads += [item for item in slate.items if item.is_ad]
    assert ads and all("sponsored" in item.reasons for item in ads)
    # the bids were priced with the ESMM's pCTR, not with the ad's calibrated rate
    request_id = next(f"e{k}" for k in range(len(users)) if loaded.charges(f"e{k}"))
    charge = next(iter(loaded.charges(request_id).values()))
    k = int(request_id[1:])
    request = Request(users[k], n=20, request_id=request_id, ts=DAY0 + 3600 * (k % 24))
    profile = ad_platform.profiles.get(users[k])
    (pctr,), _ = loaded.scorer.predict(request, profile, [charge.bid.ad_id])
    assert charge.bid.pctr == pytest.approx(pctr)


def test_a_log_too_small_for_esmm_keeps_the_calibrated_fallback(
    tiny_training_data: TrainingData, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match="converted ad impressions"):
        ESMMAdScorer(SMALL).train(tiny_training_data)
    stage = AdsReranker({"scorer": "esmm", "esmm": SMALL})
    with caplog.at_level(logging.WARNING, logger="ecorec.ads.esmm_scorer"):
        stage.train(tiny_training_data)
    assert stage.scorer is None and stage.estimates is not None and stage.is_trained()
    assert "ESMM not trained" in caplog.text
    assert stage.save(tmp_path)["scorer"] == "calibrated" and not (tmp_path / FOLDER).exists()
    loaded = AdsReranker({"scorer": "esmm", "esmm": SMALL})
    loaded.load(tmp_path)
    assert loaded.scorer is None and loaded.estimates is not None


def test_bad_esmm_keys_fail_at_construction() -> None:
    with pytest.raises(ValidationError):
        AdsReranker({"scorer": "esmm", "esmm": {"embedding_size": 8}})
    with pytest.raises(ValidationError):
        AdsReranker({"scorer": "esmm", "esmm": {"model": {"mlp": "wide"}}})
    with pytest.raises(ValidationError):
        AdsReranker({"scorer": "neural"})
