"""syncpay's version, on its own so that modules below the package (``metrics``) read it
without importing the package (whose ``__init__`` imports the library API)."""

__version__ = "0.1.0"
