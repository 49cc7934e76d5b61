"""The routes, one module per area; each has a ``routes`` table (``web.RouteTableDef``)."""

from __future__ import annotations

from aiohttp import web

from . import auth, health, laporan, metrics, openapi, siswa, sync, sync_page, users


def tables() -> list[web.RouteTableDef]:
    """Every area's table, in the order the application adds them."""
    areas = (health, auth, sync, sync_page, siswa, laporan, users, metrics, openapi)
    return [area.routes for area in areas]
