"""Policy files: a name and the ``[pipeline...]`` tables it changes, and the traffic split.

A policy file is TOML with a ``name``, an optional traffic ``weight`` and any ``[pipeline...]``
tables of the configuration (recall channels, ranker, re-rank order and their parameters)::

    name = "no_dpp"
    [pipeline.rerank]
    order = ["creator_traffic", "rules", "explore", "curated", "ads"]

The tables are merged over the run's configuration, so a policy states only what it changes;
every key is validated like ``ecorec.toml``. Users are split between policies by a hash of
``(seed, user_id)`` (:func:`assign_arms`), stable for a seed and independent of the order users
are visited in. When the experimentation layer lands, its assignment can replace the hash.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ecorec.core.config import ConfigError, EcorecConfig, _merge


class Policy(BaseModel):
    """One arm of a simulation: its name, traffic weight and pipeline overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    weight: float = Field(default=1.0, gt=0)
    pipeline: dict[str, Any] = Field(default_factory=dict)

    def config(self, base: EcorecConfig) -> EcorecConfig:
        """``base`` with this policy's ``[pipeline]`` tables merged over it.

        Raises:
            ConfigError: naming the policy and the bad key.

        """
        data = base.model_dump(mode="json")
        data["pipeline"] = _merge(data["pipeline"], self.pipeline)
        try:
            return EcorecConfig.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"policy {self.name!r}: {problems}") from None


def load_policy(path: str | Path) -> Policy:
    """Read a policy file (see the module docstring).

    Raises:
        ConfigError: a missing file, bad TOML, or keys other than name/weight/pipeline.

    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such policy file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    data.setdefault("name", p.stem)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{p}: invalid policy: {problems}") from None


def check_names(policies: list[Policy]) -> None:
    """Refuse two arms with one name: their results would overwrite each other."""
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ConfigError(f"policy names must differ, got {names}")


def assign_arms(user_ids: list[str], weights: list[float], seed: int) -> np.ndarray:
    """The arm of each user: ``sha256(seed:user_id)`` placed on the cumulative weights."""
    total = float(sum(weights))
    edges = np.cumsum(np.asarray(weights, float) / total)
    u = np.array(
        [
            int.from_bytes(hashlib.sha256(f"{seed}:{uid}".encode()).digest()[:8], "big") / 2.0**64
            for uid in user_ids
        ]
    )
    arms: np.ndarray = np.minimum(np.searchsorted(edges, u, side="right"), len(weights) - 1)
    return arms
