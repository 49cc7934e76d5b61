"""``simulator``: the fake payment API, for demos and tests."""

from __future__ import annotations

import argparse
import logging
import math
from typing import Any

from ..config import Settings
from ..signals import Signals
from ..simulator import RATE_FIELDS, Simulator, SimulatorOptions
from .base import CliError, Context, command, seconds, whole

_DEFAULTS = SimulatorOptions()

#: (flag, SimulatorOptions field, help) of the fault rates.
_RATES: tuple[tuple[str, str, str], ...] = (
    ("--error-rate", "error_rate", "share of students whose first request gets HTTP 500"),
    ("--fail-rate", "fail_rate", "share of students that always get HTTP 500"),
    ("--timeout-rate", "timeout_rate", "share whose first request hangs --hang seconds"),
    ("--rate-limit-rate", "rate_limit_rate", "share whose first request gets HTTP 429"),
    ("--malformed-rate", "malformed_rate", "share whose first answer is truncated JSON"),
    ("--reset-rate", "reset_rate", "share whose first request has its connection dropped"),
    ("--not-found-rate", "not_found_rate", "share of students the API does not know (404)"),
    (
        "--rate-limit-forever-rate",
        "rate_limit_forever_rate",
        "share that always get HTTP 429 + Retry-After",
    ),
    ("--slow-rate", "slow_rate", "share whose every answer comes --slow seconds late"),
)
assert tuple(name for _, name, _ in _RATES) == RATE_FIELDS


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", metavar="H", help="address to listen on")
    parser.add_argument(
        "--port", type=whole(0), default=8001, metavar="P", help="port (0: any free port)"
    )
    parser.add_argument(
        "--shape", choices=("flat", "nested"), default="flat", help="answer shape (flat)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="data seed (0)")
    parser.add_argument(
        "--latency", type=seconds, default=0.0, metavar="S", help="seconds per request (0)"
    )
    parser.add_argument(
        "--jitter", type=seconds, default=0.0, metavar="S", help="± seconds on the latency (0)"
    )
    for flag, _name, text in _RATES:
        parser.add_argument(flag, default="0", metavar="R", help=f"{text} (0..1, default 0)")
    parser.add_argument(
        "--retry-after",
        type=seconds,
        default=_DEFAULTS.retry_after,
        metavar="S",
        help=f"Retry-After of a 429 ({_DEFAULTS.retry_after:g})",
    )
    parser.add_argument(
        "--hang",
        type=seconds,
        default=_DEFAULTS.hang,
        metavar="S",
        help=f"seconds a timed-out request hangs ({_DEFAULTS.hang:g})",
    )
    parser.add_argument(
        "--slow",
        type=seconds,
        default=_DEFAULTS.slow,
        metavar="S",
        help=f"seconds a slow student's answer is late ({_DEFAULTS.slow:g})",
    )
    parser.add_argument(
        "--students",
        type=whole(0),
        default=_DEFAULTS.students,
        metavar="N",
        help=f"students in the /siswa roster ({_DEFAULTS.students})",
    )
    parser.add_argument("--token", metavar="T", help="require Authorization: Bearer T")


def _rates(args: argparse.Namespace) -> dict[str, Any]:
    """The fault rates, each in [0, 1] and together at most 1 (CliError, exit 2)."""
    rates: dict[str, Any] = {}
    for flag, name, _ in _RATES:
        text = getattr(args, name)
        try:
            value = float(text)
        except ValueError:
            raise CliError(f"{flag}: {text!r} is not a number", 2) from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise CliError(f"{flag}: {text} must be between 0 and 1", 2)
        rates[name] = value
    total = sum(rates.values())
    if total > 1.0 + 1e-9:
        raise CliError(f"the fault rates add up to {total:g}; together they must be at most 1", 2)
    return rates


def options_from(args: argparse.Namespace) -> SimulatorOptions:
    try:
        return SimulatorOptions(
            shape=args.shape,
            seed=args.seed,
            latency=args.latency,
            jitter=args.jitter,
            hang=args.hang,
            slow=args.slow,
            retry_after=args.retry_after,
            token=args.token or None,
            students=args.students,
            **_rates(args),
        )
    except ValueError as exc:
        raise CliError(str(exc), 2) from None


def _prepare(args: argparse.Namespace, _settings: Settings) -> None:
    options_from(args)  # bad flags: one line, exit 2, before anything starts


def _faults(options: SimulatorOptions) -> str:
    shown = [
        f"{flag[2:].removesuffix('-rate')} {getattr(options, name):.0%}"
        for flag, name, _ in _RATES
        if getattr(options, name) > 0
    ]
    return ", ".join(shown) or "none"


@command(
    "simulator",
    "run the payment API simulator",
    _arguments,
    prepare=_prepare,
    needs_db=False,
)
async def simulator(ctx: Context) -> int:
    """Serve a fake finance API until SIGINT/SIGTERM: GET /payments/{idperson} (the
    PAYMENT_API_URL), GET /siswa (a demo roster), GET /_stats, POST /_reset and
    POST /_config (change options while it runs, e.g. {"error_rate": 0.1})."""
    options = options_from(ctx.args)
    access = logging.getLogger("syncpay.simulator.access") if ctx.verbose else None
    sim = Simulator(options, access_log=access)
    try:
        base = await sim.start(ctx.args.host, ctx.args.port)
    except OSError as exc:
        where = f"{ctx.args.host}:{ctx.args.port}"
        raise CliError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    try:
        ctx.out(f"Simulator listening on {base}  (PAYMENT_API_URL={sim.payments_url})")
        ctx.say(
            f"Roster: {sim.roster_url} ({options.students} students); seed {options.seed}, "
            f"{options.shape} answers, faults: {_faults(options)}. Stop with Ctrl-C."
        )
        with Signals() as signals:
            await signals.wait()
    finally:
        stats = sim.stats()
        await sim.close()
    ctx.say(f"Simulator stopped after {stats['requests']} requests.")
    return 0
