"""One line per request in the log at DEBUG (at WARNING for server errors), so the
progress polling of many open pages does not flood ``LOG_FILE`` at the default level."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        level = logging.WARNING if response.status >= 500 else logging.DEBUG
        if not self.logger.isEnabledFor(level):
            return
        self.logger.log(
            level,
            '%s "%s %s" %d %.1fms',
            request.remote,
            request.method,
            request.path,  # no query string: it may carry search terms or ids
            response.status,
            time * 1000,
        )
