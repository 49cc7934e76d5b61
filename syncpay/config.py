"""Settings: built-in defaults < `.env` file < process environment < command-line flags.

Every setting is one field of the frozen `Settings` dataclass, declared with `_var(...)`
(default + converter).  The environment variable is the field name upper-cased, and the
field order is the order of SPEC §2, so adding a variable is one line here (plus a
validator when the existing converters do not fit).

Three defaults are *derived* from other settings (`DB_QUEUE_CONNECTION`,
`DB_QUEUE_RETRY_AFTER`, `PAYMENT_API_CONCURRENCY`): they are computed after all sources
are merged, only when the variable was not given (an empty value counts as not given),
and they keep following their source field through `Settings.replace()`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

__all__ = ["VARIABLES", "ConfigError", "Settings", "load_settings", "parse_dotenv"]


class ConfigError(Exception):
    """A bad configuration value; `str()` is one line: ``VARIABLE: problem``."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(variable, problem)
        self.variable = variable
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.variable}: {self.problem}"


class _Invalid(Exception):
    """Raised by a converter; the caller adds the variable name."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _show(value: object, limit: int = 60) -> str:
    """repr() of a value, shortened: always a single line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- .env reader

_ENTRY = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=")
_INLINE_COMMENT = re.compile(r"[ \t]#")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    """Parse the text of a `.env` file; raise `ConfigError(source, "line N: …")`."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    result: dict[str, str] = {}
    pos, line_no, size = 0, 1, len(text)
    while pos < size:
        end = text.find("\n", pos)
        end = size if end < 0 else end
        line = text[pos:end]
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            pos, line_no = end + 1, line_no + 1
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise ConfigError(source, f"line {line_no}: {_diagnose(line)}")
        key = match.group(1)
        after_eq = pos + match.end()
        start = after_eq
        while start < end and text[start] in " \t":
            start += 1
        if start < end and text[start] in "'\"":
            value, close = _read_quoted(text, start)
            if close < 0:
                kind = "double" if text[start] == '"' else "single"
                raise ConfigError(source, f"line {line_no}: unterminated {kind} quote")
            line_no += text.count("\n", start, close)
            end = text.find("\n", close)
            end = size if end < 0 else end
            rest = text[close:end].strip(" \t")
            if rest and not rest.startswith("#"):
                problem = f"unexpected text after the closing quote: {_show(rest)}"
                raise ConfigError(source, f"line {line_no}: {problem}")
        else:
            value = text[after_eq:end]
            comment = _INLINE_COMMENT.search(value)
            if comment is not None:
                value = value[: comment.start()]
            value = value.strip(" \t")
        result[key] = value
        pos, line_no = end + 1, line_no + 1
    return result


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted value opening at `start`; return it and the index after the
    closing quote, or ("", -1) when the quote is never closed."""
    if text[start] == "'":
        close = text.find("'", start + 1)
        return ("", -1) if close < 0 else (text[start + 1 : close], close + 1)
    parts: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(parts), i + 1
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            parts.append(_ESCAPES[text[i + 1]])
            i += 2
            continue
        parts.append(char)
        i += 1
    return "", -1


def _diagnose(line: str) -> str:
    if "=" not in line:
        return "no '=' (expected KEY=value)"
    key = line.split("=", 1)[0].strip(" \t")
    if key.startswith("export") and key[6:7] in (" ", "\t"):
        key = key[6:].strip(" \t")
    if not key:
        return "no variable name before '='"
    return f"{_show(key)} is not a valid variable name (letters, digits, _ and .)"


# --------------------------------------------------------------------------- converters

Converter = Callable[[object], Any]


def _parse_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip(" \t")):
        if len(value.strip(" \t").lstrip("+-0")) > 18:
            raise _Invalid(f"{_show(value)} is too large")
        return int(value)
    raise _Invalid(f"{_show(value)} is not a whole number")


def _parse_bool(value: object) -> bool:
    """true/false, 1/0, yes/no, on/off (any case); for boolean settings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip(" \t").lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
    raise _Invalid(f"{_show(value)} is not true or false (or 1/0, yes/no, on/off)")


def _whole(low: int = 1, high: int | None = None) -> Converter:
    def convert(value: object) -> int:
        number = _parse_int(value)
        if high is not None and not low <= number <= high:
            raise _Invalid(f"{number} must be between {low} and {high}")
        if number < low:
            raise _Invalid(f"{number} must be at least {low}")
        return number

    return convert


def _number(*, above: float | None = None, at_least: float | None = None) -> Converter:
    def convert(value: object) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and re.fullmatch(
            r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", value.strip(" \t")
        ):
            number = float(value)
        else:
            raise _Invalid(f"{_show(value)} is not a number")
        if not math.isfinite(number):
            raise _Invalid(f"{_show(value)} is not a finite number")
        if above is not None and number <= above:
            raise _Invalid(f"{_format(number)} must be greater than {_format(above)}")
        if at_least is not None and number < at_least:
            raise _Invalid(f"{_format(number)} must be at least {_format(at_least)}")
        return number

    return convert


def _delays(value: object) -> tuple[int, ...]:
    items: list[object] = []
    if isinstance(value, str):
        items = list(value.split(","))
    elif isinstance(value, tuple | list):
        items = list(value)
    try:
        delays = tuple(_parse_int(item) for item in items)
    except _Invalid:
        delays = ()
    if not delays or min(delays) < 0:
        problem = "is not a list of whole seconds >= 0, e.g. 10,30,60"
        raise _Invalid(f"{_show(value)} {problem}")
    return delays


def _text(check: Callable[[str], str | None] | None = None, *, fold: bool = False) -> Converter:
    """A string setting; `check` returns a problem text or None."""

    def convert(value: object) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"{_show(value)} is not text")
        value = value.lower() if fold else value
        problem = check(value) if check is not None else None
        if problem is not None:
            raise _Invalid(problem)
        return value

    return convert


def _choice(*options: str, fold: bool = False) -> Converter:
    def check(value: str) -> str | None:
        return None if value in options else f"{_show(value)} is not one of {', '.join(options)}"

    return _text(check, fold=fold)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _Invalid(f"{_show(value)} is not true or false")


def _pattern(regex: str, what: str) -> Converter:
    compiled = re.compile(regex)
    return _text(lambda v: None if compiled.fullmatch(v) else f"{_show(v)} is not {what}")


def _not_empty(value: str) -> str | None:
    return "must not be empty" if not value else None


def _queue_name(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > 191:
        return f"the name is {len(value)} characters long; at most 191 are allowed"
    if re.search(r"[,\s]", value):
        return f"{_show(value)} must not contain commas or whitespace"
    return None


def _url(*, template: bool = False) -> Converter:
    def check(value: str) -> str | None:
        if not value:
            return None
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or not value.startswith(f"{parts.scheme}://")
            or re.search(r"\s", value)
        ):
            return f"{_show(value)} is not an http:// or https:// URL"
        if template and "{idperson}" not in value:
            return (
                f"{_show(value)} has no {{idperson}} placeholder, "
                "e.g. https://api.example.sch.id/v1/payments/{idperson}"
            )
        return None

    return _text(check)


# --------------------------------------------------------------------------- Settings


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
_DRIVER = _choice("sqlite", "mysql")
_QUEUE_DRIVER = _text(
    lambda v: (
        None if v == "database" else f"{_show(v)} is not supported; database is the only driver"
    )
)
_TABLE_NAME = _pattern(
    r"[A-Za-z_][A-Za-z0-9_]{0,63}", "a plain SQL name (letters, digits and _, at most 64)"
)
_PARSER = _pattern(
    rf"flat|nested|{_IDENT}(\.{_IDENT})*:{_IDENT}", "flat, nested or module:function"
)
_FIELD_NAME = _pattern(r"[A-Za-z_][A-Za-z0-9_]{0,63}", "a JSON field name")


def _has_idperson_param(value: str) -> str | None:
    if value and ":idperson" not in value:
        return "must contain :idperson (the student's id is passed there)"
    return None


def _schedule(value: str) -> str | None:
    from .schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(value)
    except ScheduleError as exc:
        return str(exc)
    return None


_LOG_LEVEL = _choice("debug", "info", "warning", "error", "critical", fold=True)


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings, typed and validated; build with `load_settings()`.

    Strings are accepted for every field and parsed as the environment would be.
    """

    db_connection: str = _var("sqlite", _DRIVER)
    db_database: str = _var("storage/syncpay.sqlite", _text(_not_empty))
    db_host: str = _var("127.0.0.1", _text())
    db_port: int = _var(3306, _whole(1, 65535))
    db_username: str = _var("root", _text())
    db_password: str = _var("", _text(), secret=True)
    queue_connection: str = _var("database", _QUEUE_DRIVER)
    db_queue_connection: str = _derived(lambda s: s["db_connection"], _DRIVER)
    db_queue_table: str = _var("jobs", _TABLE_NAME)
    db_queue: str = _var("sync-pembayaran", _text(_queue_name))
    db_queue_retry_after: int = _derived(lambda s: s["sync_timeout"] + 60, _whole(1))
    sync_workers: int = _var(8, _whole(1, 256))
    sync_tries: int = _var(3, _whole(1))
    sync_timeout: int = _var(600, _whole(1))
    sync_backoff: tuple[int, ...] = _var((10, 30, 60), _delays)
    # Students queued per dispatch transaction (SPEC §4).
    sync_chunk: int = _var(5000, _whole(1, 100000))
    # When the server starts an all-students run by itself: "02:00", "02:00,13:30" or
    # a five-field cron expression; empty = never.
    sync_schedule: str = _var("", _text(_schedule))
    # Automatic daily clean-up: ended runs (and their logs) older than this many days,
    # failed jobs older than this many hours (0 = keep for ever).
    sync_prune_days: int = _var(180, _whole(0))
    queue_prune_failed_hours: int = _var(720, _whole(0))
    payment_source: str = _var("http", _choice("http", "mysql", "simulator"))
    payment_api_url: str = _var("", _url(template=True))
    payment_api_token: str = _var("", _text(), secret=True)
    payment_api_timeout: float = _var(30.0, _number(above=0))
    payment_api_rate: float = _var(0.0, _number(at_least=0))
    payment_api_concurrency: int = _derived(lambda s: s["sync_workers"], _whole(1))
    payment_parser: str = _var("flat", _PARSER)
    # The nested shape's real API swaps its names: amount_paid holds the bill.
    payment_nested_bill_field: str = _var("amount_paid", _FIELD_NAME)
    payment_nested_paid_field: str = _var("amount_billed", _FIELD_NAME)
    payment_api_retry_after_max: int = _var(300, _whole(0))
    # Retry-After waits per student that spend no attempt; later ones count as attempts.
    payment_api_retry_after_waits: int = _var(10, _whole(0))
    # The largest answer read (bytes, raw and decompressed) and the most items it may hold.
    payment_api_max_bytes: int = _var(4 * 1024 * 1024, _whole(1024))
    payment_api_max_items: int = _var(5000, _whole(1))
    payment_db_host: str = _var("127.0.0.1", _text())
    payment_db_port: int = _var(3306, _whole(1, 65535))
    payment_db_database: str = _var("", _text())
    payment_db_username: str = _var("root", _text())
    payment_db_password: str = _var("", _text(), secret=True)
    payment_db_query: str = _var("", _text(_has_idperson_param))
    siswa_api_url: str = _var("", _url())
    app_key: str = _var("", _text(), secret=True)
    app_host: str = _var("127.0.0.1", _text(_not_empty))
    app_port: int = _var(8000, _whole(1, 65535))
    app_locale: str = _var("id", _choice("id", "en"))
    # Bearer token GET /metrics asks for; empty: answered to loopback clients only.
    metrics_token: str = _var("", _text(), secret=True)
    # Behind a reverse proxy on this machine: trust its X-Forwarded-For / -Proto / -Host.
    app_trust_proxy: bool = _var(False, _boolean)
    # Minutes a login stays valid after the last request.
    session_lifetime: int = _var(120, _whole(1, 525600))
    log_file: str = _var("storage/logs/syncpay.log", _text())
    log_level: str = _var("info", _LOG_LEVEL)
    # The log file is rotated at this size (MiB; 0 = never), keeping this many old ones.
    log_max_mb: int = _var(10, _whole(0, 10240))
    log_backups: int = _var(5, _whole(0, 100))
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

    def redacted(self) -> dict[str, str]:
        """Every variable name → its value as text; secrets shown as "***" when set."""
        shown: dict[str, str] = {}
        for name, var in _SPECS:
            value = getattr(self, name)
            shown[name.upper()] = "***" if var.secret and value else _format(value)
        return shown


_SPECS: tuple[tuple[str, _Var], ...] = tuple(
    (f.name, f.metadata["var"]) for f in fields(Settings) if "var" in f.metadata
)
_NAMES: tuple[str, ...] = tuple(name for name, _ in _SPECS)
_DERIVED: frozenset[str] = frozenset(name for name, var in _SPECS if var.derive is not None)
VARIABLES: tuple[str, ...] = tuple(name.upper() for name in _NAMES)


def _convert(name: str, var: _Var, raw: object) -> Any:
    try:
        return var.convert(raw)
    except _Invalid as error:
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
                f"{_show(s['db_database'])} is not a MySQL "
                "database name (letters, digits, _ and $, at most 64)",
            )
        if not s["db_host"]:
            raise ConfigError("DB_HOST", "must not be empty when DB_CONNECTION is mysql")
    elif "\0" in s["db_database"]:
        raise ConfigError("DB_DATABASE", f"{_show(s['db_database'])} is not a file path")
    if s["db_queue_retry_after"] <= s["sync_timeout"]:
        raise ConfigError(
            "DB_QUEUE_RETRY_AFTER",
            (
                f"{s['db_queue_retry_after']} must be greater than the job timeout "
                f"(SYNC_TIMEOUT={s['sync_timeout']}); a job still running would be handed "
                "to a second worker"
            ),
        )


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


# --------------------------------------------------------------------------- loading


def load_settings(
    overrides: Mapping[str, str | None] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | os.PathLike[str] | None = ".env",
) -> Settings:
    """Merge defaults < `env_file` (if it exists) < `environ` < `overrides` and validate.

    `overrides` keys are variable names (e.g. ``{"SYNC_WORKERS": "4"}``); a None value
    means "not given".  Unknown override keys raise ValueError; unknown `.env` keys are
    ignored.  Bad values raise ConfigError.
    """
    overrides = dict(overrides or {})
    unknown = overrides.keys() - set(VARIABLES)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    merged: dict[str, object] = {}
    if env_file is not None:
        from_file = _read_env_file(env_file)
        merged.update((k, v) for k, v in from_file.items() if k in VARIABLES)
    environ = os.environ if environ is None else environ
    merged.update((k, environ[k]) for k in VARIABLES if k in environ)
    merged.update((k, v) for k, v in overrides.items() if v is not None)
    given: dict[str, Any] = {}
    for variable, value in merged.items():
        name = variable.lower()
        if value == "" and name in _DERIVED:
            continue  # an empty derived variable means "derive it"
        given[name] = value
    return Settings(**given)


def _read_env_file(env_file: str | os.PathLike[str]) -> dict[str, str]:
    source = os.fspath(env_file)
    try:
        with open(env_file, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise ConfigError(source, "cannot read: it is a directory") from None
    except PermissionError:
        raise ConfigError(source, "cannot read: permission denied") from None
    except OSError as error:
        raise ConfigError(source, f"cannot read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(source, f"cannot read: not UTF-8 text (byte {error.start})") from None
    return parse_dotenv(text, source)
