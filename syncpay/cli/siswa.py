"""``siswa:import``: the student roster from a CSV file or the roster API."""

from __future__ import annotations
