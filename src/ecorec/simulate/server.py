"""Where simulated requests go: the Pipeline in this process, or a running service over HTTP.

Both log like real traffic. In-process, a served slate's impressions are built by
:func:`ecorec.slate_events.slate_events` (what ``POST /v1/recommend`` logs) and reactions are
folded into the profiles immediately (what ``POST /v1/events`` does); the ads stage bills clicks
and its budgets follow the simulated advertisers. Over HTTP the service does all of that itself;
the simulator only posts reactions, and advertisers' budgets stay the service's (the simulator
cannot reach its ads stage, and it cannot see charges, so spend reads as zero).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from ecorec.ads.reranker import AdsReranker
from ecorec.ads.targeting import AdInventory
from ecorec.core.config import EcorecConfig
from ecorec.core.contracts import Request, SlateItem
from ecorec.core.entities import Ad, Advertiser, Item, User
from ecorec.core.events import Event
from ecorec.core.pipeline import Pipeline
from ecorec.data.lookup import ItemLookup
from ecorec.data.profiles.delta import deltas_from_events
from ecorec.data.stores import Stores
from ecorec.data.training import TrainingData
from ecorec.slate_events import slate_events


class Server(Protocol):
    """What the simulator needs from whatever serves it."""

    pipeline_seconds: float

    def recommend(self, user_id: str, request_id: str, ts: float, n: int) -> list[SlateItem]: ...

    def feedback(self, events: Sequence[Event]) -> None: ...

    def record_click(self, request_id: str, ad_id: str, ts: float) -> None: ...

    def day_spend(self, advertiser_ids: Sequence[str]) -> np.ndarray: ...

    def set_budgets(
        self,
        budgets: dict[str, float],
        advertisers: Sequence[Advertiser] | None = None,
        ads: Sequence[Ad] | None = None,
    ) -> None: ...

    def add_items(self, items: Sequence[Item]) -> None: ...

    def know_users(self, users: Sequence[User]) -> None: ...

    def refresh(self, channels: Sequence[str]) -> None: ...

    def flush(self) -> None: ...


class InProcessServer:
    """The arm's Pipeline over the shared stores; events buffered, profiles updated at once."""

    def __init__(
        self, pipeline: Pipeline, stores: Stores, lookup: ItemLookup, flush_at: int = 50_000
    ) -> None:
        self.pipeline = pipeline
        self.stores = stores
        self.lookup = lookup
        self.flush_at = flush_at
        self.buffer: list[Event] = []
        self.pipeline_seconds = 0.0
        self.spend: dict[str, float] = {}
        self.ads = next((r for r in pipeline.rerankers if isinstance(r, AdsReranker)), None)
        self._advertisers: dict[str, Advertiser] = {}
        self._ads: list[Ad] = []

    @classmethod
    def build(
        cls,
        config: EcorecConfig,
        stores: Stores,
        lookup: ItemLookup,
        on_train: Callable[[str], None] | None = None,
    ) -> InProcessServer:
        """The configured pipeline; models missing from the registry are trained first."""
        from ecorec.factory import build_pipeline

        return cls(
            build_pipeline(config, stores, train_missing=True, on_train=on_train), stores, lookup
        )

    def recommend(self, user_id: str, request_id: str, ts: float, n: int) -> list[SlateItem]:
        request = Request(user_id, "feed", n, {}, request_id, ts)
        started = time.perf_counter()
        slate = self.pipeline(request)
        self.pipeline_seconds += time.perf_counter() - started
        shown = slate_events(request, slate, self.pipeline)
        for event in shown:
            extra = event.extra or {}
            if event.ad_id and extra.get("advertiser_id") and extra.get("cost"):
                owner = str(extra["advertiser_id"])
                self.spend[owner] = self.spend.get(owner, 0.0) + float(extra["cost"])
        self.buffer.extend(shown)
        return slate.items

    def feedback(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.buffer.extend(events)
        for user_id, delta in deltas_from_events(events, self.lookup).items():
            self.stores.profiles.apply(user_id, delta)
        if len(self.buffer) >= self.flush_at:
            self.flush()

    def record_click(self, request_id: str, ad_id: str, ts: float) -> None:
        if self.ads is None:
            return
        decision = self.ads.decision(request_id)
        charge = decision.charges.get(ad_id) if decision is not None else None
        billed = self.ads.record_click(request_id, ad_id, ts)
        if charge is not None and billed > Decimal(0):
            owner = charge.bid.advertiser_id
            self.spend[owner] = self.spend.get(owner, 0.0) + float(billed)

    def day_spend(self, advertiser_ids: Sequence[str]) -> np.ndarray:
        out = np.array([self.spend.get(a, 0.0) for a in advertiser_ids])
        self.spend.clear()
        return out

    def set_budgets(
        self,
        budgets: dict[str, float],
        advertisers: Sequence[Advertiser] | None = None,
        ads: Sequence[Ad] | None = None,
    ) -> None:
        """Give the ads stage this arm's budgets (an arm pays for its share of traffic only)."""
        if advertisers is not None:
            self._advertisers = {a.advertiser_id: a for a in advertisers}
        if ads is not None:
            self._ads = list(ads)
        if self.ads is None:
            return
        owners = [
            replace(a, daily_budget=budgets.get(a.advertiser_id, a.daily_budget))
            for a in self._advertisers.values()
        ]
        self.ads.inventory = AdInventory.of(self._ads, owners)

    def add_items(self, items: Sequence[Item]) -> None:
        merge_items = getattr(self.pipeline.merge, "items", None)
        if isinstance(merge_items, ItemLookup) and merge_items is not self.lookup:
            for item in items:
                merge_items.info[item.item_id] = (item.category, item.creator_id)

    def know_users(self, users: Sequence[User]) -> None:
        """Give the ads stage the simulated users' catalog rows (segment, scenario).

        The simulation read them all once at set-up; otherwise the ads stage reads each user
        from the catalog at the first request of a session (its cache keeps a row an hour,
        and a simulated user comes back about once a day), one SQL query per session.
        """
        if self.ads is not None:
            self.ads.users.update((u.user_id, u) for u in users)

    def refresh(self, channels: Sequence[str]) -> None:
        """Retrain the named channels on the log as it is now (the nightly batch job)."""
        wanted = [c for c in self.pipeline.channels if c.name in channels]
        if not wanted:
            return
        self.flush()
        data = TrainingData(self.stores.events, self.stores.catalog)
        for channel in wanted:
            try:
                channel.train(data)  # type: ignore[attr-defined]
            except ValueError:
                continue  # nothing it can learn from (no creators, say): keep the old model

    def flush(self) -> None:
        if self.buffer:
            self.stores.events.append(self.buffer)
            self.buffer = []


class HttpServer:
    """A running ``ecorec serve``: ``POST /v1/recommend`` and ``POST /v1/events``."""

    def __init__(
        self, url: str, api_key: str, timeout: float = 10.0, transport: Any = None
    ) -> None:
        import httpx

        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"X-API-Key": api_key},
            timeout=timeout,
            transport=transport,
        )
        self.pipeline_seconds = 0.0
        self.request_ids: dict[str, str] = {}

    def recommend(self, user_id: str, request_id: str, ts: float, n: int) -> list[SlateItem]:
        started = time.perf_counter()
        response = self.client.post("/v1/recommend", json={"user_id": user_id, "n": n})
        self.pipeline_seconds += time.perf_counter() - started
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        self.request_ids[request_id] = body["request_id"]
        keys = (
            "item_id",
            "position",
            "score",
            "channel",
            "reasons",
            "is_ad",
            "ad_id",
            "propensity",
        )
        return [SlateItem(**{k: slot.get(k) for k in keys}) for slot in body["items"]]

    def feedback(self, events: Sequence[Event]) -> None:
        if not events:
            return
        payload = []
        for event in events:
            rid = self.request_ids.get(event.request_id or "", event.request_id)
            row = dataclasses.asdict(event)
            row["request_id"] = rid
            row["type"] = str(event.type)
            payload.append({k: v for k, v in row.items() if v is not None})
        response = self.client.post("/v1/events", json={"events": payload})
        response.raise_for_status()

    def record_click(self, request_id: str, ad_id: str, ts: float) -> None:
        """The service bills clicks from the events it receives."""

    def day_spend(self, advertiser_ids: Sequence[str]) -> np.ndarray:
        return np.zeros(len(advertiser_ids))

    def set_budgets(
        self,
        budgets: dict[str, float],
        advertisers: Sequence[Advertiser] | None = None,
        ads: Sequence[Ad] | None = None,
    ) -> None:
        """The service's budgets are its own."""

    def add_items(self, items: Sequence[Item]) -> None:
        """The service reads new items from the shared catalog."""

    def know_users(self, users: Sequence[User]) -> None:
        """The service reads users from the shared catalog."""

    def refresh(self, channels: Sequence[str]) -> None:
        """Retraining a running service is ``ecorec train`` plus a reload, not the simulator's."""

    def flush(self) -> None:
        """Events were posted as they happened."""
