"""The HTTP service: ``create_app(config)`` builds a FastAPI app over the one Pipeline.

Nothing is created at import time: stores, the pipeline and the key table are opened by the
app's lifespan, so tests build as many apps as they like and override dependencies. The routes
only parse, call the library and format (see STYLE.md, "thin processes over shared logic").
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

import ecorec
from ecorec.core.config import ConfigError, EcorecConfig
from ecorec.core.heap import freeze_heap
from ecorec.core.pipeline import Pipeline
from ecorec.data.lookup import ItemLookup
from ecorec.data.nearline import NearlineStats
from ecorec.data.stores import Stores, outbox_path, simulation_path
from ecorec.data.stream import Nearline
from ecorec.factory import build_pipeline
from ecorec.rerank.explore import ExploreSlots
from ecorec.service.auth import KeyStore
from ecorec.service.impressions import ImpressionWriter
from ecorec.service.limits import BodyLimit, RateLimitAndMetrics
from ecorec.service.metrics import ServiceMetrics
from ecorec.service.overload import PipelineQueue
from ecorec.service.privacy import DeletionLog
from ecorec.service.ratelimit import RateLimiter
from ecorec.service.responses import LIMITED

if TYPE_CHECKING:
    from ecorec.report.live import HealthMonitor

log = logging.getLogger(__name__)

#: Slates whose reasons ``explain`` answers from memory; older ones are read from the EventLog.
RECENT_SLATES = 10_000


@dataclass
class ServiceState:
    """What the routes share: configuration, stores, the pipeline and its bookkeeping.

    ``pipeline`` is None when it could not be built (no trained model yet); ``/readyz`` then
    answers 503 with ``error`` and recommend answers 503, while events are still accepted.
    """

    config: EcorecConfig
    stores: Stores
    metrics: ServiceMetrics
    deletions: DeletionLog
    pipeline: Pipeline | None = None
    #: the nearline stream: stored events are published here (None until the app starts)
    nearline: Nearline | None = None
    #: writes served slates' impressions in batches (None until the app starts)
    impressions: ImpressionWriter | None = None
    lookup: ItemLookup = field(default_factory=ItemLookup)
    model_version: str | None = None
    error: str | None = None
    #: one writer at a time for "which ids are new, store them, update profiles"
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)
    #: request_id -> the slots ``explain`` shows, most recent last (bounded by RECENT_SLATES)
    recent_slates: OrderedDict[str, list[dict[str, object]]] = field(default_factory=OrderedDict)
    recent_lock: threading.Lock = field(default_factory=threading.Lock)
    #: one model activation at a time (each builds a whole pipeline)
    admin_lock: threading.Lock = field(default_factory=threading.Lock)
    #: one pipeline call at a time, in arrival order: the pipeline is Python that holds the
    #: GIL, so threads running it together only contend (measured: fewer requests/s, a longer
    #: tail); past the wait budget a request gets the light slate (``service.overload``)
    pipeline_queue: PipelineQueue = field(default_factory=PipelineQueue)
    #: health reports refreshed in the background (``/dashboard``, ``ecorec_health*`` gauges)
    health: HealthMonitor | None = None


async def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState` (a dependency; tests may override it).

    ``async`` although it awaits nothing: FastAPI runs a plain function dependency in its
    thread pool, a hop per request that measured more than the lookup itself.
    """
    state: ServiceState = request.app.state.service
    return state


def build_serving(state: ServiceState) -> tuple[Pipeline, ItemLookup, str | None]:
    """A new pipeline, item lookup and ranker version from the registry's active models.

    Nothing in ``state`` changes, so a caller can build first and swap only on success.

    Raises:
        ConfigError: no recall channel has a trained model.

    """
    pipeline = build_pipeline(state.config, state.stores, train_missing=False)
    lookup = ItemLookup.from_catalog(state.stores.catalog)
    try:
        version = state.stores.registry.active(pipeline.ranker.name)
    except (OSError, ValueError):  # no registry folder yet: nothing trained
        version = None
    return pipeline, lookup, version


def install(state: ServiceState, built: tuple[Pipeline, ItemLookup, str | None]) -> None:
    """Swap a built pipeline in; the pipeline reference goes last, so its companions are ready.

    Each assignment is atomic, so a request in flight keeps the pipeline it already read.
    The heap is then frozen (:func:`~ecorec.core.heap.freeze_heap`): a loaded pipeline is
    millions of long-lived objects, and without this every full collection walks them all,
    which measured as ~120 ms pauses in the p99 (see BENCHMARKS.md, recall serving).
    Unfreezing first lets the collection free the pipeline this one replaced.
    """
    pipeline, state.lookup, state.model_version = built
    state.pipeline, state.error = pipeline, None
    freeze_heap(unfreeze=True)


def load_pipeline(state: ServiceState) -> None:
    """Build the pipeline, the item lookup and the ranker version into ``state``."""
    try:
        built = build_serving(state)
    except ConfigError as exc:
        state.pipeline, state.error = None, str(exc)
        log.warning("pipeline not built: %s", exc)
        return
    install(state, built)


def observe_outcome(state: ServiceState, policy: str, arm: str, reward: float) -> None:
    """Keep the live explore policy in step with the nearline bandit tallies.

    Called from the stream's consumer thread. Each process follows the outcomes its own
    consumer applies; the durable, shared tallies are in ``state.nearline.stats``.
    """
    pipeline = state.pipeline
    for reranker in pipeline.rerankers if pipeline is not None else ():
        if isinstance(reranker, ExploreSlots):
            reranker.observe(policy, arm, reward)


def open_nearline(state: ServiceState) -> Nearline:
    """The outbox, the stream named by ``stream_url`` and its consumer, for ``state``."""
    storage = state.config.storage
    return Nearline.open(
        storage.stream_url,
        outbox_path(storage),
        NearlineStats(storage.database_url),
        creator_of=lambda item_id: state.lookup.creator(item_id),
        on_outcome=lambda policy, arm, reward: observe_outcome(state, policy, arm, reward),
        deleted_among=state.deletions.deleted_among,
    )


def create_app(config: EcorecConfig, stores: Stores | None = None) -> FastAPI:
    """The service over ``config``; pass ``stores`` to share already opened ones (tests).

    Stores the app opens itself are closed at shutdown; stores passed in are left open.
    ``[service]`` in the config sets the per-key rate limit on the ``/v1/`` routes (health,
    metrics and the OpenAPI spec are unlimited), the largest body accepted, and CORS (off
    unless origins are listed).
    """
    from ecorec.report.live import HealthMonitor
    from ecorec.service.routes import admin, dashboard, events, explain, health, recommend, users

    metrics = ServiceMetrics()
    limiter = RateLimiter(config.service.rate_limit)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = stores is None
        opened = Stores(config.storage, resilient_profiles=True) if stores is None else stores
        keys = KeyStore(config.storage.database_url)
        deletions = DeletionLog(config.storage.database_url)
        state = ServiceState(
            config=config,
            stores=opened,
            metrics=metrics,
            deletions=deletions,
            pipeline_queue=PipelineQueue(config.service.overload_wait_ms),
        )
        load_pipeline(state)
        state.nearline = open_nearline(state)
        state.impressions = ImpressionWriter(
            opened.events,
            state.nearline.publish,
            config.service.impression_flush_ms,
            on_failure=metrics.impression_failures.inc,
        )
        state.health = HealthMonitor(
            opened.events,
            opened.catalog,
            config.health,
            dashboard=config.service.dashboard,
            on_refresh=metrics.set_health_reports,
            simulation=simulation_path(config.storage),
            storage=config.storage,  # computed in a child process: off the GIL
        )
        state.health.start()  # computes once now, off the request path, then periodically
        app.state.service, app.state.keys = state, keys
        try:
            yield
        finally:
            state.health.close()
            state.impressions.close()  # its last batch goes to the stream too
            state.nearline.close()
            state.nearline.stats.close()
            deletions.close()
            keys.close()
            if owned:
                opened.close()

    app = FastAPI(
        title="ecorec",
        version=ecorec.__version__,
        summary="Recommendations, feedback events and users' data over one Pipeline.",
        lifespan=lifespan,
    )
    # innermost first: the size check runs after the rate limit and inside the metrics
    app.add_middleware(BodyLimit, max_bytes=config.service.max_body_bytes)

    # outermost: the rate limit and the metrics see every request, the 413s included
    app.add_middleware(RateLimitAndMetrics, limiter=limiter, metrics=metrics)

    if config.service.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.service.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.state.limiter = limiter
    for module in (recommend, explain, events, users, admin):
        app.include_router(module.router, responses=LIMITED)
    app.include_router(dashboard.admin_router, responses=LIMITED)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    return app
