"""Ecosystem health: how exposure spreads over items, categories and creators.

Definitions (*items* are the catalog's items not deleted and created before the window ends,
plus any other item the window shows; *exposure* is organic impressions; *interactions* are
click, play, like, share, comment and conversion events on items):

* ``category_coverage``: categories shown / categories of the items;
  ``tail_category_exposure_share``: exposure of categories outside the ``top_categories`` most
  exposed (ties by name), over exposure of items with a category.
* ``gini`` (and ``click_gini``): Gini index of impressions (clicks) per item, unshown items
  included, the formula of :func:`ecorec.metrics.beyond_accuracy.exposure_gini`.
* ``long_tail_share`` / ``long_tail_consumption_share``: share of exposure / interactions that
  go to long-tail items, those outside the ``ceil(head_share * items)`` items with the most
  interactions in the window (items without any are never head: the rule of
  :func:`ecorec.metrics.beyond_accuracy.long_tail_mask`, ties by item id).
* ``creator_tier_share``: exposure share per creator stage (head / mid / novice / unknown).
* ``creators``, ``creators_new``, ``creator_growth`` (new / those there at the window start),
  ``active_creators`` (published in the window) and ``creator_retention`` (share of creators
  who published in the previous window and publish again in this one).
"""

from __future__ import annotations

import math
from typing import Any

from ecorec.core.config import HealthConfig
from ecorec.metrics.health.frame import HealthFrame, ratio


def _universe(frame: HealthFrame) -> None:
    """``universe(item_id, category, creator_id)``: the items the metrics range over."""
    frame.con.execute(
        """
        CREATE OR REPLACE TEMP TABLE universe AS
        SELECT item_id, i.category, i.creator_id FROM items i
        WHERE NOT coalesce(i.deleted, false) AND i.created_at < ?
        UNION
        SELECT s.item_id, i.category, s.creator_id FROM item_stats s
        LEFT JOIN items i USING (item_id)
        """,
        [frame.window.end],
    )


def gini_of(frame: HealthFrame, column: str) -> float | None:
    """Gini index of ``item_stats.<column>`` over every item of ``universe``.

    Unlisted items count 0; they sort first, so the positive counts take ranks
    ``zeros + 1 .. n`` and the zeros add nothing to ``sum (2i - n - 1) c_i``.
    """
    n, total, weighted = frame.one(
        f"""
        WITH c AS (
            SELECT {column} AS c FROM item_stats
            WHERE {column} > 0 AND item_id IN (SELECT item_id FROM universe)
        ), n AS (SELECT count(*) AS n FROM universe), ranked AS (
            SELECT c, (SELECT n FROM n) - count(*) OVER () + row_number() OVER (ORDER BY c) AS i
            FROM c
        )
        SELECT (SELECT n FROM n), sum(c), sum((2 * i - (SELECT n FROM n) - 1) * c) FROM ranked
        """
    )
    if not n or not total:
        return None
    return float(weighted) / (float(n) * float(total))


def _long_tail(frame: HealthFrame, head_share: float) -> tuple[float | None, float | None]:
    (n,) = frame.one("SELECT count(*) FROM universe")
    head_size = math.ceil(head_share * n - 1e-9)
    shown, used, tail_shown, tail_used = frame.one(
        """
        WITH head AS (
            SELECT item_id FROM item_stats
            WHERE used > 0 AND item_id IN (SELECT item_id FROM universe)
            ORDER BY used DESC, item_id LIMIT ?
        )
        SELECT sum(shown), sum(used),
            sum(shown) FILTER (WHERE item_id NOT IN (SELECT item_id FROM head)),
            sum(used) FILTER (WHERE item_id NOT IN (SELECT item_id FROM head))
        FROM item_stats
        """,
        [head_size],
    )
    return ratio(tail_shown or 0, shown), ratio(tail_used or 0, used)


def _categories(frame: HealthFrame, top_k: int) -> tuple[float | None, float | None, int]:
    (all_categories,) = frame.one(
        "SELECT count(DISTINCT category) FROM universe WHERE category IS NOT NULL"
    )
    rows = frame.rows(
        "SELECT u.category, sum(s.shown) AS shown FROM item_stats s JOIN universe u USING "
        "(item_id) WHERE u.category IS NOT NULL AND s.shown > 0 GROUP BY u.category "
        "ORDER BY shown DESC, u.category"
    )
    total = sum(int(shown) for _, shown in rows)
    tail = sum(int(shown) for _, shown in rows[top_k:])
    return ratio(len(rows), all_categories), ratio(tail, total), len(rows)


def _tiers(frame: HealthFrame) -> dict[str, float]:
    rows = frame.rows(
        """
        SELECT coalesce(c.stage, 'unknown') AS stage, sum(s.shown) AS n
        FROM item_stats s LEFT JOIN creators c USING (creator_id)
        WHERE s.shown > 0
        GROUP BY stage ORDER BY stage
        """
    )
    total = sum(n for _, n in rows)
    return {stage: n / total for stage, n in rows} if total else {}


def _creators(frame: HealthFrame) -> dict[str, Any]:
    w = frame.window
    before, new = frame.one(
        "SELECT count(*) FILTER (WHERE created_at < ?), "
        "count(*) FILTER (WHERE created_at >= ? AND created_at < ?) FROM creators",
        [w.start, w.start, w.end],
    )
    active, previous, kept = frame.one(
        """
        WITH now_ AS (SELECT DISTINCT creator_id FROM items
                      WHERE created_at >= ? AND created_at < ? AND creator_id IS NOT NULL),
             then_ AS (SELECT DISTINCT creator_id FROM items
                       WHERE created_at >= ? AND created_at < ? AND creator_id IS NOT NULL)
        SELECT (SELECT count(*) FROM now_), (SELECT count(*) FROM then_),
            (SELECT count(*) FROM then_ WHERE creator_id IN (SELECT creator_id FROM now_))
        """,
        [w.start, w.end, w.previous.start, w.start],
    )
    return {
        "creators": before + new,
        "creators_new": new,
        "creator_growth": ratio(new, before),
        "active_creators": active,
        "creator_retention": ratio(kept, previous),
    }


def ecosystem(frame: HealthFrame, config: HealthConfig) -> dict[str, Any]:
    """Every ecosystem metric of the frame's window (None where the log has no data)."""
    _universe(frame)
    coverage, tail_categories, shown_categories = _categories(frame, config.top_categories)
    long_tail, long_tail_consumption = _long_tail(frame, config.head_share)
    (n_items,) = frame.one("SELECT count(*) FROM universe")
    (shown_items,) = frame.one("SELECT count(*) FROM item_stats WHERE shown > 0")
    return {
        "items": n_items,
        "items_shown": shown_items,
        "item_coverage": ratio(shown_items, n_items),
        "categories_shown": shown_categories,
        "category_coverage": coverage,
        "tail_category_exposure_share": tail_categories,
        "gini": gini_of(frame, "shown"),
        "click_gini": gini_of(frame, "clicks"),
        "long_tail_share": long_tail,
        "long_tail_consumption_share": long_tail_consumption,
        "creator_tier_share": _tiers(frame),
        **_creators(frame),
    }
