"""Jobs every syncpay process knows: a no-op, to check a deployment end to end
(``syncpay queue:push syncpay.noop`` then watch a worker print ``DONE``) and to
measure the queue itself (``bench/``). ``SyncPay`` collects them into its registry."""

from __future__ import annotations

from .jobs import JobContext, job_type


@job_type("syncpay.noop")
async def noop(job: JobContext) -> None:
    """Does nothing, successfully."""
