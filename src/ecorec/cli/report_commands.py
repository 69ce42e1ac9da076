"""``ecorec report``: the health dashboard as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecorec.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    SegmentOption,
    WindowOption,
    config_for,
    emit,
    note,
    stores_for,
    user_errors,
    write_whole,
)


def report(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="HTML file to write (replaced if it exists).")
    ] = Path("report.html"),
    window: WindowOption = None,
    segment: SegmentOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the health dashboard (index, alerts, charts) as one HTML file that works offline.

    Plotly's JavaScript is inlined, so the file opens without a network; the page is the one
    the service shows at /dashboard. After `ecorec simulate`, it also compares the policies.
    """
    from ecorec.data.stores import simulation_path
    from ecorec.report import dashboard_data, render_page
    from ecorec.report.data import latest_simulation

    with user_errors():
        cfg = config_for(config, db)
        with stores_for(cfg, must_exist=True) as stores:
            data = dashboard_data(
                stores.events,
                stores.catalog,
                window=window,
                segment=segment,
                config=cfg.health,
                comparison=latest_simulation(simulation_path(cfg.storage)),
            )
        page = render_page(data)
        write_whole(out, page)
    health = data["health"]
    summary = {
        "out": str(out),
        "bytes": len(page.encode("utf-8")),
        "window": health["window"]["label"],
        "events": health["events"],
        "health_index": health["health_index"]["value"],
        "alerts": len(health["alerts"]),
    }
    emit(summary, as_json, lambda s: note(
        f"wrote {s['out']} ({s['bytes']:,} bytes): health over {s['window']}, "
        f"{s['events']:,} events, {s['alerts']} alert(s)"
    ))  # fmt: skip
