"""The ``ecorec`` command: one verb per capability; each issue adds its verbs here."""

from __future__ import annotations

from typing import Annotated

import typer

from ecorec.cli import (
    data_commands,
    evaluate_commands,
    health_commands,
    model_commands,
    report_commands,
    service_commands,
    simulate_commands,
)
from ecorec.cli.common import setup_logging

app = typer.Typer(
    name="ecorec",
    help="ecorec: an ecosystem-aware recommendation platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs on stderr.")] = False,
) -> None:
    setup_logging(verbose)


app.command("generate")(data_commands.generate)
app.command("ingest")(data_commands.ingest)
app.command("info")(data_commands.info)
app.command("train")(model_commands.train)
app.command("recommend")(model_commands.recommend)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
config_app.command("show")(model_commands.config_show)
app.add_typer(config_app, name="config")
evaluate_app = typer.Typer(help="Measure models offline on real data.", no_args_is_help=True)
evaluate_app.command("recall")(evaluate_commands.recall)
evaluate_app.command("rank")(evaluate_commands.rank)
app.add_typer(evaluate_app, name="evaluate")
app.command("serve")(service_commands.serve)
keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)
keys_app.command("create")(service_commands.create_key)
app.add_typer(keys_app, name="keys")
app.command("health")(health_commands.health)
app.command("simulate")(simulate_commands.simulate)
app.command("report")(report_commands.report)


def main() -> None:
    """Console-script entry point."""
    app()
