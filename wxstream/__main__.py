"""``python -m wxstream`` runs the command line."""

import sys

from wxstream.cli import main

sys.exit(main())
