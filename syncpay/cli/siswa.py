"""``siswa:import``: the student roster from a CSV file or the roster API."""

from __future__ import annotations

import argparse

from ..config import Settings
from ..sync.roster import ImportReport, RosterError, import_api, import_csv
from .base import CliError, Context, command
from .output import plural

#: Missing idpersons listed by name; the rest are counted.
MISSING_SHOWN = 20


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
        help="delete the students that are not in the source (default: only list them)",
    )


def _check_usage(args: argparse.Namespace, settings: Settings) -> None:
    """Usage errors (exit 2), before the database is opened."""
    if args.from_api and args.file:
        raise CliError("siswa:import takes FILE.csv or --from-api, not both", 2)
    if not args.from_api and not args.file:
        raise CliError("siswa:import needs FILE.csv or --from-api", 2)
    if args.from_api and not settings.siswa_api_url:
        raise CliError("SISWA_API_URL is not set (the roster API's address, for --from-api)", 2)


@command(
    "siswa:import",
    "import the student roster from a CSV file or the roster API",
    _arguments,
    prepare=_check_usage,
)
async def siswa_import(ctx: Context) -> int:
    """Insert new students, update changed ones and list (or, with --prune, delete) the
    ones the source no longer has, in one transaction. Rows with a problem are skipped
    and listed with their line; the others import."""
    args = ctx.args
    try:
        if args.from_api:
            report = await import_api(ctx.db, ctx.settings.siswa_api_url, prune=args.prune)
        else:
            report = await import_csv(ctx.db, args.file, prune=args.prune)
    except RosterError as exc:
        raise CliError(str(exc), 1) from exc
    _print(ctx, report)
    return 0


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
