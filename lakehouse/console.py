"""What every command shares: the console, and the config and lake loaded once per invocation."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from lakehouse.config import Config, ConfigError, load_config

# Piped output gets a width that fits the run summary instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, soft_wrap=True)  # an error is one line however narrow the terminal or pipe


@dataclass
class State:
    env: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.env, self.overrides)
            except ConfigError as exc:
                err.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from None
        return self._config

    def override(self, key: str, value: Any) -> None:
        """Set one config value (a dotted key) for the rest of this invocation."""
        self.overrides[key] = value
        self._config = None

    def lake(self):  # noqa: ANN201 - imports pyspark lazily: `--help` stays fast
        """The lake on this invocation's engine. Its tables are registered by name only when a
        statement names them (`Lake.run_sql`): every command reads and writes them by path. A
        server whose catalog every client shares (Apache Spark Connect) gets every table
        registered, as written, for its other clients."""
        from lakehouse.engine import get_session
        from lakehouse.files import StorageError
        from lakehouse.storage import Lake

        try:
            self.config.lake.check()  # before the engine starts: a JVM would print its banner first
            lake = Lake.for_command(get_session(self.config), self.config.lake)
        except StorageError as exc:  # the store cannot be reached: one line naming endpoint and bucket
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        return lake


    @contextlib.contextmanager
    def exclusive(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the lake's write lock for a command that changes tables (exit 3 when it is busy;
        exit 1, in one line naming endpoint and bucket, when the lake's store cannot be reached)."""
        from lakehouse.files import StorageError
        from lakehouse.locking import LakeBusy, lake_lock
        from lakehouse.storage import TableNotFound

        config = self.config
        if not config.data_dir.exists():  # a mistyped --data-dir: nothing to change, nothing to create
            err.print(f"[red]error:[/red] no data directory at {escape(str(config.data_dir))}: point --data-dir "
                      "(LAKEHOUSE_DATA_DIR) at the one `lakehouse generate` and `lakehouse run` used",
                      highlight=False, soft_wrap=True)
            raise typer.Exit(2)
        try:
            with lake_lock(config.data_dir, wait, config.lake, config.storage.lock_lease_seconds):
                yield
        except TableNotFound as exc:  # an input the command reads was never built
            err.print(f"[red]error:[/red] {escape(str(exc))}: run `lakehouse run` first", highlight=False,
                      soft_wrap=True)
            raise typer.Exit(1) from None
        except LakeBusy as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(3) from None
        except StorageError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


state = State()


def need_extras(command: str, *extras: str) -> None:
    """Stop `command` in one line (exit 2) when a package of one of `extras` is not installed,
    naming the extra to install (`lakehouse.extras`)."""
    from lakehouse.extras import MissingExtra, require

    try:
        require(command, *extras)
    except MissingExtra as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
