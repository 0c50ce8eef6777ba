"""``python -m beatpass_catalog`` runs the service; with arguments, the operator CLI."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
