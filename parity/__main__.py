"""``python -m parity``: the ``parity`` command where the package is not installed (``PYTHONPATH=.``)."""
import sys

from parity.cli import main

sys.exit(main())
