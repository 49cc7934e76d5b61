"""The student list's CSV export at 100,000 students: the server's memory while it streams.

    python bench/export_bench.py                    # SQLite, 100,000 students
    python bench/export_bench.py --db mysql
    python bench/export_bench.py --reuse            # reuse the students of a last run

The students are loaded as ``bench/siswa_bench.py`` loads them (85 % synced with a real
~7.6 KB payment answer, 15 % never synced), into a database of this bench's own. The
server runs as a school runs it, ``run.py serve --workers 0`` in a process of its own;
the client here downloads ``GET /admin/siswa/export.csv`` with an API token and throws
the bytes away, while a thread reads the server's ``/proc/<pid>/status`` every 20 ms. Each export is
preceded by a reset of the peak (``/proc/<pid>/clear_refs``), so VmHWM is that export's
peak. Printed per export: rows, MB, seconds, the server's RSS before, after and at its
peak. A small export and the whole school side by side: memory that stays flat does not
grow with the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from siswa_bench import load  # noqa: E402

from syncpay.accounts import Accounts  # noqa: E402
from syncpay.config import Settings, load_settings  # noqa: E402

EXPORT = "/admin/siswa/export.csv"
SERVE = ("--port", "0", "--workers", "0")
MYSQL_DATABASE = "syncpay_export_bench"


def environment(kind: str, folder: str) -> dict[str, str]:
    """The server's settings (a database of this bench's own)."""
    env = {
        "APP_KEY": "bench-app-key-0123456789abcdef",
        "LOG_LEVEL": "warning",
        "PAYMENT_SOURCE": "simulator",
    }
    if kind == "sqlite":
        return env | {
            "DB_CONNECTION": "sqlite",
            "DB_DATABASE": os.path.join(folder, "siswa.sqlite"),
        }
    return env | {
        "DB_CONNECTION": "mysql",
        "DB_DATABASE": MYSQL_DATABASE,
        "DB_HOST": os.environ.get("DB_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("DB_PORT", "3306"),
        "DB_USERNAME": os.environ.get("DB_USERNAME", "root"),
        "DB_PASSWORD": os.environ.get("DB_PASSWORD", ""),
    }


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    found: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


class Sampler(threading.Thread):
    """The highest VmRSS seen while it runs (every 20 ms)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, status_kb(self.pid)["VmRSS"])
            self.done.wait(0.02)


class Server:
    """``run.py serve`` in its own process; its first output line names its address."""

    def __init__(self, env: dict[str, str], folder: str) -> None:
        self.out = Path(folder) / "export-serve.out"
        self.err = Path(folder) / "export-serve.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), "-q", "serve", *SERVE],
                cwd=folder,
                env=os.environ | env,
                stdout=out,
                stderr=err,
            )

    def address(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"http://[^\s/]+", self.out.read_text(errors="replace"))
            if found:
                return found.group(0)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise SystemExit("serve did not start:\n" + self.err.read_text()[-2000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def export(
    session: aiohttp.ClientSession, url: str, token: str, pid: int, query: str
) -> dict[str, Any]:
    """One download, bytes counted and dropped; the server's memory around it."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = status_kb(pid)["VmRSS"]
    sampler = Sampler(pid)
    sampler.start()
    started = time.perf_counter()
    size = lines = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{url}{EXPORT}{query}", headers=headers) as response:
        assert response.status == 200, (response.status, await response.text())
        async for block in response.content.iter_chunked(64 * 1024):
            size += len(block)
            lines += block.count(b"\r\n")
    took = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    after = status_kb(pid)
    return {
        "rows": lines - 1,
        "mb": size / 1e6,
        "seconds": took,
        "before": before / 1024,
        "after": after["VmRSS"] / 1024,
        "peak": max(sampler.peak, after["VmHWM"]) / 1024,
    }


async def measure(kind: str, n: int, reuse: bool) -> list[tuple[str, dict[str, Any]]]:
    folder = os.path.join(tempfile.gettempdir(), "syncpay-export-bench")
    os.makedirs(folder, exist_ok=True)
    env = environment(kind, folder)
    settings: Settings = load_settings(env, environ={}, env_file=None)
    db = await load(settings, n, reuse)
    try:
        token = await Accounts(db).create_token(f"export-bench-{os.getpid()}", "petugas")
        unit = quote(str(await db.fetch_value("siswa_unit_kelas")))
    finally:
        await db.close()
    server = Server(env, folder)
    results = []
    try:
        url = server.address()
        async with aiohttp.ClientSession() as session:
            await export(session, url, token, server.proc.pid, f"?unit={unit}")  # warm up
            for label, query in (
                (f"one unit ({unit})", f"?unit={unit}"),
                ("everyone, by name", ""),
                ("everyone, arrears first, sep=,", "?sort=tunggakan_desc&sep=,"),
                ("everyone, by name (again)", ""),
            ):
                results.append((label, await export(session, url, token, server.proc.pid, query)))
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    args = parser.parse_args()
    results = asyncio.run(measure(args.db, args.students, args.reuse))
    print(f"| {args.db}, {args.students:,} students | rows | MB | s | RSS before | after | peak |")
    print("|---|---|---|---|---|---|---|")
    for label, r in results:
        print(
            f"| {label} | {r['rows']:,} | {r['mb']:.1f} | {r['seconds']:.1f} "
            f"| {r['before']:.0f} MB | {r['after']:.0f} MB | {r['peak']:.0f} MB |"
        )


if __name__ == "__main__":
    main()
