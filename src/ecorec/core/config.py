"""One TOML file, validated, with ``ECOREC_`` environment variables on top.

Unknown keys are errors everywhere: a misspelt ``qouta`` must not silently fall back to a
default. Component parameters sit under the stage that owns them, keyed by the component's
name (``[pipeline.recall] popular = { half_life_days = 3 }``) and are validated by that
component's own config when the pipeline is built.

Example:
    >>> cfg = load_config(None, {"pipeline": {"recall": {"channels": ["popular"]}}})
    >>> cfg.pipeline.recall.channels
    ['popular']

"""

from __future__ import annotations

import re
import tomllib
from abc import abstractmethod
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message says which key."""


class Section(BaseModel):
    """A config table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class StageSection(BaseModel):
    """A stage whose extra keys are the parameters of its named components."""

    model_config = ConfigDict(extra="allow")

    @abstractmethod
    def _names(self) -> list[str]:
        """The component names that may carry parameters in this stage."""

    @model_validator(mode="after")
    def _extras_are_components(self) -> StageSection:
        names = set(self._names())
        for key, value in (self.model_extra or {}).items():
            if key not in names:
                raise ValueError(
                    f"unknown key {key!r}: not a setting, nor a component listed in this stage "
                    f"({', '.join(sorted(names)) or 'none'})"
                )
            if not isinstance(value, dict):
                raise ValueError(f"{key!r} must be a table of that component's parameters")
        return self

    def params(self, name: str) -> dict[str, Any]:
        """The parameters given for component ``name`` (empty when none)."""
        return dict((self.model_extra or {}).get(name, {}))


class StorageConfig(Section):
    """Where ecorec keeps things; empty URLs are derived from ``database_url``.

    ``stream_url`` is the nearline stream that feedback events are published to after they are
    stored: ``nats://host:4222`` for NATS JetStream, empty for an in-process queue. Events wait
    in a durable local outbox (``outbox_path``, default ``<db stem>-outbox.db`` beside a SQLite
    database) until the stream has them, so a stream outage loses nothing.
    """

    database_url: str = "sqlite:///ecorec.db"
    profiles_url: str = ""
    models_url: str = ""
    stream_url: str = ""
    outbox_path: str = ""


#: The default recall layer: collaborative channels for accuracy, and the channels that keep
#: the ecosystem healthy (exploration, long tail, novice creators, curated pools) with their own
#: quotas so they are never crowded out. Channels that do not apply to the data (no creators,
#: no pools) are skipped at training.
DEFAULT_QUOTA: dict[str, int] = {
    "item_cf": 200,
    "als": 200,
    "popular": 50,
    "content": 50,
    "explore": 30,
    "long_tail": 30,
    "novice_creator": 30,
    "curated": 10,
}


class RecallConfig(StageSection):
    """Recall channels, their quotas after merge, and the merge filters."""

    channels: list[str] = Field(default_factory=lambda: list(DEFAULT_QUOTA), min_length=1)
    quota: dict[str, int] = Field(default_factory=dict)
    max_candidates: int = Field(default=500, gt=0)
    filter_seen: bool = True

    def _names(self) -> list[str]:
        return self.channels

    def effective_quota(self) -> dict[str, int]:
        """Quota per channel: the configured one, else the default for that channel."""
        return {name: self.quota.get(name, DEFAULT_QUOTA.get(name, 200)) for name in self.channels}

    @model_validator(mode="after")
    def _quota_names(self) -> RecallConfig:
        for name, value in self.quota.items():
            if name not in self.channels:
                raise ValueError(f"quota for {name!r}, which is not in channels {self.channels}")
            if value < 0:
                raise ValueError(f"quota for {name!r} must be >= 0, got {value}")
        return self


class RankConfig(StageSection):
    """The ranker and the fusion weights that turn its predictions into one score."""

    model: str = "deepfm"
    #: objective -> weight of the fused score; empty: the ranker's default over the objectives
    #: it predicts (``click`` 1, ``finish`` 0.5, ``like`` 0.3, ``negative`` -1).
    fusion: dict[str, float] = Field(default_factory=dict)

    def _names(self) -> list[str]:
        return [self.model]


#: The default re-ranking order. Stages that re-sort by score (creator traffic, DPP) come
#: before those that place items at chosen slots (explore, curated, ads), which a later sort
#: would move again.
DEFAULT_RERANK = ["creator_traffic", "dpp", "rules", "explore", "curated", "ads"]


class RerankConfig(StageSection):
    """Re-rankers applied in ``order``."""

    order: list[str] = Field(default_factory=lambda: list(DEFAULT_RERANK))

    def _names(self) -> list[str]:
        return self.order


class DeadlinesConfig(Section):
    """Per-stage time budgets in milliseconds (``[pipeline] deadlines_ms = {recall = 30}``).

    The defaults are generous on purpose: they catch a stage that hangs or a model that is far
    too slow for the hardware, not normal jitter; tune them down to the latency target. What
    each stage does past its budget is described on :class:`ecorec.core.pipeline.Pipeline`.
    """

    recall: float = Field(default=1000.0, gt=0)
    rank: float = Field(default=1000.0, gt=0)
    rerank: float = Field(default=1000.0, gt=0)


class PipelineConfig(Section):
    """The declared pipeline: recall -> merge -> rank -> rerank."""

    seed: int = 0
    deadlines_ms: DeadlinesConfig = Field(default_factory=DeadlinesConfig)
    recall: RecallConfig = Field(default_factory=lambda: RecallConfig())
    rank: RankConfig = Field(default_factory=lambda: RankConfig())
    rerank: RerankConfig = Field(default_factory=lambda: RerankConfig())


class RateLimitConfig(Section):
    """Requests per second and burst allowed to each API key on the ``/v1/`` routes.

    Defaults: 100 requests/s sustained, bursts of 200; ``enabled = false`` turns the limit off
    (a load test of the pipeline itself, say). Each worker process enforces its own buckets.
    """

    enabled: bool = True
    requests_per_second: float = Field(default=100.0, gt=0)
    burst: int = Field(default=200, ge=1)
    #: most keys tracked at once (least recently seen are dropped first)
    max_keys: int = Field(default=10_000, ge=1)


class ServiceConfig(Section):
    """The HTTP service (``ecorec serve``): limits that protect it from its clients."""

    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    #: largest request body accepted (413 past it); a full event batch with text fits well under
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    #: origins allowed by CORS; empty (the default) sends no CORS headers at all
    cors_origins: list[str] = Field(default_factory=list)
    #: impressions are written in batches off the request path, at most this late (a crash
    #: loses at most this much of them; feedback events never wait)
    impression_flush_ms: float = Field(default=50.0, gt=0)
    #: torch threads of ``ecorec serve``: requests already run in parallel threads, so one
    #: thread per forward pass avoids oversubscribing the cores (0 keeps torch's default)
    torch_threads: int = Field(default=1, ge=0)
    #: the longest expected wait for the pipeline (requests ahead x the running mean of a
    #: call's CPU time) a request joins the queue with; past it the request gets the light
    #: slate at once (non-personalised channels, no ranker, no ads; ``degraded``, fallback
    #: ``overload``). 0 = no bound: every request waits its turn however long the queue
    overload_wait_ms: float = Field(default=250.0, ge=0)
    #: serve the health dashboard at ``/dashboard`` without a key (aggregates only, no ids);
    #: off by default: turn it on where the service's port is reachable only by operators
    dashboard: bool = False


class HealthWeights(Section):
    """Weights of the three dimensions in the health index; renormalised over those with data."""

    user_value: float = Field(default=1.0, ge=0)
    ecosystem: float = Field(default=1.0, ge=0)
    business: float = Field(default=1.0, ge=0)


class HealthAlerts(Section):
    """Alert thresholds (the seed's defaults): an alert fires when a metric crosses its line.

    ``negative_rise`` is relative: the negative feedback rate alerts when it exceeds the previous
    window's (of equal length) by more than this share (0.1: a rise of over 10%).
    """

    gini_max: float = Field(default=0.6, ge=0, le=1)
    long_tail_min: float = Field(default=0.3, ge=0, le=1)
    ad_load_max: float = Field(default=0.2, ge=0, le=1)
    negative_rise: float = Field(default=0.1, ge=0)


class HealthConfig(Section):
    """Health metrics over the EventLog (``ecorec health``): definitions, index and alerts."""

    #: default window of ``ecorec health`` (``24h``, ``7d``, ``30d``...)
    window: str = "7d"
    weights: HealthWeights = Field(default_factory=HealthWeights)
    alerts: HealthAlerts = Field(default_factory=HealthAlerts)
    #: a play of at least this many seconds is an effective play
    effective_play_seconds: float = Field(default=10.0, ge=0)
    #: categories outside the top ``top_categories`` by exposure are the tail categories
    top_categories: int = Field(default=10, ge=1)
    #: the popular head's share of the items (0.2: items outside the top 20% are long tail)
    head_share: float = Field(default=0.2, ge=0, le=1)
    #: a gap longer than this between two events of a user starts a new visit
    session_gap_seconds: float = Field(default=1800.0, gt=0)
    #: positions ``0 .. top_positions - 1`` are the top of a result (population coverage)
    top_positions: int = Field(default=3, ge=1)
    #: equal-quality buckets of items for the exposure-variance fairness metric
    quality_bins: int = Field(default=10, ge=1)
    #: the user attribute that defines user groups in fairness metrics
    user_group: Literal["group", "region", "segment"] = "group"
    #: return on ad spend at which the business component of the index scores 1
    roas_target: float = Field(default=1.0, gt=0)
    #: windows the service keeps measured and exports to Prometheus (``ecorec_health*``)
    export_windows: list[str] = Field(default_factory=lambda: ["24h", "7d"])
    #: seconds between the service's background health refreshes (one also runs at start)
    refresh_seconds: float = Field(default=300.0, gt=0)

    @field_validator("export_windows")
    @classmethod
    def _windows(cls, windows: list[str]) -> list[str]:
        # the rule of ecorec.metrics.health.parse_window (core does not import metrics)
        bad = [w for w in windows if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[mhdw]\s*", w)]
        if bad:
            raise ValueError(f"windows look like 24h, 7d or 30d (m/h/d/w), got {bad}")
        return windows


class EcorecConfig(BaseSettings):
    """The whole configuration. Environment: ``ECOREC_STORAGE__DATABASE_URL=...``."""

    model_config = SettingsConfigDict(
        env_prefix="ECOREC_", env_nested_delimiter="__", extra="forbid"
    )

    storage: StorageConfig = Field(default_factory=StorageConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> EcorecConfig:
    """Read ``path`` (TOML), then the environment on top, then ``overrides`` (CLI flags).

    Raises:
        ConfigError: naming the file and every bad key.

    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    try:
        environment = EnvSettingsSource(EcorecConfig)()
        data = _merge(_merge(data, environment), overrides or {})
        # model_validate, unlike the constructor, reads no source again: the order above holds.
        return EcorecConfig.model_validate(data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{where}invalid configuration: {problems}") from None
