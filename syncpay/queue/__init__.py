"""The durable job queue: Laravel's tables and habits, with leases and fences."""

from . import builtin as _builtin  # noqa: F401  (registers syncpay.noop)
from .failed import FailedJob, FailedJobs, UnknownFailedJob
from .jobs import (
    FailureReason,
    JobContext,
    JobRegistry,
    Payload,
    PayloadError,
    PermanentFailure,
    RetryLater,
    registry,
)
from .queue import ClaimedJob, Queue, QueueStats
from .worker import JobTimedOut, MaxAttemptsExceeded, Worker, WorkerObserver, WorkerOptions

__all__ = [
    "ClaimedJob",
    "FailedJob",
    "FailedJobs",
    "FailureReason",
    "JobContext",
    "JobRegistry",
    "JobTimedOut",
    "MaxAttemptsExceeded",
    "Payload",
    "PayloadError",
    "PermanentFailure",
    "Queue",
    "QueueStats",
    "RetryLater",
    "UnknownFailedJob",
    "Worker",
    "WorkerObserver",
    "WorkerOptions",
    "registry",
]
