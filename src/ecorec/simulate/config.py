"""What a simulation run is: sizes, length, seed, worker processes and the agents' parameters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ecorec.simulate.advertisers import AdvertiserParams
from ecorec.simulate.creators import CreatorParams
from ecorec.simulate.users import UserParams


class SimConfig(BaseModel):
    """Size, seed and agent parameters of one simulation.

    Args:
        users, creators, days, seed: population sizes, length and the only randomness.
        start: epoch seconds of the first day; default the UTC midnight after the log's newest
            event (the simulation continues the history).
        slate_size: items per feed request (the generator's ``slate_size``).
        refresh: recall channels retrained on the log after each day (new items reach the
            feed through them); empty: models stay as they were at the start.
        flush_events: events buffered before an EventLog append.
        workers: processes serving the users (:mod:`.shards`), each with its own copy of
            every arm's pipeline and a share of the users; 1 runs everything here. A run is
            reproducible for a given ``seed`` *and* ``workers``: each worker draws from its
            own stream, learns its own bandit state and spends its share of each budget.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: int = Field(default=1000, ge=1)
    creators: int = Field(default=50, ge=1)
    days: int = Field(default=7, ge=1)
    seed: int = Field(default=0, ge=0)
    start: float | None = None
    slate_size: int = Field(default=8, ge=1, le=100)
    refresh: tuple[str, ...] = ("popular", "novice_creator")
    flush_events: int = Field(default=50_000, ge=1)
    workers: int = Field(default=1, ge=1, le=64)
    user: UserParams = UserParams()
    creator: CreatorParams = CreatorParams()
    advertiser: AdvertiserParams = AdvertiserParams()


__all__ = ["SimConfig"]
