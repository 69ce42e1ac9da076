"""The health index (a weighted composite of the three dimensions) and threshold alerts.

Each dimension scores in [0, 1], higher is healthier, as the mean of the scores it has data for:

* user value: ``retention_d1``, ``effective_play_rate``, ``1 - negative_feedback_rate``;
* ecosystem: ``1 - gini``, ``long_tail_share``, ``category_coverage``;
* business: ``fill_rate``, ``min(1, roas / roas_target)``, and the ad-load score ``1`` within
  ``ad_load_max``, else ``ad_load_max / ad_load`` (a feed with more ads than the cap loses).

The index is the weighted mean of the dimensions that have a score, weights from
``[health.weights]`` renormalised over them, so a log without ads is not scored as a failing
business. Fairness is reported beside the index, not inside it: its metrics have no common
"good" direction and scale to fold in.

Alerts (thresholds from ``[health.alerts]``) fire on ``gini > gini_max``,
``long_tail_share < long_tail_min``, ``ad_load > ad_load_max`` and a negative feedback rate
above the previous window's by more than ``negative_rise`` (relative).
"""

from __future__ import annotations

from typing import Any

from ecorec.core.config import HealthConfig


def _mean(scores: list[float | None]) -> float | None:
    known = [s for s in scores if s is not None]
    return sum(known) / len(known) if known else None


def _flip(value: float | None) -> float | None:
    return None if value is None else 1.0 - value


def components(metrics: dict[str, Any], config: HealthConfig) -> dict[str, float | None]:
    """The [0, 1] score of each dimension (None when it has no data)."""
    user, eco, biz = metrics["user_value"], metrics["ecosystem"], metrics["business"]
    roas = biz.get("roas")
    ad_load = biz.get("ad_load")
    cap = config.alerts.ad_load_max
    load_score = None
    if ad_load is not None and biz.get("ad_impressions"):
        load_score = 1.0 if ad_load <= cap else (cap / ad_load if ad_load > 0 else 1.0)
    return {
        "user_value": _mean(
            [
                user.get("retention_d1"),
                user.get("effective_play_rate"),
                _flip(user.get("negative_feedback_rate")),
            ]
        ),
        "ecosystem": _mean(
            [_flip(eco.get("gini")), eco.get("long_tail_share"), eco.get("category_coverage")]
        ),
        "business": _mean(
            [
                biz.get("fill_rate") if biz.get("ad_impressions") else None,
                None if roas is None else min(1.0, roas / config.roas_target),
                load_score,
            ]
        ),
    }


def health_index(metrics: dict[str, Any], config: HealthConfig) -> dict[str, Any]:
    """``{"value", "components", "weights"}``: the weighted mean of the dimension scores."""
    parts = components(metrics, config)
    weights = config.weights.model_dump()
    scored = {k: (v, weights[k]) for k, v in parts.items() if v is not None and weights[k] > 0}
    total = sum(w for _, w in scored.values())
    value = sum(v * w for v, w in scored.values()) / total if total else None
    return {"value": value, "components": parts, "weights": weights}


def _alert(
    metric: str, value: float, threshold: float, window: dict[str, Any], message: str
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "window": window["label"],
        "start": window["start_iso"],
        "end": window["end_iso"],
        "message": message,
    }


def alerts(metrics: dict[str, Any], config: HealthConfig) -> list[dict[str, Any]]:
    """Every alert that fires on ``metrics`` (the dict :func:`compute_health` builds)."""
    t = config.alerts
    w = metrics["window"]
    eco, biz, user = metrics["ecosystem"], metrics["business"], metrics["user_value"]
    out: list[dict[str, Any]] = []
    gini = eco.get("gini")
    if gini is not None and gini > t.gini_max:
        out.append(
            _alert(
                "gini",
                gini,
                t.gini_max,
                w,
                f"exposure Gini {gini:.3f} > {t.gini_max} over {w['label']}: "
                "exposure is concentrated on few items",
            )
        )
    tail = eco.get("long_tail_share")
    if tail is not None and tail < t.long_tail_min:
        out.append(
            _alert(
                "long_tail_share",
                tail,
                t.long_tail_min,
                w,
                f"long-tail exposure share {tail:.1%} < {t.long_tail_min:.0%} over {w['label']}",
            )
        )
    load = biz.get("ad_load")
    if load is not None and load > t.ad_load_max:
        out.append(
            _alert(
                "ad_load",
                load,
                t.ad_load_max,
                w,
                f"ad load {load:.1%} > {t.ad_load_max:.0%} over {w['label']}",
            )
        )
    now, before = user.get("negative_feedback_rate"), user.get("negative_feedback_rate_previous")
    if now is not None and before is not None and now > before * (1.0 + t.negative_rise):
        limit = before * (1.0 + t.negative_rise)
        out.append(
            _alert(
                "negative_feedback_rate",
                now,
                limit,
                w,
                f"negative feedback rate rose to {now:.2%} from {before:.2%} in the previous "
                f"{w['label']} (alert above {limit:.2%}, +{t.negative_rise:.0%})",
            )
        )
    return out
