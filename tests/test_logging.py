"""LOG_FILE: size-based rotation, one-line records, and no secret in any log line."""

from __future__ import annotations

import logging
from pathlib import Path

from syncpay.cli.output import Redactor, setup_logging
from syncpay.config import load_settings


def _settings(tmp_path: Path, **extra: str):
    env = {"DB_DATABASE": str(tmp_path / "db.sqlite"), "LOG_FILE": str(tmp_path / "logs/s.log")}
    return load_settings(env | extra, environ={}, env_file=None)


def test_redactor_hides_configured_secrets_tokens_and_links():
    r = Redactor(["kunci-rahasia-aplikasi", "pw"])
    assert r.redact("key kunci-rahasia-aplikasi used") == "key *** used"
    assert r.redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***"
    assert r.redact("token sp_AbCdEfGhIjKlMnOpQrStUv issued") == "token sp_*** issued"
    assert r.redact("GET /login/once/Zx9_secret-1 302") == "GET /login/once/*** 302"
    assert r.redact("dsn password=hunter22&x=1") == "dsn password=***&x=1"
    short = "pw is too short to be a secret value"
    assert r.redact(short) == short


def test_log_file_rotates_by_size_and_never_holds_secrets(tmp_path: Path):
    settings = _settings(
        tmp_path,
        LOG_MAX_MB="1",
        LOG_BACKUPS="2",
        APP_KEY="base64:c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
        PAYMENT_API_TOKEN="token-dari-keuangan-123",
    )
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(settings, quiet=True)
        log = logging.getLogger("syncpay.test")
        log.warning("calling the API with token-dari-keuangan-123 for run %d", 7)
        try:
            raise RuntimeError("Bearer token-dari-keuangan-123 refused")
        except RuntimeError:
            log.exception("request failed")
        for i in range(16000):
            log.info("line %05d %s", i, "x" * 100)
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["s.log", "s.log.1", "s.log.2"]
    for name in files:
        assert (tmp_path / "logs" / name).stat().st_size <= 1024 * 1024 + 200
    text = "".join((tmp_path / "logs" / n).read_text() for n in files)
    assert "token-dari-keuangan-123" not in text
    first = (tmp_path / "logs" / "s.log.2").read_text().splitlines()[0]
    assert " WARNING syncpay.test: " in first


def _job_lines_shown(tmp_path: Path, capsys, verbose: int, **extra: str) -> tuple[bool, bool]:
    """(on stdout, in LOG_FILE) for a worker's job line under ``serve``'s logging."""
    settings = _settings(tmp_path, **extra)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(settings, verbose=verbose, job_lines=False)
        logging.getLogger("syncpay.jobs").info("sync.student #7 ...... DONE 3ms")
        logging.getLogger("syncpay.console").info("#1 Sinkronisasi selesai")
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()
    out = capsys.readouterr().out
    assert "#1 Sinkronisasi selesai" in out
    log = (tmp_path / "logs/s.log").read_text()
    return "DONE 3ms" in out, "DONE 3ms" in log


def test_serve_leaves_out_the_job_lines_unless_verbose_or_debug(tmp_path: Path, capsys):
    """#12 item 12: no line per job by default; -v (terminal) or LOG_LEVEL=debug (both)."""
    assert _job_lines_shown(tmp_path / "a", capsys, 0) == (False, False)
    assert _job_lines_shown(tmp_path / "b", capsys, 1) == (True, False)
    assert _job_lines_shown(tmp_path / "c", capsys, 0, LOG_LEVEL="debug") == (True, True)


def test_every_setting_marked_secret_is_hidden_from_the_log(tmp_path: Path):
    """The redactor follows the settings' secret marks, not a list kept by hand: the
    webhook's HMAC key (added after the list was written) is hidden like the others."""
    values = {
        "APP_KEY": "base64:a2V5LWtleS1rZXkta2V5LWtleQ==",
        "DB_PASSWORD": "kata-sandi-db-1",
        "PAYMENT_API_TOKEN": "token-keuangan-2",
        "PAYMENT_DB_PASSWORD": "kata-sandi-keuangan-3",
        "METRICS_TOKEN": "token-metrik-4",
        "SYNC_NOTIFY_URL": "https://gateway.example/hook",
        "SYNC_NOTIFY_SECRET": "rahasia-webhook-5",
    }
    settings = _settings(tmp_path, **values)
    shown = settings.redacted()
    secret_names = [name for name, text in shown.items() if text == "***"]
    assert set(secret_names) >= set(values) - {"SYNC_NOTIFY_URL"}
    redactor = Redactor(settings.secrets())
    for name in secret_names:
        line = f"{name} is {values[name]}"
        assert values[name] not in redactor.redact(line), name
