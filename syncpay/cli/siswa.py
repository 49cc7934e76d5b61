"""``siswa:import``: the student roster from a CSV file or the roster API."""

from __future__ import annotations

import argparse
import inspect

from ..config import Settings
from ..students import MAX_REMOVE_PERCENT, ImportReport, RosterError, import_api, import_csv
from .base import CliError, Context, command
from .output import plural

#: Missing idpersons listed by name; the rest are counted.
MISSING_SHOWN = 20

#: Exit statuses of siswa:import (documented in docs/install.md too).
EXIT_REJECTED = 3
EXIT_PRUNE_REFUSED = 4
EPILOG = f"""\
exit status:
  0    every row imported (with --prune: the missing students removed)
  1    failure: the file or the API could not be read, or the database failed;
       nothing was written
  2    usage or configuration error; nothing was written
  {EXIT_REJECTED}    imported, but some rows were rejected (each listed with its line or item)
  {EXIT_PRUNE_REFUSED}    --prune refused (a rejected row, or more than --max-remove of the
       students to remove without --force): the valid rows were imported, nothing
       was removed
  130  interrupted (Ctrl-C)

Removed students are kept in the table siswa_removed with their payment data; an
import that lists them again restores them.
"""


def _percent(text: str) -> float:
    """An argparse type: a percentage from 0 to 100."""
    try:
        value = float(text.removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} must be from 0 to 100")
    return value


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        nargs="?",
        metavar="FILE.csv",
        help="the roster as CSV (UTF-8; ',' or ';' separated; a header line with at least "
        "idperson and nama)",
    )
    parser.add_argument(
        "--from-api", action="store_true", help="read the roster from SISWA_API_URL instead"
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="remove the students that are not in the source (default: only list them); "
        "refused when a row was rejected",
    )
    parser.add_argument(
        "--max-remove",
        type=_percent,
        default=None,
        metavar="PERCENT",
        help=f"--prune removes at most this share of the students (default "
        f"{MAX_REMOVE_PERCENT:g}), else nothing",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="--prune removes the missing students however many they are",
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = inspect.cleandoc(siswa_import.__doc__ or "")
    parser.epilog = EPILOG


def _check_usage(args: argparse.Namespace, settings: Settings) -> None:
    """Usage errors (exit 2), before the database is opened."""
    if args.from_api and args.file:
        raise CliError("siswa:import takes FILE.csv or --from-api, not both", 2)
    if not args.from_api and not args.file:
        raise CliError("siswa:import needs FILE.csv or --from-api", 2)
    if args.from_api and not settings.siswa_api_url:
        raise CliError("SISWA_API_URL is not set (the roster API's address, for --from-api)", 2)
    if not args.prune and (args.force or args.max_remove is not None):
        raise CliError("--force and --max-remove go with --prune", 2)


@command(
    "siswa:import",
    "import the student roster from a CSV file or the roster API",
    _arguments,
    prepare=_check_usage,
)
async def siswa_import(ctx: Context) -> int:
    """Insert new students, update changed ones and list (or, with --prune, remove) the
    ones the source no longer has, in one transaction. Rows with a problem are skipped
    and listed with their line; the others import. --prune removes nothing when a row
    was rejected, or when it would remove more than --max-remove percent of the
    students (unless --force)."""
    args = ctx.args
    max_remove = MAX_REMOVE_PERCENT if args.max_remove is None else args.max_remove
    try:
        if args.from_api:
            report = await import_api(
                ctx.db,
                ctx.settings.siswa_api_url,
                prune=args.prune,
                force=args.force,
                max_remove=max_remove,
            )
        else:
            report = await import_csv(
                ctx.db, args.file, prune=args.prune, force=args.force, max_remove=max_remove
            )
    except RosterError as exc:
        raise CliError(str(exc), 1) from exc
    _print(ctx, report)
    if report.prune_refused is not None:
        raise CliError(report.prune_refused, EXIT_PRUNE_REFUSED)
    return EXIT_REJECTED if report.invalid else 0


def _print(ctx: Context, report: ImportReport) -> None:
    ctx.out(report.summary())
    for number, reason in report.invalid:
        ctx.out(f"  {report.unit} {number}: {reason}")
    if report.missing:
        shown = ", ".join(report.missing[:MISSING_SHOWN])
        more = len(report.missing) - MISSING_SHOWN
        what = "removed" if report.pruned else "missing from the source"
        ctx.out(f"  {what}: {shown}" + (f" … and {more} more" if more > 0 else ""))
    if report.invalid:
        rows = plural(len(report.invalid), "row")
        ctx.say(f"{rows} skipped; the others were imported. Fix them and import again.")
    if report.pruned:
        ctx.say(
            "Removed students are kept in siswa_removed with their payment data; "
            "an import that lists them again restores them."
        )
