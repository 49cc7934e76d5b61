"""The backup files: their names, the folder's own files and their pruning, temporary
names beside a target, fsync, gzip."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import os
import re
import secrets
import shutil
import time
from pathlib import Path

#: ``syncpay-20261206-020000.sqlite`` (UTC) and its gzip-compressed ``….sqlite.gz``: the
#: only names the pruning ever deletes.
NAME = re.compile(r"syncpay-\d{8}-\d{6}\.sqlite(?:\.gz)?")
#: A backup's temporary file (:func:`temp_beside`), left behind by a process killed
#: while writing it; deleted by :func:`prune` once it is a day old.
TEMP_NAME = re.compile(r"syncpay-\d{8}-\d{6}\.sqlite(?:\.gz)?\.tmp-[0-9a-f]{8}")
STALE_TEMP = 86400.0
#: The first bytes of a gzip file and of an SQLite database.
GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Backups hold personal data and password hashes: their owner only.
FILE_MODE = 0o600
FOLDER_MODE = 0o700
_CHUNK = 1024 * 1024


def backup_name(at: dt.datetime, *, compressed: bool) -> str:
    """Our file name for a backup taken at ``at`` (written in UTC)."""
    stamp = at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"syncpay-{stamp}.sqlite{'.gz' if compressed else ''}"


def is_compressed_name(path: Path) -> bool:
    return path.name.endswith(".gz")


def our_backups(folder: Path) -> list[Path]:
    """The files of ``folder`` named by us, oldest first (the name holds the time)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        (p for p in entries if NAME.fullmatch(p.name) and p.is_file()),
        key=lambda p: p.name.removesuffix(".gz"),
    )


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` of our backups in ``folder`` (0 keeps all);
    the deleted paths. Files we did not name are never touched."""
    deleted = _stale_temps(folder)
    if keep <= 0:
        return deleted
    ours = our_backups(folder)
    for path in ours[: max(0, len(ours) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            deleted.append(path)
    return deleted


def _stale_temps(folder: Path) -> list[Path]:
    deleted: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return deleted
    for path in entries:
        try:
            if TEMP_NAME.fullmatch(path.name) and time.time() - path.stat().st_mtime > STALE_TEMP:
                path.unlink()
                deleted.append(path)
        except OSError:
            continue
    return deleted


def make_folder(folder: Path) -> None:
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(FOLDER_MODE)


def temp_beside(path: Path) -> Path:
    """A fresh temporary name in ``path``'s folder (a rename from it is atomic)."""
    return path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")


def remove_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not every system lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def private(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.chmod(FILE_MODE)


def compress(source: Path, target: Path) -> None:
    """gzip ``source`` into ``target`` (written, fsynced)."""
    with source.open("rb") as raw, target.open("wb") as out:
        private(target)
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=6, mtime=0) as gz:
            shutil.copyfileobj(raw, gz, _CHUNK)
        out.flush()
        os.fsync(out.fileno())


def decompress(source: Path, target: Path) -> None:
    """gunzip ``source`` into ``target``; OSError/EOFError for a damaged file."""
    with gzip.open(source, "rb") as gz, target.open("wb") as out:
        private(target)
        shutil.copyfileobj(gz, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())


def copy(source: Path, target: Path) -> None:
    with source.open("rb") as raw, target.open("wb") as out:
        private(target)
        shutil.copyfileobj(raw, out, _CHUNK)
        out.flush()
        os.fsync(out.fileno())


def head(path: Path, size: int = 16) -> bytes:
    with path.open("rb") as f:
        return f.read(size)
