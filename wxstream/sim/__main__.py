"""``python -m wxstream.sim [options]`` is ``wxstream sim [options]``."""

from __future__ import annotations

import sys

from wxstream.cli import main

if __name__ == "__main__":
    sys.exit(main(["sim", *sys.argv[1:]]))
