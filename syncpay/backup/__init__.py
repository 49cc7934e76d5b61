"""Backups of an SQLite database and their restore (``syncpay db:backup``,
``syncpay db:restore``, ``BACKUP_SCHEDULE``); see docs/deploy.md, Backups.

- ``take.py``: an online, consistent copy of the live database, checked, then renamed.
- ``restore.py``: a backup checked, the database found unused, then put in place.
- ``auto.py``: the server's scheduled backups and the record of the last one.
- ``files.py``: names, pruning, temporary files, gzip.
"""

from .auto import Backups, LastBackup, last_backup, record, take_backup
from .errors import BackupError
from .files import backup_name, our_backups, prune
from .restore import Restored, restore
from .take import Backup, target_for, verify

__all__ = [
    "Backup",
    "BackupError",
    "Backups",
    "LastBackup",
    "Restored",
    "backup_name",
    "last_backup",
    "our_backups",
    "prune",
    "record",
    "restore",
    "take_backup",
    "target_for",
    "verify",
]
