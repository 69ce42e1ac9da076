"""A two-community interaction table: the known answer every embedding channel must find."""

from __future__ import annotations

from itertools import combinations

import pyarrow as pa


def block_table(items_per_block: int = 6, per_user: int = 4) -> pa.Table:
    """Users ``a*`` consume only items ``A*``, users ``b*`` only items ``B*``.

    One user per ``per_user``-subset of a block's items (15 users per block by default), so
    within a block every item and every pair of items is equally common: the only structure
    to find is the two communities, and an item of the other block is never a good answer.
    """
    users, items, stamps = [], [], []
    for block in ("a", "b"):
        for u, chosen in enumerate(combinations(range(items_per_block), per_user)):
            for k, i in enumerate(chosen):
                users.append(f"{block}{u}")
                items.append(f"{block.upper()}{i}")
                stamps.append(float(100 * u + k))
    n = len(users)
    return pa.table({"user_id": users, "item_id": items, "rating": [1.0] * n, "timestamp": stamps})


def block_of(item_id: str) -> str:
    return item_id[0]
