"""A client nobody here wrote (issue #6, item 7): schemathesis against the live server.

The program runs as a school runs it (``tests/browser/helpers.App``: a simulator,
``siswa:import``, ``user:create``, ``token:create``, ``run.py serve --workers 8``, each a
process of its own, on SQLite and on MariaDB). Schemathesis reads ``/openapi.json`` from
that server and, with the API token, calls every operation with inputs it generates
(valid ones, invalid ones, edge cases of the schemas, methods the document does not
name) and checks every answer: no 5xx, a documented status, the documented content type
and body schema, invalid input refused, valid input accepted, 405 with ``Allow``.

Valid input may still be refused when the state says so: 400 (nothing to do: no student
in the scope, no failed student), 404 (no such run) and 409 (a run is active, none is).
Those are documented answers of each operation, and accepted as such.

Examples per operation: a few in CI, many more with ``SYNCPAY_LONG=1``. The regressions
schemathesis found are pinned down by the small tests at the end (in-process server).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from syncpay.web.openapi import document
from tests.browser.helpers import (
    App,
    base_env,
    drop_mysql_database,
    http,
    mysql_settings,
    new_mysql_database,
    sqlite_env,
)
from tests.reliability.conftest import scale
from tests.reliability.loadgen import log_problems
from tests.web.conftest import WebHarness, web  # noqa: F401  (the fixture, used below)

EXAMPLES = scale(8, 150)
STUDENTS = 200
SYNCED = 20
#: Answers a schema-valid request may get because of the state, not the input.
STATE_REFUSALS = ["2xx", "400", "401", "403", "404", "409"]


@pytest.fixture(scope="module", params=["sqlite", "mysql"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The program on a fresh database of its own, for every operation's test."""
    workdir = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    name = new_mysql_database() if request.param == "mysql" else None
    database = sqlite_env(workdir) if name is None else mysql_settings() | {"DB_DATABASE": name}
    app = App(workdir, base_env(workdir, database), STUDENTS, hostile=False)
    try:
        app.start(latency=0.0)
        _sync_some(app)
        yield app
    finally:
        app.stop()
        if name is not None:
            drop_mysql_database(name)


def _sync_some(app: App) -> None:
    """Some students synced, the rest never: the student routes answer both kinds (totals,
    payment items by period, and nulls), and the path's student has items."""
    ids = [s["idperson"] for s in app.roster[:SYNCED]]
    status, body = app.api("POST", "/admin/sync-pembayaran/start", {"idperson": ids})
    assert status == 200, body
    deadline = time.monotonic() + 60
    while app.progress(body["run_id"])["status"] == "running":
        assert time.monotonic() < deadline, app.logs()
        time.sleep(0.1)
    status, detail = app.api("GET", f"/admin/siswa/{ids[0]}")
    assert status == 200 and detail["data"]["groups"], detail


@pytest.fixture(scope="module")
def api(live: App) -> Any:
    """The live server's own /openapi.json, as schemathesis loads it."""
    config = SchemathesisConfig.from_dict(
        {
            "base-url": live.url,
            "headers": {"Authorization": f"Bearer {live.token}"},
            # A student that exists, so that "sync now" reaches its logic, not only 404.
            # The run that synced them (the database's first), for its list of changes.
            "parameters": {"path.idperson": live.roster[0]["idperson"], "path.run_id": 1},
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "checks": {"positive_data_acceptance": {"expected-statuses": STATE_REFUSALS}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api")


@pytest.mark.slow
@schema.parametrize()
def test_every_operation_answers_as_documented(case: Any) -> None:
    case.call_and_validate()


@pytest.fixture(scope="module")
def api_officer(live: App) -> Any:
    """The same document, called as a scoped petugas (issue #15) through a token bound
    to them: their scope is the path student's unit, so "sync now" and the student's page
    reach their logic; everything else answers their documented 403/404. Fewer examples:
    the inputs are the same, only the rights differ."""
    unit = live.roster[0]["UnitFormal"]
    live.cli("user:create", "petugas-unit", "--unit", unit, stdin="rahasia-123\n")
    token = live.cli("-q", "token:create", "petugas-unit", "--user", "petugas-unit").strip()
    config = SchemathesisConfig.from_dict(
        {
            "base-url": live.url,
            "headers": {"Authorization": f"Bearer {token}"},
            "parameters": {"path.idperson": live.roster[0]["idperson"], "path.run_id": 1},
            "generation": {"max-examples": max(2, EXAMPLES // 4), "database": "none"},
            "checks": {"positive_data_acceptance": {"expected-statuses": STATE_REFUSALS}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)


officer_schema = schemathesis.pytest.from_fixture("api_officer")


@pytest.mark.slow
@officer_schema.parametrize()
def test_every_operation_answers_as_documented_to_a_scoped_officer(case: Any) -> None:
    case.call_and_validate()


@pytest.mark.slow
def test_the_served_document_is_the_code_and_nothing_went_wrong(live: App) -> None:
    """After schemathesis (the same module's server): the document served is the one the
    code builds, and the server logged no error (every answer was a deliberate one)."""
    status, served = http("GET", f"{live.url}/openapi.json")
    assert status == 200
    assert served == document()
    logs = "\n".join(
        p.read_text(errors="replace")
        for p in (live.workdir / "syncpay.log", live.workdir / "serve.err")
        if p.exists()
    )
    assert log_problems(logs) == []


# --- what schemathesis found, pinned down ----------------------------------------------------


@pytest.fixture
def harness(web: WebHarness) -> WebHarness:  # noqa: F811  (tests/web's fixture)
    """The app in-process on a test server (tests/web/conftest.py), SQLite and MariaDB."""
    return web


async def _token_client(harness: WebHarness) -> tuple[Any, dict[str, str]]:
    await harness.serve(workers=0)
    token = await harness.token("schemathesis")
    return harness.browser().client, {"Authorization": f"Bearer {token}"}


async def test_a_method_the_address_does_not_take_is_405_with_allow(harness: WebHarness) -> None:
    """RFC 9110: a 405 names the methods in ``Allow`` (the error middleware dropped it)."""
    client, auth = await _token_client(harness)
    for method, path, allowed in (
        ("TRACE", "/healthz", {"GET", "HEAD"}),
        ("PUT", "/admin/sync-pembayaran/start", {"POST"}),
        ("DELETE", "/admin/sync-pembayaran/progress", {"GET", "HEAD"}),
    ):
        response = await client.request(method, path, headers=auth)
        assert response.status == 405, (method, path)
        assert set(response.headers.get("Allow", "").split(",")) == allowed, (method, path)
        assert (await response.json())["status"] is False
    # A page (HTML) too.
    browser = await harness.user("admin405")
    response = await browser.client.request(
        "PATCH", "/admin/siswa", headers={"X-CSRF-TOKEN": browser.csrf}
    )
    assert response.status == 405
    assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}


async def test_a_body_that_is_not_the_form_it_claims_is_400_not_500(harness: WebHarness) -> None:
    """``multipart/form-data`` without a boundary (or a broken part, an unknown charset)
    crashed the form reader: 500 and a traceback. Now 400."""
    client, auth = await _token_client(harness)
    bodies = (
        ("multipart/form-data", b'{"run_id": 1}'),
        ("multipart/form-data; boundary=xx", b"no boundary here"),
        ("multipart/form-data; boundary=xx", b"--xx\r\ngarbage\r\n\r\nv\r\n--xx--\r\n"),
        ("application/x-www-form-urlencoded; charset=nope", b"run_id=1"),
    )
    for path in ("/admin/sync-pembayaran/start", "/admin/sync-pembayaran/cancel"):
        for content_type, body in bodies:
            response = await client.post(
                path, data=body, headers=auth | {"Content-Type": content_type}
            )
            assert response.status == 400, (path, content_type, await response.text())
            assert (await response.json())["status"] is False
    # The same through a session, where the CSRF check reads the form first, and on login.
    browser = await harness.user("admin400")
    for path in ("/admin/sync-pembayaran/reset", "/login"):
        response = await browser.client.post(
            path,
            data=b"x",
            headers={"Content-Type": "multipart/form-data", "Accept": "application/json"},
        )
        assert response.status == 400, (path, await response.text())


async def test_a_repeated_query_number_counts_its_last_value(harness: WebHarness) -> None:
    """``?limit=&limit=x`` was read as "no limit" (the first, empty value): 200 for a
    request that says something invalid. The last value counts, as on the student list."""
    client, auth = await _token_client(harness)
    response = await client.get("/admin/sync-pembayaran/runs?limit=&limit=x", headers=auth)
    assert response.status == 422
    response = await client.get("/admin/sync-pembayaran/runs?limit=x&limit=5", headers=auth)
    assert response.status == 200
    response = await client.get("/admin/sync-pembayaran/runs?limit=", headers=auth)
    assert response.status == 200


def test_the_document_states_the_limits_the_routes_enforce() -> None:
    """The bounds schemathesis tripped over are in the document (and come from the code)."""
    from syncpay.web.routes import sync_input as sync

    paths = document()["paths"]
    runs_limit = paths["/admin/sync-pembayaran/runs"]["get"]["parameters"][0]["schema"]
    assert runs_limit["maximum"] == sync.MAX_RUNS
    parameters = paths["/admin/sync-pembayaran/progress"]["get"]["parameters"]
    progress = {p["name"]: p["schema"] for p in parameters}
    assert progress["after_log"]["maximum"] == progress["run_id"]["maximum"] == sync.MAX_NUMBER
    failed = {p["name"] for p in paths["/admin/sync-pembayaran/failed"]["get"]["parameters"]}
    assert failed == {"run_id", "limit", "offset"}
    from syncpay.web.routes.laporan import MAX_UNIT as REPORT_UNIT

    for path in ("/admin/laporan", "/admin/laporan/export.csv"):
        report = {p["name"]: p["schema"] for p in paths[path]["get"]["parameters"]}
        assert report["unit"]["maxLength"] == REPORT_UNIT, path


async def test_the_student_export_takes_what_the_document_says(harness: WebHarness) -> None:
    """``GET /admin/siswa/export.csv``: the separators the document offers are the
    writer's; an empty ``sep`` is not given (as a form sends it), another one is a 422
    in JSON; the 200 is ``text/csv`` as documented."""
    from syncpay.web.export import SEPARATORS

    operation = document()["paths"]["/admin/siswa/export.csv"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert parameters["sep"]["enum"] == list(SEPARATORS)
    assert list(operation["responses"]["200"]["content"]) == ["text/csv"]
    client, auth = await _token_client(harness)
    await harness.students(2)
    for query, status, content_type in (
        ("", 200, "text/csv"),
        ("?sep=", 200, "text/csv"),
        ("?sep=,&status=", 200, "text/csv"),
        ("?sep=%7C", 422, "application/json"),
        ("?sort=x", 422, "application/json"),
    ):
        response = await client.get(f"/admin/siswa/export.csv{query}", headers=auth)
        assert (response.status, response.content_type) == (status, content_type), query
