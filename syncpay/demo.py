"""``syncpay --demo``: everything on the embedded default, ready to click.

A SQLite file under ``storage/`` (its own, ``storage/demo.sqlite``, so a real
configuration is never touched), 1,000 demo students with Indonesian names, classes and
units, the payment simulator started inside the same process as the source (a little
latency so a run can be watched), an ``admin`` account and a one-time login link.
Running it again reuses the data: students are imported only into an empty table and the
admin is created only once.

So that the other commands run in the demo's folder (``syncpay sync:status``,
``syncpay sync``, ``syncpay user:login-link admin``…) work on the demo's data and not on a
new, empty database, the demo writes a ``.env`` of its own there when the folder has none
(:data:`FOLDER_SETTINGS`); with a ``.env`` of another set-up, ``--demo`` on a command
does the same.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .accounts import Accounts
from .config import Settings
from .db import Database
from .simulator import Simulator, SimulatorOptions, demo_students
from .students import import_rows

DEMO_DATABASE = "storage/demo.sqlite"
DEMO_STUDENTS = 1000
DEMO_ADMIN = "admin"

#: Settings of the demo (before the simulator's address is known).
OVERRIDES = {
    "DB_CONNECTION": "sqlite",
    "DB_DATABASE": DEMO_DATABASE,
    "PAYMENT_SOURCE": "http",
    "PAYMENT_API_URL": "http://127.0.0.1:9/{idperson}",
    "PAYMENT_API_TIMEOUT": "5",
    "SYNC_BACKOFF": "1,2,3",
    "SYNC_TIMEOUT": "30",
}

#: What a command needs to work on the demo's data outside the demo server (``--demo`` on
#: any command, and the ``.env`` the demo writes): the demo's database, and the built-in
#: simulator (the same seed, so the same payments) as the source.
FOLDER_SETTINGS = {
    "DB_CONNECTION": "sqlite",
    "DB_DATABASE": DEMO_DATABASE,
    "PAYMENT_SOURCE": "simulator",
}

#: The simulated finance API: ~25 ms an answer, and 2 % of first answers are an
#: HTTP 500 that the retry repairs, so the activity log has something to say.
SIMULATOR = SimulatorOptions(seed=0, latency=0.025, jitter=0.015, error_rate=0.02)


@dataclass
class Demo:
    settings: Settings
    simulator: Simulator
    students_added: int
    #: The admin's password when this run created the account (None when it existed).
    password: str | None
    login_secret: str

    async def close(self) -> None:
        await self.simulator.close()


async def prepare(settings: Settings, db: Database) -> Demo:
    """Start the simulator, fill an empty roster, make sure the admin exists."""
    simulator = Simulator(SIMULATOR)
    await simulator.start("127.0.0.1", 0)
    try:
        settings = settings.replace(payment_api_url=simulator.payments_url)
        added = 0
        if int(await db.fetch_value("siswa_count_scope", {"unit": None, "kelas": None})) == 0:
            roster = demo_students(DEMO_STUDENTS)
            report = await import_rows(db, enumerate(roster, start=2), source="demo")
            added = report.inserted
        accounts = Accounts(db)
        password = None
        if await db.fetch_one("user_by_name", {"name": DEMO_ADMIN}) is None:
            password = secrets.token_urlsafe(9)
            await accounts.create_user(DEMO_ADMIN, password, "admin")
        secret = await accounts.create_login_link(DEMO_ADMIN)
    except BaseException:
        await simulator.close()
        raise
    return Demo(settings, simulator, added, password, secret)


def write_env(path: Path) -> bool:
    """Write the demo's ``.env`` at ``path`` when there is no file there (never replace a
    configuration); True when written."""
    lines = [
        "# Written by `syncpay --demo` because this folder had no .env: every syncpay command",
        "# run here works on the demo's data. For a real set-up, replace this file:",
        "#   syncpay env:example > .env",
        *(f"{name}={value}" for name, value in FOLDER_SETTINGS.items()),
    ]
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return True
