"""The JSON API as an OpenAPI 3.0 document (``GET /openapi.json``, served by
``web/routes/openapi.py``), for scripts and for clients nobody here wrote. A test keeps it in
step with the routes. ``parts.py``: the building blocks (answers, parameters, the small
schemas every route shares); ``schemas.py``: the named schemas; ``document.py``: the
paths, one operation per route."""

from __future__ import annotations

from .document import document

__all__ = ["document"]
