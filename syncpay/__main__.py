"""``python -m syncpay …``: the same program as the ``syncpay`` command."""

import sys

try:
    from syncpay.cli import main
except KeyboardInterrupt:  # Ctrl-C while starting up: quiet, like Ctrl-C later
    sys.exit(130)

if __name__ == "__main__":
    sys.exit(main())
