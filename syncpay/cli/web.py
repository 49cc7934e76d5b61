"""``syncpay serve``: the web server with its worker pool. (The accounts that may use it,
``user:*`` and ``token:*``, are :mod:`.users`, registered from here.)"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from aiohttp import web

from ..config import ConfigError, Settings
from ..demo import DEMO_ADMIN, Demo
from ..demo import OVERRIDES as DEMO_OVERRIDES
from ..service import SyncPay
from ..signals import Signals, signal_name
from . import users as _users  # noqa: F401  (user:*, token:*)
from .base import CliError, Context, command, given, whole
from .output import words
from .report import RunReporter
from .work import import_jobs

console = logging.getLogger("syncpay.console")

#: Seconds open connections get to finish when the server stops.
SHUTDOWN_TIMEOUT = 10.0


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", metavar="H", help="address to listen on (APP_HOST)")
    parser.add_argument("--port", metavar="P", help="port to listen on (APP_PORT; 0 = any)")
    parser.add_argument(
        "--workers",
        type=whole(0),
        metavar="N",
        help="jobs run at once in this process (default SYNC_WORKERS; 0 = serve only, "
        "workers run elsewhere with `syncpay work`)",
    )


def _serve_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    port = getattr(args, "port", None)
    host = getattr(args, "host", None)
    demo: dict[str, str | None] = dict(DEMO_OVERRIDES) if getattr(args, "demo", False) else {}
    return demo | given({"APP_HOST": host, "APP_PORT": None if port == "0" else port})


@command(
    "serve",
    "run the web server and its worker pool (the default command)",
    serve_arguments,
    overrides=_serve_overrides,
    pool_size=lambda s: s.sync_workers + 12,
    job_lines=False,
)
async def serve(ctx: Context) -> int:
    """Serve the pages and the JSON API on APP_HOST:APP_PORT, running --workers jobs at a
    time in the same process. SIGTERM / Ctrl-C stops taking requests, lets the running
    jobs finish (a second signal cancels them) and closes the live pages' sockets."""
    from .. import demo

    args, settings = ctx.args, ctx.settings
    workers = settings.sync_workers if args.workers is None else args.workers
    port = 0 if args.port == "0" else settings.app_port
    demo_setup = None
    if getattr(args, "demo", False):
        if getattr(args, "env_file", None) is None and demo.write_env(Path(".env")):
            console.info(words("cli.demo.env_written"))
        demo_setup = await demo.prepare(settings, ctx.db)
        settings = demo_setup.settings
        if demo_setup.students_added:
            added = demo_setup.students_added
            console.info(words("cli.demo.students_added", n=added, path=settings.db_database))
    try:
        return await _serve(ctx, settings, workers, port, demo_setup)
    finally:
        if demo_setup is not None:
            await demo_setup.close()


async def _serve(
    ctx: Context, settings: Settings, workers: int, port: int, demo_setup: Demo | None
) -> int:
    from ..web.keys import WORKER

    sp, app = await _create_app(ctx, settings, workers)
    runner = await _start_runner(app)
    stop = asyncio.Event()

    def stopping(signum: int) -> None:
        console.info("%s received: stopping (running jobs get to finish).", signal_name(signum))
        stop.set()

    def cancelling(signum: int) -> None:
        worker = app[WORKER]
        if worker is not None:
            count = worker.cancel_jobs(lambda _payload: True)
            name = signal_name(signum)
            console.info("%s received again: cancelling %d running jobs.", name, count)

    # Installed until the runner is cleaned up: a second signal cancels the jobs that
    # the worker pool waits for while the server stops.
    with Signals() as signals:
        signals.on(stopping, count=1)
        signals.on(cancelling, count=2)
        try:
            where = await _listen(runner, settings.app_host, port)
            pool = f"{workers} workers" if workers else "no workers (serve only)"
            console.info("syncpay serving on %s with %s. Press Ctrl-C to stop.", where, pool)
            if ctx.quiet:  # scripts and tests still need the address
                print(where, flush=True)
            if demo_setup is not None:
                _print_demo(where, demo_setup)
            await _report_runs_until(stop, sp)
        finally:
            await runner.cleanup()
            await sp.close_runtime()
    console.info("syncpay stopped.")
    return 0


async def _create_app(
    ctx: Context, settings: Settings, workers: int
) -> tuple[SyncPay, web.Application]:
    """The library object and the web application on the command's database."""
    from ..web import create_app

    import_jobs([])  # a custom PAYMENT_PARSER module in the working directory is found
    sp: SyncPay | None = None
    try:
        sp = SyncPay(settings, ctx.db)
        if workers:
            # A source that cannot be opened (PAYMENT_API_URL missing…) stops the start,
            # rather than failing every student's job later.
            await sp.runtime.source()
        return sp, create_app(settings, workers=workers, syncpay=sp)
    except (ConfigError, OSError, ValueError) as exc:
        if sp is not None:
            await sp.close_runtime()
        raise CliError(str(exc), 2) from exc


async def _start_runner(app: web.Application) -> web.AppRunner:
    from ..web.access_log import AccessLogger
    from ..web.app import SERVER_OPTIONS

    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        access_log=logging.getLogger("syncpay.access"),
        access_log_class=AccessLogger,
        **SERVER_OPTIONS,
    )
    await runner.setup()
    return runner


async def _listen(runner: web.AppRunner, host: str, port: int) -> str:
    """Start listening; the address served (``http://127.0.0.1:8000``)."""
    site = web.TCPSite(runner, host, port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2) from exc
    bound_host, bound = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
    return f"http://{shown}:{bound}"


async def _report_runs_until(stop: asyncio.Event, sp: SyncPay) -> None:
    """Log the runs (start, progress, end) until ``stop`` is set."""
    reporter = asyncio.create_task(RunReporter(sp).run())
    try:
        await stop.wait()
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)


def _print_demo(where: str, setup: Demo) -> None:
    lines = [
        "",
        "  " + words("cli.demo.ready"),
        f"    {where}/login/once/{setup.login_secret}",
    ]
    if setup.password is not None:
        lines.append("  " + words("cli.demo.password", name=DEMO_ADMIN, password=setup.password))
    lines.append("  " + words("cli.demo.new_link", name=DEMO_ADMIN))
    lines.append("  " + words("cli.demo.then", button=words("sync.start")))
    print("\n".join(lines) + "\n", flush=True)
