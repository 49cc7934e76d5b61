"""``syncpay COMMAND``: the parser, the start-up sequence and the error policy.

Errors never end in a traceback unless ``-v`` is given: a bad setting (ConfigError) or
a database that cannot be opened at start-up prints ``syncpay: <one line>`` and exits
2; a command's own failure exits 1; anything unexpected prints
``syncpay: error: <Type>: <message>`` and exits 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import os
import re
import sys
import traceback

from .. import __version__
from ..config import VARIABLES, ConfigError, Settings, load_settings
from ..db import Database, DatabaseError, connect, migrate, tables_for
from . import backup as _backup  # noqa: F401  (db:backup, db:restore)
from . import commands as _commands  # noqa: F401  (registers the commands)
from . import env as _env  # noqa: F401  (env:example)
from . import simulator as _simulator  # noqa: F401  (simulator)
from . import siswa as _siswa  # noqa: F401  (siswa:import)
from . import sync as _sync  # noqa: F401  (sync, sync:status, sync:cancel, sync:reset)
from . import web as _web  # noqa: F401  (serve, user:*, token:*)
from . import work as _work  # noqa: F401  (registers `work`)
from .base import COMMANDS, CliError, Command, Context
from .output import set_language, setup_logging

PROG = "syncpay"


def _common_options() -> argparse.ArgumentParser:
    """Options accepted before or after the command (SUPPRESS: a later one wins)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument(
        "--env-file",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="read settings from PATH (default: .env in the current directory)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more detail on stderr (-vv: debug); tracebacks on errors",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only data and errors (no job lines, no confirmations)",
    )
    group.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,
        help="use the demo's database (storage/demo.sqlite) and the built-in payment "
        "simulator; `syncpay --demo` starts the demo server",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Keeps every student's payment record in step with the finance system.",
        epilog="First time? `syncpay --demo` runs everything on demo data (no settings "
        "needed). A real set-up starts with `syncpay env:example > .env`, then edit .env. "
        "Run `syncpay COMMAND --help` for a command's options.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    order = {"serve": 0, "work": 1}
    for cmd in sorted(COMMANDS.values(), key=lambda c: order.get(c.name, 2)):  # serve, work first
        child = sub.add_parser(
            cmd.name,
            aliases=list(cmd.aliases),
            parents=[common],
            help=cmd.help,
            description=cmd.description,
        )
        cmd.arguments(child)
    return parser


def _command_word(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The first word of ``argv`` that is not an option or an option's value: the command
    (``serve``, the default, takes no word of its own)."""
    valued = {
        option
        for action in _serve_parser(parser)._actions
        if action.nargs != 0
        for option in action.option_strings
    }
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--":
            return None
        elif arg.startswith("-") and arg != "-":
            skip = arg in valued  # `--port 8001` (not `--port=8001`)
        else:
            return arg
    return None


def _serve_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["serve"]
    raise LookupError("serve")


def _unknown(word: str, names: set[str]) -> str:
    """``unknown command 'sync:stauts'; did you mean sync:status?``"""
    near = difflib.get_close_matches(word, sorted(names), n=1, cutoff=0.6)
    if near:
        return f"unknown command {word!r}; did you mean {near[0]}?"
    return f"unknown command {word!r} ({PROG} --help lists them)"


def _find(name: str) -> Command:
    for cmd in COMMANDS.values():
        if name == cmd.name or name in cmd.aliases:
            return cmd
    raise LookupError(name)


def _one_line(text: str) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


#: Added to a configuration error when nothing was configured: what to do next.
NEWCOMER_HINT = (
    " (no .env here: try the demo with `syncpay --demo`, or start a configuration with "
    "`syncpay env:example > .env` and edit it)"
)


def _unconfigured(args: argparse.Namespace, message: str) -> bool:
    """The error names a setting nobody gave, in a folder with no ``.env``: a first run."""
    if getattr(args, "env_file", None) is not None or getattr(args, "demo", False):
        return False
    named = re.match(r"([A-Z][A-Z0-9_]*): ", message)
    return (
        named is not None
        and named.group(1) in VARIABLES
        and named.group(1) not in os.environ
        and not os.path.exists(".env")
    )


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    names = {n for c in COMMANDS.values() for n in (c.name, *c.aliases)}
    word = _command_word(parser, argv)
    if word is not None and word not in names:
        print(f"{PROG}: {_unknown(word, names)}", file=sys.stderr)
        return 2
    if word is None and not {"-h", "--help", "--version"} & set(argv):
        argv = ["serve", *argv]  # no command: serve (`python run.py --workers 8`)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (status 2)
        return _exit_status(exc.code)
    verbose: int = getattr(args, "verbose", 0) or 0
    quiet: bool = getattr(args, "quiet", False)
    try:
        return _run(_find(args.command), args, quiet=quiet, verbose=verbose)
    except KeyboardInterrupt:
        return 130
    except (CliError, ConfigError, DatabaseError) as exc:
        return _failed(exc, args, verbose)
    except BrokenPipeError:
        # The reader of our output went away (`syncpay queue:failed | head`).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        detail = _one_line(str(exc))
        what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        print(f"{PROG}: error: {what}", file=sys.stderr)
        return 1


def _failed(
    exc: CliError | ConfigError | DatabaseError, args: argparse.Namespace, verbose: int
) -> int:
    """``syncpay: <one line>`` for a known failure; its exit status (a bad setting: 2)."""
    if verbose:
        traceback.print_exc()
    code = exc.code if isinstance(exc, CliError) else 2 if isinstance(exc, ConfigError) else 1
    message = _one_line(str(exc))
    if code == 2 and _unconfigured(args, message):
        message += NEWCOMER_HINT
    print(f"{PROG}: {message}", file=sys.stderr)
    return code


def _run(cmd: Command, args: argparse.Namespace, *, quiet: bool, verbose: int) -> int:
    env_file: str | None = getattr(args, "env_file", None)
    if env_file is not None and not os.path.exists(env_file):
        raise CliError(f"{env_file}: no such file (--env-file)", 2)
    overrides = cmd.overrides(args)
    if getattr(args, "demo", False) and cmd.name != "serve":  # serve starts the demo itself
        from ..demo import FOLDER_SETTINGS  # not imported by every command (start-up time)

        overrides = {**FOLDER_SETTINGS, **overrides}
    settings = load_settings(overrides, env_file=env_file or ".env")
    set_language(settings.app_locale)
    setup_logging(settings, quiet, verbose, job_lines=cmd.job_lines)
    if cmd.prepare is not None:
        cmd.prepare(args, settings)
    return asyncio.run(_execute(cmd, args, settings, quiet=quiet, verbose=verbose))


async def _execute(
    cmd: Command, args: argparse.Namespace, settings: Settings, *, quiet: bool, verbose: int
) -> int:
    if not cmd.needs_db:
        return await cmd.run(Context(args, settings, None, quiet, verbose))  # type: ignore[arg-type]
    try:
        create = _may_create_database(cmd, args, settings)
        db = await connect(settings, create=create, pool_size=cmd.pool_size(settings))
    except DatabaseError as exc:
        raise CliError(str(exc), 2) from exc
    try:
        migrated: list[str] = []
        if cmd.migrate:
            try:
                migrated = await migrate(db, tables_for(settings))
            except DatabaseError as exc:
                raise CliError(str(exc), 2) from exc
        return await cmd.run(Context(args, settings, db, quiet, verbose, migrated))
    finally:
        await _close(db)


#: The commands that create a missing database (issue #12, item 14): ``migrate``, there
#: to set it up, and ``serve``, which migrates as it starts. Any other command on a
#: missing MySQL database stops with one line naming DB_DATABASE, so a misspelled name
#: never becomes a new, empty database.
CREATES_DATABASE = frozenset({"migrate", "serve"})
#: Commands that only read: they never create a database, not even a SQLite file (on
#: SQLite a command that adds data still makes its file, as it always has).
READS_ONLY = frozenset({"sync:status", "sync:failed", "queue:failed", "user:list", "token:list"})


def _may_create_database(cmd: Command, args: argparse.Namespace, settings: Settings) -> bool:
    if not cmd.create_database or cmd.name in READS_ONLY:
        return False
    if cmd.name == "migrate" and getattr(args, "status", False):
        return False  # only reads too
    return cmd.name in CREATES_DATABASE or settings.db_connection == "sqlite"


async def _close(db: Database) -> None:
    try:
        await db.close()
    except Exception as exc:  # closing must not hide the command's own outcome
        print(f"{PROG}: warning: closing the database: {_one_line(str(exc))}", file=sys.stderr)
