"""A backup or restore refused or failed: a catalogue key (``cli.backup.*``,
``cli.restore.*``) and its values, worded by the caller in its language."""

from __future__ import annotations


class BackupError(Exception):
    def __init__(self, key: str, **values: object) -> None:
        super().__init__(f"{key}: {values}")
        self.key = key
        self.values = values
