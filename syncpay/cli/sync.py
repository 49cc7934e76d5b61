"""``sync`` and ``sync:*``: start a run and watch it; status, cancel, reset."""

from __future__ import annotations
