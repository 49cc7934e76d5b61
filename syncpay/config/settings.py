"""The `Settings` dataclass: every setting one field, declared with `_var(...)` (default
+ converter).  The environment variable is the field name upper-cased, and the field
order is the order of SPEC §2, so adding a variable is one line here (plus a converter
in ``convert.py`` when the existing ones do not fit).

Three defaults are *derived* from other settings (`DB_QUEUE_CONNECTION`,
`DB_QUEUE_RETRY_AFTER`, `PAYMENT_API_CONCURRENCY`): they are computed after all sources
are merged, only when the variable was not given (an empty value counts as not given),
and they keep following their source field through `Settings.replace()`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .convert import (
    Converter,
    boolean,
    choice,
    delays,
    format_value,
    has_idperson_param,
    not_empty,
    number,
    pattern,
    queue_name,
    schedule_check,
    text,
    url,
    urls,
    whole,
)
from .errors import ConfigError, Invalid, show


class _Auto:
    def __repr__(self) -> str:
        return "<derived>"


_AUTO: Any = _Auto()  # "not given": the value is derived from other settings


@dataclass(frozen=True, slots=True)
class _Var:
    convert: Converter
    secret: bool = False
    derive: Callable[[Mapping[str, Any]], Any] | None = None


def _var(default: Any, convert: Converter, *, secret: bool = False) -> Any:
    return field(default=default, metadata={"var": _Var(convert, secret)})


def _derived(derive: Callable[[Mapping[str, Any]], Any], convert: Converter) -> Any:
    return field(default=_AUTO, metadata={"var": _Var(convert, derive=derive)})


_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DRIVER = choice("sqlite", "mysql")
_QUEUE_DRIVER = text(
    lambda v: (
        None if v == "database" else f"{show(v)} is not supported; database is the only driver"
    )
)
_TABLE_NAME = pattern(
    r"[A-Za-z_][A-Za-z0-9_]{0,63}", "a plain SQL name (letters, digits and _, at most 64)"
)
_PARSER = pattern(rf"flat|nested|{_IDENT}(\.{_IDENT})*:{_IDENT}", "flat, nested or module:function")
_FIELD_NAME = pattern(r"[A-Za-z_][A-Za-z0-9_]{0,63}", "a JSON field name")


_LOG_LEVEL = choice("debug", "info", "warning", "error", "critical", fold=True)


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings, typed and validated; build with `load_settings()`.

    Strings are accepted for every field and parsed as the environment would be.
    """

    db_connection: str = _var("sqlite", _DRIVER)
    db_database: str = _var("storage/syncpay.sqlite", text(not_empty))
    db_host: str = _var("127.0.0.1", text())
    db_port: int = _var(3306, whole(1, 65535))
    db_username: str = _var("root", text())
    db_password: str = _var("", text(), secret=True)
    queue_connection: str = _var("database", _QUEUE_DRIVER)
    db_queue_connection: str = _derived(lambda s: s["db_connection"], _DRIVER)
    db_queue_table: str = _var("jobs", _TABLE_NAME)
    db_queue: str = _var("sync-pembayaran", text(queue_name))
    db_queue_retry_after: int = _derived(lambda s: s["sync_timeout"] + 60, whole(1))
    sync_workers: int = _var(8, whole(1, 256))
    sync_tries: int = _var(3, whole(1))
    sync_timeout: int = _var(600, whole(1))
    sync_backoff: tuple[int, ...] = _var((10, 30, 60), delays)
    # Students queued per dispatch transaction (SPEC §4).
    sync_chunk: int = _var(5000, whole(1, 100000))
    # When the server starts an all-students run by itself: "02:00", "02:00,13:30" or
    # a five-field cron expression; empty = never.
    sync_schedule: str = _var("", text(schedule_check))
    # Automatic daily clean-up: ended runs (and their logs) older than this many days,
    # failed jobs older than this many hours (0 = keep for ever).
    sync_prune_days: int = _var(180, whole(0))
    queue_prune_failed_hours: int = _var(720, whole(0))
    payment_source: str = _var("http", choice("http", "mysql", "simulator"))
    payment_api_url: str = _var("", url(template=True))
    payment_api_token: str = _var("", text(), secret=True)
    payment_api_timeout: float = _var(30.0, number(above=0))
    payment_api_rate: float = _var(0.0, number(at_least=0))
    payment_api_concurrency: int = _derived(lambda s: s["sync_workers"], whole(1))
    payment_parser: str = _var("flat", _PARSER)
    # The nested shape's real API swaps its names: amount_paid holds the bill.
    payment_nested_bill_field: str = _var("amount_paid", _FIELD_NAME)
    payment_nested_paid_field: str = _var("amount_billed", _FIELD_NAME)
    payment_api_retry_after_max: int = _var(300, whole(0))
    # Retry-After waits per student that spend no attempt; later ones count as attempts.
    payment_api_retry_after_waits: int = _var(10, whole(0))
    # The largest answer read (bytes, raw and decompressed) and the most items it may hold.
    payment_api_max_bytes: int = _var(4 * 1024 * 1024, whole(1024))
    payment_api_max_items: int = _var(5000, whole(1))
    payment_db_host: str = _var("127.0.0.1", text())
    payment_db_port: int = _var(3306, whole(1, 65535))
    payment_db_database: str = _var("", text())
    payment_db_username: str = _var("root", text())
    payment_db_password: str = _var("", text(), secret=True)
    payment_db_query: str = _var("", text(has_idperson_param))
    siswa_api_url: str = _var("", url())
    app_key: str = _var("", text(), secret=True)
    app_host: str = _var("127.0.0.1", text(not_empty))
    app_port: int = _var(8000, whole(1, 65535))
    app_locale: str = _var("id", choice("id", "en"))
    # Bearer token GET /metrics asks for; empty: answered to loopback clients only.
    metrics_token: str = _var("", text(), secret=True)
    # Behind a reverse proxy on this machine: trust its X-Forwarded-For / -Proto / -Host.
    app_trust_proxy: bool = _var(False, boolean)
    # Minutes a login stays valid after the last request.
    session_lifetime: int = _var(120, whole(1, 525600))
    log_file: str = _var("storage/logs/syncpay.log", text())
    log_level: str = _var("info", _LOG_LEVEL)
    # The log file is rotated at this size (MiB; 0 = never), keeping this many old ones.
    log_max_mb: int = _var(10, whole(0, 10240))
    log_backups: int = _var(5, whole(0, 100))
    # Days a student's history of changed totals is kept by the daily clean-up (0 = for
    # ever); apart from SYNC_PRUNE_DAYS, so a change outlives its run.
    sync_history_days: int = _var(365, whole(0, 36500))
    # Webhooks told when a run ends (http(s) URLs separated by commas or spaces; empty =
    # none), the key of their X-Syncpay-Signature (needed with a URL), and the seconds one
    # POST may take.
    sync_notify_url: tuple[str, ...] = _var((), urls)
    sync_notify_secret: str = _var("", text(), secret=True)
    sync_notify_timeout: float = _var(10.0, number(above=0))
    # Automatic SQLite backups (docs/deploy.md, Backups): when (SYNC_SCHEDULE's syntax;
    # empty = never), how many of our backup files to keep (0 = all), and where.
    backup_schedule: str = _var("", text(schedule_check))
    backup_keep: int = _var(7, whole(0, 10000))
    backup_path: str = _var("storage/backups", text(not_empty))
    # names of the fields whose value was derived (they follow their source on replace)
    _auto: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values: dict[str, Any] = {}
        auto: set[str] = set()
        for name, var in _SPECS:
            raw = getattr(self, name)
            if raw is _AUTO:
                auto.add(name)
                continue
            values[name] = _convert(name, var, raw)
        for name, var in _SPECS:
            if name in auto and var.derive is not None:
                values[name] = _convert(name, var, var.derive(values))
        _check_together(values)
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_auto", frozenset(auto))

    def replace(self, **changes: Any) -> Settings:
        """A copy with `changes` (field names; typed values or strings), re-validated.

        Derived fields that were not given keep following their source field."""
        unknown = changes.keys() - set(_NAMES)
        if unknown:
            raise TypeError(f"Settings has no field {', '.join(sorted(unknown))}")
        current = {name: getattr(self, name) for name in _NAMES if name not in self._auto}
        return Settings(**(current | changes))

    def secrets(self) -> list[str]:
        """The values of the variables marked secret (for the log's redactor): a new
        secret setting is hidden from the log by its mark alone."""
        return [str(getattr(self, name) or "") for name, var in _SPECS if var.secret]

    def redacted(self) -> dict[str, str]:
        """Every variable name → its value as text; secrets shown as "***" when set."""
        shown: dict[str, str] = {}
        for name, var in _SPECS:
            value = getattr(self, name)
            shown[name.upper()] = "***" if var.secret and value else format_value(value)
        return shown


_SPECS: tuple[tuple[str, _Var], ...] = tuple(
    (f.name, f.metadata["var"]) for f in fields(Settings) if "var" in f.metadata
)
_NAMES: tuple[str, ...] = tuple(name for name, _ in _SPECS)
DERIVED: frozenset[str] = frozenset(name for name, var in _SPECS if var.derive is not None)
VARIABLES: tuple[str, ...] = tuple(name.upper() for name in _NAMES)


def _convert(name: str, var: _Var, raw: object) -> Any:
    try:
        return var.convert(raw)
    except Invalid as error:
        raise ConfigError(name.upper(), error.problem) from None


def _check_together(s: Mapping[str, Any]) -> None:
    """Checks that involve more than one setting."""
    if s["db_queue_connection"] != s["db_connection"]:
        raise ConfigError(
            "DB_QUEUE_CONNECTION",
            "must be the same as DB_CONNECTION (progress is counted in the same "
            "transaction that removes the job)",
        )
    if s["db_connection"] == "mysql":
        if not re.fullmatch(r"[A-Za-z0-9_$]{1,64}", s["db_database"]):
            raise ConfigError(
                "DB_DATABASE",
                f"{show(s['db_database'])} is not a MySQL "
                "database name (letters, digits, _ and $, at most 64)",
            )
        if not s["db_host"]:
            raise ConfigError("DB_HOST", "must not be empty when DB_CONNECTION is mysql")
    elif "\0" in s["db_database"]:
        raise ConfigError("DB_DATABASE", f"{show(s['db_database'])} is not a file path")
    if s["sync_notify_url"] and not s["sync_notify_secret"]:
        raise ConfigError(
            "SYNC_NOTIFY_SECRET",
            "must be set when SYNC_NOTIFY_URL is (every POST is signed with it, so the "
            "receiver can tell that it comes from syncpay)",
        )
    if s["db_queue_retry_after"] <= s["sync_timeout"]:
        raise ConfigError(
            "DB_QUEUE_RETRY_AFTER",
            (
                f"{s['db_queue_retry_after']} must be greater than the job timeout "
                f"(SYNC_TIMEOUT={s['sync_timeout']}); a job still running would be handed "
                "to a second worker"
            ),
        )
