"""``python -m troupe``: the same as the ``troupe`` command."""

import sys

from troupe.cli import entry_point as main

sys.exit(main())
