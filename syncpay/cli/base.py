"""The pieces every command shares: the command table, its context, its errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..db import Database
from ..queue import Queue

Overrides = dict[str, str | None]


class CliError(Exception):
    """A failure to report as one line ``syncpay: <message>`` with exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Context:
    """What a running command gets: its arguments, the settings and the open database."""

    args: argparse.Namespace
    settings: Settings
    db: Database  # not opened (None) for a command registered with needs_db=False
    quiet: bool = False
    verbose: int = 0
    migrated: list[str] = field(default_factory=list)

    def queue(self) -> Queue:
        return Queue(
            self.db,
            default_queue=self.settings.db_queue,
            connection=self.settings.queue_connection,
        )

    def say(self, text: str) -> None:
        """An informational line (left out with ``--quiet``)."""
        if not self.quiet:
            print(text, flush=True)

    def out(self, text: str) -> None:
        """The command's data (tables, JSON): always printed."""
        print(text, flush=True)

    def out_json(self, value: object) -> None:
        json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
        sys.stdout.flush()


Handler = Callable[[Context], Awaitable[int]]


def _no_arguments(_parser: argparse.ArgumentParser) -> None:
    return None


def _no_overrides(_args: argparse.Namespace) -> Overrides:
    return {}


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    run: Handler
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    #: Settings given by the command's flags (variable name → text).
    overrides: Callable[[argparse.Namespace], Overrides] = _no_overrides
    #: Apply missing migrations (silently) before the command runs.
    migrate: bool = True
    #: ``connect(create=…)``: make a missing MySQL database.
    create_database: bool = True
    #: Called with the settings before the database is opened (imports, checks).
    prepare: Callable[[argparse.Namespace, Settings], None] | None = None
    #: Connections the command may hold at once (MySQL pool size).
    pool_size: Callable[[Settings], int] = lambda _settings: 4
    aliases: tuple[str, ...] = ()
    description: str | None = None
    #: Open the database first (False: ``ctx.db`` is None, e.g. ``simulator``).
    needs_db: bool = True
    #: Print the worker's line per job (False: ``serve``, whose runs report themselves;
    #: ``-v`` or ``LOG_LEVEL=debug`` brings them back).
    job_lines: bool = True


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    help: str,
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments,
    **options: Any,
) -> Callable[[Handler], Handler]:
    """Register an ``async def handler(ctx) -> exit status`` as command ``name``."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(
            name, help, handler, arguments, description=handler.__doc__, **options
        )
        return handler

    return register


# --------------------------------------------------------------------------- argparse types


def whole(low: int = 0) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be at least {low}")
        return value

    return convert


def seconds(text: str) -> float:
    """An argparse type: a number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def json_object(text: str) -> dict[str, Any]:
    """An argparse type: a JSON object."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"idperson\": 12}'")
    return value


def given(mapping: Mapping[str, object | None]) -> Overrides:
    """Overrides from flags: None stays "not given", everything else becomes text."""
    return {k: None if v is None else str(v) for k, v in mapping.items()}
