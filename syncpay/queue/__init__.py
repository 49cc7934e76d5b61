"""The durable job queue: Laravel's tables and habits, with leases and fences."""

from .failed import FailedJob, FailedJobs, UnknownFailedJob
from .jobs import (
    FailureReason,
    JobContext,
    JobRegistry,
    JobType,
    PermanentFailure,
    RetryLater,
    job_type,
)
from .options import WorkerObserver, WorkerOptions
from .payload import Payload, PayloadError
from .pool import MaxAttemptsExceeded
from .queue import ClaimedJob, Queue, QueueStats
from .runner import JobTimedOut
from .standalone import QueueUrlError, StandaloneQueue, open_queue
from .worker import Worker

__all__ = [
    "ClaimedJob",
    "FailedJob",
    "FailedJobs",
    "FailureReason",
    "JobContext",
    "JobRegistry",
    "JobTimedOut",
    "JobType",
    "MaxAttemptsExceeded",
    "Payload",
    "PayloadError",
    "PermanentFailure",
    "Queue",
    "QueueStats",
    "QueueUrlError",
    "RetryLater",
    "StandaloneQueue",
    "UnknownFailedJob",
    "Worker",
    "WorkerObserver",
    "WorkerOptions",
    "job_type",
    "open_queue",
]
