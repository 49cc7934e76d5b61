"""The arguments of ``sync`` and ``sync:*``: their options, the scope they name (a
usage error, exit 2, before the database is opened), the settings they override and
who the operator is (``--by``)."""

from __future__ import annotations

import argparse
import getpass
import os

from ..config import Settings
from ..sync.scope import Scope, ScopeError
from .base import CliError, Overrides, given, whole
from .output import words


def _by_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--by", metavar="NAME", help=f"who {what} (default: the operating-system user)"
    )


def _run_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--run", type=whole(1), metavar="ID", help=what)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=whole(0),
        metavar="N",
        help="jobs run at once by this command while it waits (SYNC_WORKERS; "
        "0: leave the work to `syncpay work` or the server)",
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="start the run and return; workers elsewhere do the work",
    )


def sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unit", metavar="U", help="only the students of unit U (UnitFormal)")
    parser.add_argument(
        "--kelas",
        metavar="K",
        help="only the students of class K (KelasFormal; --unit may narrow it)",
    )
    parser.add_argument(
        "--idperson",
        dest="idpersons",
        nargs="+",
        action="extend",
        metavar="N",
        help="only these students (repeatable; not with --unit/--kelas)",
    )
    _wait_options(parser)
    _by_option(parser, "starts the run")


def retry_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser, "the run whose failed students to retry (default: the latest)")
    _wait_options(parser)
    _by_option(parser, "starts the run")


def workers_override(args: argparse.Namespace) -> Overrides:
    workers: int | None = args.workers
    return given({"SYNC_WORKERS": workers if workers else None})


def check_scope(args: argparse.Namespace, _settings: Settings) -> None:
    """A scope that cannot be: a usage error (exit 2) before the database is opened."""
    scope_of(args)


def scope_of(args: argparse.Namespace) -> Scope:
    ids: list[str] | None = args.idpersons
    try:
        return Scope(args.unit, args.kelas, tuple(ids) if ids is not None else None)
    except ScopeError as exc:
        raise CliError(words(exc.key, **exc.values), 2) from None


def pool_size(settings: Settings) -> int:
    return settings.sync_workers + 4


def operator(args: argparse.Namespace) -> str:
    """``--by``, else the operating-system user."""
    name: str | None = getattr(args, "by", None)
    if name and name.strip():
        return name.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "cli"


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the progress object as JSON")
    _run_option(parser, "this run (default: the latest one on the page)")


def cancel_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(
        parser,
        "the run to cancel (default: the run over all students, else the latest)",
    )
    _by_option(parser, "cancels it")


def failed_arguments(parser: argparse.ArgumentParser) -> None:
    _run_option(parser, "this run (default: the latest)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
