"""Does the simulator's response model reproduce real behaviour? A check on a rated dataset.

Protocol (ML-100k, or any dataset with timestamps and item genres):

1. **Split** the interactions in time, ``train_share`` (0.8) before the cut, the rest held out.
2. **Fit simulated users on the training part only**: each user's interests are the genre
   shares of their training items, smoothed towards the overall genre mix (``prior`` pseudo
   counts); per-user activity follows a log-normal fitted to the training counts (the
   generator's activity model); item quality is the percentile of training popularity; the
   logging policy is the generator's (half the slots by popularity, half by a topic drawn from
   the user's interests, then popularity within the topic).
3. **Simulate the held-out period**: as many users as the held-out part has, each drawn from
   the fitted population (interests of a random training user, activity from the log-normal);
   each sees ``Poisson(scale * activity)`` slates and clicks with the synthetic platform's
   :func:`~ecorec.data.synthetic.response.click_probability`. One scalar, ``scale``, is set so
   the simulated click total equals the held-out total: volume is matched, shape is tested.
4. **Compare** with two-sample Kolmogorov-Smirnov distances: item popularity (interactions
   per item, every catalog item counted, zeros too) and per-user activity (interactions per
   user who has any).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ecorec.data.datasets.base import Dataset
from ecorec.data.split import split_temporal
from ecorec.data.synthetic import PlatformSpec
from ecorec.data.synthetic.response import click_probability

#: Stated tolerances of the check (see ``BENCHMARKS.md`` for the measured distances).
TOLERANCES = {"popularity_ks": 0.15, "activity_ks": 0.2}


@dataclass(frozen=True)
class Fitted:
    """The training part, as the simulator sees it."""

    theta: np.ndarray
    log_activity: tuple[float, float]
    item_topics: np.ndarray
    item_weights: np.ndarray
    quality: np.ndarray
    exposure: np.ndarray


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic ``sup |F_a - F_b|``."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def fit(
    dataset: Dataset, train_users: np.ndarray, train_items: np.ndarray, prior: float = 2.0
) -> Fitted:
    """Fit interests, activity, quality and exposure on the training interactions (rows)."""
    genres = sorted({g for item in dataset.items for g in item.tags})
    if not genres:
        raise ValueError(f"dataset {dataset.name!r} has no item genres (tags) to fit interests on")
    g_index = {g: k for k, g in enumerate(genres)}
    n_items, n_topics = len(dataset.items), len(genres)
    topics = np.zeros((n_items, 3), np.int64)
    weights = np.zeros((n_items, 3))
    for r, item in enumerate(dataset.items):
        mine = [g_index[g] for g in item.tags][:3]
        for k, t in enumerate(mine):
            topics[r, k], weights[r, k] = t, 1.0 / len(mine)
    counts = np.bincount(train_items, minlength=n_items).astype(float)
    n_users = int(train_users.max()) + 1
    mix = np.zeros((n_users, n_topics))
    np.add.at(
        mix, (np.repeat(train_users, 3), topics[train_items].ravel()), weights[train_items].ravel()
    )
    overall = mix.sum(axis=0) / mix.sum()
    seen = mix.sum(axis=1) > 0
    theta = (mix[seen] + prior * overall) / (mix[seen].sum(axis=1, keepdims=True) + prior)
    per_user = np.bincount(train_users)[seen].astype(float)
    logs = np.log(per_user)
    quality = (np.argsort(np.argsort(counts, kind="stable"), kind="stable") + 0.5) / n_items
    return Fitted(
        theta, (float(logs.mean()), float(logs.std())), topics, weights, quality, counts + 1.0
    )


def simulate_period(
    fitted: Fitted,
    n_users: int,
    total: int,
    seed: int,
    slate_size: int = 8,
    interest_share: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated per-item and per-user click counts of ``n_users`` over the held-out period."""
    rng = np.random.default_rng([seed, 77])
    spec = PlatformSpec()
    theta = fitted.theta[rng.integers(0, len(fitted.theta), n_users)]
    mu, sigma = fitted.log_activity
    activity = rng.lognormal(mu, sigma, n_users)
    # a pilot run at unit scale gives clicks per slate, and so the scale matching the volume
    pilot = _clicks(
        fitted,
        theta,
        np.maximum(rng.poisson(activity / activity.mean() * 3), 0),
        rng,
        spec,
        slate_size,
        interest_share,
    )
    per_slate = max(pilot[0].sum() / max(3 * n_users, 1), 1e-9)
    scale = total / (per_slate * activity.sum())
    slates = rng.poisson(activity * scale)
    return _clicks(fitted, theta, slates, rng, spec, slate_size, interest_share)


def _clicks(
    fitted: Fitted,
    theta: np.ndarray,
    slates: np.ndarray,
    rng: np.random.Generator,
    spec: PlatformSpec,
    slate_size: int,
    interest_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    n_items = len(fitted.quality)
    by_item = np.zeros(n_items, np.int64)
    by_user = np.zeros(len(theta), np.int64)
    weight = fitted.exposure
    popular = np.cumsum(weight) / weight.sum()
    main = fitted.item_topics[:, 0]
    topic_items = [
        np.flatnonzero((main == t) & (fitted.item_weights[:, 0] > 0)) for t in range(theta.shape[1])
    ]
    topic_cdf = [np.cumsum(weight[ix]) / weight[ix].sum() if len(ix) else ix for ix in topic_items]
    owner = np.repeat(np.arange(len(theta)), slates)
    n_slots = len(owner) * slate_size
    user = np.repeat(owner, slate_size)
    position = np.tile(np.arange(slate_size), len(owner))
    item = np.minimum(np.searchsorted(popular, rng.random(n_slots)), n_items - 1)
    personal = np.flatnonzero(rng.random(n_slots) < interest_share)
    cum_theta = np.cumsum(theta, axis=1)
    chosen = (rng.random(len(personal))[:, None] > cum_theta[user[personal]]).sum(axis=1)
    chosen = np.minimum(chosen, theta.shape[1] - 1)
    for t in np.unique(chosen):
        if len(topic_items[t]) == 0:
            continue
        rows = personal[chosen == t]
        pick = np.searchsorted(topic_cdf[t], rng.random(len(rows)))
        item[rows] = topic_items[t][np.minimum(pick, len(topic_items[t]) - 1)]
    a = (fitted.item_weights[item] * theta[user[:, None], fitted.item_topics[item]]).sum(axis=1)
    clicked = rng.random(n_slots) < click_probability(spec, a, fitted.quality[item], position)
    np.add.at(by_item, item[clicked], 1)
    np.add.at(by_user, user[clicked], 1)
    return by_item, by_user


def validate(dataset: Dataset, seed: int = 0, train_share: float = 0.8) -> dict[str, Any]:
    """Run the protocol of the module docstring; the KS distances and whether they pass."""
    item_row = {item.item_id: r for r, item in enumerate(dataset.items)}
    table = dataset.interactions
    train, test = split_temporal(table, (train_share, 1 - train_share))
    users = {u: k for k, u in enumerate(sorted(set(train.column("user_id").to_pylist())))}
    train_items = np.array([item_row[i] for i in train.column("item_id").to_pylist()])
    train_users = np.array([users[u] for u in train.column("user_id").to_pylist()])
    fitted = fit(dataset, train_users, train_items)
    test_items = np.array([item_row[i] for i in test.column("item_id").to_pylist()])
    test_users = test.column("user_id").to_pylist()
    real_items = np.bincount(test_items, minlength=len(dataset.items))
    _, real_users = np.unique(np.array(test_users), return_counts=True)
    sim_items, sim_users = simulate_period(fitted, len(real_users), len(test_items), seed)
    sim_users = sim_users[sim_users > 0]
    distances = {
        "popularity_ks": round(ks_distance(real_items, sim_items), 4),
        "activity_ks": round(ks_distance(real_users, sim_users), 4),
    }
    # a null model for scale: uniform exposure, one activity rate for everybody
    rng = np.random.default_rng([seed, 78])
    null_items = np.bincount(
        rng.integers(0, len(dataset.items), len(test_items)), minlength=len(dataset.items)
    )
    null_users = rng.poisson(len(test_items) / len(real_users), len(real_users))
    return {
        "dataset": dataset.name,
        "null_popularity_ks": round(ks_distance(real_items, null_items), 4),
        "null_activity_ks": round(ks_distance(real_users, null_users[null_users > 0]), 4),
        "train_interactions": int(train.num_rows),
        "held_out_interactions": int(test.num_rows),
        "held_out_users": int(len(real_users)),
        "simulated_interactions": int(sim_items.sum()),
        **distances,
        "tolerances": TOLERANCES,
        "passed": all(distances[k] <= v for k, v in TOLERANCES.items()),
    }
