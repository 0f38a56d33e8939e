"""A local stand-in for the Webex REST API and its webhooks.

The simulator serves the ``/v1`` routes a bot uses (people, rooms, memberships, messages,
webhooks, attachment actions) with Webex's validation rules, sends signed webhook callbacks,
and offers a ``/_sim`` control API to act as users, inspect what happened and inject faults.
Start it with :class:`wxstream.sim.server.SimulatorServer` or ``wxstream sim``.
"""
