"""``GET /openapi.json``: the JSON API as an OpenAPI document, in step with the routes."""

from __future__ import annotations

from typing import Any

import jsonschema

from syncpay.web.errors import is_json_capable, is_json_handler
from syncpay.web.export import is_csv_route
from syncpay.web.openapi import document
from tests.sync_helpers import until
from tests.web.conftest import WebHarness

NOT_HTTP = {"/admin/sync-pembayaran/ws"}  # the WebSocket is not an OpenAPI operation
#: JSON that is not an operation of the API: the document itself, and Prometheus' text
#: behind its own token.
NOT_OPERATIONS = {"/openapi.json", "/metrics"}


def _json_operations(app) -> set[tuple[str, str]]:
    """The operations the document must name: JSON routes, the routes that answer
    JSON to API clients (pages to browsers), and CSV downloads."""
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = route.resource.canonical
        if path in NOT_HTTP:
            continue
        handler = route.handler
        marked = is_json_handler(handler) or is_json_capable(handler) or is_csv_route(handler)
        if marked or path == "/healthz":
            found.add((path, route.method.lower()))
    return found


def _plain(spec: dict[str, Any], schema: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: references inlined, ``nullable`` as null."""
    if isinstance(schema, list):
        return [_plain(spec, s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _plain(spec, spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            out[key] = {name: _plain(spec, s) for name, s in value.items()}
        elif key in ("items", "not", "anyOf", "oneOf", "allOf", "additionalProperties"):
            out[key] = _plain(spec, value)
        elif key != "nullable":
            out[key] = value
    return {"anyOf": [out, {"type": "null"}]} if schema.get("nullable") else out


def _check(spec: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """``body`` is a documented answer of the operation: every required field, every type
    and format, no field the document does not name (where it says so)."""
    responses = spec["paths"][path][method]["responses"]
    assert str(status) in responses, (path, status)
    schema = _plain(spec, responses[str(status)]["content"]["application/json"]["schema"])
    jsonschema.validate(body, schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


async def test_the_document_names_exactly_the_json_routes(web: WebHarness):
    await web.serve(workers=0)
    served = _json_operations(web.app)
    documented = {(p, m) for p, ops in document()["paths"].items() for m in ops}
    assert served == documented


async def test_every_page_that_answers_json_to_a_token_is_documented(web: WebHarness):
    """Behaviour, not markers: every GET address of the app, asked with a bearer token,
    answers JSON only if the document names it (and the markers agree)."""
    await web.serve(workers=0)
    roster = await web.students(2)
    token = await web.token("openapi")
    run = await web.pays[-1].start()  # a run, for the routes of one run
    client = web.browser().client
    documented = {p for p, ops in document()["paths"].items() if "get" in ops}
    marked = {p for p, m in _json_operations(web.app) if m == "get"}
    answered_json = set()
    for route in web.app.router.routes():
        if route.method != "GET" or route.resource is None:
            continue
        path = route.resource.canonical
        if path in NOT_HTTP | NOT_OPERATIONS or path.startswith("/static"):
            continue
        url = path.replace("{idperson}", roster[0]["idperson"]).replace("{secret}", "x" * 20)
        url = url.replace("{run_id}", str(run.id))
        assert "{" not in url, f"fill in the parameter of {path}"
        response = await client.get(
            url, headers={"Authorization": f"Bearer {token}"}, allow_redirects=False
        )
        assert response.status < 500, (path, await response.text())
        if response.status == 200 and response.content_type in ("application/json", "text/csv"):
            answered_json.add(path)
    assert answered_json == documented == marked
    assert {"/admin/siswa", "/admin/siswa/{idperson}"} <= answered_json


async def test_served_without_login_and_answers_match_their_schemas(web: WebHarness):
    await web.serve(workers=0)
    await web.students(3)
    anon = web.browser()
    status, spec = await anon.get_json("/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.")
    assert spec == document()
    token = await web.token("openapi")
    client = web.browser().client
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    checks = [
        ("get", "/admin/sync-pembayaran/progress", 200),
        ("post", "/admin/sync-pembayaran/start", 200),
        ("post", "/admin/sync-pembayaran/start", 409),
        ("get", "/admin/sync-pembayaran/progress?run_id=x", 422),
        ("get", "/healthz", 200),
    ]
    for method, path, expected in checks:
        response = await client.request(
            method, path, headers=auth, json={} if method == "post" else None
        )
        assert response.status == expected, (path, await response.text())
        _check(spec, path.split("?")[0], method, expected, await response.json())


async def test_the_student_routes_answer_as_documented(web: WebHarness):
    """/admin/siswa and /admin/siswa/{idperson} to a bearer token: every answer matches
    its documented schema (fields, types, nulls), synced or not, found or not."""
    await web.serve(workers=2)
    roster = await web.students(3)
    synced, never = roster[0]["idperson"], roster[1]["idperson"]
    sp = web.pays[0]
    run = await sp.start(idpersons=[synced], started_by="test")

    async def done() -> bool:
        return (await sp.progress(run.id)).status != "running"

    await until(done, 30, what="the run's end")
    spec = document()
    token = await web.token("openapi", "petugas")
    client = web.browser().client
    bearer = {"Authorization": f"Bearer {token}"}
    bodies: dict[str, Any] = {}
    checks = [
        ("list", "/admin/siswa", "/admin/siswa", 200, bearer),
        (
            "filtered",
            "/admin/siswa?status=lunas&sort=tunggakan_desc&page=1",
            "/admin/siswa",
            200,
            bearer,
        ),
        ("empty", "/admin/siswa?q=zzzqqq", "/admin/siswa", 200, bearer),
        (
            "detail",
            f"/admin/siswa/{synced}?run_id={run.id}",
            "/admin/siswa/{idperson}",
            200,
            bearer,
        ),
        ("never", f"/admin/siswa/{never.lower()}", "/admin/siswa/{idperson}", 200, bearer),
        ("unknown", "/admin/siswa/9999999999", "/admin/siswa/{idperson}", 404, bearer),
        ("bad shape", "/admin/siswa/no%20such", "/admin/siswa/{idperson}", 404, bearer),
        ("bad page", "/admin/siswa?page=0", "/admin/siswa", 422, bearer),
        ("bad sort", "/admin/siswa?sort=umur", "/admin/siswa", 422, bearer),
        ("bad run", f"/admin/siswa/{synced}?run_id=-1", "/admin/siswa/{idperson}", 422, bearer),
        ("no token", "/admin/siswa", "/admin/siswa", 401, {"Accept": "application/json"}),
        (
            "bad token",
            f"/admin/siswa/{synced}",
            "/admin/siswa/{idperson}",
            401,
            {"Authorization": "Bearer nope"},
        ),
    ]
    for name, url, path, expected, headers in checks:
        response = await client.get(url, headers=headers, allow_redirects=False)
        assert response.status == expected, (name, await response.text())
        assert response.content_type == "application/json", name
        bodies[name] = await response.json()
        _check(spec, path, "get", expected, bodies[name])

    listed = bodies["list"]
    assert sorted(r["idperson"] for r in listed["data"]) == sorted(s["idperson"] for s in roster)
    assert listed["total"] == 3 and listed["has_next"] is False
    assert bodies["empty"]["data"] == [] and bodies["empty"]["total"] == 0
    detail = bodies["detail"]["data"]
    assert detail["idperson"] == synced and detail["status"] in ("lunas", "belum_lunas")
    assert detail["groups"] and detail["groups"][0]["items"]
    assert detail["run"]["run_id"] == run.id and detail["run"]["status"] == "completed"
    unsynced = bodies["never"]["data"]
    assert unsynced["status"] == "belum_sinkron" and unsynced["synced_at"] is None
    assert set(unsynced["totals"].values()) == {None} and "run" not in unsynced


async def test_the_student_routes_enforce_exactly_the_documented_limits(web: WebHarness):
    """Each query parameter of the student routes, at the document's bounds: the last
    value it allows is accepted, the first it does not is refused with 422. (``run_id``
    within bounds names no run here: 404, as documented, not 422.)"""
    await web.serve(workers=0)
    roster = await web.students(2)
    token = await web.token("openapi", "petugas")
    client = web.browser().client
    spec = document()
    idperson = roster[0]["idperson"]
    for path in ("/admin/siswa", "/admin/siswa/{idperson}"):
        parameters = [p for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"]
        assert parameters, path
        for parameter in parameters:
            name, schema = parameter["name"], parameter["schema"]
            if schema["type"] == "integer":
                good = [schema["minimum"], schema["maximum"]]
                bad = [schema["minimum"] - 1, schema["maximum"] + 1, "1.5", "x"]
            elif "enum" in schema:
                good, bad = list(schema["enum"]), ["x", schema["enum"][0] + "x"]
            else:
                good, bad = ["", "x" * schema["maxLength"]], ["x" * (schema["maxLength"] + 1)]
            accepted = 404 if name == "run_id" else 200
            for value, expected in [(v, accepted) for v in good] + [(v, 422) for v in bad]:
                response = await client.get(
                    path.replace("{idperson}", idperson),
                    params={name: str(value)},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status == expected, (path, name, value, await response.text())
                _check(spec, path, "get", expected, await response.json())
