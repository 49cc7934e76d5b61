"""syncpay: keeps every student's payment record in step with the school's finance system.

The library API::

    import syncpay
    settings = syncpay.load_settings()
"""

from .config import ConfigError, Settings, load_settings

__version__ = "0.1.0"

__all__ = ["ConfigError", "Settings", "__version__", "load_settings"]
