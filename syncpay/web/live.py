"""Live progress for the sync page over a WebSocket (filled in by the sync page work)."""

from __future__ import annotations

from aiohttp import web


class LiveHub:
    """Pushes the progress object to every connected sync page."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


#: The application's hub.
HUB = web.AppKey("hub", LiveHub)
