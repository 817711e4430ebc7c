"""``python -m rnn train | sample | demo`` (see :mod:`rnn.cli`)."""
from .cli import main

raise SystemExit(main())
