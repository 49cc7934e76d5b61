"""``GET /openapi.json``: the JSON API's OpenAPI 3.0 document (built in ``web/openapi/``)."""

from __future__ import annotations

from aiohttp import web

from ..auth import public
from ..openapi import document

routes = web.RouteTableDef()


@routes.get("/openapi.json")
@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(), headers={"Cache-Control": "public, max-age=300"})
