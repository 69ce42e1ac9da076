"""Keep CPython's cyclic garbage collector off the request path of a loaded pipeline.

A loaded pipeline is millions of long-lived objects (catalog views, vocabularies, models,
profiles), and every request makes about a thousand short-lived ones (candidates, their
predictions, feature rows), which trigger collections. Two things keep those cheap:

- ``gc.freeze()`` once the long-lived objects are loaded: collections stop walking them (a
  full collection over a loaded 10k-user platform cost ~15 ms; without freezing they were a
  third of a request's time, BENCHMARKS.md);
- far fewer *full* collections: after a freeze CPython's rule "collect the oldest generation
  only when it has grown by a quarter" has nothing to compare with (frozen objects are not
  counted), so every tenth second-generation pass became a full one, ~110 times a simulated
  day, 13% of its time. Young garbage is still collected as usual; only objects that outlive
  two generations wait longer.
"""

from __future__ import annotations

import gc

#: Second-generation passes per full collection (CPython's default is 10).
FULL_EVERY = 1000


def freeze_heap(unfreeze: bool = False) -> None:
    """Collect, then freeze every object alive now and make full collections rare.

    Args:
        unfreeze: release an earlier freeze first, so that what was replaced since (a
            pipeline swapped out by a model activation) can be collected.

    """
    if unfreeze:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_EVERY)
