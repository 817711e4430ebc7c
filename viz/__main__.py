"""``python -m viz --help``: see :mod:`viz.cli`."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
