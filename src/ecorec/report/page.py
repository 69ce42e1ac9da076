"""The dashboard as one HTML page: the health index and alerts on top, then every chart.

The same page is written by ``ecorec report`` and served at ``/dashboard``; only where
Plotly's JavaScript comes from differs. The report inlines it (a single file that opens
offline, mailed or archived), the service points at ``/dashboard/plotly.js``, which it serves
itself from the installed ``plotly`` package. Neither ever loads anything from a CDN: a
dashboard that goes blank when the network does is no use during an incident.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from ecorec.report.figures import Chart, build_charts

#: Plotly options of every chart: no logo, resize with the page.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #222; }
header { background: #fff; padding: 16px 24px; border-bottom: 1px solid #ddd; }
h1 { margin: 0 0 4px; font-size: 20px; }
.meta { color: #666; font-size: 13px; }
.top { display: flex; gap: 16px; flex-wrap: wrap; padding: 16px 24px 0; }
.card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 12px 16px; }
.index .value { font-size: 40px; font-weight: 600; }
.index .parts span { margin-right: 12px; font-size: 13px; color: #444; }
.alerts { flex: 1; min-width: 300px; }
.alerts ul { margin: 4px 0 0; padding-left: 18px; }
.alerts li { color: #b00020; margin: 2px 0; }
.ok { color: #1b7f3b; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr));
        gap: 16px; padding: 16px 24px 24px; }
.chart { background: #fff; border: 1px solid #ddd; border-radius: 6px; min-height: 340px; }
"""


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The minified plotly.js bundled with the installed ``plotly`` (read once per process)."""
    library: str = get_plotlyjs()
    return library


def _number(value: float | None, pattern: str = "{:.3f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def _header(data: dict[str, Any], title: str) -> str:
    health = data["health"]
    w = health["window"]
    segment = f", segment {html.escape(str(health['segment']))}" if health["segment"] else ""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<header><h1>{html.escape(title)}</h1><div class='meta'>window "
        f"{html.escape(w['label'])}: {html.escape(w['start_iso'][:19])}Z to "
        f"{html.escape(w['end_iso'][:19])}Z{segment}; {health['events']:,} events; "
        f"generated {made}</div></header>"
    )


def _top(data: dict[str, Any]) -> str:
    index = data["health"]["health_index"]
    parts = "".join(
        f"<span>{html.escape(name)} {_number(score, '{:.2f}')}</span>"
        for name, score in index["components"].items()
    )
    alerts = data["health"]["alerts"]
    if alerts:
        items = "".join(f"<li>{html.escape(a['message'])}</li>" for a in alerts)
        alert_html = f"<strong>{len(alerts)} alert(s)</strong><ul id='alerts'>{items}</ul>"
    else:
        alert_html = "<strong class='ok' id='alerts'>no alerts</strong>"
    return (
        "<section class='top'>"
        f"<div class='card index'><div>health index</div>"
        f"<div class='value' id='health-index'>{_number(index['value'])}</div>"
        f"<div class='parts'>{parts}</div></div>"
        f"<div class='card alerts'>{alert_html}</div></section>"
    )


def chart_html(chart: Chart) -> str:
    """One chart as a ``<div>`` and the inline script that draws it (no Plotly JS)."""
    body = pio.to_html(
        chart.figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=chart.chart_id,
        config=PLOT_CONFIG,
        default_height="340px",
    )
    return f"<div class='chart'>{body}</div>"


def render_page(
    data: dict[str, Any],
    plotly_src: str | None = None,
    title: str = "ecorec health dashboard",
) -> str:
    """The dashboard page of :func:`~ecorec.report.data.dashboard_data`'s ``data``.

    Args:
        data: the health report, series and curves to draw.
        plotly_src: a local URL path of plotly.js (the service's ``/dashboard/plotly.js``);
            None inlines the library, making the page a self-contained file.
        title: the page's heading.

    Raises:
        ValueError: ``plotly_src`` names another host (the page must work offline).

    """
    if plotly_src is None:
        # "</" cannot end the script early: plotly.js has none today; this keeps it so.
        library = "<script>" + plotly_js().replace("</", "<\\/") + "</script>"
    elif plotly_src.startswith("/") and not plotly_src.startswith("//"):
        library = f"<script src='{html.escape(plotly_src)}'></script>"
    else:
        raise ValueError(f"plotly_src must be a local path like /dashboard/plotly.js, got "
                         f"{plotly_src!r}")  # fmt: skip
    charts = "".join(chart_html(c) for c in build_charts(data))
    summary = json.dumps(
        {"window": data["health"]["window"]["label"], "index": data["health"]["health_index"]}
    ).replace("</", "<\\/")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        # no favicon request: nothing on the page asks the network for anything
        "<link rel='icon' href='data:,'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>{library}</head><body>"
        f"{_header(data, title)}{_top(data)}<main class='grid'>{charts}</main>"
        f"<script type='application/json' id='health-summary'>{summary}</script>"
        "</body></html>"
    )
