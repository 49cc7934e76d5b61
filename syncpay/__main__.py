"""``python -m syncpay …``: the same program as the ``syncpay`` command."""

import sys

from syncpay.cli import main

if __name__ == "__main__":
    sys.exit(main())
