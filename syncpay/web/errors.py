"""Errors a handler raises to answer the client, and the JSON shape of answers."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """Answer ``{"status": false, "message": …}`` (or an error page) with ``status``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def json_ok(message: str | None = None, status: int = 200, **fields: Any) -> web.Response:
    body: dict[str, Any] = {"status": True}
    if message is not None:
        body["message"] = message
    body.update(fields)
    return web.json_response(body, status=status)


#: Reasons for the statuses the standard library has no phrase for (Laravel's 419).
REASONS = {419: "Page Expired"}


def json_error(status: int, message: str, **fields: Any) -> web.Response:
    return web.json_response(
        {"status": False, "message": message, **fields}, status=status, reason=REASONS.get(status)
    )


def json_route(handler: Any) -> Any:
    """Mark a handler as a JSON API route: its errors (401, 403, 404, 419, 422…) answer
    JSON, never an HTML page or a redirect."""
    handler.__syncpay_json__ = True
    return handler


def is_json_handler(handler: Any) -> bool:
    return bool(getattr(handler, "__syncpay_json__", False))


def json_capable(handler: Any) -> Any:
    """Mark a handler that negotiates: JSON to an API client (a bearer token, or
    ``Accept: application/json``), an HTML page to a browser. Its JSON answers are part of
    the API (``/openapi.json``); unlike :func:`json_route`, browsers still get pages,
    redirects and error pages from it."""
    handler.__syncpay_json_capable__ = True
    return handler


def is_json_capable(handler: Any) -> bool:
    return bool(getattr(handler, "__syncpay_json_capable__", False))
