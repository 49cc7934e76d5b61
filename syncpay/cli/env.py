"""``env:example``: the example configuration, shipped inside the package (``pip
install`` and ``syncpay.pyz`` have it, not only a source checkout)."""

from __future__ import annotations

import sys
from importlib import resources

from .base import Context, command

#: Package data: a copy of the source tree's ``.env.example`` (a test keeps them equal).
EXAMPLE = "env.example"


def example_text() -> str:
    return (resources.files("syncpay") / EXAMPLE).read_text(encoding="utf-8")


@command(
    "env:example", "print the example configuration: syncpay env:example > .env", needs_db=False
)
async def env_example(ctx: Context) -> int:
    """Print the example configuration, every setting with its default and a line on what
    it means. Start a set-up with `syncpay env:example > .env`, then edit .env (at least
    PAYMENT_API_URL); docs/configuration.md explains each setting."""
    sys.stdout.write(example_text())
    sys.stdout.flush()
    return 0
