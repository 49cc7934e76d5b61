"""``python run.py --demo`` as a newcomer runs it: a one-time login link, 1,000 demo
students synced from the in-process simulator, and a second start that reuses the data."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.test_cli import ROOT, Proc, base_env

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/login/once/(\S+)")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _open(url: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, **kwargs)  # type: ignore[arg-type]
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _start(cwd: Path) -> tuple[Proc, str, str, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "--demo", "--port", "0", "-q"],
        cwd=cwd,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Proc(proc)
    line = running.wait_for(r"/login/once/", timeout=60)
    found = LINK.search(line)
    assert found, line
    text = "\n".join(running.lines)
    return running, found.group(1), found.group(2), text


def _stop(proc: Proc) -> None:
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=30) == 0
    assert proc.proc.stderr is not None
    assert "Traceback" not in proc.proc.stderr.read()


def _students(cwd: Path) -> int:
    with sqlite3.connect(cwd / "storage" / "demo.sqlite") as conn:
        return conn.execute("SELECT COUNT(*) FROM siswa").fetchone()[0]


def test_demo_logs_in_once_syncs_1000_students_and_reuses_its_data(tmp_path: Path):
    proc, base, secret, first_output = _start(tmp_path)
    try:
        assert "kata sandi" in first_output  # APP_LOCALE: Indonesian by default
        status, headers, _ = _open(f"{base}/login/once/{secret}")
        assert status == 302 and headers["Location"] == "/admin/sync-pembayaran"
        assert "syncpay_session=" in headers["Set-Cookie"]
        again, _, body = _open(f"{base}/login/once/{secret}")
        assert again == 410 and b"sudah dipakai" in body
        assert _students(tmp_path) == 1000
        token = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), "token:create", "demo-test"],
            cwd=tmp_path,
            env=base_env(DB_DATABASE="storage/demo.sqlite"),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, _, body = _open(
            f"{base}/admin/sync-pembayaran/start", data=b"{}", headers=auth, method="POST"
        )
        assert status == 200, body
        run_id = json.loads(body)["run_id"]
        deadline = time.monotonic() + 120
        while True:
            _, _, body = _open(
                f"{base}/admin/sync-pembayaran/progress?run_id={run_id}", headers=auth
            )
            progress = json.loads(body)
            if progress["status"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert progress["status"] == "completed"
        assert (progress["total"], progress["processed"], progress["failed"]) == (1000, 1000, 0)
    finally:
        _stop(proc)

    proc, base, secret, second_output = _start(tmp_path)
    try:
        assert "kata sandi" not in second_output  # the admin exists already
        assert _students(tmp_path) == 1000  # reused, not duplicated
        status, _, _ = _open(f"{base}/login/once/{secret}")
        assert status == 302
    finally:
        _stop(proc)


def _syncpay(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncpay", *args],
        cwd=cwd,
        env=base_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_commands_run_in_the_demo_folder_use_the_demo_database(tmp_path: Path):
    """#12 item 5: after `syncpay --demo`, a plain `syncpay sync:status` (or any other
    command) in that folder works on the demo's data, not on a new empty database."""
    proc, _, _, _ = _start(tmp_path)
    _stop(proc)
    users = _syncpay(tmp_path, "user:list")
    assert users.returncode == 0 and users.stdout.startswith("admin\tadmin\t"), users
    synced = _syncpay(tmp_path, "sync", "--idperson", "2025000001", "-q")
    assert synced.returncode == 0, synced
    status = _syncpay(tmp_path, "sync:status", "--json")
    assert status.returncode == 0, status
    state = json.loads(status.stdout)
    assert (state["status"], state["total"], state["processed"]) == ("completed", 1, 1)
    assert not (tmp_path / "storage" / "syncpay.sqlite").exists()
    assert _students(tmp_path) == 1000


def test_demo_terminal_shows_each_run_not_each_job(tmp_path: Path):
    """#12 item 12: a 1,000-student run in the demo prints its start, its progress, its
    failures and its end (a few lines), not a line per job; the login link can be had
    again with `user:login-link`."""
    proc = Proc(
        subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "--demo", "--port", "0"],
            cwd=tmp_path,
            env=base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    )
    try:
        found = LINK.search(proc.wait_for(r"/login/once/", timeout=60))
        assert found
        base = found.group(1)
        shown = len(proc.lines)
        token = _syncpay(tmp_path, "token:create", "demo-test", DB_DATABASE="storage/demo.sqlite")
        assert token.returncode == 0, token
        auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
        status, _, body = _open(
            f"{base}/admin/sync-pembayaran/start", data=b"{}", headers=auth, method="POST"
        )
        assert status == 200, body
        run_id = json.loads(body)["run_id"]
        proc.wait_for(rf"#{run_id}\b.*selesai", timeout=120)
        link = _syncpay(tmp_path, "user:login-link", "admin")
        assert link.returncode == 0, link
        again = re.search(r"/login/once/(\S+)", link.stdout)
        assert again, link.stdout
        status, _, _ = _open(f"{base}/login/once/{again.group(1)}")
        assert status == 302
    finally:
        _stop(proc)
    during = proc.lines[shown:]
    assert len(during) <= 30, "\n".join(during)
    assert not [line for line in during if re.search(r"#\d+ \.{3,} ", line)], during
