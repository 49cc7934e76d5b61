"""The reliability suite (issue #6): fault injection, load and security.

Runnable alone: ``python -m pytest tests/reliability``. CI runs the short version of
every experiment; ``SYNCPAY_LONG=1`` runs the long one (the sizes issue #6 names), and
``python bench/reliability.py`` prints the figures kept in docs/reliability.md.
"""

from __future__ import annotations

import os

import pytest

LONG = os.environ.get("SYNCPAY_LONG", "") not in ("", "0")


def scale(short: int, long: int) -> int:
    """A size for an experiment: ``short`` in CI, ``long`` under SYNCPAY_LONG=1."""
    return long if LONG else short


@pytest.fixture
def long_run() -> bool:
    return LONG
