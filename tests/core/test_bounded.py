"""The bounded first-in, first-out memo behind the verified-token cache and the introspection answers."""

from __future__ import annotations

from collections import OrderedDict

from forcegate.core._bounded import remember


def test_the_oldest_entry_goes_first_once_full() -> None:
    memo: OrderedDict[str, int] = OrderedDict()
    for n in range(5):
        remember(memo, f"k{n}", n, 3)
    assert list(memo.items()) == [("k2", 2), ("k3", 3), ("k4", 4)]


def test_a_key_kept_again_keeps_its_place_and_its_new_value() -> None:
    memo: OrderedDict[str, int] = OrderedDict()
    remember(memo, "a", 1, 3)
    remember(memo, "b", 2, 3)
    remember(memo, "a", 3, 3)
    assert list(memo.items()) == [("a", 3), ("b", 2)]


def test_long_use_stays_bounded_and_in_order() -> None:
    memo: OrderedDict[int, int] = OrderedDict()
    for n in range(50_000):
        remember(memo, n, n, 1000)
    assert len(memo) == 1000
    assert next(iter(memo)) == 49_000
