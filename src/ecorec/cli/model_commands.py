"""Model verbs: ``train``, ``recommend``, ``config show``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from ecorec.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_for,
    emit,
    fail,
    note,
    out_console,
    stores_for,
    user_errors,
)
from ecorec.core.contracts import Request
from ecorec.factory import build_components, build_pipeline, train_all


def train(db: DbOption = None, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Train every trainable component of the configured pipeline and activate the versions.

    A component that does not apply to the data (say, novice-creator recall on a dataset
    without creators) is skipped with its reason; the command fails only if nothing trained.
    """
    with user_errors():
        cfg = config_for(config, db)
        components = build_components(cfg)
        with stores_for(cfg, must_exist=True) as stores:
            trained = train_all(components, stores, on_start=lambda n: note(f"training {n} ..."))
    emit({"trained": trained}, as_json, _print_trained)
    if trained and all("skipped" in t for t in trained.values()):
        raise fail("no component could be trained on this data")


def _print_trained(result: dict[str, Any]) -> None:
    for name, t in result["trained"].items():
        if "skipped" in t:
            out_console.print(f"{name}: skipped: {t['skipped']}")
        else:
            out_console.print(f"{name}: version {t['version']} in {t['seconds']} s, {t['metrics']}")


def recommend(
    user_id: Annotated[str, typer.Option("--user-id", "-u", help="The user to recommend for.")],
    n: Annotated[int, typer.Option("--n", "-n", min=1, max=200, help="Slate size.")] = 10,
    scene: Annotated[str, typer.Option(help="Scene: feed, detail, search...")] = "feed",
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print one slate from the active pipeline for a user.

    Components without an active model version are trained first (and activated), as
    `ecorec train` would.
    """
    with user_errors():
        cfg = config_for(config, db)
        with stores_for(cfg, must_exist=True) as stores:
            pipeline = build_pipeline(
                cfg,
                stores,
                train_missing=True,
                on_train=lambda name: note(f"no trained model for {name!r}: training it now"),
            )
            slate = pipeline(Request(user_id=user_id, scene=scene, n=n))
        if not slate.items:
            raise fail(
                f"no items to recommend for user {user_id!r}: the catalog is empty "
                "or every item is filtered out for this user"
            )
    emit(slate.to_dict(), as_json, _print_slate)


def _print_slate(slate: dict[str, Any]) -> None:
    table = Table(title=f"request {slate['request_id']}")
    for column in ("position", "item_id", "score", "channel", "reasons"):
        table.add_column(column)
    for item in slate["items"]:
        table.add_row(
            str(item["position"]),
            item["item_id"],
            f"{item['score']:.4g}",
            item["channel"],
            ", ".join(item["reasons"]),
        )
    out_console.print(table)


def config_show(
    config: ConfigOption = None, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Print the effective configuration (file, environment and flags applied)."""
    with user_errors():
        cfg = config_for(config, db)
        data = cfg.model_dump(mode="json")
    emit(data, as_json, lambda d: out_console.print_json(json.dumps(d)))
