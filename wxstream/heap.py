"""Keeps the garbage collector off the objects a service builds at start-up."""

from __future__ import annotations

import gc


def freeze_start_up_heap() -> None:
    """Move the objects built at start-up out of the garbage collector's generations.

    The modules, the app, its schemas and its clients live as long as the process, and
    each full collection traversed all of them. Under load full collections come often,
    because one is due as soon as enough objects of requests still in flight have
    survived two younger collections. In ingest at 3,000-5,000 webhooks/s that was about
    one a second, each pausing requests for up to about 45 ms. Frozen objects are never
    traversed.
    """
    gc.collect()
    gc.freeze()
