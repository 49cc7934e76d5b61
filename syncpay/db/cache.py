"""Laravel's database cache store: ``cache`` (key, value, expiration)."""

from __future__ import annotations

from .base import Database

#: Written by ``queue:restart``; workers stop between jobs when it changes.
RESTART_KEY = "syncpay:queue:restart"


class Cache:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        value = await self.db.fetch_value("cache_get", {"key": key})
        return None if value is None else str(value)

    async def put(self, key: str, value: str, ttl: int = 0) -> None:
        """Store ``value``; ``ttl`` seconds (0 = forever)."""
        await self.db.execute("cache_put", {"key": key, "value": value, "ttl": int(ttl)})

    async def forget(self, key: str) -> None:
        await self.db.execute("cache_forget", {"key": key})

    async def clear(self) -> int:
        return await self.db.execute("cache_clear")
