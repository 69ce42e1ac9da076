"""build_pipeline reads the catalog's items once for every re-ranker that holds them."""

from __future__ import annotations

from typing import Any

import pytest

from ecorec.core.config import EcorecConfig
from ecorec.core.contracts import Request
from ecorec.core.entities import Item
from ecorec.data.catalog.sql import SQLCatalog
from ecorec.data.stores import Stores
from ecorec.data.synthetic import PlatformSpec, write_platform
from ecorec.factory import build_pipeline
from ecorec.features.entities import Entities

STAGES = ["creator_traffic", "dpp", "rules", "curated", "ads"]


def test_the_stages_share_one_snapshot_read_by_one_scan(tmp_path, monkeypatch) -> None:
    config = EcorecConfig.model_validate(
        {
            "storage": {"database_url": f"sqlite:///{tmp_path / 'ecorec.db'}"},
            "pipeline": {
                "recall": {"channels": ["popular"]},
                "rank": {"model": "recall_order"},
                "rerank": {"order": STAGES, "rules": {"max_run": {"category": 2}}},
            },
        }
    )
    with Stores(config.storage) as stores:
        spec = PlatformSpec(users=50, items=300, creators=10, advertisers=2, days=2, seed=5)
        write_platform(spec, stores.catalog, stores.events)
        build_pipeline(config, stores, train_missing=True)  # trains popular and the ads stage

        scans: list[str] = []
        scan = SQLCatalog.scan

        def counting(self: SQLCatalog, kind: type) -> Any:
            scans.append(kind.__name__)
            return scan(self, kind)

        monkeypatch.setattr(SQLCatalog, "scan", counting)
        pipeline = build_pipeline(config, stores)
        assert scans.count("Item") == 1  # five stages hold items: one read for all

        stages = {r.name: r for r in pipeline.rerankers}
        held = [
            stages["dpp"].similarity.entities,
            stages["rules"].entities,
            stages["creator_traffic"].lookup.entities,
            stages["curated"].entities,
        ]
        assert all(isinstance(e, Entities) and e is held[0] for e in held)
        assert len(held[0].items) == 300 and len(stages["ads"].categories) == 300

        # an item published since is read on demand once and then known to every stage
        stores.catalog.put([Item("fresh", creator_id=held[0].items["i0000000"].creator_id)])
        user = next(iter(held[0].users))
        pipeline(Request(user, n=10))
        assert stages["rules"].values(["fresh"])[0]["creator"]
        assert "fresh" in stages["dpp"].similarity.entities.items


@pytest.mark.parametrize("stage", ["dpp", "rules", "creator_traffic", "curated"])
def test_a_stage_given_its_own_entities_keeps_them(stage: str) -> None:
    from ecorec.factory import build_components

    config = EcorecConfig.model_validate({"pipeline": {"rerank": {"order": [stage]}}})
    (reranker,) = build_components(config).rerankers
    own = Entities.of(items=[Item("x", category="c")])
    catalog = SQLCatalog("sqlite:///:memory:")
    holder = {"dpp": "similarity", "creator_traffic": "lookup"}.get(stage)
    target = getattr(reranker, holder) if holder else reranker
    target.entities = own
    reranker.attach(catalog)
    assert target.entities is own and own.catalog is catalog
