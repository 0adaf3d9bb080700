"""A first-in, first-out memo of bounded size: the verified-token cache and the introspection answers."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import TypeVar

__all__ = ["remember"]

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: OrderedDict[K, V], key: K, value: V, capacity: int) -> None:
    """Keep ``value`` under ``key``, first forgetting the oldest entry when ``memo`` holds ``capacity``.

    An ``OrderedDict``, not a ``dict``: a dict used this way gets slow once full, since
    ``next(iter(d))`` walks over every slot deleted at its front until the next resize (6.3 to 6.8 µs
    per insert at 10,000 entries against 0.2 to 0.5 µs here; 8% of an uncached API call: decision 0034).
    """
    if len(memo) >= capacity:
        with contextlib.suppress(KeyError):  # a thread-pool caller emptied it first
            memo.popitem(last=False)
    memo[key] = value
