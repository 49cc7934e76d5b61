"""``simulator``: the fake payment API, for demos and tests."""

from __future__ import annotations
