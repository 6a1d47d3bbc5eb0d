"""The garbage collector's settings for long-running processes (web, probe worker).

Both kinds allocate thousands of short-lived objects per unit of work (a
request's rows and response; a poll's ASN.1 values: pysnmp builds ~60 pyasn1
objects per SNMPv3 message), while what they load at start (modules, the app,
MIB tables) lives as long as the process. With Python's defaults the young
generation is collected every 700 allocations, objects of requests still in
flight survive into the old generation, and each full collection then scans
the whole heap: a 3,000-device SNMPv3 worker paid ~80 µs per poll for it.
"""

from __future__ import annotations

import gc

#: Allocations between young-generation collections (Python's default: 700).
GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Once started: collect, move what exists now out of every later
    collection's scan (gc.freeze), and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
