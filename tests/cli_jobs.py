"""Jobs for the command-line tests: `syncpay work --import tests.cli_jobs`."""

from __future__ import annotations

import asyncio

from syncpay.queue import JobContext, job_type


@job_type("cli.noop")
async def noop(job: JobContext) -> None:
    """Does nothing; sleeps `data["sleep"]` seconds when given."""
    await asyncio.sleep(float(job.data.get("sleep", 0)))


@job_type("cli.boom")
async def boom(job: JobContext) -> None:
    """Always fails."""
    raise RuntimeError(job.data.get("message", "boom"))
