"""Fairness: equal exposure for equal quality, equal conversion for the same items, coverage.

Group attributes come from the Catalog: a creator's group is its stage (head / mid / novice), a
user's group the ``user_group`` attribute of the config (``group``, ``region`` or ``segment``).

* ``exposure_variance``: items are bucketed by quality into ``quality_bins`` equal-width bins
  (items without a quality are left out); in each bin, each creator group's mean impressions
  per item is divided by the bin's mean, and the population variance of those ratios across
  the groups present is taken. The result is the average over bins with at least two groups,
  weighted by their items: 0 when equal-quality content gets equal exposure whoever made it.
  ``exposure_ratio_by_creator_group`` is each group's item-weighted mean ratio (1 = fair share).
* ``conversion_rate_gap``: for each item shown to at least two user groups, the largest minus
  the smallest click-through rate (clicks / impressions) across those groups, averaged with
  the item's impressions as weights; ``ctr_by_user_group`` pools the same items per group.
* ``top_coverage_by_creator_group``: per creator group, the share of its creators (those
  created before the window ends) with an item shown at a top position
  (``position < top_positions``) in the window.
"""

from __future__ import annotations

from typing import Any

from ecorec.core.config import HealthConfig
from ecorec.metrics.health.frame import HealthFrame, ratio


def _exposure(frame: HealthFrame, bins: int) -> tuple[float | None, dict[str, float]]:
    frame.con.execute(
        """
        CREATE OR REPLACE TEMP TABLE fair_bins AS
        WITH it AS (
            SELECT least(CAST(floor(i.quality * ?) AS INTEGER), ? - 1) AS bin,
                c.stage AS grp, coalesce(s.shown, 0) AS n
            FROM items i JOIN creators c USING (creator_id) LEFT JOIN item_stats s USING (item_id)
            WHERE i.quality IS NOT NULL AND NOT coalesce(i.deleted, false) AND i.created_at < ?
        ), bin_mean AS (
            SELECT bin, avg(n) AS mean, count(*) AS items, count(DISTINCT grp) AS groups
            FROM it GROUP BY bin
        ), grp AS (
            SELECT bin, grp, avg(n) AS mean, count(*) AS items FROM it GROUP BY bin, grp
        )
        SELECT g.bin, g.grp, g.items, b.items AS bin_items, b.groups,
            CASE WHEN b.mean > 0 THEN g.mean / b.mean END AS r
        FROM grp g JOIN bin_mean b USING (bin)
        """,
        [bins, bins, frame.window.end],
    )
    variance, weight = frame.one(
        """
        WITH v AS (
            SELECT bin, any_value(bin_items) AS items, var_pop(r) AS var FROM fair_bins
            WHERE groups >= 2 AND r IS NOT NULL GROUP BY bin
        )
        SELECT sum(var * items), sum(items) FROM v
        """
    )
    ratios = frame.rows(
        "SELECT grp, sum(r * items) / sum(items) FROM fair_bins WHERE r IS NOT NULL "
        "GROUP BY grp ORDER BY grp"
    )
    return ratio(variance, weight), {g: float(r) for g, r in ratios}


def _conversion_gap(frame: HealthFrame, attribute: str) -> tuple[float | None, dict[str, float]]:
    frame.con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE fair_ctr AS
        WITH per AS (
            SELECT e.item_id, u."{attribute}" AS grp,
                count(*) FILTER (WHERE e.type = 'impression') AS shown,
                count(*) FILTER (WHERE e.type = 'click') AS clicks
            FROM ev e JOIN users u USING (user_id)
            WHERE e.item_id IS NOT NULL AND e.type IN ('impression', 'click')
                AND u."{attribute}" IS NOT NULL
            GROUP BY e.item_id, grp
        ), shared AS (
            SELECT item_id FROM per WHERE shown > 0 GROUP BY item_id HAVING count(*) >= 2
        )
        SELECT * FROM per WHERE shown > 0 AND item_id IN (SELECT item_id FROM shared)
        """
    )
    gap, weight = frame.one(
        """
        WITH g AS (
            SELECT item_id, max(clicks / shown) - min(clicks / shown) AS gap, sum(shown) AS n
            FROM fair_ctr GROUP BY item_id
        )
        SELECT sum(gap * n), sum(n) FROM g
        """
    )
    rates = frame.rows(
        "SELECT grp, sum(clicks) / sum(shown) FROM fair_ctr GROUP BY grp ORDER BY grp"
    )
    return ratio(gap, weight), {g: float(r) for g, r in rates}


def _top_coverage(frame: HealthFrame, top: int) -> dict[str, float]:
    rows = frame.rows(
        """
        WITH top_ AS (
            SELECT DISTINCT creator_id FROM item_stats WHERE best_position < ?
        )
        SELECT stage, count(*), count(*) FILTER (WHERE creator_id IN
            (SELECT creator_id FROM top_))
        FROM creators WHERE created_at < ? GROUP BY stage ORDER BY stage
        """,
        [top, frame.window.end],
    )
    return {stage: covered / n for stage, n, covered in rows if n}


def fairness(frame: HealthFrame, config: HealthConfig) -> dict[str, Any]:
    """Every fairness metric of the frame's window (None where the log has no data)."""
    variance, exposure_ratio = _exposure(frame, config.quality_bins)
    gap, rates = _conversion_gap(frame, config.user_group)
    return {
        "exposure_variance": variance,
        "exposure_ratio_by_creator_group": exposure_ratio,
        "conversion_rate_gap": gap,
        "ctr_by_user_group": rates,
        "user_group": config.user_group,
        "top_coverage_by_creator_group": _top_coverage(frame, config.top_positions),
    }
