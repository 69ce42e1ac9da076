"""``ecorec serve`` and ``ecorec keys create``: run the HTTP service and give out its keys."""

from __future__ import annotations

from typing import Annotated

import typer

from ecorec.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    config_for,
    emit,
    note,
    user_errors,
)


def serve(
    config: ConfigOption = None,
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Serve recommendations, events and users' data over HTTP (OpenAPI at /openapi.json).

    Serves the models `ecorec train` activated; without any, /readyz answers 503 until they
    exist and the service is restarted. Every route except the health ones needs a key from
    `ecorec keys create`.
    """
    import uvicorn

    from ecorec.service import create_app

    with user_errors():
        cfg = config_for(config, db)
        if cfg.service.torch_threads:
            import torch

            torch.set_num_threads(cfg.service.torch_threads)
        app = create_app(cfg)
    note(f"ecorec service on http://{host}:{port} (OpenAPI: /openapi.json, docs: /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def create_key(
    role: Annotated[str, typer.Option(help="client (recommend, events), admin or user.")],
    user_id: Annotated[
        str | None, typer.Option("--user-id", help="The user a 'user' token is bound to.")
    ] = None,
    config: ConfigOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it once: only its hash is stored."""
    from ecorec.service.auth import KeyStore

    with user_errors():
        cfg = config_for(config, db)
        keys = KeyStore(cfg.storage.database_url)
        try:
            key = keys.create_key(role, user_id)
        finally:
            keys.close()
    data = {"key": key, "role": role, "user_id": user_id}
    emit(data, as_json, lambda d: typer.echo(d["key"]))
    if not as_json:
        note("store this key now: it is not shown again")
