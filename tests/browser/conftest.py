"""Fixtures of the real-browser tests: the program's processes (see ``helpers.py``), one
Chromium for the session (Playwright's async API, on pytest-asyncio's session loop: every
test module here says ``pytestmark = pytest.mark.asyncio(loop_scope="session")``), and
``pages``, which opens logged-in pages and fails the test on any console error, uncaught
exception, CSP violation, server error or browser dialog."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio

from .helpers import (
    ADMIN,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    SYNC,
    App,
    base_env,
    drop_mysql_database,
    mysql_settings,
    new_mysql_database,
    require_browser,
    sqlite_env,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Response

#: A URL glob every page is refused (SYNCPAY_BROWSER_BLOCK='**/static/sync.js*'), to
#: see the tests fail when a file is not served.
BLOCK = os.environ.get("SYNCPAY_BROWSER_BLOCK", "")
#: Students in the roster of the shared app: a run takes a few seconds at LATENCY.
STUDENTS = 400
#: Seconds per simulator answer: 400 students / 8 workers × 0.05 s ≈ 2.5 s a run.
LATENCY = 0.05


def start_app(workdir: Path, database: dict[str, str], students: int = STUDENTS) -> App:
    app = App(workdir, base_env(workdir, database), students)
    try:
        return app.start(LATENCY)
    except BaseException:
        app.stop()
        raise


@pytest.fixture(scope="package")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The program on a fresh SQLite database, shared by the browser tests (each one
    starts from "Siap": see ``app``), stopped after the last of them."""
    require_browser()
    workdir = tmp_path_factory.mktemp("browser-sqlite")
    app = start_app(workdir, sqlite_env(workdir))
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def mysql_app(tmp_path: Path) -> Iterator[App]:
    """The program on a MariaDB database of its own (created here, dropped after)."""
    require_browser()
    name = new_mysql_database()
    try:
        app = start_app(tmp_path, mysql_settings() | {"DB_DATABASE": name})
        try:
            yield app
        finally:
            app.stop()
    finally:
        drop_mysql_database(name)


def _ready(app: App) -> App:
    app.simulator(latency=LATENCY, fail_rate=0.0)
    app.settle()
    return app


@pytest.fixture
def app(sqlite_app: App) -> Iterator[App]:
    """The shared SQLite app, idle ("Siap") with the default simulator options."""
    yield _ready(sqlite_app)
    sqlite_app.simulator(latency=LATENCY, fail_rate=0.0)


@pytest.fixture(params=["sqlite", "mysql"])
def any_app(request: pytest.FixtureRequest) -> App:
    """The main flow runs on both databases."""
    if request.param == "sqlite":
        return _ready(request.getfixturevalue("sqlite_app"))
    return _ready(request.getfixturevalue("mysql_app"))


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


class Pages:
    """Opens pages and collects what must never happen on them."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """A console error this test expects (e.g. the 409 answer's resource line)."""
        self.allowed.append(re.compile(pattern))

    def _problem(self, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.problems.append(text)

    def watch(self, page: Page) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type in ("error", "assert"):
                source = message.location.get("url") or page.url
                self._problem(f"console {message.type} ({source}): {message.text}")

        def on_error(error: Exception) -> None:
            self._problem(f"uncaught exception on {page.url}: {error}")

        def on_response(response: Response) -> None:
            if response.status >= 500:
                self._problem(f"HTTP {response.status} for {response.url}")

        async def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type} on {page.url}: {dialog.message}")
            await dialog.dismiss()

        page.on("console", on_console)
        page.on("pageerror", on_error)
        page.on("response", on_response)
        page.on("dialog", on_dialog)
        return page

    async def context(self, **options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = await self.browser.new_context(**options)
        context.set_default_timeout(20_000)
        if BLOCK:  # a check of the checks: the tests must fail without, e.g., sync.js
            await context.route(BLOCK, lambda route: route.abort())
        self.contexts.append(context)
        return context

    async def new(self, context: BrowserContext | None = None, **options: Any) -> Page:
        """A new watched tab (in a new browser context unless one is given)."""
        context = context or await self.context(**options)
        return self.watch(await context.new_page())

    async def login(
        self,
        app: App,
        user: str = ADMIN,
        *,
        context: BrowserContext | None = None,
        **options: Any,
    ) -> Page:
        """A tab logged in through the login form, on the page login lands on."""
        page = await self.new(context, **options)
        await page.goto(app.url + "/login")
        await page.fill("#username", user)
        await page.fill("#password", PASSWORD)
        async with page.expect_navigation():
            await page.click("form[action='/login'] button[type=submit]")
        assert page.url.split("?")[0].endswith(SYNC), page.url
        return page

    def check(self) -> None:
        assert not self.dialogs, f"browser dialogs appeared: {self.dialogs}"
        assert not self.problems, "\n".join(self.problems)

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def pages(browser: Browser) -> AsyncIterator[Pages]:
    opened = Pages(browser)
    try:
        yield opened
        await asyncio.sleep(0.1)  # late console lines of the last step
        opened.check()
    finally:
        await opened.close()
