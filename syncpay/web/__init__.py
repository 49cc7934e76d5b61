"""The web app: pages, the JSON API and live progress, with the worker pool in-process.

from syncpay.web import create_app
web.run_app(create_app(settings, workers=8))
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
