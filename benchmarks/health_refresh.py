"""Benchmark the service's health refresh on an installation: catalog read by columns vs entities.

The service recomputes its health windows (``[health] export_windows``) and the dashboard page
in a child process every ``refresh_seconds``. On a 1M-item installation that refresh was a
minute of CPU, ~90% of it building every catalog entity (JSON attributes decoded, dataclasses
made) once per window, to keep six plain columns. Measured here, in the same run (CPU seconds
of this process; DuckDB's threads are counted too):

- the catalog's health tables read as columns (``Catalog.values``, what ships) against the
  same tables built from every entity (``Catalog.scan``, what the service did), checked equal;
- one refresh as the service runs it (``report.live.measure``: tables read once, every window,
  the page) against the refresh as it was (the entity read repeated for every window);
- the serving process's item lookup (``ItemLookup.from_catalog``) by columns against whole items.

    python benchmarks/health_refresh.py --db sqlite:////tmp/sl1m/ecorec.db

(``/tmp/sl1m``: the 1M-item installation ``benchmarks/service_load.py --keep /tmp/sl1m`` builds.)
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from ecorec.core.config import load_config
from ecorec.core.entities import Ad, Creator, Item, User
from ecorec.data.lookup import ItemLookup
from ecorec.data.stores import Stores
from ecorec.metrics.health import catalog_tables, compute_health
from ecorec.report.data import dashboard_data
from ecorec.report.live import measure


def cpu(run: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of this process (all its threads) spent in ``run()``, and its result."""
    started = time.process_time()
    out = run()
    return round(time.process_time() - started, 2), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL of an installation")
    args = parser.parse_args()
    config = load_config(None, {"storage": {"database_url": args.db}})
    health = config.health
    windows = list(dict.fromkeys([*health.export_windows, health.window]))
    with Stores(config.storage) as stores:
        catalog, events = stores.catalog, stores.events

        def entities() -> list[Any]:
            return [e for kind in (User, Item, Creator, Ad) for e in catalog.scan(kind)]

        columns_s, fast = cpu(lambda: catalog_tables(catalog))
        entities_s, slow = cpu(lambda: catalog_tables(entities()))
        assert all(fast[name].equals(slow[name]) for name in fast), "tables differ"

        def refresh_before() -> None:  # the entity read once per window, as the service did
            for window in windows:
                tables = catalog_tables(entities())
                if window == health.window:
                    dashboard_data(events, tables, window, config=health)
                else:
                    compute_health(events, tables, window, config=health)

        before_s, _ = cpu(refresh_before)
        now_s, _ = cpu(lambda: measure(events, catalog, health, windows, health.window))
        lookup_s, lookup = cpu(lambda: ItemLookup.from_catalog(catalog))

        def lookup_by_items() -> dict[str, Any]:
            items = catalog.scan(Item)
            return {i.item_id: (i.category, i.creator_id) for i in items if not i.deleted}

        items_s, info = cpu(lookup_by_items)
        assert info == lookup.info, "item lookups differ"
    result = {
        "benchmark": "health_refresh",
        "rows": {name: table.num_rows for name, table in fast.items()},
        "windows": windows,
        "catalog_tables_s": {"columns": columns_s, "entities": entities_s},
        "catalog_speedup": round(entities_s / max(columns_s, 1e-9), 1),
        "refresh_s": {"now": now_s, "before": before_s},
        "refresh_speedup": round(before_s / max(now_s, 1e-9), 1),
        "item_lookup_s": {"columns": lookup_s, "whole_items": items_s},
        "item_lookup_speedup": round(items_s / max(lookup_s, 1e-9), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
