"""User value: activity, retention, time spent, engagement rates and negative feedback.

Definitions (``ev`` holds the window's events; *active* means any event; the window is counted
from the log's first event when the log begins inside it):

* ``dau``: active users per day, averaged over the window's whole days (24-hour slices back
  from its end) that the log covers (None under a day).
* ``active_users``, ``active_users_new`` / ``_returning``: active in the window, split by
  whether the user signed up (catalog ``created_at``) inside the window.
* ``retention_d{k}`` (k = 1, 7, 30): of users whose k-th day after signup
  ``[created_at + k days, created_at + (k+1) days)`` lies inside the part of the window the log
  covers, the share with an event in it; ``retention_by_cohort`` gives the same per signup
  date (UTC).
* ``next_day_retention_new`` / ``_returning``: of users active on a day of the window (new: they
  signed up that day), the share active the next day.
* ``time_per_user``: play seconds per active user; ``visits_per_user``: visits (runs of events
  without a gap over ``session_gap_seconds``) per active user; ``click_depth``: item clicks per
  visit.
* ``like_rate``, ``comment_rate``, ``share_rate``: per play; ``effective_play_rate``: share of
  plays of at least ``effective_play_seconds``.
* ``negative_feedback_rate``: not_interested + block_creator + flag events per organic (item)
  impression, in this and the previous window.
* ``nps``: % promoters (survey 9-10) minus % detractors (0-6) over survey answers.
* ``comment_sentiment``: mean :func:`~ecorec.metrics.health.sentiment.comment_score` of comments
  with ``extra.text``.
"""

from __future__ import annotations

from typing import Any

from ecorec.core.config import HealthConfig
from ecorec.metrics.health.frame import DAY, HealthFrame, ratio
from ecorec.metrics.health.sentiment import comment_score

RETENTION_DAYS = (1, 7, 30)
_NEGATIVE = "('not_interested', 'block_creator', 'flag')"


def negative_feedback_rate(frame: HealthFrame, table: str) -> float | None:
    """Negative feedback events per organic impression in ``ev`` or ``prev``."""
    negatives, impressions = frame.one(
        f"SELECT count(*) FILTER (WHERE type IN {_NEGATIVE}), "
        "count(*) FILTER (WHERE type = 'impression' AND item_id IS NOT NULL) FROM " + table
    )
    return ratio(negatives, impressions)


def _dau(frame: HealthFrame) -> float | None:
    days = int(frame.observed // DAY + 1e-9)
    if days == 0:
        return None
    (total,) = frame.one("SELECT count(*) FROM user_days WHERE d < ?", [days])
    return float(total) / days


def _retention(frame: HealthFrame) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    w = frame.window
    eligible_k = ", ".join(
        f"(created_at + {k} * {DAY} >= {frame.observed_start} "
        f"AND created_at + {k + 1} * {DAY} <= {w.end})"
        f" AS e{k}"
        for k in RETENTION_DAYS
    )
    segment = "AND segment = ?" if frame.segment is not None else ""
    frame.con.execute(
        "CREATE OR REPLACE TEMP TABLE signups AS SELECT user_id, created_at, "
        # a plain (UTC) timestamp, so the cohort date does not follow the machine's time zone
        "strftime(make_timestamp(CAST(created_at * 1e6 AS BIGINT)), '%Y-%m-%d') AS cohort, "
        f"{eligible_k} "
        f"FROM users WHERE created_at >= ? AND created_at < ? {segment}",
        [w.start - (max(RETENTION_DAYS) + 1) * DAY, w.end]
        + ([frame.segment] if frame.segment is not None else []),
    )
    # Day k after signup is [created_at + k days, created_at + (k+1) days): one hash join of
    # the window's events with the signups, not a range join per user.
    days = ", ".join(str(k) for k in RETENTION_DAYS)
    back = ", ".join(
        f"s.user_id IN (SELECT user_id FROM back WHERE k = {k}) AS r{k}" for k in RETENTION_DAYS
    )
    frame.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cohort AS
        WITH back AS (
            SELECT DISTINCT ev.user_id, CAST(floor((ev.ts - s.created_at) / {DAY}) AS INTEGER) AS k
            FROM ev JOIN signups s USING (user_id)
            WHERE floor((ev.ts - s.created_at) / {DAY}) IN ({days})
        )
        SELECT s.*, {back} FROM signups s"""
    )
    parts = ", ".join(
        f"count(*) FILTER (WHERE e{k}), count(*) FILTER (WHERE e{k} AND r{k})"
        for k in RETENTION_DAYS
    )
    overall = frame.one(f"SELECT {parts} FROM cohort")
    headline = {
        f"retention_d{k}": ratio(overall[2 * i + 1], overall[2 * i])
        for i, k in enumerate(RETENTION_DAYS)
    }
    eligible = " OR ".join(f"e{k}" for k in RETENTION_DAYS)
    cohorts = []
    for row in frame.rows(
        f"SELECT cohort, count(*), {parts} FROM cohort WHERE {eligible} "
        "GROUP BY cohort ORDER BY cohort"
    ):
        entry: dict[str, Any] = {"cohort": row[0], "users": row[1]}
        for i, k in enumerate(RETENTION_DAYS):
            entry[f"retention_d{k}"] = ratio(row[2 * i + 3], row[2 * i + 2])
        cohorts.append(entry)
    return headline, cohorts


def _next_day(frame: HealthFrame) -> tuple[float | None, float | None]:
    end = frame.window.end
    days = int(frame.observed // DAY + 1e-9)
    # Days are 24-hour slices counted back from the window end (d = 0 is the last one), so
    # day d's next day is d - 1; a partial slice at the start is left out.
    rows = frame.rows(
        """
        WITH days AS (SELECT * FROM user_days), flagged AS (
            SELECT days.user_id, days.d,
                coalesce(u.created_at >= ? - (days.d + 1) * ? AND u.created_at < ? - days.d * ?,
                         false) AS new
            FROM days LEFT JOIN users u USING (user_id)
        )
        SELECT f.new, count(*), count(n.user_id)
        FROM flagged f LEFT JOIN days n ON n.user_id = f.user_id AND n.d = f.d - 1
        WHERE f.d >= 1 AND f.d < ?
        GROUP BY f.new
        """,
        [end, DAY, end, DAY, days],
    )
    by = {bool(new): ratio(kept, total) for new, total, kept in rows}
    return by.get(True), by.get(False)


def _visits(frame: HealthFrame, gap: float) -> int:
    # Exact, on fewer rows: events are first collapsed into buckets of min(1 s, gap) per user
    # (no gap inside a bucket can exceed it), then a visit starts where a bucket's first event
    # comes more than ``gap`` after the previous bucket's last. Sorting 10M events took 1.8 s,
    # sorting their ~2.4M one-second buckets about half that.
    width = min(1.0, gap)
    (visits,) = frame.one(
        f"""
        WITH b AS (
            SELECT user_id, min(ts) AS lo, max(ts) AS hi FROM ev
            GROUP BY user_id, floor(ts / {width!r})
        )
        SELECT count(*) FILTER (WHERE prev_hi IS NULL OR lo - prev_hi > {gap!r})
        FROM (SELECT lo, lag(hi) OVER (PARTITION BY user_id ORDER BY lo) AS prev_hi FROM b)
        """
    )
    return int(visits)


def _sentiment(frame: HealthFrame) -> float | None:
    rows = frame.rows(
        "SELECT json_extract_string(extra, '$.text') AS text, count(*) FROM ev_extra "
        "WHERE type = 'comment' AND json_extract_string(extra, '$.text') IS NOT NULL "
        "GROUP BY text"
    )
    total = sum(n for _, n in rows)
    return ratio(sum(comment_score(text) * n for text, n in rows), total)


#: Every count of the window taken in one pass over ``ev``.
_COUNTS = {
    "plays": "count(*) FILTER (WHERE type = 'play')",
    "seconds": "coalesce(sum(value) FILTER (WHERE type = 'play'), 0)",
    "effective": "count(*) FILTER (WHERE type = 'play' AND value >= $effective)",
    "likes": "count(*) FILTER (WHERE type = 'like')",
    "comments": "count(*) FILTER (WHERE type = 'comment')",
    "shares": "count(*) FILTER (WHERE type = 'share')",
    "item_clicks": "count(*) FILTER (WHERE type = 'click' AND item_id IS NOT NULL)",
    "negatives": f"count(*) FILTER (WHERE type IN {_NEGATIVE})",
    "shown": "count(*) FILTER (WHERE type = 'impression' AND item_id IS NOT NULL)",
    "promoters": "count(*) FILTER (WHERE type = 'survey' AND value >= 9)",
    "detractors": "count(*) FILTER (WHERE type = 'survey' AND value <= 6)",
    "answers": "count(*) FILTER (WHERE type = 'survey' AND value IS NOT NULL)",
}


def user_value(frame: HealthFrame, config: HealthConfig) -> dict[str, Any]:
    """Every user-value metric of the frame's window (None where the log has no data)."""
    w = frame.window
    active, new = frame.one(
        """
        SELECT count(DISTINCT user_id), count(DISTINCT user_id) FILTER (WHERE user_id IN
                (SELECT user_id FROM users WHERE created_at >= ? AND created_at < ?))
        FROM user_days
        """,
        [w.start, w.end],
    )
    values = frame.con.execute(
        f"SELECT {', '.join(_COUNTS.values())} FROM ev",
        {"effective": config.effective_play_seconds},
    ).fetchone()
    n = dict(zip(_COUNTS, values or (), strict=True))
    retention, cohorts = _retention(frame)
    next_new, next_returning = _next_day(frame)
    visits = _visits(frame, config.session_gap_seconds)
    plays = n["plays"]
    return {
        "active_users": active,
        "active_users_new": new,
        "active_users_returning": active - new,
        "dau": _dau(frame),
        **retention,
        "next_day_retention_new": next_new,
        "next_day_retention_returning": next_returning,
        "retention_by_cohort": cohorts,
        "time_per_user": ratio(n["seconds"], active),
        "visits_per_user": ratio(visits, active),
        "click_depth": ratio(n["item_clicks"], visits),
        "like_rate": ratio(n["likes"], plays),
        "comment_rate": ratio(n["comments"], plays),
        "share_rate": ratio(n["shares"], plays),
        "effective_play_rate": ratio(n["effective"], plays),
        "negative_feedback_rate": ratio(n["negatives"], n["shown"]),
        "negative_feedback_rate_previous": negative_feedback_rate(frame, "prev"),
        "nps": ratio(100 * (n["promoters"] - n["detractors"]), n["answers"]),
        "comment_sentiment": _sentiment(frame),
    }
