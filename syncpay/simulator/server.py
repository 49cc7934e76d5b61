"""The simulator's HTTP server: a stand-in for the school's finance API.

Routes (the API ones need ``Authorization: Bearer <token>`` when a token is set):

- ``GET /payments/{idperson}``: the student's payment answer, or the student's fault.
- ``GET /siswa``: ``{"status": true, "data": [...]}``, the roster of ``students`` demo
  students (the columns of ``fixtures/siswa.csv``; idperson as a number, as the roster
  API of ``fixtures/siswa-api.json`` gives it).
- ``GET /_stats`` (``?detail=1`` adds the requests per idperson), ``POST /_reset``
  (clears the counters), ``GET``/``POST /_config`` (read / change options at run time;
  an unknown or bad option → 422).  These control routes need no token.

Faults: `SimulatorOptions.category` and `fault` (``options.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from ..waiting import wait_any
from .data import (
    demo_students,
    deposit_of,
    payment_items,
    render_flat,
    render_nested,
    student_profile,
)
from .options import OPTION_NAMES, SimulatorOptions, fault

__all__ = ["MAX_ANSWERS", "Simulator"]

log = logging.getLogger("syncpay.simulator")

#: Answer texts a simulator keeps (cleared when full).
MAX_ANSWERS = 20_000


@dataclass
class _Counters:
    requests: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    per_idperson: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_concurrent: int = 0


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"status": False, "message": message}, status, headers)


class _Dropped(web.Response):
    """What a handler returns after closing the connection (counted as "reset")."""


def _retry_after_header(seconds: float) -> str:
    """Whole seconds as HTTP says; a fraction is sent as a decimal (tests use those)."""
    return str(int(seconds)) if seconds.is_integer() else f"{seconds:g}"


class Simulator:
    """The fake finance API: a real aiohttp server on a real port.

    ``async with Simulator(SimulatorOptions(...)) as sim:`` starts it on
    127.0.0.1 and a free port; ``sim.payments_url`` is a PAYMENT_API_URL template.
    """

    def __init__(
        self, options: SimulatorOptions | None = None, *, access_log: logging.Logger | None = None
    ) -> None:
        self._options = options or SimulatorOptions()
        self._access_log = access_log
        self._counters = _Counters()
        self._jitter = random.Random()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing = asyncio.Event()
        self._roster_cache: tuple[tuple[int, int], str] | None = None
        #: Answer texts already made, by everything they depend on (a run asks each
        #: student once or twice; a load test asks thousands): making one costs more
        #: than serving it.
        self._answers: dict[tuple[Any, ...], str] = {}

    # ------------------------------------------------------------------ predictions

    @property
    def options(self) -> SimulatorOptions:
        return self._options

    def configure(self, **changes: Any) -> SimulatorOptions:
        """Change options (ValueError for an unknown name or a bad value)."""
        unknown = sorted(changes.keys() - OPTION_NAMES)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        self._options = dataclasses.replace(self._options, **changes)
        return self._options

    def category(self, idperson: str) -> str:
        """The student's fault category: "ok", "error_once", "fail", "timeout_once",
        "rate_limited_once", "malformed_once", "reset_once", "not_found", "rate_limited"
        or "slow"."""
        return self._options.category(str(idperson))

    def answer(self, idperson: str) -> dict[str, Any]:
        """The JSON body a successful request for the student gets."""
        opts, idperson = self._options, str(idperson)
        items = payment_items(opts.seed, idperson, year=opts.year, version=opts.version)
        if opts.shape == "flat":
            return render_flat(items)
        profile = student_profile(opts.seed, idperson)
        return render_nested(
            items,
            unit=profile["UnitFormal"],
            kelas=profile["KelasFormal"],
            deposit=deposit_of(opts.seed, idperson),
        )

    def answer_text(self, idperson: str) -> str:
        """The exact body text of a successful answer."""
        opts, idperson = self._options, str(idperson)
        key = (opts.seed, opts.year, opts.version, opts.shape, dt.date.today(), idperson)
        text = self._answers.get(key)
        if text is None:
            text = json.dumps(self.answer(idperson), ensure_ascii=False)
            if len(self._answers) >= MAX_ANSWERS:
                self._answers.clear()
            self._answers[key] = text
        return text

    def roster(self) -> list[dict[str, Any]]:
        """The rows `/siswa` gives (idperson as a number, as the roster API does)."""
        rows = demo_students(self._options.students, self._options.seed)
        return [{**row, "idperson": int(row["idperson"])} for row in rows]

    # ------------------------------------------------------------------ stats

    def stats(self, detail: bool = False) -> dict[str, Any]:
        """Counts of the API requests (not the /_ routes): ``requests`` received,
        ``by_status`` of the finished ones ("200", "500", …, "reset" for a dropped
        connection, "cancelled" when the server stopped first), ``by_route``,
        ``in_flight``, ``max_concurrent``; ``per_idperson`` with ``detail``."""
        c = self._counters
        result: dict[str, Any] = {
            "requests": c.requests,
            "by_status": dict(sorted(c.by_status.items())),
            "by_route": dict(sorted(c.by_route.items())),
            "in_flight": c.in_flight,
            "max_concurrent": c.max_concurrent,
        }
        if detail:
            result["per_idperson"] = dict(c.per_idperson)
        return result

    def reset(self) -> None:
        """Clear every counter: each student's next request is a "first" again."""
        in_flight = self._counters.in_flight
        self._counters = _Counters(in_flight=in_flight, max_concurrent=in_flight)

    # ------------------------------------------------------------------ server

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: a free port); the base URL."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._closing = asyncio.Event()
        app = web.Application(middlewares=[self._track])
        app.router.add_get("/payments/{idperson}", self._payments)
        app.router.add_get("/siswa", self._siswa)
        app.router.add_get("/_stats", self._stats_route)
        app.router.add_post("/_reset", self._reset_route)
        app.router.add_get("/_config", self._config_get)
        app.router.add_post("/_config", self._config_post)
        runner = web.AppRunner(app, access_log=self._access_log, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        shown = host
        if host in ("", "0.0.0.0"):
            shown = "127.0.0.1"
        elif host == "::":
            shown = "::1"
        if ":" in shown:
            shown = f"[{shown}]"
        self._base_url = f"http://{shown}:{bound[1]}"
        return self._base_url

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not running (call start() first)")
        return self._base_url

    @property
    def payments_url(self) -> str:
        """The PAYMENT_API_URL template: ``{base}/payments/{idperson}``."""
        return f"{self.base_url}/payments/{{idperson}}"

    @property
    def roster_url(self) -> str:
        """The SISWA_API_URL: ``{base}/siswa``."""
        return f"{self.base_url}/siswa"

    async def close(self) -> None:
        """Stop: requests still hanging or delayed are ended at once."""
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ handlers

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the simulator closes."""
        if seconds > 0 and not self._closing.is_set():
            await wait_any(self._closing, timeout=seconds)

    @web.middleware
    async def _track(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_"):
            return await handler(request)
        counters = self._counters
        counters.requests += 1
        counters.in_flight += 1
        counters.max_concurrent = max(counters.max_concurrent, counters.in_flight)
        status = "500"
        try:
            opts = self._options
            delay = opts.latency + self._jitter.uniform(-opts.jitter, opts.jitter)
            await self._pause(delay)
            response = await handler(request)
            status = "reset" if isinstance(response, _Dropped) else str(response.status)
            return response
        except web.HTTPException as exc:
            status = str(exc.status)
            raise
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        finally:
            counters.in_flight -= 1
            counters.by_status[status] += 1

    def _authorized(self, request: web.Request) -> bool:
        token = self._options.token
        return token is None or request.headers.get("Authorization") == f"Bearer {token}"

    def _unauthorized(self) -> web.Response:
        return _error(401, "Unauthenticated.", {"WWW-Authenticate": "Bearer"})

    async def _payments(self, request: web.Request) -> web.StreamResponse:
        self._counters.by_route["payments"] += 1
        if not self._authorized(request):
            return self._unauthorized()
        idperson = request.match_info["idperson"]
        self._counters.per_idperson[idperson] += 1
        first = self._counters.per_idperson[idperson] == 1
        opts = self._options
        action = fault(opts.category(idperson), first)
        if action == "not_found":
            return _error(404, "Siswa tidak ditemukan.")
        if action == "error":
            return _error(500, "Internal Server Error")
        if action == "rate_limited":
            headers = {"Retry-After": _retry_after_header(opts.retry_after)}
            return _error(429, "Too Many Requests", headers)
        if action == "reset":
            if request.transport is not None:
                request.transport.close()
            return _Dropped()  # never written: the connection is gone
        if action in ("hang", "slow"):
            await self._pause(opts.hang if action == "hang" else opts.slow)
        body = self.answer_text(idperson)
        if action == "malformed":
            body = body[: max(1, len(body) // 2)]
        return web.Response(text=body, content_type="application/json")

    async def _siswa(self, request: web.Request) -> web.StreamResponse:
        self._counters.by_route["siswa"] += 1
        if not self._authorized(request):
            return self._unauthorized()
        key = (self._options.seed, self._options.students)
        if self._roster_cache is None or self._roster_cache[0] != key:
            text = json.dumps({"status": True, "data": self.roster()}, ensure_ascii=False)
            self._roster_cache = (key, text)
        return web.Response(text=self._roster_cache[1], content_type="application/json")

    async def _stats_route(self, request: web.Request) -> web.StreamResponse:
        detail = request.query.get("detail", "") not in ("", "0", "false", "no")
        return _json(self.stats(detail))

    async def _reset_route(self, request: web.Request) -> web.StreamResponse:
        self.reset()
        return _json({"status": True, "message": "Counters cleared."})

    async def _config_get(self, request: web.Request) -> web.StreamResponse:
        return _json({"status": True, "options": self._options.as_dict()})

    async def _config_post(self, request: web.Request) -> web.StreamResponse:
        try:
            changes = json.loads(await request.text())
        except ValueError:
            return _error(400, "The body is not JSON.")
        if not isinstance(changes, dict):
            return _error(422, "The body must be a JSON object of options.")
        try:
            options = self.configure(**changes)
        except (TypeError, ValueError) as exc:
            return _error(422, str(exc))
        log.info("simulator options changed: %s", changes)
        return _json({"status": True, "options": options.as_dict()})
