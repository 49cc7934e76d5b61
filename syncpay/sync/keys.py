"""The sync's job names and the unique keys its jobs carry in the queue.

A student is queued once however many active runs cover it: its job's ``unique_key`` is
:func:`student_key` (``siswa:<idperson>``), and :func:`idperson_of_key` reads the
student back from a queued job's key."""

from __future__ import annotations

DISPATCH_JOB = "sync.dispatch"
STUDENT_JOB = "sync.student"
#: What a student job's unique key starts with (the dispatcher builds keys in SQL).
STUDENT_KEY_PREFIX = "siswa:"


def student_key(idperson: str) -> str:
    return STUDENT_KEY_PREFIX + idperson


def idperson_of_key(key: str) -> str | None:
    """The student of a :func:`student_key` (None: not a student job's key)."""
    if not key.startswith(STUDENT_KEY_PREFIX):
        return None
    return key[len(STUDENT_KEY_PREFIX) :]


def dispatch_key(run_id: int) -> str:
    return f"dispatch:{run_id}"
