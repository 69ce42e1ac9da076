"""The health dashboard: the figures and the HTML page of ``ecorec report`` and ``/dashboard``.

Example:
    >>> from ecorec.report import dashboard_data, render_page  # doctest: +SKIP
    >>> data = dashboard_data(stores.events, stores.catalog, window="7d")  # doctest: +SKIP
    >>> Path("report.html").write_text(render_page(data))  # doctest: +SKIP

"""

from __future__ import annotations

from ecorec.report.data import dashboard_data
from ecorec.report.figures import CHARTS, Chart, build_charts
from ecorec.report.page import chart_html, plotly_js, render_page

__all__ = [
    "CHARTS",
    "Chart",
    "build_charts",
    "chart_html",
    "dashboard_data",
    "plotly_js",
    "render_page",
]
