"""``ecorec simulate``: days of simulated users, creators and advertisers on the real Pipeline."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
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
    write_whole,
)
from ecorec.data.stores import simulation_path


def simulate(
    users: Annotated[int, typer.Option(min=1, help="Simulated users.")] = 1000,
    creators: Annotated[int, typer.Option(min=1, help="Simulated creators.")] = 50,
    days: Annotated[int, typer.Option(min=1, help="Simulated days.")] = 7,
    policy: Annotated[
        list[Path] | None,
        typer.Option(
            "--policy", help="Policy TOML (repeat for an A/B split); default: the config."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed, same run.")] = 0,
    url: Annotated[
        str | None, typer.Option("--url", help="Send requests to a running service instead.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="ECOREC_API_KEY", help="Client key for --url.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Processes sharing the users (one core each); the result depends on it.",
        ),
    ] = 1,
    torch_threads: Annotated[
        int,
        typer.Option(
            min=1, help="Torch threads: requests run one at a time, so more threads only contend."
        ),
    ] = 1,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Simulate users, creators and advertisers for some days and compare policies.

    The result is also saved beside the database (`<db>-simulation.json`), where `ecorec
    report` and the service's /dashboard pick up the policy comparison.
    """
    _torch_threads(torch_threads)
    from ecorec.simulate import SimConfig, Simulation, load_policy
    from ecorec.simulate.policies import Policy
    from ecorec.simulate.server import HttpServer

    with user_errors():
        cfg = config_for(config, db)
        policies = [load_policy(p) for p in policy or []]
        if url is not None and not (api_key or os.environ.get("ECOREC_API_KEY")):
            raise ValueError("--url needs a client key: --api-key or ECOREC_API_KEY")
        if url is not None and workers > 1:
            raise ValueError("--url sends every request to the service: drop --workers")
        if url is not None and len(policies) > 1:
            raise ValueError("--url serves one policy (the service's); drop the extra --policy")
        factory = None
        if url is not None:
            key = api_key or os.environ["ECOREC_API_KEY"]

            def factory(_policy: Policy, _config: Any) -> HttpServer:
                return HttpServer(url, key)

        # the service stamps impressions with its own clock: start the simulated days at
        # today's UTC midnight so the measured window holds them
        start = math.floor(time.time() / 86_400) * 86_400.0 if url is not None else None
        sim = SimConfig(
            users=users, creators=creators, days=days, seed=seed, start=start, workers=workers
        )
        with stores_for(cfg, must_exist=True) as stores, progress_bar("simulating", days) as bar:
            run = Simulation(
                sim,
                cfg,
                stores,
                policies or None,
                server_factory=factory,
                progress=bar,
                on_train=lambda name: note(f"training {name} ..."),
            )
            result = run.run()
        saved = simulation_path(cfg.storage)
        write_whole(saved, json.dumps(result))  # the dashboard never reads half a result
    emit(result, as_json, _print)
    note(f"saved to {saved}: `ecorec report` and /dashboard show the policy comparison")


def _torch_threads(n: int) -> None:
    """Run torch on ``n`` threads.

    Batches of one request are too small to split: extra threads only fight over the cores
    (measured: about 4x slower ranking on 2 shared cores with torch's default).
    """
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(n)


def _print(result: dict[str, Any]) -> None:
    table = Table(title="simulation: policy comparison")
    arms = list(result["arms"])
    table.add_column("metric")
    for arm in arms:
        table.add_column(arm, justify="right")
    for metric, values in result["comparison"].items():
        table.add_row(metric, *(_fmt(values.get(arm)) for arm in arms))
    out_console.print(table)
    t = result["timing"]
    out_console.print(
        f"{t['requests']:,} requests in {t['loop_seconds']:.1f} s "
        f"(pipeline {t['pipeline_seconds']:.1f} s, simulator overhead "
        f"{100 * (t['simulator_overhead_share'] or 0):.0f}%)"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
