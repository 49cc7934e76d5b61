"""SYNC_SCHEDULE with two real server processes on one MariaDB: the scheduled run starts
once, whichever server gets there first."""

from __future__ import annotations

import csv
import signal
import time
from pathlib import Path

import pytest

from syncpay.simulator import ROSTER_COLUMNS, demo_students
from tests.test_cli import Cli


@pytest.mark.slow
@pytest.mark.parametrize("db_kind", ["mysql"])
def test_a_scheduled_run_fires_once_with_two_servers(cli: Cli, tmp_path: Path):
    roster = tmp_path / "siswa.csv"
    with roster.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ROSTER_COLUMNS))
        writer.writeheader()
        writer.writerows(demo_students(10))
    cli.ok("siswa:import", str(roster))
    cli.sql_exec("DELETE FROM sync_runs")
    cli.env = cli.env | {"PAYMENT_SOURCE": "simulator", "SYNC_SCHEDULE": "* * * * *"}
    servers = [cli.popen("serve", "--port", "0", "-q", "--workers", "2") for _ in range(2)]
    try:
        for server in servers:
            server.wait_for(r"^http://", timeout=60)
        deadline = time.monotonic() + 75
        while not cli.sql("SELECT id FROM sync_runs WHERE started_by = 'jadwal'"):
            assert time.monotonic() < deadline, "no scheduled run within 75 s"
            time.sleep(0.5)
        time.sleep(3)  # the slower server has had its chance too
        runs = cli.sql("SELECT id, started_at FROM sync_runs WHERE started_by = 'jadwal'")
        minutes = [int(started_at) // 60 for _, started_at in runs]
        assert len(minutes) == len(set(minutes)), runs  # one run per scheduled minute
        slots = cli.sql("SELECT `key` FROM cache WHERE `key` LIKE 'syncpay:schedule:%'")
        assert len(slots) == len(runs)
    finally:
        for server in servers:
            server.proc.send_signal(signal.SIGTERM)
        for server in servers:
            assert server.proc.wait(timeout=30) == 0
