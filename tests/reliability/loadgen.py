"""Many clients at once against a running server (issue #6, item 5): the load of
``test_load.py`` and of ``bench/load_bench.py``.

Four kinds of client, as a school's staff would open them during a sync:

- ``progress``: a sync page without a WebSocket, polling ``progress?after_log=`` every
  500 ms (the page's fallback);
- ``ws``: a sync page on the live WebSocket, following the run to its end;
- ``siswa``: someone browsing the student list (searches, filters, pages, sorting) and
  opening a student, a page every second or so;
- ``sync_page``: someone (re)loading the sync page, with the JSON the page asks for
  (``runs``, ``failed``).

Clients log in as a browser does (``/login`` with the form's CSRF token: a few sessions,
shared, admin and petugas) or, one in five, send the API token. Every answer's status,
latency and any exception are kept per kind; the pollers and sockets also check that
the counts they see never move backwards or beyond the total.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

SYNC = "/admin/sync-pembayaran"
SISWA = "/admin/siswa"
COOKIE = "syncpay_session"
#: The shares of the clients, by kind (the rest of the division goes to ``progress``).
MIX = (("ws", 0.25), ("siswa", 0.20), ("sync_page", 0.15))
KINDS = ("progress", "ws", "siswa", "sync_page")
_TOKEN_FIELD = re.compile(r'name="_token" value="([^"]+)"')


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Tally:
    """What one kind of client saw."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    #: Broken expectations: counts backwards, above the total, an unexpected status…
    breaches: list[str] = field(default_factory=list)
    messages: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


@dataclass
class Identity:
    """How a client proves who it is: a session cookie, or the API token."""

    cookie: str | None = None
    token: str | None = None

    def headers(self, json: bool = False) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.cookie is not None:
            headers["Cookie"] = f"{COOKIE}={self.cookie}"
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if json:
            headers["Accept"] = "application/json"
        return headers


async def login(url: str, username: str, password: str) -> str:
    """A browser's login; the session cookie's value."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(f"{url}/login") as r:
            found = _TOKEN_FIELD.search(await r.text())
            assert found, "no CSRF token on the login page"
        form = {"_token": found.group(1), "username": username, "password": password}
        async with session.post(f"{url}/login", data=form, allow_redirects=False) as r:
            assert r.status == 302, f"login of {username}: {r.status} {await r.text()}"
        for cookie in jar:
            if cookie.key == COOKIE:
                return cookie.value
    raise AssertionError(f"login of {username} set no session cookie")


def split(clients: int) -> dict[str, int]:
    """How many clients of each kind (at least one of each when there are four)."""
    counts = {kind: int(clients * share) for kind, share in MIX}
    if clients >= len(KINDS):
        counts = {kind: max(1, n) for kind, n in counts.items()}
    counts["progress"] = max(0, clients - sum(counts.values()))
    return {kind: counts.get(kind, 0) for kind in KINDS}


@dataclass
class Roster:
    """What the browsing clients look for: some names, units, classes and ids."""

    ids: list[str]
    words: list[str]
    units: list[str]
    classes: list[tuple[str, str]]

    @classmethod
    def of(cls, students: list[dict[str, str]]) -> Roster:
        words = sorted({w for s in students for w in s["nama"].split() if len(w) > 2})
        return cls(
            ids=[s["idperson"] for s in students],
            words=words,
            units=sorted({s["UnitFormal"] for s in students}),
            classes=sorted({(s["UnitFormal"], s["KelasFormal"]) for s in students}),
        )

    def list_query(self, rng: random.Random) -> dict[str, str]:
        """One view of the student list: a search, a filter, a page, a sort."""
        choice = rng.randrange(6)
        if choice == 0:
            return {"q": rng.choice(self.words)}
        if choice == 1:
            return {"q": rng.choice(self.ids)[:-2]}
        if choice == 2:
            unit, kelas = rng.choice(self.classes)
            return {"unit": unit, "kelas": kelas}
        if choice == 3:
            state = rng.choice(("lunas", "belum_lunas", "belum_sinkron"))
            return {"unit": rng.choice(self.units), "status": state}
        if choice == 4:
            return {"sort": rng.choice(("tunggakan_desc", "synced_desc")), "page": "2"}
        return {"page": str(rng.randint(1, max(1, len(self.ids) // 50)))}


class Load:
    """``clients`` clients of the four kinds against ``url`` until :meth:`stop`."""

    def __init__(
        self,
        url: str,
        identities: list[Identity],
        token: str,
        roster: Roster,
        clients: int,
        *,
        seed: int = 6,
        poll: float = 0.5,
        think: float = 1.0,
    ) -> None:
        self.url = url
        self.identities = identities
        self.token = token
        self.roster = roster
        self.counts = split(clients)
        self.rng = random.Random(seed)
        self.poll = poll
        self.think = think
        self.tallies = {kind: Tally() for kind in KINDS}
        #: Per socket: the (run_id, status, processed) of every message.
        self.streams: list[list[tuple[Any, str, int]]] = []
        self.done = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    # --- running --------------------------------------------------------------------------

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        number = 0
        for kind, count in self.counts.items():
            for _ in range(count):
                identity = self._identity(number, kind)
                rng = random.Random(self.rng.random())
                self._tasks.append(
                    asyncio.create_task(self._client(kind, identity, rng), name=f"{kind}-{number}")
                )
                number += 1

    async def stop(self, grace: float = 10.0) -> None:
        """Let the sockets see the end (they return on a finished run), stop the rest."""
        self.done.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=grace)
            for task in self._tasks:
                task.cancel()
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
            for task, result in zip(self._tasks, results, strict=True):
                if isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError
                ):
                    kind = task.get_name().split("-")[0]
                    self.tallies[kind].errors.append(f"{type(result).__name__}: {result}")
        if self._session is not None:
            await self._session.close()

    def _identity(self, number: int, kind: str) -> Identity:
        if kind != "ws" and number % 5 == 4:
            return Identity(token=self.token)
        return self.identities[number % len(self.identities)]

    async def _client(self, kind: str, identity: Identity, rng: random.Random) -> None:
        # Spread the clients' first requests over one polling interval.
        await asyncio.sleep(rng.random() * self.poll)
        if kind == "ws":
            await self._socket(identity)
        elif kind == "progress":
            await self._poller(identity)
        else:
            while not self.done.is_set():
                if kind == "siswa":
                    await self._browse(identity, rng)
                else:
                    await self._sync_page(identity)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.done.wait(), self.think * (0.5 + rng.random()))

    # --- one request ----------------------------------------------------------------------

    async def _get(
        self, kind: str, path: str, identity: Identity, *, json: bool = False, **params: str
    ) -> Any:
        """GET ``path``; the decoded JSON (or the text), None when it failed."""
        assert self._session is not None
        tally = self.tallies[kind]
        started = time.monotonic()
        try:
            async with self._session.get(
                self.url + path,
                params=params or None,
                headers=identity.headers(json),
                allow_redirects=False,
            ) as r:
                body = await (r.json() if r.content_type == "application/json" else r.text())
                status = r.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            tally.errors.append(f"GET {path}: {type(exc).__name__}: {exc}")
            return None
        tally.latencies_ms.append((time.monotonic() - started) * 1000)
        tally.statuses[status] += 1
        if status != 200:
            tally.breaches.append(f"GET {path} {params}: {status} {str(body)[:200]}")
            return None
        return body

    # --- the kinds --------------------------------------------------------------------------

    async def _poller(self, identity: Identity) -> None:
        tally = self.tallies["progress"]
        after = 0
        last: dict[Any, tuple[int, int]] = {}
        while not self.done.is_set():
            started = time.monotonic()
            body = await self._get(
                "progress", f"{SYNC}/progress", identity, json=True, after_log=str(after)
            )
            if isinstance(body, dict):
                run, now = body["run_id"], (int(body["processed"]), int(body["failed"]))
                if run is not None and not now[1] <= now[0] <= int(body["total"]):
                    tally.breaches.append(f"progress out of bounds: {body}")
                before = last.get(run, (0, 0))
                if now[0] < before[0] or now[1] < before[1]:
                    tally.breaches.append(f"run {run} went back from {before} to {now}")
                last[run] = now
                if body["logs"]:
                    after = max(after, max(int(line["id"]) for line in body["logs"]))
            elapsed = time.monotonic() - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.done.wait(), max(0.0, self.poll - elapsed))

    async def _socket(self, identity: Identity) -> None:
        assert self._session is not None
        tally = self.tallies["ws"]
        stream: list[tuple[Any, str, int]] = []
        self.streams.append(stream)
        url = self.url.replace("http", "ws", 1) + SYNC + "/ws"
        try:
            async with self._session.ws_connect(url, headers=identity.headers()) as ws:
                tally.statuses[101] += 1
                while True:
                    try:
                        message = await ws.receive(timeout=1.0)
                    except TimeoutError:
                        if self.done.is_set():
                            return
                        continue
                    if message.type != aiohttp.WSMsgType.TEXT:
                        if not self.done.is_set():
                            tally.breaches.append(f"socket closed early: {message.type!r}")
                        return
                    body = message.json()
                    tally.messages += 1
                    entry = (body["run_id"], str(body["status"]), int(body["processed"]))
                    if not int(body["failed"]) <= entry[2] <= int(body["total"]):
                        tally.breaches.append(f"socket: out of bounds: {body}")
                    seen = [e for e in stream if e[0] == entry[0]]
                    if seen and entry[2] < seen[-1][2]:
                        tally.breaches.append(f"socket went back from {seen[-1]} to {entry}")
                    stream.append(entry)
                    if self.done.is_set() and entry[1] != "running":
                        return
        except aiohttp.WSServerHandshakeError as exc:
            tally.statuses[exc.status] += 1
            tally.breaches.append(f"WebSocket handshake: {exc.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.errors.append(f"WebSocket: {type(exc).__name__}: {exc}")

    async def _browse(self, identity: Identity, rng: random.Random) -> None:
        if rng.random() < 0.2:
            idperson = rng.choice(self.roster.ids)
            await self._get("siswa", f"{SISWA}/{idperson}", identity)
        else:
            await self._get("siswa", SISWA, identity, **self.roster.list_query(rng))

    async def _sync_page(self, identity: Identity) -> None:
        await self._get("sync_page", SYNC, identity)
        await self._get("sync_page", f"{SYNC}/runs", identity, json=True)
        await self._get("sync_page", f"{SYNC}/failed", identity, json=True)

    # --- figures --------------------------------------------------------------------------

    def requests(self) -> int:
        return sum(t.requests for t in self.tallies.values())

    def server_errors(self) -> int:
        return sum(t.server_errors() for t in self.tallies.values())

    def problems(self) -> list[str]:
        """Every error and breach, with its kind."""
        return [
            f"{kind}: {problem}"
            for kind, tally in self.tallies.items()
            for problem in [*tally.errors, *tally.breaches]
        ]

    def to_json(self) -> dict[str, Any]:
        """The figures (what :meth:`restore` reads back in another process)."""
        return {
            "counts": self.counts,
            "tallies": {
                kind: {
                    "latencies_ms": t.latencies_ms,
                    "statuses": {str(k): v for k, v in t.statuses.items()},
                    "errors": t.errors,
                    "breaches": t.breaches,
                    "messages": t.messages,
                }
                for kind, t in self.tallies.items()
            },
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Load:
        """A finished load's figures, as :meth:`to_json` wrote them."""
        load = cls("", [], "", Roster([], [], [], []), 0)
        load.counts = {kind: int(n) for kind, n in data["counts"].items()}
        for kind, t in data["tallies"].items():
            load.tallies[kind] = Tally(
                latencies_ms=[float(x) for x in t["latencies_ms"]],
                statuses=Counter({int(k): int(v) for k, v in t["statuses"].items()}),
                errors=list(t["errors"]),
                breaches=list(t["breaches"]),
                messages=int(t["messages"]),
            )
        return load

    def summary(self) -> list[str]:
        lines = []
        for kind, tally in self.tallies.items():
            lat = tally.latencies_ms
            lines.append(
                f"{kind:>9}: {self.counts[kind]:>3} clients, {tally.requests:>6} answers"
                + (f" ({tally.messages} messages)" if kind == "ws" else "")
                + f", p50 {percentile(lat, 50):6.1f} ms, p99 {percentile(lat, 99):6.1f} ms"
                + f", 5xx {tally.server_errors()}, errors {len(tally.errors)}"
                + f", breaches {len(tally.breaches)}"
            )
        return lines


# --- a run, timed -----------------------------------------------------------------------------


async def timed_run(url: str, token: str, *, every: float = 0.1) -> tuple[float, dict[str, Any]]:
    """Start a run over every student with the API token and watch it to its end: the
    wall time from the request to the first answer that shows it finished, and that
    answer (the progress object)."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.monotonic()
        async with session.post(f"{url}{SYNC}/start", json={}, headers=headers) as r:
            body = await r.json()
            assert r.status == 200, body
        run_id = int(body["run_id"])
        while True:
            async with session.get(
                f"{url}{SYNC}/progress", params={"run_id": str(run_id)}, headers=headers
            ) as r:
                progress = await r.json()
                assert r.status == 200, progress
            if progress["status"] != "running":
                return time.monotonic() - started, progress
            await asyncio.sleep(every)


#: Lines of a server's log that must not appear during a run under load.
BAD_LOG_LINES = re.compile(
    r"database is locked|Traceback|\bERROR\b|\bCRITICAL\b|\" 5\d\d ", re.IGNORECASE
)


def log_problems(text: str) -> list[str]:
    """The lines of a server log that tell of an error (at most 20)."""
    return [line for line in text.splitlines() if BAD_LOG_LINES.search(line)][:20]


# --- the clients in a process of their own ---------------------------------------------------


async def _serve_load(args: argparse.Namespace) -> None:
    roster = Roster(**json.loads(Path(args.roster).read_text()))
    roster.classes = [tuple(c) for c in roster.classes]  # type: ignore[misc]
    identities = [Identity(cookie=c) for c in args.cookie]
    load = Load(args.url, identities, args.token, roster, args.clients, think=args.think)
    await load.start()
    print("started", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the caller closes stdin
    await load.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps(load.to_json() | {"cpu": usage.ru_utime + usage.ru_stime}), flush=True)


def main() -> None:
    """``python -m tests.reliability.loadgen --url U --token T --cookie C… --roster F``:
    the load until stdin closes, then its figures as one JSON line (``bench/load_bench.py``
    runs the clients so, apart from its own timing, at a priority of their own)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--cookie", action="append", required=True)
    parser.add_argument("--roster", required=True, help="a JSON file of Roster's fields")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--think", type=float, default=1.0)
    args = parser.parse_args()
    asyncio.run(_serve_load(args))


if __name__ == "__main__":
    main()
