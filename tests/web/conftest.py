"""The web app under test: a real aiohttp server on a local port (aiohttp's TestServer),
the real simulator as the payment API, and the same database fixtures as the rest of the
suite (every test runs on SQLite and on MariaDB)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestClient, TestServer

from syncpay.accounts import Accounts
from syncpay.config import Settings
from syncpay.db import Database
from syncpay.web import create_app
from tests.sync_helpers import Harness

PASSWORD = "rahasia-123"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class Browser:
    """One visitor: a cookie jar on the test server, logged in or not."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> ClientResponse:
        response = await self.client.get(path, allow_redirects=False, **kwargs)
        if response.content_type == "text/html":
            found = _CSRF.search(await response.text())
            if found:
                self.csrf = found.group(1)
        return response

    async def get_json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.get(
            path, headers={"Accept": "application/json"}, allow_redirects=False, **kwargs
        )
        return response.status, await response.json()

    async def post_json(
        self, path: str, body: Any = None, *, csrf: str | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        token = self.csrf if csrf is None else csrf
        headers = {"Accept": "application/json", "X-CSRF-TOKEN": token}
        response = await self.client.post(
            path, json=body, headers=headers, allow_redirects=False, **kwargs
        )
        return response.status, await response.json()

    async def post_form(self, path: str, data: dict[str, str], **kwargs: Any) -> ClientResponse:
        return await self.client.post(
            path, data={"_token": self.csrf} | data, allow_redirects=False, **kwargs
        )

    async def login(self, name: str, password: str = PASSWORD) -> ClientResponse:
        await self.get("/login")
        response = await self.post_form("/login", {"username": name, "password": password})
        await self.get("/admin/siswa" if response.status == 302 else "/login")
        return response


class WebHarness(Harness):
    """A :class:`Harness` plus the web app on a test server."""

    server: TestServer
    sim_url: str

    async def serve(self, *, workers: int = 4, **extra: Any) -> WebHarness:
        sim = await self.simulator(latency=0.0)
        sp = self.syncpay(sim, **extra)
        self.app = create_app(sp.settings, workers=workers, syncpay=sp)
        self.server = TestServer(self.app)
        await self.server.start_server()
        self.clients: list[TestClient] = []
        return self

    def browser(self) -> Browser:
        client = TestClient(self.server)
        self.clients.append(client)
        return Browser(client)

    async def user(self, name: str, role: str = "admin") -> Browser:
        """A logged-in visitor with a new account ``name``."""
        await Accounts(self.db).create_user(name, PASSWORD, role)
        browser = self.browser()
        await browser.client.start_server()
        response = await browser.login(name)
        assert response.status == 302, await response.text()
        return browser

    async def token(self, name: str = "script", role: str = "admin") -> str:
        return await Accounts(self.db).create_token(name, role)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def close(self) -> None:
        for client in getattr(self, "clients", []):
            await client.close()
        if hasattr(self, "server"):
            await self.server.close()
        await super().close()


@pytest.fixture
async def web(
    settings: Settings,
    db: Database,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[WebHarness]:
    monkeypatch.chdir(tmp_path)  # storage/app.key is made here
    harness = WebHarness(settings, db)
    await harness.setup()
    await db.run_script("DELETE FROM web_sessions;\nDELETE FROM api_tokens;\nDELETE FROM users")
    try:
        yield harness
    finally:
        await harness.close()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session
