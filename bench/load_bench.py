"""A run's throughput with 200 clients against the same run with nobody watching
(issue #6, item 5: "within 10 % of the unloaded run").

    python bench/load_bench.py                 # SQLite, N=3000, C=200, 20 ms, 8 workers
    python bench/load_bench.py --db mysql      # MariaDB (a database of its own per phase)
    python bench/load_bench.py --rounds 2      # alternate the two phases twice
    python bench/load_bench.py --think 1       # stress: a page every second per browser
    python bench/load_bench.py --clients-nice 10   # the clients yield the cores

The program runs as a school runs it (``tests/browser/helpers.App``): ``run.py
simulator --latency 0.02``, ``siswa:import``, ``user:create``, ``token:create`` and
``run.py serve --workers 8`` are processes of their own, with a fresh database for each
phase. A phase is one run over every student, started with the API token and watched to
its end by one light poller (every 100 ms): *quiet* has nobody else; *loaded* has C
clients of ``tests/reliability/loadgen.py`` (pollers every 500 ms, WebSockets, student
list and student pages and the sync page, a page every ``--think`` seconds per browser)
from one second before the start to the end, in
a process of their own (``--clients-nice`` sets its priority: on a school's network the
browsers run on other computers, here they share the server's two cores).

Prints the wall time of each phase, loaded / quiet, the server's CPU, the requests
answered per kind with their p50 / p99 latency, and the 5xx / errors count. Read ratios,
not seconds: the machine is shared, and the clients run on the same cores as the server.
On a virtual machine the host may take CPU away (``steal`` in ``/proc/stat``) during one
phase and not the other; each round shows the share it took, and a pair whose steal
differs by more than 5 points of the machine is flagged and left out of the "fair pairs"
median.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.helpers import (  # noqa: E402
    ADMIN,
    PASSWORD,
    PETUGAS,
    App,
    base_env,
    drop_mysql_database,
    mysql_settings,
    new_mysql_database,
    sqlite_env,
)
from tests.reliability.loadgen import (  # noqa: E402
    Load,
    Roster,
    log_problems,
    login,
    percentile,
    timed_run,
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int]:
    """Busy and stolen CPU ticks of the whole machine so far (Linux ``/proc/stat``):
    time the VM host took from this machine shows as steal."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


@dataclass
class Phase:
    name: str
    wall: float = 0.0
    server_cpu: float = 0.0
    clients_cpu: float = 0.0
    #: Of the machine's two cores during the run: busy share, and share stolen by the host.
    busy: float = 0.0
    steal: float = 0.0
    load: Load | None = None
    log_problems: list[str] = field(default_factory=list)
    final: dict[str, object] = field(default_factory=dict)


@dataclass
class Clients:
    """The C clients in a process of their own (``python -m tests.reliability.loadgen``),
    at the priority ``--clients-nice`` gives them."""

    process: asyncio.subprocess.Process

    @classmethod
    async def start(
        cls,
        args: argparse.Namespace,
        url: str,
        token: str,
        cookies: list[str],
        students: list[dict[str, str]],
        workdir: Path,
    ) -> Clients:
        roster = workdir / "load-roster.json"
        roster.write_text(json.dumps(asdict(Roster.of(students))))
        command = [sys.executable, "-m", "tests.reliability.loadgen", "--url", url]
        command += ["--token", token, "--roster", str(roster)]
        command += ["--clients", str(args.clients), "--think", str(args.think)]
        for cookie in cookies:
            command += ["--cookie", cookie]
        nice = args.clients_nice
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )
        assert process.stdout is not None
        line = await process.stdout.readline()
        if line.strip() != b"started":
            raise SystemExit(f"the clients did not start: {line!r}")
        return cls(process)

    async def stop(self) -> tuple[Load, float]:
        """Stop them; their figures and their CPU seconds."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        out = await self.process.stdout.read()
        if await self.process.wait() != 0:
            raise SystemExit("the clients failed")
        data = json.loads(out.decode().strip().splitlines()[-1])
        return Load.restore(data), float(data["cpu"])


async def phase_run(args: argparse.Namespace, workdir: Path, name: str, loaded: bool) -> Phase:
    phase = Phase(name)
    mysql_name = new_mysql_database() if args.db == "mysql" else None
    database = sqlite_env(workdir)
    if mysql_name is not None:
        database = mysql_settings() | {"DB_DATABASE": mysql_name}
    env = base_env(workdir, database) | {"LOG_LEVEL": "warning"}
    app = App(workdir, env, args.students, hostile=False)
    try:
        app.start(args.latency)
        server = next(p for p in app.processes if p.name == "serve")
        clients = None
        if loaded:
            cookies = [await login(app.url, user, PASSWORD) for user in (ADMIN, PETUGAS) * 2]
            clients = await Clients.start(args, app.url, app.token, cookies, app.roster, workdir)
            await asyncio.sleep(1.0)  # everybody connected and polling
        cpu_before = cpu_seconds(server.pid)
        ticks_before = cpu_ticks()
        try:
            phase.wall, phase.final = await timed_run(app.url, app.token)
        finally:
            phase.server_cpu = cpu_seconds(server.pid) - cpu_before
            ticks = [b - a for a, b in zip(ticks_before, cpu_ticks(), strict=True)]
            capacity = max(phase.wall, 1e-9) * os.sysconf("SC_CLK_TCK") * (os.cpu_count() or 1)
            phase.busy, phase.steal = ticks[0] / capacity, ticks[1] / capacity
            load = None
            if clients is not None:
                load, phase.clients_cpu = await clients.stop()
        phase.load = load
        text = "\n".join(
            p.read_text(errors="replace")
            for p in (workdir / "syncpay.log", workdir / "serve.err")
            if p.exists()
        )
        phase.log_problems = log_problems(text)
    finally:
        app.stop()
        if mysql_name is not None:
            drop_mysql_database(mysql_name)
    return phase


#: A pair of phases whose steal (CPU the VM host took) differs by more than this share of
#: the machine measures the host, not syncpay.
FAIR_STEAL = 0.05


def fair(quiet: Phase, loaded: Phase) -> bool:
    return abs(quiet.steal - loaded.steal) <= FAIR_STEAL


def report(args: argparse.Namespace, quiet: list[Phase], loaded: list[Phase]) -> None:
    print()
    print(
        f"N = {args.students:,} students, {args.latency * 1000:g} ms latency, 8 workers, "
        f"{args.db}; loaded = {args.clients} clients, a page per {args.think:g} s per browser, "
        f"clients at nice {args.clients_nice}"
    )
    for q, w in zip(quiet, loaded, strict=True):
        print(
            f"  round: quiet {q.wall:.2f} s (server CPU {q.server_cpu:.1f} s, "
            f"cores busy {q.busy:.0%}, stolen {q.steal:.0%}), "
            f"loaded {w.wall:.2f} s (server CPU {w.server_cpu:.1f} s, "
            f"clients' CPU {w.clients_cpu:.1f} s, cores busy {w.busy:.0%}, stolen {w.steal:.0%}), "
            f"ratio {w.wall / q.wall:.3f}x" + ("" if fair(q, w) else "  <- not a fair pair")
        )
    q_wall = statistics.median(p.wall for p in quiet)
    w_wall = statistics.median(p.wall for p in loaded)
    print("| | measured | target |")
    print("|---|---|---|")
    print(f"| run wall time, quiet | {q_wall:.2f} s | |")
    print(f"| run wall time, {args.clients} clients | {w_wall:.2f} s | |")
    print(f"| **loaded / quiet** | **{w_wall / q_wall:.3f}x** | <= 1.10x |")
    pairs = [(q, w) for q, w in zip(quiet, loaded, strict=True) if fair(q, w)]
    if pairs:
        ratio = statistics.median(w.wall / q.wall for q, w in pairs)
        print(f"| loaded / quiet, the {len(pairs)} fair pairs (median) | {ratio:.3f}x | <= 1.10x |")
    q_cpu = statistics.median(p.server_cpu for p in quiet)
    w_cpu = statistics.median(p.server_cpu for p in loaded)
    print(f"| server CPU, quiet -> loaded | {q_cpu:.1f} s -> {w_cpu:.1f} s | |")
    c_cpu = statistics.median(p.clients_cpu for p in loaded)
    print(f"| the clients' own CPU (their process) | {c_cpu:.1f} s | |")
    loads = [p.load for p in loaded if p.load is not None]
    requests = sum(load.requests() for load in loads)
    errors = sum(load.server_errors() for load in loads)
    problems = [line for load in loads for line in load.problems()]
    print(f"| answers to the clients (all rounds) | {requests:,} | |")
    print(f"| 5xx answers | {errors} | 0 |")
    print(f"| client errors and breaches | {len(problems)} | 0 |")
    for kind in loads[0].tallies if loads else ():
        latencies = [ms for load in loads for ms in load.tallies[kind].latencies_ms]
        answers = sum(load.tallies[kind].requests for load in loads)
        messages = sum(load.tallies[kind].messages for load in loads)
        if kind == "ws":
            print(f"| ws: {loads[0].counts[kind]} sockets, messages received | {messages:,} | |")
            continue
        print(
            f"| {kind}: {loads[0].counts[kind]} clients, {answers:,} answers, p50 / p99 | "
            f"{percentile(latencies, 50):.1f} / {percentile(latencies, 99):.1f} ms | |"
        )
    bad_logs = [line for p in [*quiet, *loaded] for line in p.log_problems]
    print(f"| server log lines with an error or 'database is locked' | {len(bad_logs)} | 0 |")
    for phase in [*quiet, *loaded]:
        final = phase.final
        exact = final.get("processed") == final.get("total") == args.students
        print(f"  {phase.name}: {final.get('status')}, exact count: {exact}")
    for line in [*problems[:10], *bad_logs[:10]]:
        print("  !", line)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "mysql"), default="sqlite")
    parser.add_argument("--students", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--think",
        type=float,
        default=5.0,
        help="mean seconds between two page loads of one browsing client (5; 1 is the "
        "stress case: 40 student pages and 30 sync pages a second)",
    )
    parser.add_argument(
        "--clients-nice",
        type=int,
        default=0,
        help="run the clients at this nice value (0: the server's priority; 10: roughly "
        "as if the browsers ran on other computers, yielding the cores to the server)",
    )
    args = parser.parse_args()
    quiet: list[Phase] = []
    loaded: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="syncpay-load-bench-") as tmp:
        for number in range(args.rounds):
            order = (False, True) if number % 2 == 0 else (True, False)
            for is_loaded in order:
                name = f"{'loaded' if is_loaded else 'quiet'}{number}"
                workdir = Path(tmp) / name
                workdir.mkdir()
                print(f"{name}...", flush=True)
                started = time.monotonic()
                result = await phase_run(args, workdir, name, is_loaded)
                (loaded if is_loaded else quiet).append(result)
                print(
                    f"  run {result.wall:.2f} s (phase {time.monotonic() - started:.0f} s)",
                    flush=True,
                )
    report(args, quiet, loaded)


if __name__ == "__main__":
    asyncio.run(main())
