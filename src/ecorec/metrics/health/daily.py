"""Health over time and its distributions: per-step series, Lorenz, long-tail and retention curves.

The dashboard draws how the headline metrics move inside a window, so they are computed per
*step* (a day, or an hour for windows under three days) in one grouped pass over the frame's
``ev`` table, not one :func:`~ecorec.metrics.health.compute_health` call per step. Steps are
slices counted back from the window end, like ``user_days``: step ``s`` covers
``[end - (s+1) * step, end - s * step)``; the oldest slice the log covers may be partial
(``partial`` is then true: counts in it are low because the log starts inside it, not because
users left).

Per step, with the definitions of the dimension modules: ``active_users``, ``time_per_user``,
``effective_play_rate``, ``like_rate``, ``negative_feedback_rate``; ``gini`` of impressions
over the window's item universe, ``long_tail_share`` against the window's head (so the steps
and the headline agree on which items are the tail), ``item_coverage`` and
``creator_tier_share``; ``ad_revenue`` (the window's billed spend, by the step its ad was first
shown in a request: the steps add up to the headline), ``ecpm``, ``ad_load``, ``fill_rate``.

These functions read tables that :func:`~ecorec.metrics.health.metrics_of` builds (``universe``,
``item_stats``, ``ad_spend``): call them on a frame after it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ecorec.metrics.health.frame import DAY, INTERACTIONS, HealthFrame, ratio

HOUR = 3600.0
#: Most points a curve keeps: a million-item Lorenz curve is drawn from this many, evenly
#: spaced in item share, with both ends kept exact.
CURVE_POINTS = 400
#: Day offsets after signup the retention curves go out to (bounded by the window).
RETENTION_HORIZON = 30


def series_step(seconds: float) -> float:
    """The step of the series of a window ``seconds`` long: a day, or an hour under 3 days.

    Example:
        >>> series_step(7 * 86400.0), series_step(86400.0)
        (86400.0, 3600.0)

    """
    return DAY if seconds >= 3 * DAY else HOUR


_STEP_COUNTS = """
SELECT s,
    count(DISTINCT user_id) AS active,
    coalesce(sum(value) FILTER (WHERE type = 'play'), 0) AS seconds,
    count(*) FILTER (WHERE type = 'play') AS plays,
    count(*) FILTER (WHERE type = 'play' AND value >= $effective) AS effective,
    count(*) FILTER (WHERE type = 'like') AS likes,
    count(*) FILTER (WHERE type IN ('not_interested', 'block_creator', 'flag')) AS negatives,
    count(*) FILTER (WHERE type = 'impression' AND item_id IS NOT NULL) AS shown,
    count(*) FILTER (WHERE type = 'impression') AS impressions,
    count(*) FILTER (WHERE type = 'impression' AND ad_id IS NOT NULL) AS ad_impressions,
    count(DISTINCT request_id) FILTER (WHERE type = 'impression') AS requests,
    count(DISTINCT request_id) FILTER (WHERE type = 'impression' AND ad_id IS NOT NULL)
        AS ad_requests
FROM (SELECT *, CAST(floor(($end - ts) / $step) AS INTEGER) AS s FROM ev)
GROUP BY s
"""

# Per step and item: organic impressions, joined to the window's head and creator stage.
_STEP_ITEMS = f"""
CREATE OR REPLACE TEMP TABLE step_items AS
WITH head AS (
    SELECT item_id FROM item_stats
    WHERE used > 0 AND item_id IN (SELECT item_id FROM universe)
    ORDER BY used DESC, item_id LIMIT $head
)
SELECT CAST(floor(($end - e.ts) / $step) AS INTEGER) AS s, e.item_id,
    count(*) FILTER (WHERE e.type = 'impression') AS shown,
    count(*) FILTER (WHERE e.type IN {INTERACTIONS}) AS used,
    e.item_id IN (SELECT item_id FROM head) AS is_head
FROM ev e WHERE e.item_id IS NOT NULL
GROUP BY s, e.item_id
"""

_STEP_GINI = """
WITH c AS (
    SELECT s, shown AS c FROM step_items
    WHERE shown > 0 AND item_id IN (SELECT item_id FROM universe)
), ranked AS (
    SELECT s, c, $n - count(*) OVER (PARTITION BY s) + row_number() OVER (
        PARTITION BY s ORDER BY c) AS i
    FROM c
)
SELECT s, sum(c), sum((2 * i - $n - 1) * c) FROM ranked GROUP BY s
"""

_STEP_REVENUE = """
WITH first_shown AS (
    SELECT request_id, ad_id, min(ts) AS ts FROM ev_extra
    WHERE type = 'impression' AND ad_id IS NOT NULL GROUP BY request_id, ad_id
)
SELECT CAST(floor(($end - f.ts) / $step) AS INTEGER) AS s, sum(a.spend), sum(a.impressions)
FROM ad_spend a JOIN first_shown f
    ON f.request_id IS NOT DISTINCT FROM a.request_id AND f.ad_id = a.ad_id
GROUP BY s
"""


def _rows(
    frame: HealthFrame, sql: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` with named (``$name``) parameters."""
    return [tuple(r) for r in frame.con.execute(sql, params or {}).fetchall()]


def _by_step(rows: list[tuple[Any, ...]]) -> dict[int, tuple[Any, ...]]:
    return {int(r[0]): tuple(r[1:]) for r in rows}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def step_series(
    frame: HealthFrame, effective_play_seconds: float, head_share: float
) -> dict[str, Any]:
    """The per-step series of the frame's window (see the module docstring for each metric).

    Args:
        frame: a frame :func:`~ecorec.metrics.health.metrics_of` has run on.
        effective_play_seconds: a play this long or longer is effective.
        head_share: the head's share of the items (``[health] head_share``).

    Returns:
        ``{"step": seconds, "points": [...]}``, oldest step first, one point per step with
        events; each point has ``start``/``end`` (epoch and ISO), ``partial`` and the metrics.

    """
    w = frame.window
    step = series_step(w.seconds)
    (n_items,) = frame.one("SELECT count(*) FROM universe")
    params = {"end": w.end, "step": step}
    counts = _by_step(_rows(frame, _STEP_COUNTS, {**params, "effective": effective_play_seconds}))
    frame.con.execute(_STEP_ITEMS, {**params, "head": math.ceil(head_share * n_items - 1e-9)})
    tail = _by_step(
        frame.rows(
            "SELECT s, sum(shown), sum(shown) FILTER (WHERE NOT is_head), "
            "count(*) FILTER (WHERE shown > 0) FROM step_items GROUP BY s"
        )
    )
    gini = _by_step(_rows(frame, _STEP_GINI, {"n": n_items}))
    tiers: dict[int, dict[str, float]] = {}
    for s, stage, shown in frame.rows(
        "SELECT t.s, coalesce(c.stage, 'unknown') AS stage, sum(t.shown) FROM step_items t "
        "LEFT JOIN items i USING (item_id) LEFT JOIN creators c USING (creator_id) "
        "WHERE t.shown > 0 GROUP BY t.s, stage ORDER BY t.s, stage"
    ):
        tiers.setdefault(int(s), {})[stage] = float(shown)
    revenue = _by_step(_rows(frame, _STEP_REVENUE, params))
    points = []
    for s in sorted(counts, reverse=True):
        start, end = w.end - (s + 1) * step, w.end - s * step
        c = dict(
            zip(
                (
                    "active",
                    "seconds",
                    "plays",
                    "effective",
                    "likes",
                    "negatives",
                    "shown",
                    "impressions",
                    "ad_impressions",
                    "requests",
                    "ad_requests",
                ),
                counts[s],
                strict=True,
            )
        )
        shown, tail_shown, items_shown = tail.get(s, (0, 0, 0))
        total, weighted = gini.get(s, (0, 0))
        spend, billed = revenue.get(s, (None, 0))
        by_tier = tiers.get(s, {})
        tier_total = sum(by_tier.values())
        points.append(
            {
                "start": start,
                "end": end,
                "start_iso": _iso(start),
                "end_iso": _iso(end),
                "partial": start < frame.observed_start - 1e-6,
                "active_users": int(c["active"]),
                "time_per_user": ratio(c["seconds"], c["active"]),
                "effective_play_rate": ratio(c["effective"], c["plays"]),
                "like_rate": ratio(c["likes"], c["plays"]),
                "negative_feedback_rate": ratio(c["negatives"], c["shown"]),
                "gini": ratio(weighted, n_items * total if total else 0),
                "long_tail_share": ratio(tail_shown or 0, shown),
                "item_coverage": ratio(items_shown, n_items),
                "creator_tier_share": {k: v / tier_total for k, v in by_tier.items()},
                "ad_revenue": float(spend) if spend is not None else None,
                "ecpm": ratio(1000 * float(spend), billed) if spend is not None else None,
                "ad_load": ratio(c["ad_impressions"], c["impressions"]),
                "fill_rate": ratio(c["ad_requests"], c["requests"]),
            }
        )
    return {"step": step, "points": points}


def _thin(
    x: np.ndarray, y: np.ndarray, points: int = CURVE_POINTS
) -> tuple[list[float], list[float]]:
    """At most ``points`` points of the curve (x, y), evenly spaced in x, ends kept."""
    if len(x) > points:
        keep = np.unique(np.searchsorted(x, np.linspace(x[0], x[-1], points)))
        keep = np.unique(np.concatenate([keep, [len(x) - 1]]))
        x, y = x[keep], y[keep]
    return [float(v) for v in x], [float(v) for v in y]


def exposure_curves(frame: HealthFrame, head_share: float) -> dict[str, Any]:
    """The Lorenz curve of item exposure and the long-tail exposure curve of the window.

    Both range over the window's item universe (unshown items count 0), as the Gini and
    long-tail share do.

    * ``lorenz``: items sorted by impressions, fewest first; ``x`` the share of items,
      ``y`` the share of impressions they got. The diagonal is equal exposure; the Gini is
      twice the area between the two.
    * ``long_tail``: items sorted by popularity (interactions, most first, ties by item id,
      the order that defines the head); ``x`` the share of items, ``y`` the cumulative share
      of impressions; ``head_share`` marks the head's edge, where ``1 - y`` is about the
      long-tail share.

    Returns:
        ``{"lorenz": {"x", "y"}, "long_tail": {"x", "y", "head_share"}, "items": n}``;
        empty curves when nothing was shown.

    """
    # in popularity order: the order that defines the head (most interactions, ties by id)
    (shown,) = frame.con.execute(
        "SELECT list(coalesce(s.shown, 0) ORDER BY coalesce(s.used, 0) DESC, u.item_id) "
        "FROM universe u LEFT JOIN item_stats s USING (item_id)"
    ).fetchone() or ([],)
    shown = np.asarray(shown or [], dtype=np.float64)
    n = len(shown)
    total = float(shown.sum()) if n else 0.0
    if not total:
        empty: dict[str, list[float]] = {"x": [], "y": []}
        return {"lorenz": empty, "long_tail": {**empty, "head_share": head_share}, "items": n}
    share = np.arange(0, n + 1, dtype=np.float64) / n
    lorenz_y = np.concatenate([[0.0], np.cumsum(np.sort(shown)) / total])
    tail_y = np.concatenate([[0.0], np.cumsum(shown) / total])
    lx, ly = _thin(share, lorenz_y)
    tx, ty = _thin(share, tail_y)
    return {
        "lorenz": {"x": lx, "y": ly},
        "long_tail": {"x": tx, "y": ty, "head_share": head_share},
        "items": n,
    }


def retention_curves(frame: HealthFrame) -> list[dict[str, Any]]:
    """Per signup cohort (UTC date), the share of its users active on day ``k`` after signup.

    Day ``k`` is ``[created_at + k days, created_at + (k+1) days)``, as for ``retention_d{k}``;
    a user counts for day ``k`` only when that day lies inside the part of the window the log
    covers, so a cohort's curve stops where the window does. ``k`` runs from 1 to 30.

    Returns:
        ``[{"cohort", "users", "days": [k...], "retention": [share...]}]`` by cohort date,
        cohorts without any eligible day left out.

    """
    w = frame.window
    segment = "AND segment = $segment" if frame.segment is not None else ""
    params: dict[str, Any] = {
        "lo": w.start - (RETENTION_HORIZON + 1) * DAY,
        "end": w.end,
        "observed": frame.observed_start,
        "day": DAY,
        "horizon": RETENTION_HORIZON,
    }
    if frame.segment is not None:
        params["segment"] = frame.segment
    rows = _rows(
        frame,
        f"""
        WITH s AS (
            SELECT user_id, created_at,
                strftime(make_timestamp(CAST(created_at * 1e6 AS BIGINT)), '%Y-%m-%d') AS cohort
            FROM users WHERE created_at >= $lo AND created_at < $end {segment}
        ), back AS (
            SELECT DISTINCT ev.user_id, CAST(floor((ev.ts - s.created_at) / $day) AS INTEGER) AS k
            FROM ev JOIN s USING (user_id)
            WHERE ev.ts >= s.created_at + $day AND ev.ts < s.created_at + ($horizon + 1) * $day
        ), ks AS (SELECT range AS k FROM range(1, $horizon + 1))
        SELECT s.cohort, ks.k, count(*), count(b.user_id)
        FROM s CROSS JOIN ks LEFT JOIN back b ON b.user_id = s.user_id AND b.k = ks.k
        WHERE s.created_at + ks.k * $day >= $observed AND s.created_at + (ks.k + 1) * $day <= $end
        GROUP BY s.cohort, ks.k ORDER BY s.cohort, ks.k
        """,
        params,
    )
    sizes = dict(
        _rows(
            frame,
            "SELECT strftime(make_timestamp(CAST(created_at * 1e6 AS BIGINT)), '%Y-%m-%d'), "
            f"count(*) FROM users WHERE created_at >= $lo AND created_at < $end {segment} "
            "GROUP BY 1",
            {k: params[k] for k in ("lo", "end", "segment") if k in params},
        )
    )
    curves: dict[str, dict[str, Any]] = {}
    for cohort, k, eligible, kept in rows:
        curve = curves.setdefault(
            cohort, {"cohort": cohort, "users": int(sizes[cohort]), "days": [], "retention": []}
        )
        curve["days"].append(int(k))
        curve["retention"].append(kept / eligible)
    return list(curves.values())
