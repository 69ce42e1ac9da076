"""Data verbs: ``generate``, ``ingest``, ``info``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ecorec.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_for,
    emit,
    note,
    out_console,
    progress_bar,
    stores_for,
    user_errors,
)
from ecorec.core.entities import Ad, Advertiser, Creator, CuratedPool, Item, User
from ecorec.data.datasets import FORMATS, load_dataset
from ecorec.data.ingest import ingest_dataset, rebuild_profiles
from ecorec.data.lookup import ItemLookup

_KINDS = {
    "users": User,
    "items": Item,
    "creators": Creator,
    "advertisers": Advertiser,
    "ads": Ad,
    "curated_pools": CuratedPool,
}


def generate(
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 1000,
    items: Annotated[int, typer.Option(min=1, help="Number of items.")] = 2000,
    creators: Annotated[int | None, typer.Option(min=1, help="Default: items / 50.")] = None,
    advertisers: Annotated[int, typer.Option(min=0, help="Advertisers.")] = 10,
    days: Annotated[int, typer.Option(min=1, help="Days of event history.")] = 7,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed, same platform.")] = 0,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate a synthetic platform (users, creators, items, ads, event history)."""
    from ecorec.data.synthetic import PlatformSpec, progress_total, write_platform

    with user_errors():
        cfg = config_for(config, db)
        spec = PlatformSpec(
            users=users,
            items=items,
            creators=creators or max(1, items // 50),
            advertisers=advertisers,
            days=days,
            seed=seed,
        )
        with stores_for(cfg) as stores:
            with progress_bar("generating", progress_total(spec)) as advance:
                last = [0]

                def step(done: int, _total: int) -> None:
                    advance(done - last[0])
                    last[0] = done

                stats = write_platform(spec, stores.catalog, stores.events, progress=step)
            with progress_bar("building profiles", stats.total_events) as advance:
                profiles = rebuild_profiles(
                    stores.events,
                    ItemLookup.from_catalog(stores.catalog),
                    stores.profiles,
                    progress=advance,
                )
        result = {
            **asdict(stats),
            "total_events": stats.total_events,
            "profiles": profiles,
            "database": cfg.storage.database_url,
        }
    emit(
        result,
        as_json,
        lambda r: out_console.print(
            f"generated {r['users']:,} users, {r['creators']:,} creators, {r['items']:,} items, "
            f"{r['ads']:,} ads and {r['total_events']:,} events in {r['seconds']:.1f} s "
            f"into {r['database']}"
        ),
    )


def ingest(
    path: Annotated[Path, typer.Argument(help="Dataset folder or file.")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = "recbole",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=column for csv/parquet, e.g. --map user_id=userId."),
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load a dataset (RecBole atomic files, MovieLens, CSV, Parquet) into the stores."""
    with user_errors():
        mapping = _mapping(map_ or [])
        cfg = config_for(config, db)
        dataset = load_dataset(str(path), format, mapping)
        with stores_for(cfg) as stores:
            stats = ingest_dataset(dataset, stores)
        result = {**asdict(stats), "database": cfg.storage.database_url}
    emit(
        result,
        as_json,
        lambda r: note(
            f"ingested {r['dataset']}: {r['users']} users, {r['items']} items, {r['events']} "
            f"events ({r['events_new']} new) into {r['database']}"
        ),
    )


def info(db: DbOption = None, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Counts per table and event type, sample user ids and active models."""
    with user_errors():
        cfg = config_for(config, db)
        with stores_for(cfg, must_exist=True) as stores:
            counts = {name: stores.catalog.count(kind) for name, kind in _KINDS.items()}
            by_type = stores.events.count_by_type()
            registry = stores.registry
            models = {name: registry.active(name) for name in _model_names(cfg)}
            result: dict[str, Any] = {
                "database": cfg.storage.database_url,
                **counts,
                "events": sum(by_type.values()),
                "events_by_type": by_type,
                "sample_user_ids": stores.catalog.ids(User, limit=20),
                "models": models,
            }
    emit(result, as_json, _print_info)


def _model_names(cfg: Any) -> list[str]:
    from ecorec.factory import build_components

    return [name for name, _ in build_components(cfg).models()]


def _print_info(result: dict[str, Any]) -> None:
    table = Table(title=f"ecorec: {result['database']}", show_header=False)
    for key in (*_KINDS, "events"):
        table.add_row(key, f"{result[key]:,}")
    for kind, n in sorted(result["events_by_type"].items()):
        table.add_row(f"  {kind}", f"{n:,}")
    for name, version in result["models"].items():
        table.add_row(f"model {name}", version or "(not trained)")
    out_console.print(table)


def _mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise ValueError(f"--map takes field=column, got {pair!r}")
        mapping[field.strip()] = column.strip()
    return mapping
