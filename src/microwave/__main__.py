"""``python -m microwave``: the ``microwave`` command (:func:`microwave.cli.main`)."""
import sys

from .cli import main

sys.exit(main())
