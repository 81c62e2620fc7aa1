"""``python -m parity.cli``: the same command line as ``python -m parity`` and ``parity``."""
import sys

from parity.cli import main

sys.exit(main())
