"""What the command line writes: logging set-up, tables and small formatting helpers."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..i18n import DEFAULT, LANGUAGES, catalogs

if TYPE_CHECKING:
    from ..sync.records import LogLine

__all__ = [
    "CONSOLE_LOGGERS",
    "format_age",
    "plural",
    "render_table",
    "set_language",
    "setup_logging",
    "terminal_width",
    "words",
]

#: Loggers whose INFO lines are the command's own output (stdout), not diagnostics.
CONSOLE_LOGGERS = ("syncpay.jobs", "syncpay.console")
#: The worker's line per job (RUNNING, DONE, RETRY…): INFO records of this logger.
JOB_LOGGER = "syncpay.jobs"

#: The language of the command's human output (APP_LOCALE), set at start-up.
_language = DEFAULT


def set_language(lang: str) -> None:
    """The language of :func:`words` (APP_LOCALE; unknown: Indonesian)."""
    global _language
    _language = lang if lang in LANGUAGES else DEFAULT


def language() -> str:
    return _language


def words(key: str, **values: object) -> str:
    """The catalogue text ``key`` in the command's language (the pages' catalogues)."""
    return catalogs().text(_language, key, **values)


def words_n(key: str, n: int, **values: object) -> str:
    """``words`` for a count: ``key.one`` when ``n`` is 1, else ``key.other`` (English
    says "1 job", "2 jobs"; Indonesian has the same text in both)."""
    return words(f"{key}.{'one' if n == 1 else 'other'}", n=n, **values)


def scope_words(detail: Mapping[str, Any] | None, label: str | None) -> str:
    """A run's scope in the command's language, as the sync page words it; the stored
    Indonesian ``label`` for a kind this does not know."""
    kind = (detail or {}).get("kind")
    if kind == "kelas" and (detail or {}).get("unit"):
        kind = "kelas_unit"
    known = ("all", "unit", "kelas", "kelas_unit", "one", "list", "officer")
    if not detail or kind not in known:
        return label or "-"
    return words(
        f"js.sync.scope_label.{kind}",
        unit=detail.get("unit") or "",
        kelas=detail.get("kelas") or "",
        idperson=detail.get("idperson") or "",
        n=detail.get("students") or 0,
        officer=detail.get("officer") or "",
    )


def log_words(line: LogLine) -> str:
    """An activity-log line (of the progress object) in the command's language, worded as
    the sync page words it: a run's scope from its detail, a reason's own words."""
    values: Mapping[str, Any] | None = line.values
    if isinstance(values, Mapping):
        values = dict(values)
        if isinstance(values.get("scope_detail"), Mapping):
            values["scope"] = scope_words(values["scope_detail"], values.get("scope"))
        if isinstance(values.get("reason"), str):
            values["reason"] = catalogs().reason_text(_language, values["reason"])
    return catalogs().log_text(_language, line.key, values, line.message)


CONSOLE_FORMAT = "  %(asctime)s %(message)s"
FILE_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
STDERR_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def _is_console(record: logging.LogRecord) -> bool:
    return any(record.name == n or record.name.startswith(n + ".") for n in CONSOLE_LOGGERS)


class _CliHandler(logging.Handler):
    """Marks the handlers this module installed, so a second set-up replaces them."""


class _StreamHandler(logging.StreamHandler, _CliHandler):
    pass


class Redactor(logging.Filter):
    """Keeps secrets out of every log line: the configured secret values (APP_KEY, API
    tokens, passwords), bearer tokens, syncpay API tokens and one-time login links."""

    PATTERNS = (
        (re.compile(r"(?i)(bearer\s+)[^\s\"',]+"), r"\1***"),
        (re.compile(r"\bsp_[A-Za-z0-9_\-]{16,}"), "sp_***"),
        (re.compile(r"(/login/once/)[^\s\"'?]+"), r"\1***"),
        (re.compile(r"(?i)((?:password|passwd|token|app_key)\s*[=:]\s*)[^\s&,;]+"), r"\1***"),
    )

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        for pattern, replacement in self.PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def secret_values(settings: Settings) -> list[str]:
    return settings.secrets()


#: Mode of a new log file.
LOG_MODE = 0o640


class _FileHandler(logging.handlers.RotatingFileHandler, _CliHandler):
    """``LOG_FILE``, rotated by size (``LOG_MAX_MB``, ``LOG_BACKUPS`` old files kept):
    opened (and its folder made) only when the first line is written; a file that
    cannot be written is reported once on stderr, then left alone."""

    def __init__(self, path: str, max_bytes: int = 0, backups: int = 0) -> None:
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        self._broken = False

    def _open(self) -> io.TextIOWrapper:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        # Log lines name students and users: made readable by the owner and its group
        # only (each rotation makes a new file the same way).
        os.close(os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_MODE))
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        if self._broken:
            return
        try:
            super().emit(record)  # opening the file happens here, outside logging's guard
        except OSError:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        if self._broken:
            return
        self._broken = True
        detail = getattr(error, "strerror", None) or error
        sys.stderr.write(f"syncpay: LOG_FILE: cannot write {self.baseFilename} ({detail})\n")


def _not_a_job_line(record: logging.LogRecord) -> bool:
    return not (record.name == JOB_LOGGER and record.levelno < logging.WARNING)


def setup_logging(
    settings: Settings, quiet: bool = False, verbose: int | bool = 0, job_lines: bool = True
) -> None:
    """Console and file logging for a command.

    - stdout: the job lines of ``syncpay.jobs`` (and ``syncpay.console``) at INFO,
      ``  2026-11-28 13:20:01 noop #12 ........ DONE 12ms``; none with ``quiet``.
      With ``job_lines=False`` (``serve``: a run says what it does through its own
      lines) the job lines are left out of stdout unless ``-v`` or ``LOG_LEVEL=debug``,
      and out of ``LOG_FILE`` unless ``LOG_LEVEL=debug``.
    - stderr: warnings and errors of every other logger (INFO with ``-v``, DEBUG
      with ``-vv``).
    - ``LOG_FILE`` (when set) at ``LOG_LEVEL``: everything of ``syncpay.*`` and the
      warnings of other libraries; the file is created on the first line written.
    """
    verbosity = int(verbose)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _CliHandler)]:
        root.removeHandler(handler)
        handler.close()
    levels: list[int] = []
    redactor = Redactor(secret_values(settings))
    debug = settings.log_level.lower() == "debug"

    if not quiet:
        stdout = _StreamHandler(sys.stdout)
        stdout.setLevel(logging.INFO)
        stdout.addFilter(_is_console)
        if not (job_lines or verbosity or debug):
            stdout.addFilter(_not_a_job_line)
        stdout.addFilter(redactor)
        stdout.setFormatter(logging.Formatter(CONSOLE_FORMAT, DATE_FORMAT))
        root.addHandler(stdout)
        levels.append(logging.INFO)

    stderr_level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)

    def to_stderr(record: logging.LogRecord) -> bool:
        if _is_console(record):
            # Job lines belong on stdout; with --quiet only their warnings remain.
            return quiet and record.levelno >= logging.WARNING
        return True

    stderr = _StreamHandler(sys.stderr)
    stderr.setLevel(stderr_level)
    stderr.addFilter(to_stderr)
    stderr.addFilter(redactor)
    stderr.setFormatter(logging.Formatter(STDERR_FORMAT, DATE_FORMAT))
    root.addHandler(stderr)
    levels.append(stderr_level)

    if settings.log_file:
        file_level = logging.getLevelName(settings.log_level.upper())
        assert isinstance(file_level, int)
        handler = _FileHandler(
            settings.log_file, settings.log_max_mb * 1024 * 1024, settings.log_backups
        )
        handler.setLevel(file_level)
        handler.addFilter(lambda r: r.name.startswith("syncpay") or r.levelno >= logging.WARNING)
        if not (job_lines or debug):
            handler.addFilter(_not_a_job_line)
        handler.addFilter(redactor)
        handler.setFormatter(logging.Formatter(FILE_FORMAT, DATE_FORMAT))
        root.addHandler(handler)
        levels.append(file_level)

    root.setLevel(min(levels))


# --------------------------------------------------------------------------- text


def terminal_width(default: int = 120) -> int:
    return max(40, shutil.get_terminal_size((default, 24)).columns)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 job``, ``3 jobs``."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def format_age(seconds: int | None) -> str:
    """``45s``, ``3m 05s``, ``2h 03m``, ``4d 01h``; ``-`` for None."""
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def _cell(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…" if width > 0 else ""


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    width: int | None = None,
    flex: int | None = None,
    right: Sequence[int] = (),
) -> str:
    """A plain table; column ``flex`` is shortened so a line fits in ``width``.

    Cells are made single-line. ``right`` lists the columns aligned to the right.
    """
    table = [[_cell(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(line[i]) for line in table) for i in range(len(headers))]
    gap = 2
    if width is not None and flex is not None:
        others = sum(w for i, w in enumerate(widths) if i != flex) + gap * (len(widths) - 1)
        widths[flex] = max(len(table[0][flex]), min(widths[flex], width - 2 - others))
    lines = []
    for number, line in enumerate(table):
        cells = []
        for i, text in enumerate(line):
            text = _shorten(text, widths[i])
            cells.append(text.rjust(widths[i]) if i in right else text.ljust(widths[i]))
        lines.append("  " + (" " * gap).join(cells).rstrip())
        if number == 0:
            lines.append("  " + (" " * gap).join("-" * w for w in widths))
    return "\n".join(lines)
