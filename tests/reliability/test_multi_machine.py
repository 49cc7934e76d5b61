"""Issue #6, item 4: workers on several machines against one MariaDB.

Two ``syncpay work`` processes, each in a network namespace of its own (a veth pair, its
own address in 10.77.x.0/24, a default route to the host side), and the server in the
host's namespace, against a private MariaDB listening on the host side of the first
pair. The simulator listens on every address, so the namespaces reach it too.

* A run completes with every student counted exactly once, and both "machines" took
  part.
* One worker's link is cut mid-run (``ip link set <veth> down`` on its side): the jobs
  it held come back after the lease (``DB_QUEUE_RETRY_AFTER=5``) and the other worker
  finishes the run, exactly. When the link comes back, the cut worker's late results
  are dropped (fenced), not counted.

Namespaces and veths are named after the test's pid and removed in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.db.queries import parse_queries
from syncpay.service import SyncPay
from syncpay.simulator import Simulator, SimulatorOptions, demo_students
from syncpay.students import import_rows
from tests.reliability.conftest import scale
from tests.reliability.mariadb_instance import (
    Children,
    MariaDB,
    MariaDBUnavailable,
    free_port,
    http_json,
    mariadb_template,
    private_mariadb,
    simulator_argv,
    unavailable,
    wait_http,
)
from tests.sync_helpers import Monitor, items_of, rows, siswa_rows, stored_mismatches, teach, until

__all__ = ["mariadb_template"]  # a fixture, used by name

# Private mariadbd servers are stopped and started here, each on a free port of the
# moment: in a parallel run, a port one test's stopped server left free could be taken
# by another test's server holding a database of the same name. They run one at a time,
# on one test process (tests/run.sh: --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("private-mariadb")]

SEED = 77
RETRY_AFTER = 5
JOB_TIMEOUT = 3


def figure(name: str, value: object) -> None:
    print(f"[figure] {name}: {value}", file=sys.stderr, flush=True)


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise OSError(f"ip {' '.join(args)}: {(done.stderr or done.stdout).strip()}")


@dataclass
class Machine:
    """One network namespace joined to the host by a veth pair."""

    netns: str
    host_veth: str
    veth: str
    host_address: str
    address: str

    def link(self, state: str) -> None:
        """Bring the machine's own end of its link up or down (as a cable pulled)."""
        _ip("-n", self.netns, "link", "set", self.veth, state)
        if state == "up":
            # The default route went with the link; put it back.
            _ip("-n", self.netns, "route", "replace", "default", "via", self.host_address)


class Network:
    """Two namespaces ("machines") with their veth pairs, removed by :meth:`remove`."""

    def __init__(self, count: int = 2) -> None:
        tag = f"{os.getpid() % 100000}{secrets.token_hex(1)}"
        # A /24 of its own per run, so that two runs on one host do not meet.
        subnet = f"10.77.{os.getpid() % 250}"
        self.machines = [
            Machine(
                netns=f"spw{tag}{i}",
                host_veth=f"sph{tag}{i}",
                veth=f"spm{tag}{i}",
                host_address=f"{subnet}.{4 * i + 1}",
                address=f"{subnet}.{4 * i + 2}",
            )
            for i in range(count)
        ]
        self.made: list[Machine] = []

    @property
    def db_address(self) -> str:
        """The host's address on the first link: where the database listens."""
        return self.machines[0].host_address

    def create(self) -> None:
        for m in self.machines:
            _ip("netns", "add", m.netns)
            self.made.append(m)
            _ip("link", "add", m.host_veth, "type", "veth", "peer", "name", m.veth)
            _ip("link", "set", m.veth, "netns", m.netns)
            _ip("addr", "add", f"{m.host_address}/30", "dev", m.host_veth)
            _ip("link", "set", m.host_veth, "up")
            _ip("-n", m.netns, "addr", "add", f"{m.address}/30", "dev", m.veth)
            _ip("-n", m.netns, "link", "set", "lo", "up")
            m.link("up")

    def remove(self) -> None:
        for m in self.made:
            # Deleting the namespace deletes its veth end, and with it the host's end.
            with contextlib.suppress(OSError):
                _ip("netns", "delete", m.netns)
            with contextlib.suppress(OSError):
                _ip("link", "delete", m.host_veth)
        self.made = []


@pytest.fixture
def network() -> Iterator[Network]:
    net = Network()
    try:
        net.create()
    except (OSError, subprocess.SubprocessError) as exc:
        net.remove()
        unavailable(f"network namespaces are not available here (ip netns): {exc}")
    try:
        yield net
    finally:
        net.remove()


@pytest.fixture
def shared_db(mariadb_template: Path, network: Network, tmp_path: Path) -> Iterator[MariaDB]:
    """The private MariaDB, listening on the host's address of the first link."""
    try:
        server = private_mariadb(mariadb_template, tmp_path / "mariadb", host=network.db_address)
    except (MariaDBUnavailable, OSError) as exc:
        unavailable(f"cannot start a private MariaDB server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    pool = Children(cwd, {"LOG_FILE": str(cwd / "syncpay.log")})
    try:
        yield pool
    finally:
        pool.kill_left()


@pytest.fixture
async def db(shared_db: MariaDB) -> AsyncIterator[tuple[Settings, Database]]:
    settings = load_settings(
        {**shared_db.env, "DB_DATABASE": "syncpay_machines"}, environ={}, env_file=None
    )
    database = await connect(settings, create=True)
    await migrate(database, tables_for(settings))
    teach(database, settings.db_queue_table)
    database.queries.update(
        parse_queries(
            "-- name: tm_reserved\n"
            "SELECT id, reserved_by FROM {jobs} WHERE reserved_at IS NOT NULL\n",
            database.placeholder,
            tables_for(settings),
        )
    )
    try:
        yield settings, database
    finally:
        await database.close()


_RUNNING = re.compile(r"sync\.student #(\d+) \.+ RUNNING")
_STATUS = re.compile(r"sync\.student #(\d+) \.+ (DONE|LOST|FAIL\w*)")


def job_lines(output: str) -> tuple[set[int], dict[str, int]]:
    """The student jobs a worker started, and its end-of-job lines by status."""
    started = {int(m) for m in _RUNNING.findall(output)}
    ends: dict[str, int] = {}
    for _job, status in _STATUS.findall(output):
        ends[status] = ends.get(status, 0) + 1
    return started, ends


def http_post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=10):
        pass


def goodbye(output: str) -> str:
    found = re.search(r"Worker stopped \([^)]*\): .*", output)
    return found.group(0) if found else ""


async def stall_report(server: MariaDB, sp: SyncPay, run_id: int) -> str:
    """What the database says about a run that does not end: for the failure message."""
    run = await sp.sync.get(run_id)
    trx = await asyncio.to_thread(
        server.sql,
        "SELECT trx_id, trx_state, trx_started, trx_rows_locked, trx_mysql_thread_id,"
        " trx_query FROM information_schema.innodb_trx",
    )
    procs = await asyncio.to_thread(
        server.sql,
        "SELECT id, host, command, time, state, info FROM information_schema.processlist"
        " WHERE command <> 'Daemon'",
    )
    jobs = await asyncio.to_thread(
        server.sql,
        "SELECT COUNT(*), SUM(reserved_at IS NOT NULL), MIN(reserved_at),"
        " UNIX_TIMESTAMP() FROM syncpay_machines.jobs",
    )
    return f"run: {run}\ninnodb_trx: {trx}\nprocesslist: {procs}\njobs: {jobs}"


async def test_two_machines_one_mariadb_exact_and_a_cut_link(
    network: Network,
    shared_db: MariaDB,
    db: tuple[Settings, Database],
    children: Children,
) -> None:
    settings, database = db
    n = scale(1000, 5000)
    roster = demo_students(n, SEED)
    report = await import_rows(database, enumerate(roster, start=2))
    assert not report.invalid
    ids = {s["idperson"] for s in roster}
    reference = Simulator(SimulatorOptions(seed=SEED))

    host = network.db_address
    sim_port = free_port("0.0.0.0")
    sim = children.spawn(
        simulator_argv("0.0.0.0", sim_port, "--seed", str(SEED), "--latency", "0.02")
    )
    sim_url = f"http://{host}:{sim_port}"
    await asyncio.to_thread(wait_http, f"{sim_url}/_stats", sim)
    env = {
        **shared_db.env,
        "DB_DATABASE": settings.db_database,
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": f"{sim_url}/payments/{{idperson}}",
        "PAYMENT_API_TIMEOUT": "2",
        "SYNC_TIMEOUT": str(JOB_TIMEOUT),
        "DB_QUEUE_RETRY_AFTER": str(RETRY_AFTER),
        "SYNC_TRIES": "3",
        "SYNC_BACKOFF": "1",
    }
    web_port = free_port()
    server = children.syncpay("--port", str(web_port), "--workers", "0", "-q", **env)
    health = f"http://127.0.0.1:{web_port}/healthz"
    await asyncio.to_thread(wait_http, health, server)
    a, b = network.machines
    workers = {
        m.netns: children.syncpay("work", "--workers", "8", "--sleep", "0.5", netns=m.netns, **env)
        for m in (a, b)
    }
    sp = SyncPay(
        settings.replace(
            payment_source="http", payment_api_url=env["PAYMENT_API_URL"], sync_timeout="3"
        ),
        database,
    )

    def alive() -> None:
        for child in (server, *workers.values()):
            assert child.poll() is None, children.outputs()

    # --- 1. Both machines, no fault --------------------------------------------------------
    t0 = time.monotonic()
    run = await sp.start(started_by="two machines")
    monitor = Monitor(sp, run.id, every=0.1).start()

    async def ended(run_id: int) -> bool:
        alive()
        return not (await sp.sync.get(run_id)).is_running

    await until(lambda: ended(run.id), 300, every=0.1, what="the first run")
    clean_wall = time.monotonic() - t0
    await monitor.stop()
    done = await sp.sync.get(run.id)
    assert (done.status, done.total, done.processed, done.failed) == ("completed", n, n, 0)
    assert monitor.breaches == []
    items = await items_of(database, run.id)
    assert set(items) == ids and {i["status"] for i in items.values()} == {"done"}
    assert {int(i["attempts"]) for i in items.values()} == {1}
    assert await rows(database, "ts_jobs") == []
    assert int((await rows(database, "ts_failed_jobs"))[0]["n"]) == 0
    assert stored_mismatches(reference, await siswa_rows(database), ids) == []
    _, stats = await asyncio.to_thread(http_json, f"{sim_url}/_stats?detail=1")
    assert set(stats["per_idperson"]) == ids
    assert min(stats["per_idperson"].values()) >= 1
    # Each student's job ran to its ack once, on one machine or the other.
    ends = {ns: job_lines(children.output(w))[1] for ns, w in workers.items()}
    assert sum(e.get("DONE", 0) for e in ends.values()) == n, ends
    assert all(e.get("DONE", 0) > 0 for e in ends.values()), ends
    assert not any(e.get("LOST") or e.get("FAIL") for e in ends.values()), ends
    figure("students", n)
    figure("run wall time, two machines, no fault (s)", f"{clean_wall:.1f}")
    figure("jobs acked per machine", {ns: e.get("DONE", 0) for ns, e in ends.items()})

    # --- 2. Machine A loses its network mid-run ---------------------------------------------
    await asyncio.to_thread(http_post, f"{sim_url}/_reset")  # count the second run alone
    seen_a = len(children.output(workers[a.netns]))
    t1 = time.monotonic()
    run2 = await sp.start(started_by="a cut link")
    monitor = Monitor(sp, run2.id, every=0.1).start()

    async def a_third() -> bool:
        alive()
        return (await sp.sync.get(run2.id)).processed >= n // 3

    await until(a_third, 300, every=0.05, what="a third of the second run")
    a.link("down")
    cut_at = time.monotonic()
    at_cut = await sp.sync.get(run2.id)
    await asyncio.sleep(1.0)
    # What machine A held: the reserved jobs whose lease token is A's (A printed them).
    started_a, _ = job_lines(children.output(workers[a.netns])[seen_a:])
    reserved = await database.fetch_all("tm_reserved")
    prefixes_a = {
        str(r["reserved_by"]).split(".")[0] for r in reserved if int(r["id"]) in started_a
    }
    held_a = {int(r["id"]) for r in reserved if str(r["reserved_by"]).split(".")[0] in prefixes_a}

    try:
        await until(lambda: ended(run2.id), 120, every=0.1, what="the run to end after the cut")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await stall_report(shared_db, sp, run2.id)}") from None
    cut_wall = time.monotonic() - t1
    cut_to_end = time.monotonic() - cut_at
    assert held_a, "machine A held no job when its link was cut: the cut proved nothing"
    await monitor.stop()
    done2 = await sp.sync.get(run2.id)
    assert (done2.status, done2.total, done2.processed, done2.failed) == ("completed", n, n, 0), (
        done2,
        children.outputs(),
    )
    assert monitor.breaches == []
    items2 = await items_of(database, run2.id)
    # Every answer is the one the first run stored: counted as done, the write skipped.
    assert set(items2) == ids and {i["status"] for i in items2.values()} <= {"done", "unchanged"}
    assert await rows(database, "ts_jobs") == []
    assert int((await rows(database, "ts_failed_jobs"))[0]["n"]) == 0
    assert stored_mismatches(reference, await siswa_rows(database), ids) == []
    _, stats2 = await asyncio.to_thread(http_json, f"{sim_url}/_stats?detail=1")
    per_student = stats2["per_idperson"]
    assert set(per_student) == ids and min(per_student.values()) >= 1
    fetched_twice = sum(1 for v in per_student.values() if v > 1)

    # --- 3. The link comes back: A's late results are dropped, A carries on -------------
    a.link("up")
    back_at = time.monotonic()
    await asyncio.sleep(RETRY_AFTER + 3)
    alive()
    assert (await sp.sync.get(run2.id)).processed == n
    codes = {ns: children.end(w, timeout=60) for ns, w in workers.items()}
    out_a = children.output(workers[a.netns])
    assert codes == dict.fromkeys(workers, 0), children.outputs()
    assert "Traceback" not in out_a, out_a[-3000:]
    _, ends_a = job_lines(out_a[seen_a:])
    figure("run wall time, link of machine A cut at 1/3 (s)", f"{cut_wall:.1f}")
    figure("processed when the link was cut", at_cut.processed)
    figure("jobs machine A held when cut (re-delivered)", len(held_a))
    figure("students fetched twice (A had fetched them)", fetched_twice)
    figure("machine A results dropped (LOST) after the link came back", ends_a.get("LOST", 0))
    figure("machine A goodbye", goodbye(out_a))
    figure("link cut to run end (s)", f"{cut_to_end:.1f}")
    figure("link down for (s)", f"{back_at - cut_at:.1f}")
    assert children.end(server) == 0, children.outputs()
