"""``PAYMENT_SOURCE=simulator``: the built-in simulator, started in this process, read
through an `HttpSource`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .http import HttpSource

if TYPE_CHECKING:
    from ...simulator import Simulator


class SimulatorSource(HttpSource):
    """An `HttpSource` reading the in-process simulator; closing it stops the simulator."""

    def __init__(self, simulator: Simulator, **options: Any) -> None:
        super().__init__(simulator.payments_url, **options)
        self.simulator = simulator

    def describe(self) -> str:
        opts = self.simulator.options
        return f"simulator {self.url_template} (seed {opts.seed}, {opts.shape} answers)"

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.simulator.close()
