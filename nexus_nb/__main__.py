"""``python -m nexus_nb``: the ``nexus-nb`` command line."""

from __future__ import annotations

import sys

from nexus_nb.cli import main

sys.exit(main())
