"""``python -m microwave``: the ``microwave`` command (:func:`microwave.cli.main`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
