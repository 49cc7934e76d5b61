"""syncpay: keeps every student's payment record in step with the school's finance system.

The library API (see docs/library.md)::

    import syncpay

    async with await syncpay.open() as sp:
        run = await sp.start(kelas="VII A")
        run = await sp.wait(run.id, on_progress=print)
"""

from ._version import __version__
from .config import ConfigError, Settings, load_settings
from .service import SyncPay, open
from .sync.errors import NoStudents, RunConflict, SyncError
from .sync.progress import Progress
from .sync.records import Run
from .sync.scope import Scope

__all__ = [
    "ConfigError",
    "NoStudents",
    "Progress",
    "Run",
    "RunConflict",
    "Scope",
    "Settings",
    "SyncError",
    "SyncPay",
    "__version__",
    "load_settings",
    "open",
]
