"""Ads stage: latency on 500 candidates + 200 ads, and a simulated day on the synthetic platform.

(a) Latency, in-process, one request at a time (n = 20, feed, 4 ad slots): the ads stage alone
(targeting, pacing draws, estimates, GSP auction, insertion) on 500 ranked content candidates
and 200 ads of 67 advertisers over 20 categories; and the whole re-rank + ads stage (DPP 50 of
500, break-up rules, ads) on the same candidates. In the same run, so machine load hits all
alike: a floor, ``np.argsort`` of 500 scores.

(b) A simulated day on a synthetic platform written to a temporary SQLite store: the ads stage
is trained on the platform's logged ad events (pCTR/pCVR fallback), content lists come from
popular recall through the one Pipeline, and requests arrive over one UTC day along a diurnal
traffic curve (the same curve the pacer is given). Users click an ad at its true CTR and
convert at its true CVR (the platform's ground truth); CPC/oCPC ads bill on click, CPM/oCPM on
impression; the oCPM controller steps every 500 requests. Budgets are the platform's scaled by
``--budget-scale`` so that demand exceeds most budgets and pacing matters; the day runs with
pacing on and off. Reported: fill rate (ads served / ad slots offered), revenue, eCPM
(revenue per 1,000 ad impressions), spend / budget per advertiser, share of the day's spend by
noon, CPA / target of optimised advertisers.

    .venv/bin/python benchmarks/ads_auction.py                # about 1 min on 2 busy cores
    .venv/bin/python benchmarks/ads_auction.py --json --runs 500 --requests 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from ecorec.ads.reranker import AdsReranker
from ecorec.ads.targeting import AdInventory
from ecorec.core.contracts import Candidate, Request
from ecorec.core.entities import Ad, Advertiser, BidType, Creator, CreatorStage, Item, User
from ecorec.core.profile import Profile
from ecorec.features.entities import Entities
from ecorec.rerank.creator import CreatorTraffic
from ecorec.rerank.curated import CuratedInjection
from ecorec.rerank.dpp import DPPReranker
from ecorec.rerank.explore import ExploreSlots
from ecorec.rerank.rules import RuleBreakup

DIURNAL = (2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 8, 7, 6, 6, 7, 8, 10, 12, 12, 10, 7, 4)
DAY0 = 1_717_200_000.0 - 1_717_200_000.0 % 86_400


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentiles(times: list[float]) -> dict[str, float]:
    ms = np.asarray(times) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


def synthetic_ads(rng: np.random.Generator, ads: int = 200) -> AdInventory:
    owners = [
        Advertiser(f"adv{a}", daily_budget=1e9, target_cpa=float(rng.lognormal(3.0, 0.5)))
        for a in range(-(-ads // 3))
    ]
    kinds = list(BidType)
    out = [
        Ad(
            f"ad{j}",
            f"adv{j // 3}",
            kinds[j % 4],
            bid=float(rng.lognormal(np.log(0.5), 0.5))
            if j % 4 == 0
            else float(rng.lognormal(np.log(5.0), 0.5)),
            target_cpa=owners[j // 3].target_cpa,
            category=f"c{rng.integers(20)}",
            landing_quality=float(rng.beta(5, 2)),
        )
        for j in range(ads)
    ]
    return AdInventory.of(out, owners)


def latency(runs: int, seed: int) -> dict[str, Any]:
    from ecorec.ads.estimates import AdEstimates

    rng = np.random.default_rng(seed)
    items = [
        Item(
            f"i{k}",
            creator_id=f"cr{rng.integers(100)}",
            category=f"c{rng.integers(20)}",
            tags=tuple(f"t{t}" for t in rng.choice(20, rng.integers(0, 4), replace=False)),
        )
        for k in range(500)
    ]
    stages = (CreatorStage.NOVICE, CreatorStage.MID, CreatorStage.HEAD)
    creators = [
        Creator(f"cr{k}", stage=stages[k % 3], quality=float(rng.random())) for k in range(100)
    ]
    items = [replace(i, quality=float(rng.random())) for i in items]
    entities = Entities.of(items=items, creators=creators)
    ads = AdsReranker(
        {"floor": {"base": 0.5}}, inventory=synthetic_ads(rng), estimates=AdEstimates()
    )
    ads.categories = {i.item_id: i.category for i in items}  # the warm cache of a serving process
    chain = [
        DPPReranker({"theta": 0.7, "top_k": 50}, entities=entities),
        RuleBreakup({"max_run": {"category": 2, "creator": 1}}, entities=entities),
        ads,
    ]
    # the default [pipeline.rerank] order; curated holds no pool here (a no-op pass)
    default_order = [
        CreatorTraffic({}, entities=entities),
        chain[0],
        chain[1],
        ExploreSlots({}),
        CuratedInjection({}, entities=entities),
        ads,
    ]
    times: dict[str, list[float]] = {
        "floor_argsort_500": [],
        "ads_stage": [],
        "rerank_plus_ads": [],
        "default_order": [],
    }
    discovery = ("explore", "long_tail")
    profile = Profile("u", interests={f"c{k}": float(k) for k in range(5)})
    for r in range(runs):
        scores = rng.random(500)
        fresh = [Candidate(f"i{k}", float(s), "popular") for k, s in enumerate(scores)]
        request = Request(f"u{r % 200}", n=20, request_id=f"r{r}", ts=DAY0 + r)
        start = time.perf_counter()
        np.argsort(-scores)
        times["floor_argsort_500"].append(time.perf_counter() - start)
        start = time.perf_counter()
        out = ads(request, profile, list(fresh))
        times["ads_stage"].append(time.perf_counter() - start)
        assert sum(c.is_ad for c in out[:20]) > 0
        again = [Candidate(c.item_id, c.score, c.channel) for c in fresh]
        request = Request(request.user_id, n=20, request_id=f"q{r}", ts=request.ts)
        start = time.perf_counter()
        for stage in chain:
            again = stage(request, profile, again)
        times["rerank_plus_ads"].append(time.perf_counter() - start)
        # one candidate in ten from a discovery channel, for the explore slots to pick from
        again = [
            Candidate(c.item_id, c.score, discovery[k % 2] if k % 10 == 0 else c.channel)
            for k, c in enumerate(fresh)
        ]
        request = Request(request.user_id, n=20, request_id=f"d{r}", ts=request.ts)
        start = time.perf_counter()
        for stage in default_order:
            again = stage(request, profile, again)
        times["default_order"].append(time.perf_counter() - start)
    out_stats = {name: percentiles(t) for name, t in times.items()}
    out_stats["runs"] = runs
    out_stats["ads"] = len(ads.inventory.entries) if ads.inventory else 0
    return out_stats


def simulated_day(requests: int, users: int, budget_scale: float, seed: int) -> dict[str, Any]:
    from ecorec.core.config import StorageConfig
    from ecorec.core.pipeline import Pipeline
    from ecorec.data.lookup import ItemLookup
    from ecorec.data.stores import Stores
    from ecorec.data.synthetic import PlatformSpec, write_platform
    from ecorec.data.training import TrainingData
    from ecorec.ranking.recall_order import RecallOrderRanker
    from ecorec.recall.merge import Merge
    from ecorec.recall.popular import PopularRecall

    with tempfile.TemporaryDirectory(prefix="ecorec-ads-") as tmp:
        stores = Stores(StorageConfig(database_url=f"sqlite:///{Path(tmp) / 'ecorec.db'}"))
        spec = PlatformSpec(
            users=users, items=2000, creators=100, advertisers=20, days=7, seed=seed
        )
        log(f"writing platform: {users} users, 2000 items, {spec.ads} ads, 7 days")
        write_platform(spec, stores.catalog, stores.events)
        data = TrainingData(stores.events, stores.catalog)
        popular = PopularRecall({"n": 100})
        popular.train(data)
        pipeline = Pipeline(
            [popular], Merge(items=ItemLookup.from_catalog(stores.catalog)), RecallOrderRanker()
        )
        user_ids = stores.catalog.ids(User)
        lists = {
            u: [Candidate(i.item_id, i.score, "popular") for i in pipeline(Request(u, n=40)).items]
            for u in user_ids[:300]
        }
        ads = list(stores.catalog.scan(Ad))
        truth = {a.ad_id: (a.true_ctr or 0.0, a.true_cvr or 0.0) for a in ads}
        owners = [
            replace(a, daily_budget=round(a.daily_budget * budget_scale, 2))
            for a in stores.catalog.scan(Advertiser)
        ]
        results = {}
        for pacing in (True, False):
            stage = AdsReranker(
                {"pacing": {"hourly_traffic": DIURNAL, "enabled": pacing}, "floor": {"base": 1.0}}
            )
            stage.train(data)
            stage.attach(stores.catalog)
            stage.inventory = AdInventory.of(ads, owners)
            results["paced" if pacing else "unpaced"] = _run_day(
                stage, lists, truth, requests, seed
            )
        stores.close()
    return results


def _run_day(
    stage: AdsReranker,
    lists: dict[str, list[Candidate]],
    truth: dict[str, tuple[float, float]],
    requests: int,
    seed: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    hours = np.asarray(DIURNAL, dtype=np.float64)
    hour = rng.choice(24, size=requests, p=hours / hours.sum())
    stamps = np.sort(DAY0 + 3600.0 * (hour + rng.random(requests)))
    users = list(lists)
    offered = served = 0
    conversions: dict[str, int] = {}
    noon_spend = Decimal(0)
    for r, ts in enumerate(stamps.tolist()):
        user = users[int(rng.integers(len(users)))]
        request = Request(user, "feed", 20, {}, f"d{r}", ts)
        slate = stage(
            request, Profile(user), [Candidate(c.item_id, c.score, c.channel) for c in lists[user]]
        )[:20]
        decision = stage.decision(request.request_id)
        offered += (
            len(stage.policy.positions(20, len(lists[user]), 20, decision.load)) if decision else 0
        )
        for c in slate:
            if not c.is_ad or c.ad_id is None:
                continue
            served += 1
            ctr, cvr = truth[c.ad_id]
            if rng.random() < ctr:
                stage.record_click(request.request_id, c.ad_id, ts + 1)
                if rng.random() < cvr:
                    advertiser = stage.charges(request.request_id)[c.ad_id].bid.advertiser_id
                    stage.record_conversion(advertiser)
                    conversions[advertiser] = conversions.get(advertiser, 0) + 1
        if r % 500 == 499:
            stage.update_bid_adjustments()
        if ts <= DAY0 + 12 * 3600:
            noon_spend = sum(stage.ledger.spent.values(), Decimal(0))
    assert stage.inventory is not None
    budgets = stage.inventory.budgets()
    day = int(DAY0 // 86_400)
    ratios = [float(stage.ledger.spend(a, day)) / b for a, b in budgets.items()]
    revenue = float(sum(stage.ledger.spent.values(), Decimal(0)))
    optimised = {
        e.advertiser_id: e.amount
        for e in stage.inventory.entries
        if e.ad.bid_type in (BidType.OCPM, BidType.OCPC)
    }
    cpa = [
        float(stage.ledger.spend(a, day)) / conversions[a] / t
        for a, t in optimised.items()
        if conversions.get(a)
    ]
    return {
        "requests": requests,
        "fill_rate": round(served / max(offered, 1), 4),
        "ad_impressions": served,
        "revenue": round(revenue, 2),
        "ecpm": round(1000 * revenue / max(served, 1), 3),
        "spend_over_budget_max": round(max(ratios), 4),
        "spend_over_budget_mean": round(float(np.mean(ratios)), 4),
        "advertisers_at_95pct_budget": sum(r >= 0.95 for r in ratios),
        "advertisers": len(ratios),
        "share_of_spend_by_noon": round(float(noon_spend) / max(revenue, 1e-9), 4),
        "share_of_traffic_by_noon": round(float((stamps <= DAY0 + 12 * 3600).mean()), 4),
        "ocpm_cpa_over_target_median": round(float(np.median(cpa)), 3) if cpa else None,
        "forgiven": float(stage.ledger.forgiven),
        "reasons": dict(stage.stats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="timed calls in (a)")
    parser.add_argument(
        "--requests", type=int, default=20_000, help="requests in the simulated day"
    )
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--budget-scale", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    started = time.perf_counter()
    log(f"(a) latency, {args.runs} runs")
    result: dict[str, Any] = {"benchmark": "ads_auction", "latency": latency(args.runs, args.seed)}
    log(f"(b) simulated day, {args.requests} requests")
    result["day"] = simulated_day(args.requests, args.users, args.budget_scale, args.seed)
    result["machine"] = {"python": platform.python_version(), "machine": platform.machine()}
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
