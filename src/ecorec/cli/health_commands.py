"""``ecorec health``: the platform's health over a window, from the event log and the catalog."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from ecorec.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    SegmentOption,
    WindowOption,
    config_for,
    emit,
    out_console,
    stores_for,
    user_errors,
)

#: (dimension, metric, format) rows of the human table: the headline numbers only.
HEADLINE = (
    ("user_value", "dau", "{:,.1f}"),
    ("user_value", "retention_d1", "{:.1%}"),
    ("user_value", "retention_d7", "{:.1%}"),
    ("user_value", "time_per_user", "{:,.0f} s"),
    ("user_value", "effective_play_rate", "{:.1%}"),
    ("user_value", "negative_feedback_rate", "{:.2%}"),
    ("ecosystem", "gini", "{:.3f}"),
    ("ecosystem", "long_tail_share", "{:.1%}"),
    ("ecosystem", "category_coverage", "{:.1%}"),
    ("business", "ecpm", "{:,.2f}"),
    ("business", "fill_rate", "{:.1%}"),
    ("business", "ad_load", "{:.1%}"),
    ("business", "arpu", "{:,.4f}"),
    ("business", "roas", "{:.2f}"),
    ("fairness", "exposure_variance", "{:.4f}"),
    ("fairness", "conversion_rate_gap", "{:.4f}"),
)


def health(
    window: WindowOption = None,
    segment: SegmentOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """User value, ecosystem, business and fairness metrics, the health index and alerts."""
    from ecorec.metrics.health import compute_health

    with user_errors():
        cfg = config_for(config, db)
        with stores_for(cfg, must_exist=True) as stores:
            result = compute_health(
                stores.events,
                stores.catalog,
                window=window,
                segment=segment,
                config=cfg.health,
            )
    emit(result, as_json, _print_health)


def _fmt(value: Any, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _print_health(result: dict[str, Any]) -> None:
    w = result["window"]
    who = f", segment {result['segment']}" if result["segment"] else ""
    index = result["health_index"]
    table = Table(
        title=f"health over {w['label']} to {w['end_iso'][:19]}Z{who}: {result['events']:,} events",
        box=box.SIMPLE_HEAD,
        caption=f"health index {_fmt(index['value'], '{:.3f}')} ("
        + ", ".join(f"{k} {_fmt(v, '{:.3f}')}" for k, v in index["components"].items())
        + "); '-' no data",
    )
    table.add_column("dimension")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for dimension, metric, pattern in HEADLINE:
        table.add_row(dimension, metric, _fmt(result[dimension].get(metric), pattern))
    out_console.print(table)
    for alert in result["alerts"]:
        out_console.print(f"[red]alert[/red] {alert['message']}", highlight=False)
    if not result["alerts"]:
        out_console.print("no alerts", highlight=False)
