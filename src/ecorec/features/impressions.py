"""Impression-level training samples: one row per thing shown, labelled with what followed.

A ranker learns from what the platform *showed*, not only from what people consumed: every
impression becomes a row, and the events that followed it (in the same request, or within
``window`` seconds when either side has no request id) set its labels:

===============  ==============================================================================
objective        label
===============  ==============================================================================
``click``        a click on the impressed item
``like``         a like; ``share`` and ``comment`` likewise
``finish``       watch seconds / item duration >= ``finish_threshold`` (unknown without duration)
``watch_time``   that completion ratio clipped to [0, 1], a soft label (unknown without duration)
``negative``     not_interested, flag, block_creator, or a quick skip: a click followed by less
                 than ``skip_seconds`` of play
``convert``      a conversion after a click (pCTCVR's label over the whole impression space, so
                 ESMM's CTCVR head and a CVR-on-clicks model are judged on the same rows)
===============  ==============================================================================

A dataset of explicit ratings (MovieLens ingested) has no impressions: each rated item is then
a row labelled ``click = rating >= rating_threshold``, protocol P3's rule, its other labels
unknown, so the same ranker learns from either kind of log.

The join runs in DuckDB over Arrow, so the same SQL reads an EventLog's batches or a Parquet
export (DESIGN.md §4: training data is SQL over events).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from ecorec.data.events import EVENT_SCHEMA
from ecorec.data.protocols import EventLog

#: Every objective a sample carries, in the order models list them.
OBJECTIVES = ("click", "like", "finish", "watch_time", "negative", "convert", "share", "comment")
#: Event types that can label an impression.
_LABEL_TYPES = (
    "click",
    "play",
    "like",
    "share",
    "comment",
    "not_interested",
    "flag",
    "block_creator",
    "conversion",
)


@dataclass(frozen=True)
class LabelConfig:
    """How events after an impression become its labels.

    Attributes:
        finish_threshold: the completion ratio at which a play counts as finished.
        skip_seconds: a click followed by less play than this is a quick skip (negative).
        window: seconds after the impression in which events count when either side lacks a
            request id (with request ids on both sides only the same request counts).
        rating_threshold: an explicit rating (a dataset without impressions) is a row whose
            ``click`` is ``rating >= rating_threshold``.

    """

    finish_threshold: float = 0.8
    skip_seconds: float = 3.0
    window: float = 3600.0
    rating_threshold: float = 4.0

    def __post_init__(self) -> None:
        if not 0.0 < self.finish_threshold <= 1.0:
            raise ValueError(f"finish_threshold must be in (0, 1], got {self.finish_threshold}")
        if self.skip_seconds < 0 or self.window <= 0:
            raise ValueError("skip_seconds must be >= 0 and window > 0")


def event_table(source: EventLog | pa.Table | str | Path, end: float | None = None) -> pa.Table:
    """All events of ``source`` (an EventLog, an Arrow table, or a Parquet export folder)."""
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, str | Path):
        folder = Path(source)
        if not folder.exists():
            raise ValueError(f"no Parquet export at {folder}")
        table = (
            duckdb.connect()
            .execute(
                "SELECT * EXCLUDE (day) FROM read_parquet(?, hive_partitioning = true)",
                [str(folder / "day=*" / "*.parquet")],
            )
            .to_arrow_table()
        )
        return table.cast(EVENT_SCHEMA)
    batches: Iterable[pa.Table] = source.scan_batches(end=end)
    tables = list(batches)
    return pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()


def impression_samples(
    events: pa.Table,
    durations: pa.Table | None = None,
    labels: LabelConfig | None = None,
    key: Literal["item_id", "ad_id"] = "item_id",
) -> pa.Table:
    """One row per impression of an item (or an ad), with a label column per objective.

    Args:
        events: events in :data:`~ecorec.data.events.EVENT_SCHEMA`.
        durations: ``item_id, duration`` (seconds) for ``finish``/``watch_time``; without it
            (or for an item without one) those labels are null.
        labels: the :class:`LabelConfig`.
        key: ``item_id`` for content, ``ad_id`` for ads.

    Returns:
        Columns ``user_id, <key>, creator_id, request_id, ts, position, scene, device``, then
        :data:`OBJECTIVES` as float64 (null: unknown), sorted by ``ts`` (ties by user, key).
        Repeated impressions of one key in one request count once, at the first.

    """
    if key not in ("item_id", "ad_id"):
        raise ValueError(f"key must be item_id or ad_id, got {key!r}")
    cfg = labels or LabelConfig()
    if durations is None:
        durations = pa.table(
            {"item_id": pa.array([], pa.string()), "duration": pa.array([], pa.float64())}
        )
    con = duckdb.connect()
    con.register("ev", events)
    con.register("durations", durations)
    types = ", ".join(f"'{t}'" for t in _LABEL_TYPES)
    finish = "NULL" if key == "ad_id" else f"CAST(s.completion >= {cfg.finish_threshold} AS DOUBLE)"
    # least() skips NULLs (least(NULL, 1) is 1), so an unknown completion is kept explicitly
    watch = (
        "NULL"
        if key == "ad_id"
        else "CASE WHEN s.completion IS NOT NULL THEN least(s.completion, 1.0) END"
    )
    # A dataset of explicit ratings has no impressions: each rating is a row whose click is
    # rating >= rating_threshold (protocol P3's rule) and whose other labels are unknown.
    unknown = ", ".join(f'CAST(NULL AS DOUBLE) AS "{o}"' for o in OBJECTIVES if o != "click")
    rated = (
        ""
        if key == "ad_id"
        else f"""UNION ALL BY NAME
    SELECT user_id, item_id, any_value(creator_id) AS creator_id,
        CAST(NULL AS VARCHAR) AS request_id, min(ts) AS ts, CAST(NULL AS INTEGER) AS position,
        '' AS scene, '' AS device,
        CAST(arg_min(value, ts) >= {cfg.rating_threshold} AS DOUBLE) AS click, {unknown}
    FROM ev WHERE type = 'rating' AND item_id IS NOT NULL
    GROUP BY user_id, item_id"""
    )
    # Labels come from an inner join on (user, key) filtered by time and request, then are
    # joined back to every impression on equalities only: both joins stay hash joins (a LEFT
    # JOIN with the request/window condition in its ON clause ran ~100x slower).
    sql = f"""
    WITH imp AS (
        SELECT user_id, {key} AS k, coalesce(request_id, '') AS rid, min(ts) AS ts,
               min(position) AS position, any_value(creator_id) AS creator_id,
               coalesce(any_value(json_extract_string(extra, '$.scene')), '') AS scene,
               coalesce(any_value(json_extract_string(extra, '$.device')), '') AS device
        FROM ev WHERE type = 'impression' AND {key} IS NOT NULL
        GROUP BY user_id, {key}, coalesce(request_id, '')
    ), act AS (
        SELECT user_id, {key} AS k, coalesce(request_id, '') AS rid, type, ts, value FROM ev
        WHERE type IN ({types}) AND {key} IS NOT NULL
    ), labelled AS (
        SELECT imp.user_id, imp.k, imp.rid,
            max(CASE WHEN a.type = 'click' THEN 1 ELSE 0 END) AS click,
            max(CASE WHEN a.type = 'like' THEN 1 ELSE 0 END) AS like_,
            max(CASE WHEN a.type = 'share' THEN 1 ELSE 0 END) AS share,
            max(CASE WHEN a.type = 'comment' THEN 1 ELSE 0 END) AS comment,
            max(CASE WHEN a.type IN ('not_interested', 'flag', 'block_creator') THEN 1 ELSE 0 END)
                AS rejected,
            max(CASE WHEN a.type = 'conversion' THEN 1 ELSE 0 END) AS converted,
            sum(CASE WHEN a.type = 'play' THEN a.value END) AS watched
        FROM imp JOIN act a ON a.user_id = imp.user_id AND a.k = imp.k
        WHERE a.ts >= imp.ts
          AND (CASE WHEN a.rid <> '' AND imp.rid <> '' THEN a.rid = imp.rid
                    ELSE a.ts < imp.ts + {cfg.window} END)
        GROUP BY imp.user_id, imp.k, imp.rid
    ), scored AS (
        SELECT imp.*, coalesce(l.click, 0) AS click, coalesce(l.like_, 0) AS like_,
            coalesce(l.share, 0) AS share, coalesce(l.comment, 0) AS comment,
            coalesce(l.rejected, 0) AS rejected, coalesce(l.converted, 0) AS converted,
            l.watched,
            CASE WHEN d.duration > 0 THEN coalesce(l.watched, 0) / d.duration END AS completion
        FROM imp
        LEFT JOIN labelled l ON l.user_id = imp.user_id AND l.k = imp.k AND l.rid = imp.rid
        LEFT JOIN durations d ON d.item_id = imp.k
    )
    SELECT s.user_id, s.k AS {key}, s.creator_id, nullif(s.rid, '') AS request_id, s.ts,
        s.position, s.scene, s.device,
        CAST(s.click AS DOUBLE) AS click,
        CAST(s.like_ AS DOUBLE) AS "like",
        {finish} AS finish,
        {watch} AS watch_time,
        CAST(s.rejected = 1 OR (s.click = 1 AND s.watched IS NOT NULL
             AND s.watched < {cfg.skip_seconds}) AS DOUBLE) AS negative,
        CAST(s.click = 1 AND s.converted = 1 AS DOUBLE) AS convert,
        CAST(s.share AS DOUBLE) AS share,
        CAST(s.comment AS DOUBLE) AS comment
    FROM scored s
    {rated}
    ORDER BY ts, user_id, {key}
    """
    return con.execute(sql).to_arrow_table()


def positive_events(events: pa.Table, types: Iterable[str]) -> pa.Table:
    """``user_id, item_id, ts`` of the events of ``types`` on items, sorted by time.

    These are what a user's behaviour sequence is built from offline; online the same events
    reach ``Profile.recent`` through the profile deltas.
    """
    con = duckdb.connect()
    con.register("ev", events)
    wanted = ", ".join(f"'{t}'" for t in sorted(set(types)))
    return con.execute(
        f"SELECT user_id, item_id, ts FROM ev WHERE type IN ({wanted}) AND item_id IS NOT NULL "
        "ORDER BY ts, user_id, item_id"
    ).to_arrow_table()
