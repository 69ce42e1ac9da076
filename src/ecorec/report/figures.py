"""The dashboard's Plotly figures, each built from the dict :func:`dashboard_data` returns.

One function per chart, each returning a :class:`Chart` (a stable element id, a title and the
figure), so the page, the tests and anyone embedding a single chart share the same objects. A
chart whose data the window lacks still renders, with a "no data" note instead of empty axes,
so a reader can tell "nothing happened" from "the page broke".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: Most retention cohorts drawn (the largest): more lines than this are unreadable.
MAX_COHORTS = 8
_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "height": 340,
    "margin": {"l": 55, "r": 20, "t": 50, "b": 45},
    "legend": {"orientation": "h", "y": -0.2},
    "hovermode": "x unified",
}


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the page: ``chart_id`` is its element id (``chart-<name>``)."""

    chart_id: str
    title: str
    figure: go.Figure


def _chart(name: str, title: str, figure: go.Figure, **layout: Any) -> Chart:
    figure.update_layout(**{**_LAYOUT, "title": {"text": title, "x": 0.01}, **layout})
    if not figure.data:
        figure.add_annotation(
            text="no data in this window", showarrow=False, x=0.5, y=0.5, xref="paper",
            yref="paper", font={"size": 16, "color": "#888"},
        )  # fmt: skip
    return Chart(f"chart-{name}", title, figure)


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _x(points: list[dict[str, Any]]) -> list[str]:
    return [p["start_iso"] for p in points]


def _hover(points: list[dict[str, Any]]) -> list[str]:
    return ["partial: the log starts inside this step" if p["partial"] else "" for p in points]


def _lines(points: list[dict[str, Any]], metrics: dict[str, str], secondary: str = "") -> go.Figure:
    if not points:
        return go.Figure()
    figure = make_subplots(specs=[[{"secondary_y": bool(secondary)}]])
    for metric, label in metrics.items():
        figure.add_trace(
            go.Scatter(
                x=_x(points),
                y=[p[metric] for p in points],
                name=label,
                mode="lines+markers",
                text=_hover(points),
            ),
            secondary_y=metric == secondary,
        )
    return figure


def user_value_series(data: dict[str, Any]) -> Chart:
    """Active users (right axis) and per-play engagement and negative feedback rates."""
    points = data["series"]["points"]
    figure = _lines(
        points,
        {
            "effective_play_rate": "effective play rate",
            "like_rate": "like rate",
            "negative_feedback_rate": "negative feedback rate",
            "active_users": "active users",
        },
        secondary="active_users",
    )
    return _chart("user-value", "User value per step", figure, yaxis={"tickformat": ".0%"})


def ecosystem_series(data: dict[str, Any]) -> Chart:
    """Exposure Gini, long-tail exposure share and item coverage per step."""
    figure = _lines(
        data["series"]["points"],
        {"gini": "exposure Gini", "long_tail_share": "long-tail share", "item_coverage": "items"
         " shown / items"},
    )  # fmt: skip
    return _chart("ecosystem", "Ecosystem per step", figure, yaxis={"range": [0, 1]})


def business_series(data: dict[str, Any]) -> Chart:
    """Ad load and fill rate per step."""
    figure = _lines(data["series"]["points"], {"ad_load": "ad load", "fill_rate": "fill rate"})
    return _chart("business", "Business per step", figure, yaxis={"tickformat": ".0%"})


def revenue_series(data: dict[str, Any]) -> Chart:
    """Ad revenue (bars) and eCPM (line, right axis) per step."""
    points = data["series"]["points"]
    biz = data["health"]["business"]
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    if any(p["ad_revenue"] is not None for p in points):
        figure.add_trace(
            go.Bar(x=_x(points), y=[p["ad_revenue"] for p in points], name="ad revenue"),
            secondary_y=False,
        )
        figure.add_trace(
            go.Scatter(x=_x(points), y=[p["ecpm"] for p in points], name="eCPM",
                       mode="lines+markers"),
            secondary_y=True,
        )  # fmt: skip
    else:
        figure = go.Figure()
    title = (
        f"Revenue {_fmt(biz.get('ad_revenue'), '{:,.2f}')} and eCPM "
        f"{_fmt(biz.get('ecpm'), '{:,.2f}')} ({biz.get('revenue_basis', 'none')} prices)"
    )
    return _chart("revenue", title, figure)


def lorenz_curve(data: dict[str, Any]) -> Chart:
    """Cumulative share of impressions against cumulative share of items, fewest first."""
    curve = data["curves"]["lorenz"]
    gini = data["health"]["ecosystem"].get("gini")
    figure = go.Figure()
    if curve["x"]:
        figure.add_trace(
            go.Scatter(x=curve["x"], y=curve["y"], name="exposure", fill="tozeroy",
                       mode="lines"),
        )  # fmt: skip
        figure.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], name="equal exposure", mode="lines",
                       line={"dash": "dash", "color": "#888"}),
        )  # fmt: skip
    return _chart(
        "lorenz",
        f"Lorenz curve of item exposure (Gini {_fmt(gini, '{:.3f}')})",
        figure,
        xaxis={"title": "share of items (fewest impressions first)", "tickformat": ".0%"},
        yaxis={"title": "share of impressions", "tickformat": ".0%"},
        hovermode="closest",
    )


def long_tail_curve(data: dict[str, Any]) -> Chart:
    """Cumulative exposure share by popularity rank, with the head's edge marked."""
    curve = data["curves"]["long_tail"]
    share = data["health"]["ecosystem"].get("long_tail_share")
    figure = go.Figure()
    if curve["x"]:
        figure.add_trace(
            go.Scatter(x=curve["x"], y=curve["y"], name="cumulative exposure", mode="lines")
        )
        figure.add_vline(
            x=curve["head_share"], line_dash="dot", line_color="#c33",
            annotation_text=f"head ({curve['head_share']:.0%} of items)",
        )  # fmt: skip
    return _chart(
        "long-tail",
        f"Long-tail exposure (long-tail share {_fmt(share, '{:.1%}')})",
        figure,
        xaxis={"title": "share of items (most popular first)", "tickformat": ".0%"},
        yaxis={"title": "cumulative share of impressions", "tickformat": ".0%"},
        hovermode="closest",
    )


def creator_tiers(data: dict[str, Any]) -> Chart:
    """Exposure share of each creator stage per step, stacked to 100%."""
    points = data["series"]["points"]
    stages = sorted({s for p in points for s in p["creator_tier_share"]})
    figure = go.Figure()
    for stage in stages:
        figure.add_trace(
            go.Scatter(
                x=_x(points),
                y=[p["creator_tier_share"].get(stage, 0.0) for p in points],
                name=stage,
                stackgroup="tiers",
                mode="lines",
            )
        )
    return _chart(
        "creator-tiers",
        "Creator tier share of exposure",
        figure,
        yaxis={"tickformat": ".0%", "range": [0, 1]},
    )


def retention(data: dict[str, Any]) -> Chart:
    """Share of each of the largest signup cohorts active on day k after signup."""
    figure = go.Figure()
    largest = sorted(data["retention_curves"], key=lambda c: (-c["users"], c["cohort"]))
    for curve in sorted(largest[:MAX_COHORTS], key=lambda c: c["cohort"]):
        figure.add_trace(
            go.Scatter(
                x=curve["days"],
                y=curve["retention"],
                name=f"{curve['cohort']} ({curve['users']} users)",
                mode="lines+markers",
            )
        )
    user = data["health"]["user_value"]
    title = (
        f"Retention by signup cohort (D1 {_fmt(user.get('retention_d1'), '{:.1%}')}, "
        f"D7 {_fmt(user.get('retention_d7'), '{:.1%}')})"
    )
    return _chart(
        "retention",
        title,
        figure,
        xaxis={"title": "days after signup"},
        yaxis={"tickformat": ".0%", "range": [0, 1]},
        hovermode="closest",
    )


def fairness_gaps(data: dict[str, Any]) -> Chart:
    """Exposure ratio and top coverage per creator group; click-through rate per user group."""
    fair = data["health"]["fairness"]
    figure = make_subplots(
        rows=1, cols=2, subplot_titles=("creator groups", f"user groups ({fair['user_group']})")
    )
    for key, label in (
        ("exposure_ratio_by_creator_group", "exposure / fair share"),
        ("top_coverage_by_creator_group", "creators at top positions"),
    ):
        groups = fair.get(key) or {}
        if groups:
            figure.add_trace(
                go.Bar(x=list(groups), y=list(groups.values()), name=label), row=1, col=1
            )
    rates = fair.get("ctr_by_user_group") or {}
    if rates:
        figure.add_trace(
            go.Bar(x=list(rates), y=list(rates.values()), name="click-through rate"),
            row=1,
            col=2,
        )
    if not figure.data:
        figure = go.Figure()
    title = (
        f"Fairness: exposure variance {_fmt(fair.get('exposure_variance'), '{:.4f}')}, "
        f"conversion-rate gap {_fmt(fair.get('conversion_rate_gap'), '{:.4f}')}"
    )
    return _chart("fairness", title, figure, barmode="group", hovermode="closest")


def index_components(data: dict[str, Any]) -> Chart:
    """The health index's dimension scores in [0, 1]."""
    index = data["health"]["health_index"]
    parts = {k: v for k, v in index["components"].items() if v is not None}
    figure = go.Figure()
    if parts:
        figure.add_trace(
            go.Bar(x=list(parts), y=list(parts.values()), name="score",
                   text=[f"{v:.2f}" for v in parts.values()], textposition="auto"),
        )  # fmt: skip
    return _chart(
        "index",
        f"Health index {_fmt(index.get('value'), '{:.3f}')} by dimension",
        figure,
        yaxis={"range": [0, 1]},
        hovermode="closest",
    )


#: Every chart of the page, in page order.
CHARTS = (
    index_components,
    user_value_series,
    ecosystem_series,
    business_series,
    revenue_series,
    lorenz_curve,
    long_tail_curve,
    creator_tiers,
    retention,
    fairness_gaps,
)


def policy_comparison(data: dict[str, Any]) -> Chart:
    """The latest simulation's policies side by side: one row per metric, one column per arm.

    A table rather than bars: the metrics have different units and scales (a retention share,
    a Gini, money), and the question asked of it is "which arm is better on what".
    """
    simulated = data["comparison"]
    table: dict[str, dict[str, Any]] = simulated["comparison"]
    arms = list(next(iter(table.values()), {}))

    def cell(value: Any) -> str:
        return "—" if value is None else f"{value:,.4g}" if isinstance(value, float) else str(value)

    figure = go.Figure(
        go.Table(
            header={"values": ["metric", *arms], "align": "left"},
            cells={
                "values": [list(table), *[[cell(table[m].get(a)) for m in table] for a in arms]],
                "align": "left",
            },
        )
    )
    sim = simulated.get("simulation", {})
    title = (
        f"Policy comparison: {sim.get('users', '?')} simulated users over "
        f"{sim.get('days', '?')} days"
    )
    return _chart("policies", title, figure, hovermode="closest")


def build_charts(data: dict[str, Any]) -> list[Chart]:
    """Every chart of the dashboard from :func:`~ecorec.report.data.dashboard_data`'s dict.

    The policy comparison comes last, and only when ``data`` holds a simulation's result.
    """
    charts = [make(data) for make in CHARTS]
    if data.get("comparison"):
        charts.append(policy_comparison(data))
    return charts
