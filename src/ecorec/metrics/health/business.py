"""Business efficiency: ad revenue and its rates, GMV, revenue per user, advertiser returns.

Ad spend follows :meth:`ecorec.ads.pacing.SpendLedger.rebuild`, the accounting the pacer
replays: an ad impression logged by the ads re-ranker carries ``extra.cost`` (what the
impression bills: CPM and oCPM) and ``extra.charged_price``, which a click-billed ad bills once
per request and ad at its first click. An ad impression without accounting (a synthetic or
imported log) is billed at the catalog ad's list price: CPM ``bid / 1000`` per impression, CPC
``bid`` once per request and ad clicked (as the ledger bills), oCPM/oCPC the target ``bid``
per conversion (what those bids cost in expectation when the predicted rates are calibrated);
``revenue_basis`` says which applied.

* ``ad_revenue``; ``ecpm`` = revenue per 1,000 ad impressions; ``cpc`` / ``cpa`` = spend per ad
  click / conversion; ``roas`` = ad conversion value / spend, overall and per advertiser.
* ``fill_rate``: share of feed requests (distinct request ids of impressions) that carried an
  ad, each request being one ad opportunity (opportunities themselves are not logged).
* ``ad_load``: ad impressions / all impressions.
* ``gmv``: value of every conversion; ``user_payments``: tips and subscriptions;
  ``arpu`` = (ad revenue + user payments) / active users; ``arppu`` = user payments / paying
  users.
"""

from __future__ import annotations

from typing import Any

from ecorec.metrics.health.frame import HealthFrame, ratio

_BILLED = """
CREATE OR REPLACE TEMP TABLE ad_imp AS
SELECT e.request_id, e.ad_id, e.user_id,
    coalesce(json_extract_string(e.extra, '$.advertiser_id'), a.advertiser_id) AS advertiser_id,
    json_extract_string(e.extra, '$.billing') AS billing,
    TRY_CAST(json_extract_string(e.extra, '$.cost') AS DOUBLE) AS cost,
    TRY_CAST(json_extract_string(e.extra, '$.charged_price') AS DOUBLE) AS charged,
    a.bid_type, a.bid
FROM ev_extra e LEFT JOIN ads a USING (ad_id)
WHERE e.type = 'impression' AND e.ad_id IS NOT NULL
"""
# One row per (request, ad) shown: what that showing billed, with clicks and conversions that
# followed it in the same request.
_SPEND = """
CREATE OR REPLACE TEMP TABLE ad_spend AS
WITH shown AS (
    SELECT request_id, ad_id, any_value(advertiser_id) AS advertiser_id,
        count(*) AS impressions, sum(cost) AS cost, any_value(charged) AS charged,
        any_value(billing) AS billing, any_value(bid_type) AS bid_type, any_value(bid) AS bid,
        bool_or(charged IS NOT NULL) AS logged
    FROM ad_imp GROUP BY request_id, ad_id
), acted AS (
    SELECT request_id, ad_id,
        count(*) FILTER (WHERE type = 'click') AS clicks,
        count(*) FILTER (WHERE type = 'conversion') AS conversions
    FROM ev WHERE ad_id IS NOT NULL AND type IN ('click', 'conversion')
    GROUP BY request_id, ad_id
)
SELECT s.*, coalesce(a.clicks, 0) AS clicks, coalesce(a.conversions, 0) AS conversions,
    CASE
        WHEN s.logged AND s.billing = 'click' THEN
            CASE WHEN coalesce(a.clicks, 0) > 0 THEN s.charged ELSE 0 END
        WHEN s.logged THEN coalesce(s.cost, 0)
        WHEN s.bid_type = 'cpm' THEN s.impressions * s.bid / 1000
        WHEN s.bid_type = 'cpc' THEN CASE WHEN coalesce(a.clicks, 0) > 0 THEN s.bid ELSE 0 END
        WHEN s.bid_type IN ('ocpm', 'ocpc') THEN coalesce(a.conversions, 0) * s.bid
    END AS spend
FROM shown s LEFT JOIN acted a
    ON a.request_id IS NOT DISTINCT FROM s.request_id AND a.ad_id = s.ad_id
"""


def _advertisers(frame: HealthFrame) -> dict[str, dict[str, Any]]:
    rows = frame.rows(
        """
        WITH owner AS (
            SELECT ad_id, advertiser_id FROM ads
            UNION SELECT ad_id, any_value(advertiser_id) FROM ad_imp
            WHERE ad_id NOT IN (SELECT ad_id FROM ads) GROUP BY ad_id
        ), value AS (
            SELECT o.advertiser_id, count(*) AS conversions, sum(e.value) AS value
            FROM ev e JOIN owner o USING (ad_id)
            WHERE e.type = 'conversion' GROUP BY o.advertiser_id
        ), cost AS (
            SELECT advertiser_id, sum(impressions) AS impressions, sum(clicks) AS clicks,
                sum(spend) AS spend
            FROM ad_spend GROUP BY advertiser_id
        )
        SELECT coalesce(c.advertiser_id, v.advertiser_id) AS advertiser, c.impressions,
            c.clicks, c.spend, coalesce(v.conversions, 0), coalesce(v.value, 0)
        FROM cost c FULL JOIN value v USING (advertiser_id)
        WHERE coalesce(c.advertiser_id, v.advertiser_id) IS NOT NULL
        ORDER BY advertiser
        """
    )
    return {
        advertiser: {
            "ad_impressions": impressions or 0,
            "ad_clicks": clicks or 0,
            "spend": spend,
            "conversions": conversions,
            "conversion_value": value,
            "cpc": ratio(spend, clicks),
            "cpa": ratio(spend, conversions),
            "roas": ratio(value, spend),
        }
        for advertiser, impressions, clicks, spend, conversions, value in rows
    }


def business(frame: HealthFrame, active_users: int) -> dict[str, Any]:
    """Every business metric of the frame's window (None where the log has no data).

    Args:
        frame: the window's frame.
        active_users: users active in the window (the ARPU denominator).

    """
    frame.con.execute(_BILLED)
    frame.con.execute(_SPEND)
    impressions, unbilled, logged, revenue = frame.one(
        "SELECT sum(impressions), sum(impressions) FILTER (WHERE spend IS NULL), "
        "sum(impressions) FILTER (WHERE logged), sum(spend) FROM ad_spend"
    )
    impressions = int(impressions or 0)
    requests, with_ad, all_impressions, ad_clicks, conversions, ad_value, gmv = frame.one(
        """
        SELECT count(DISTINCT request_id) FILTER (WHERE type = 'impression'),
            (SELECT count(DISTINCT request_id) FROM ad_imp),
            count(*) FILTER (WHERE type = 'impression'),
            count(*) FILTER (WHERE type = 'click' AND ad_id IS NOT NULL),
            count(*) FILTER (WHERE type = 'conversion' AND ad_id IS NOT NULL),
            sum(value) FILTER (WHERE type = 'conversion' AND ad_id IS NOT NULL),
            sum(value) FILTER (WHERE type = 'conversion')
        FROM ev
        """
    )
    payments, payers = frame.one(
        "SELECT sum(value), count(DISTINCT user_id) FROM ev WHERE type IN ('tip', 'subscribe')"
    )
    basis = "none"
    if impressions:
        logged = int(logged or 0)
        basis = "logged" if logged == impressions else "list_price" if not logged else "mixed"
    ad_revenue = float(revenue) if revenue is not None else (0.0 if impressions else None)
    payments = float(payments or 0.0)
    return {
        "ad_impressions": impressions,
        "ad_clicks": ad_clicks,
        "ad_conversions": conversions,
        "ad_revenue": ad_revenue,
        "revenue_basis": basis,
        "unbilled_ad_impressions": int(unbilled or 0),
        "ecpm": ratio(1000 * ad_revenue, impressions) if ad_revenue is not None else None,
        "ad_ctr": ratio(ad_clicks, impressions),
        "fill_rate": ratio(with_ad, requests),
        "ad_load": ratio(impressions, all_impressions),
        "gmv": float(gmv) if gmv is not None else None,
        "user_payments": payments,
        "arpu": ratio((ad_revenue or 0.0) + payments, active_users),
        "arppu": ratio(payments, payers),
        "cpc": ratio(ad_revenue, ad_clicks),
        "cpa": ratio(ad_revenue, conversions),
        "roas": ratio(ad_value or 0.0, ad_revenue),
        "advertisers": _advertisers(frame),
    }
