"""What every command shares: options, configuration, output, progress and errors.

Commands only parse, call the library and format (Gorse's thin ``cmd/`` mains): results go to
stdout (JSON with ``--json``), logs and progress to stderr, and a failure is one line on stderr
with a non-zero exit.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ecorec.core.config import ConfigError, EcorecConfig, load_config
from ecorec.core.events import EventValidationError
from ecorec.data.datasets import DatasetError
from ecorec.data.stores import Stores
from ecorec.data.urls import StorageURLError, sqlite_path

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (sqlite:///FILE or postgresql://...); "
        "default: the config's, else sqlite:///ecorec.db here.",
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file.", envvar="ECOREC_CONFIG"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
#: the health window and segment of ``health`` and ``report``
WindowOption = Annotated[
    str | None,
    typer.Option("--window", help="Window length ending at the newest event: 24h, 7d, 30d."),
]
SegmentOption = Annotated[
    str | None, typer.Option("--segment", help="Only users of this catalog segment.")
]

#: Errors a user can fix; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ConfigError,
    DatasetError,
    EventValidationError,
    StorageURLError,
    ValueError,
    FileNotFoundError,
    PermissionError,
)

err_console = Console(stderr=True)
out_console = Console()


def setup_logging(verbose: bool = False) -> None:
    """Send library logs to stderr: warnings by default, everything with ``--verbose``."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )


def config_for(config_path: Path | None, db: str | None) -> EcorecConfig:
    """The configuration of a command: file, environment, then ``--db``."""
    overrides: dict[str, Any] = {"storage": {"database_url": db}} if db else {}
    return load_config(config_path, overrides)


@contextmanager
def stores_for(config: EcorecConfig, must_exist: bool = False) -> Iterator[Stores]:
    """The configured stores; ``must_exist`` refuses to create an empty SQLite database."""
    url = config.storage.database_url
    if must_exist and url.startswith("sqlite:") and not sqlite_path(url).exists():
        raise FileNotFoundError(
            f"no database at {sqlite_path(url)}: run `ecorec generate` or `ecorec ingest` first, "
            "or pass --db"
        )
    with Stores(config.storage) as stores:
        yield stores


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a one-line reason on stderr and return the exit to raise."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn errors the user can fix into a one-line message and exit code 1."""
    try:
        yield
    except USER_ERRORS as exc:
        raise fail(str(exc)) from None


def emit(data: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    """Print ``data`` as JSON on stdout, or through ``human`` for people."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    else:
        human(data)


def note(message: str) -> None:
    """A remark for people, on stderr, so stdout stays clean for pipes."""
    err_console.print(message, highlight=False)


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; a no-op when stderr is not one (scripts, CI)."""
    if not err_console.is_terminal:
        yield lambda _n: None
        return
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
