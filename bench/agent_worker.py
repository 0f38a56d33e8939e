"""``python -m bench.agent_worker MODULE...``: the worker with only some of its agents.

M3 measures the routing agents alone, and M4 measures the sender. In one faust worker
every agent shares one consumer. A sender that cannot deliver stops taking events once
its buffer is full, and that holds up the other agents too. This
entry point runs ``wxstream worker`` with ``processors.app.AGENT_MODULES`` narrowed to
the modules named on the command line.
"""

from __future__ import annotations

import sys

import processors.app
from wxstream.cli import main


def run(modules: list[str]) -> int:
    unknown = sorted(set(modules) - set(processors.app.AGENT_MODULES))
    if not modules or unknown:
        known = ", ".join(processors.app.AGENT_MODULES)
        named = ", ".join(unknown) or "(none given)"
        print(f"unknown agent module(s): {named}; name one or more of: {known}", file=sys.stderr)
        return 2
    processors.app.AGENT_MODULES = tuple(modules)
    return main(["worker"])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
