"""The web-related commands as a user runs them: serve (a real process: address, health,
SIGTERM), user:create / user:list / user:delete, token:create / token:list / token:revoke."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_cli import Cli, one_error_line
from tests.test_cli import _english as _english  # the English wording (APP_LOCALE=en)


def _create(
    cli: Cli, *args: str, password: str = "rahasia-123", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli.command("user:create", *args),
        cwd=cli.cwd,
        env=cli.env | (env or {}),
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )


def _get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_user_create_reads_the_password_from_stdin_and_hashes_it(cli: Cli):
    result = _create(cli, "bu-sari", "--role", "admin")
    assert result.returncode == 0, result.stderr
    assert "User bu-sari (admin) created." in result.stdout
    [(name, password, role)] = cli.sql("SELECT name, password, role FROM users")
    assert (name, role) == ("bu-sari", "admin")
    assert password.startswith("scrypt$") and "rahasia-123" not in password
    assert "bu-sari\tadmin" in cli.ok("user:list")


def test_user_create_refuses_bad_input_with_one_line(cli: Cli):
    assert _create(cli, "pak-budi").returncode == 0
    again = _create(cli, "pak-budi")
    assert again.returncode == 1
    assert one_error_line(again) == "syncpay: user 'pak-budi' exists already (--update changes it)"
    short = _create(cli, "ani", password="kurang")
    assert one_error_line(short) == "syncpay: The password must have at least 8 characters."
    spaced = _create(cli, "pak budi")
    assert spaced.returncode == 1 and "may not contain spaces" in spaced.stderr
    # The account's refusals come from the catalogues, in APP_LOCALE (as the pages').
    again_id = _create(cli, "pak-budi", env={"APP_LOCALE": "id"})
    assert one_error_line(again_id) == (
        "syncpay: pengguna 'pak-budi' sudah ada (--update untuk mengubahnya)"
    )
    hidden = _create(cli, "pak\x1b[31mbudi")  # a terminal escape in the name is shown escaped
    assert "\x1b" not in hidden.stderr and "pak\\x1b[31mbudi" in one_error_line(hidden)
    role = _create(cli, "ani", "--role", "kepala")
    assert role.returncode == 2 and "invalid choice" in role.stderr
    empty = subprocess.run(
        cli.command("user:create", "ani"),
        cwd=cli.cwd,
        env=cli.env,
        input="",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert one_error_line(empty) == "syncpay: no password on stdin (give it as the first line)"
    for result in (again, short, spaced, role, empty):
        assert "Traceback" not in result.stderr
    assert cli.sql("SELECT COUNT(*) FROM users")[0][0] == 1
    updated = _create(cli, "pak-budi", "--update", "--role", "admin", password="baru-12345")
    assert "User pak-budi (admin) updated." in updated.stdout
    kept = _create(cli, "pak-budi", "--update", password="lagi-12345")
    assert "User pak-budi (admin) updated." in kept.stdout  # the role stays
    assert "User pak-budi deleted." in cli.ok("user:delete", "pak-budi")
    assert cli.run("user:delete", "pak-budi").returncode == 1


def test_tokens_are_printed_once_stored_hashed_and_revocable(cli: Cli):
    token = cli.ok("token:create", "cron-malam").strip()
    assert token.startswith("sp_") and len(token) > 40
    [(stored, role)] = cli.sql("SELECT token_hash, role FROM api_tokens")
    assert stored != token and len(stored) == 64 and role == "admin"
    listing = cli.ok("token:list")
    assert "cron-malam" in listing and "active" in listing and token not in listing
    assert "1 token revoked." in cli.ok("token:revoke", "cron-malam")
    assert "revoked" in cli.ok("token:list")
    again = cli.run("token:revoke", "cron-malam")
    assert one_error_line(again) == "syncpay: no active token named 'cron-malam'"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_prints_its_address_answers_health_and_stops_on_sigterm(cli: Cli):
    cli.env = cli.env | {"PAYMENT_SOURCE": "simulator"}
    proc = cli.popen("serve", "--port", "0", "--workers", "2", "-q")
    try:
        url = proc.wait_for(r"^http://127\.0\.0\.1:\d+$", timeout=30)
        status, body = _get(url + "/healthz")
        assert status == 200
        assert body["database"] == "ok"
        assert body["workers"] == {"state": "running", "size": 2, "running": 0}
        # queue:restart is for `syncpay work` processes: the server keeps its pool.
        cli.ok("queue:restart")
        time.sleep(2.5)
        assert _get(url + "/healthz")[1]["workers"]["state"] == "running"
        page = urllib.request.urlopen(url + "/login", timeout=5)
        assert page.headers["X-Frame-Options"] == "DENY"
        started = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 20
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()
    assert "Traceback" not in proc.proc.stderr.read()


def test_no_command_serves_and_workers_zero_serves_only(plain: Cli):
    port = _free_port()
    proc = plain.popen("--port", str(port), "--workers", "0", "-q")
    try:
        url = proc.wait_for(r"^http://", timeout=30)
        assert url == f"http://127.0.0.1:{port}"
        status, body = _get(url + "/healthz")
        assert status == 200 and body["workers"]["state"] == "off"
    finally:
        proc.proc.send_signal(signal.SIGINT)
        assert proc.proc.wait(timeout=30) == 0


def test_serve_refuses_a_taken_port_and_bad_values_with_one_line(plain: Cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = plain.run("serve", "--port", str(port), "--workers", "0")
    assert result.returncode == 2
    assert one_error_line(result).startswith(f"syncpay: cannot listen on 127.0.0.1:{port}")
    bad = plain.run("serve", "--port", "http")
    assert bad.returncode == 2 and one_error_line(bad).startswith("syncpay: APP_PORT")
    workers = plain.run("serve", "--workers", "-1")
    assert workers.returncode == 2 and "--workers" in workers.stderr
    source = plain.run("serve", "--workers", "2")
    assert source.returncode == 2
    line = one_error_line(source)  # with what to do next, in a folder without .env (#12 15)
    assert line.startswith("syncpay: PAYMENT_API_URL: required when PAYMENT_SOURCE=http (")
    parser = plain.run("serve", env={"PAYMENT_SOURCE": "simulator", "PAYMENT_PARSER": "nope:fn"})
    assert parser.returncode == 2 and one_error_line(parser).startswith("syncpay: PAYMENT_PARSER")
    key = plain.run("serve", "--workers", "0", env={"APP_KEY": "short"})
    assert key.returncode == 2 and one_error_line(key).startswith("syncpay: APP_KEY")
    for r in (result, bad, workers, source, parser, key):
        assert "Traceback" not in r.stderr


def test_app_key_is_generated_once_into_storage(plain: Cli):
    proc = plain.popen("serve", "--port", "0", "-q", "--workers", "0")
    try:
        proc.wait_for(r"^http://", timeout=30)
    finally:
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(timeout=30)
    key_file = Path(plain.cwd) / "storage" / "app.key"
    first = key_file.read_bytes()
    assert len(first.strip()) >= 32 and (key_file.stat().st_mode & 0o777) == 0o600
    proc = plain.popen("serve", "--port", "0", "-q", "--workers", "0")
    try:
        proc.wait_for(r"^http://", timeout=30)
    finally:
        proc.proc.send_signal(signal.SIGTERM)
        proc.proc.wait(timeout=30)
    assert key_file.read_bytes() == first


@pytest.mark.parametrize("command", ["user:list", "token:list"])
def test_empty_listings_say_so(cli: Cli, command: str):
    cli.ok("migrate")  # a listing only reads: it never creates the database (#12 item 14)
    result = cli.run(command)
    assert result.returncode == 0 and result.stdout.strip()
