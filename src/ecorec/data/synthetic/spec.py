"""What a synthetic platform looks like: sizes, seed and every parameter of the generative model.

The spec is the whole input of the generator: the same spec (seed included) gives the same
catalog and the same event history, byte for byte, on any machine. Every default is stated here
and explained in ``docs/synthetic-platform.md``; none is calibrated to a real platform.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The 20 topic categories of the default platform, most popular first (topic popularity
#: falls off as a Zipf law over this order).
DEFAULT_TOPICS: tuple[str, ...] = (
    "news",
    "entertainment",
    "music",
    "gaming",
    "sports",
    "comedy",
    "food",
    "fashion",
    "beauty",
    "tech",
    "travel",
    "education",
    "pets",
    "fitness",
    "cars",
    "finance",
    "science",
    "parenting",
    "art",
    "diy",
)
#: A fixed default start keeps output deterministic (no wall clock anywhere).
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationParams(_Params):
    """Parameters of the catalog: users, creators, items, advertisers and ads."""

    interest_concentration: float = Field(
        default=0.3, gt=0, description="Dirichlet alpha per topic"
    )
    group_tilt: float = Field(
        default=0.5, ge=0, description="sd of the log topic tilt per user group"
    )
    mean_activity: float = Field(default=0.5, gt=0, description="mean sessions per user per day")
    activity_sigma: float = Field(default=0.8, ge=0, description="log-normal spread of activity")
    new_user_share: float = Field(
        default=0.2, ge=0, le=1, description="users joining in the window"
    )
    payer_share: float = Field(
        default=0.05, ge=0, le=1, description="users who ever tip or subscribe"
    )
    consent_personalization: float = Field(default=0.95, ge=0, le=1)
    consent_ads: float = Field(default=0.8, ge=0, le=1)
    consent_analytics: float = Field(default=0.9, ge=0, le=1)
    groups: dict[str, float] = Field(
        default_factory=lambda: {"group_a": 0.5, "group_b": 0.45, "group_c": 0.05},
        description="sensitive attribute values and their shares",
    )
    regions: dict[str, float] = Field(
        default_factory=lambda: {"na": 0.3, "eu": 0.3, "apac": 0.25, "latam": 0.1, "mea": 0.05},
        description="region groups and their shares",
    )
    region_activity: float = Field(
        default=0.2, ge=0, description="sd of the log activity per region"
    )
    stage_shares: tuple[float, float, float] = (0.6, 0.3, 0.1)
    stage_output: tuple[float, float, float] = (0.2, 0.5, 1.5)
    topic_zipf: float = Field(default=0.6, ge=0, description="Zipf exponent of topic popularity")
    focus_share: float = Field(
        default=0.8, ge=0, le=1, description="items in the creator's focus topic"
    )
    backlog_days: float = Field(default=30.0, ge=0, description="items published before the window")
    duration_median: float = Field(default=45.0, gt=0, description="median item duration, seconds")
    duration_sigma: float = Field(default=0.9, ge=0)
    ads_per_advertiser: int = Field(default=3, ge=1)
    bid_type_shares: tuple[float, float, float] = (0.4, 0.3, 0.3)

    @field_validator("groups", "regions")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(v < 0 for v in value.values()) or sum(value.values()) <= 0:
            raise ValueError("needs at least one name with a positive share")
        return value

    @field_validator("stage_shares", "bid_type_shares")
    @classmethod
    def _probabilities(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v < 0 for v in value) or sum(value) <= 0:
            raise ValueError("shares must be non-negative with a positive sum")
        return value


class ResponseParams(_Params):
    """Parameters of the logging policy and of how users respond to what they are shown."""

    # sessions and requests
    mean_requests: float = Field(default=1.5, ge=1, description="mean feed requests per session")
    max_requests: int = Field(default=50, ge=1)
    request_gap: float = Field(default=40.0, gt=0, description="mean seconds between requests")
    slate_size: int = Field(default=8, ge=1, le=100)
    # logging policy
    interest_share: float = Field(
        default=0.5, ge=0, le=1, description="slots from the interest channel"
    )
    popularity_sigma: float = Field(default=1.0, ge=0, description="log-normal item virality")
    quality_exposure: float = Field(default=3.0, ge=0, description="exposure weight exp(b*quality)")
    stage_exposure: tuple[float, float, float] = (1.0, 3.0, 10.0)
    fresh_floor: float = Field(default=0.2, gt=0, le=1, description="exposure left to old items")
    fresh_halflife_days: float = Field(default=7.0, gt=0)
    # clicks: logit = bias + affinity*a + quality*(q-0.5) - position*ln(1+pos)
    click_bias: float = -3.3
    click_affinity: float = 6.0
    click_quality: float = 2.0
    click_position: float = 0.35
    # watching: completion ~ Beta(k*m, k*(1-m)), m = sigmoid(bias + affinity*a + quality*(q-.5))
    completion_bias: float = -0.3
    completion_affinity: float = 4.0
    completion_quality: float = 2.0
    completion_concentration: float = Field(default=4.0, gt=0)
    # engagement after a play: p = rate * completion**power
    like_rate: float = Field(default=0.15, ge=0, le=1)
    share_rate: float = Field(default=0.03, ge=0, le=1)
    comment_rate: float = Field(default=0.04, ge=0, le=1)
    follow_rate: float = Field(default=0.02, ge=0, le=1)
    engagement_power: float = Field(default=2.0, ge=0)
    # negative feedback: p = rate * exp(-a / scale) on impressions not clicked
    not_interested_rate: float = Field(default=0.01, ge=0, le=1)
    not_interested_scale: float = Field(default=0.05, gt=0)
    block_rate: float = Field(default=0.05, ge=0, le=1, description="blocks per not_interested")
    # creator support, payers only: p = rate * completion**power
    tip_rate: float = Field(default=0.02, ge=0, le=1)
    subscribe_rate: float = Field(default=0.01, ge=0, le=1)
    tip_median: float = Field(default=2.0, gt=0)
    subscribe_prices: tuple[float, float, float] = (0.99, 2.99, 4.99)
    # ads
    ad_fill: float = Field(default=0.5, ge=0, le=1, description="requests that carry an ad")
    ad_position: int = Field(default=3, ge=0)
    ad_targeting: float = Field(default=0.5, ge=0, le=1, description="ads picked by user interest")
    ad_match: float = Field(
        default=0.5, ge=0, le=1, description="weight of interest match in ad CTR"
    )
    roas_mean: float = Field(
        default=3.0, gt=0, description="conversion value / advertiser target CPA"
    )
    # retention
    churn_rate: float = Field(
        default=0.02, ge=0, le=1, description="daily churn of unsatisfied users"
    )


class PlatformSpec(_Params):
    """Sizes, seed and parameters of one synthetic platform.

    Args:
        users, items, creators, advertisers: entity counts (ads = advertisers x
            ``population.ads_per_advertiser``).
        days: length of the event history, starting at ``start``.
        seed: the only source of randomness.
        topics: topic categories, most popular first.
        start: first instant of the history (UTC).
        chunk_size: most rows in one generated event table (memory bound of a consumer).
        user_block: users generated together; part of the random stream, so changing it
            changes the history (``chunk_size`` does not).

    Example:
        >>> spec = PlatformSpec(users=100, items=200, creators=10, advertisers=2, days=3)
        >>> spec.ads
        6

    """

    users: int = Field(default=1_000, ge=1)
    items: int = Field(default=2_000, ge=1)
    creators: int = Field(default=50, ge=1)
    advertisers: int = Field(default=10, ge=0)
    days: int = Field(default=7, ge=1)
    seed: int = Field(default=0, ge=0)
    topics: tuple[str, ...] = DEFAULT_TOPICS
    start: datetime = DEFAULT_START
    chunk_size: int = Field(default=100_000, ge=1)
    user_block: int = Field(default=20_000, ge=1)
    population: PopulationParams = PopulationParams()
    response: ResponseParams = ResponseParams()

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not 2 <= len(value) <= 127 or len(set(value)) != len(value) or not all(value):
            raise ValueError("topics must be 2-127 distinct non-empty names")
        return value

    @field_validator("start")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _sizes(self) -> PlatformSpec:
        if self.users >= 10**9 or self.items >= 10**9:
            raise ValueError("users and items must be below 10**9")
        return self

    @property
    def ads(self) -> int:
        """Number of ads."""
        return self.advertisers * self.population.ads_per_advertiser

    @property
    def start_ts(self) -> float:
        """``start`` in Unix seconds."""
        return self.start.timestamp()

    @property
    def user_blocks(self) -> int:
        """Number of user blocks."""
        return -(-self.users // self.user_block)
