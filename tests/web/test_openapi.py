"""``GET /openapi.json``: the JSON API as an OpenAPI document, in step with the routes."""

from __future__ import annotations

from syncpay.web.errors import is_json_handler
from syncpay.web.routes.openapi import document
from tests.web.conftest import WebHarness

NOT_HTTP = {"/admin/sync-pembayaran/ws"}  # the WebSocket is not an OpenAPI operation


def _json_operations(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = route.resource.canonical
        if path in NOT_HTTP:
            continue
        if is_json_handler(route.handler) or path == "/healthz":
            found.add((path, route.method.lower()))
    return found


async def test_the_document_names_exactly_the_json_routes(web: WebHarness):
    await web.serve(workers=0)
    served = _json_operations(web.app)
    documented = {(p, m) for p, ops in document()["paths"].items() for m in ops}
    assert served == documented


async def test_served_without_login_and_answers_match_their_schemas(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    anon = web.browser()
    status, spec = await anon.get_json("/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    schemas = spec["components"]["schemas"]
    token = await web.token("openapi")
    client = web.browser().client
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    checks = [
        ("get", "/admin/sync-pembayaran/progress", "Progress", 200),
        ("post", "/admin/sync-pembayaran/start", "Ok", 200),
        ("post", "/admin/sync-pembayaran/start", "Error", 409),
        ("get", "/admin/sync-pembayaran/progress?run_id=x", "Error", 422),
        ("get", "/healthz", "Health", 200),
    ]
    for method, path, schema, expected in checks:
        response = await client.request(
            method, path, headers=auth, json={} if method == "post" else None
        )
        assert response.status == expected, (path, await response.text())
        body = await response.json()
        missing = set(schemas[schema].get("required", [])) - body.keys()
        assert not missing, (path, missing)
        documented = spec["paths"][path.split("?")[0]][method]["responses"]
        assert str(expected) in documented, (path, expected)
