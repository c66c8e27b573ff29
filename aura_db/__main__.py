"""``python -m aura_db`` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
