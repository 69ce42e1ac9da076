"""Item quality and exposure for the ecosystem channels (long-tail, novice creator, explore).

Quality is ``Item.quality`` when the catalog has it (a 0-1 score from the creator side of the
platform). Items without it get a score derived from the training interactions, smoothed
towards the catalog mean so that an item with two lucky clicks does not outrank one with a
thousand (a Beta/Bayesian average with ``prior_strength`` pseudo-observations):

* with impressions in the data: ``(positives + m * p0) / (impressions + m)``, ``p0`` the
  platform's positives per impression;
* else with ratings (``value``): ``(sum + m * mean) / (count + m)``, the smoothed mean rating;
* else: ``log1p(positives)``, popularity as the last resort.

Derived scores live on different scales (a rate, a 1-5 rating), so they are turned into their
percentile among the derived items: a threshold of 0.6 then means "better than 60% of them" on
every dataset. Without any interactions to learn from, an item lacking ``Item.quality`` gets 0.5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.stats import rankdata

from ecorec.core.events import POSITIVE_TYPES, EventType
from ecorec.data.training import TrainingData

#: Pseudo-observations of the Bayesian average.
PRIOR_STRENGTH = 20.0


def item_stats(data: TrainingData, types: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """item_id -> (events, sum of ``value``, events with a ``value``) for ``types``."""
    parts = []
    for batch in data.interactions(types):
        if batch.num_rows:
            parts.append(
                batch.group_by("item_id").aggregate(
                    [("item_id", "count"), ("value", "sum"), ("value", "count")]
                )
            )
    if not parts:
        return {}
    table = pa.concat_tables(parts)
    table = table.group_by("item_id").aggregate(
        [("item_id_count", "sum"), ("value_sum", "sum"), ("value_count", "sum")]
    )
    ids = table.column("item_id").to_pylist()
    counts = pc.fill_null(table.column("item_id_count_sum"), 0).to_pylist()
    sums = pc.fill_null(table.column("value_sum_sum"), 0).to_pylist()
    valued = pc.fill_null(table.column("value_count_sum"), 0).to_pylist()
    return {
        i: (float(c), float(s), float(v))
        for i, c, s, v in zip(ids, counts, sums, valued, strict=True)
    }


def exposure(data: TrainingData, item_ids: np.ndarray) -> tuple[np.ndarray, str]:
    """Times each item was shown: ``impression`` events, else positive interactions.

    Returns:
        counts aligned with ``item_ids`` and the source used (``"impression"``/``"interaction"``).

    """
    stats = item_stats(data, [EventType.IMPRESSION.value])
    source = "impression"
    if not stats:
        stats, source = item_stats(data, POSITIVE_TYPES), "interaction"
    counts = np.fromiter(
        (stats.get(i, (0.0, 0.0, 0.0))[0] for i in item_ids.tolist()), float, len(item_ids)
    )
    return counts, source


def item_quality(
    data: TrainingData,
    item_ids: np.ndarray,
    known: Mapping[str, float | None],
    prior_strength: float = PRIOR_STRENGTH,
) -> np.ndarray:
    """Quality in [0, 1] per item of ``item_ids`` (see the module docstring for the rule).

    Args:
        data: the training interactions, read only when some item lacks ``known`` quality.
        item_ids: the items to score.
        known: item_id -> ``Item.quality`` (None or absent: derive it).
        prior_strength: pseudo-observations of the smoothing.

    """
    ids = item_ids.tolist()
    quality = np.array([_finite(known.get(i)) for i in ids], dtype=float)
    missing = np.isnan(quality)
    if not missing.any():
        return quality
    if data.events is None and data.table is None:
        quality[missing] = 0.5  # nothing to derive from: the middle of the scale
        return quality
    derived = _derived(data, [i for i, m in zip(ids, missing.tolist(), strict=True) if m])
    quality[missing] = _percentile(derived)
    return quality


def _finite(value: float | None) -> float:
    if value is None or not np.isfinite(value):
        return float("nan")
    return float(value)


def _derived(data: TrainingData, ids: list[str], m: float = PRIOR_STRENGTH) -> np.ndarray:
    positives = item_stats(data, POSITIVE_TYPES)
    impressions = item_stats(data, [EventType.IMPRESSION.value])
    pos = np.array([positives.get(i, (0.0, 0.0, 0.0))[0] for i in ids])
    if impressions:
        imp = np.array([impressions.get(i, (0.0, 0.0, 0.0))[0] for i in ids])
        total_imp = sum(v[0] for v in impressions.values())
        p0 = sum(v[0] for v in positives.values()) / max(total_imp, 1.0)
        return np.asarray((pos + m * p0) / (imp + m))
    sums = np.array([positives.get(i, (0.0, 0.0, 0.0))[1] for i in ids])
    valued = np.array([positives.get(i, (0.0, 0.0, 0.0))[2] for i in ids])
    total_valued = sum(v[2] for v in positives.values())
    if total_valued > 0:
        mean = sum(v[1] for v in positives.values()) / total_valued
        return np.asarray((sums + m * mean) / (valued + m))
    return np.asarray(np.log1p(pos))


def _percentile(values: np.ndarray) -> np.ndarray:
    if len(values) <= 1:
        return np.full(len(values), 0.5)
    return np.asarray((rankdata(values, method="average") - 1.0) / (len(values) - 1.0))
