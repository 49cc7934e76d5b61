"""The payment simulator: a real aiohttp server standing in for the school's finance API.

For the demo (``syncpay serve --demo``, ``PAYMENT_SOURCE=simulator``), for
``syncpay simulator`` and for tests: nothing in syncpay is patched to fake an API, the
sync talks HTTP to this server.  Every answer and every fault is a pure function of
(seed, idperson), see `Simulator.answer` and `Simulator.category`.

    async with Simulator(SimulatorOptions(shape="nested", error_rate=0.1)) as sim:
        url = sim.payments_url  # http://127.0.0.1:PORT/payments/{idperson}
"""

from .data import ROSTER_COLUMNS, PaymentItem, demo_students, payment_items, school_year
from .options import CATEGORIES, RATE_FIELDS, SimulatorOptions
from .server import Simulator

__all__ = [
    "CATEGORIES",
    "RATE_FIELDS",
    "ROSTER_COLUMNS",
    "PaymentItem",
    "Simulator",
    "SimulatorOptions",
    "demo_students",
    "payment_items",
    "school_year",
]
