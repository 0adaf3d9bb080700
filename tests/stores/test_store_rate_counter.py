"""Contract of RateCounter: fixed-window hit counts, atomic across handles, forgotten after the window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from forcegate.errors import ConfigurationError
from forcegate.stores import Stores
from stores.stores_support import NOW, Backend, run

WINDOW = 60
START = NOW - NOW % WINDOW


def hit(stores: Stores, key: str = "assertions:a", start: float = START, *, now: float = START + 1) -> int:
    return run(stores.rates.hit(key, start, WINDOW, now=now))


def test_each_hit_counts_one_more(stores: Stores) -> None:
    assert [hit(stores) for _ in range(5)] == [1, 2, 3, 4, 5]


def test_a_refund_takes_back_one_hit_of_its_window_only(stores: Stores) -> None:
    assert [hit(stores) for _ in range(3)] == [1, 2, 3]
    assert hit(stores, "assertions:b") == 1
    run(stores.rates.refund("assertions:a", START))
    assert hit(stores) == 3  # 3 - 1 + 1
    assert hit(stores, "assertions:b") == 2  # another key untouched


def test_a_refund_never_goes_below_zero_nor_creates_a_counter(stores: Stores) -> None:
    run(stores.rates.refund("assertions:never-hit", START))
    assert hit(stores, "assertions:never-hit") == 1
    run(stores.rates.refund("assertions:never-hit", START))
    run(stores.rates.refund("assertions:never-hit", START))
    assert hit(stores, "assertions:never-hit") == 1


def test_keys_and_windows_count_apart(stores: Stores) -> None:
    assert hit(stores, "assertions:a") == 1
    assert hit(stores, "assertions:a") == 2
    assert hit(stores, "assertions:b") == 1
    # The next window starts from one, and the previous window's count is left as it was.
    assert hit(stores, "assertions:a", START + WINDOW, now=START + WINDOW) == 1
    assert hit(stores, "assertions:a", START, now=START + 2) == 3
    assert hit(stores, "assertions:b", START + WINDOW, now=START + WINDOW) == 1


def test_another_handle_sees_the_same_count(stores: Stores, open_stores: Callable[[], Stores]) -> None:
    assert hit(stores) == 1
    assert hit(open_stores()) == 2
    assert hit(stores) == 3


def test_concurrent_hits_from_two_handles_each_count_once(stores: Stores, open_stores: Callable[[], Stores]) -> None:
    other = open_stores()

    async def hits() -> list[int]:
        handles = (stores, other)
        calls = [handles[n % 2].rates.hit("assertions:race", START, WINDOW, now=START) for n in range(200)]
        return list(await asyncio.gather(*calls))

    counts = run(hits())
    assert sorted(counts) == list(range(1, 201))  # no count given twice, none skipped
    assert hit(stores, "assertions:race") == 201


def test_purge_forgets_windows_that_ended(stores: Stores, backend: Backend) -> None:
    hit(stores, "assertions:a", START - WINDOW, now=START - WINDOW)
    hit(stores, "assertions:a")
    hit(stores, "assertions:a")
    purged = run(stores.rates.purge(START + 1))
    # Redis forgets by TTL: nothing is left for purge() to delete.
    assert purged == (0 if backend.expires_by_itself else 1)
    # The current window is kept ...
    assert hit(stores, "assertions:a") == 3
    # ... and past its end it goes too.
    assert run(stores.rates.purge(START + WINDOW + 1)) == (0 if backend.expires_by_itself else 1)
    if not backend.expires_by_itself:
        assert hit(stores, "assertions:a") == 1


@pytest.mark.parametrize(
    ("key", "start", "seconds"),
    [("", START, WINDOW), ("k", float("nan"), WINDOW), ("k", START, 0), ("k", START, 1.5), ("k", True, WINDOW)],
)
def test_bad_arguments_are_refused(stores: Stores, key: str, start: float, seconds: int) -> None:
    with pytest.raises(ConfigurationError):
        run(stores.rates.hit(key, start, seconds, now=START))
