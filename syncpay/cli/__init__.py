"""The command line: ``syncpay COMMAND`` (also ``python -m syncpay`` and ``python run.py``).

Commands are artisan-style (``queue:failed``); see ``syncpay --help``.
"""

from .app import build_parser, main
from .output import setup_logging

__all__ = ["build_parser", "main", "setup_logging"]
