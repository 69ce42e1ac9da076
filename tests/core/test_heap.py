"""freeze_heap: what is alive is out of the collector's reach, and full collections are rare."""

from __future__ import annotations

import gc
import weakref

from ecorec.core.heap import FULL_EVERY, freeze_heap


class _Node:
    pass


def test_frozen_garbage_waits_for_an_unfreeze_and_full_collections_are_rare():
    saved = gc.get_threshold()
    try:
        node = _Node()
        node.me = node  # a cycle: only the collector can free it
        alive = weakref.ref(node)
        freeze_heap()
        assert gc.get_threshold() == (saved[0], saved[1], FULL_EVERY)
        del node
        gc.collect()
        assert alive() is not None  # frozen: collections no longer walk it
        freeze_heap(unfreeze=True)  # what a model activation does with the old pipeline
        assert alive() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
