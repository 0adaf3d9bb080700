"""The ``stores`` fixture, parametrized over backends: a new backend is one more entry in ``BACKENDS``.

Every test gets fresh, empty storage. ``backend.open()`` gives further handles on the same data, the
way another worker process or the CLI would see it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from forcegate.stores import Stores
from forcegate.stores.encryption import SecretBox
from forcegate.stores.sqlite import open_sqlite_stores
from stores.stores_support import Backend, run

BACKENDS = ["sqlite"]


def _sqlite(tmp_path: Path) -> Backend:
    box = SecretBox(os.urandom(32))
    path = str(tmp_path / "data" / "forcegate.db")
    return Backend("sqlite", lambda: open_sqlite_stores(path, box=box))


_FACTORIES: dict[str, Callable[[Path], Backend]] = {"sqlite": _sqlite}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    factory: Callable[[Path], Backend] = _FACTORIES[request.param]
    return factory(tmp_path)


@pytest.fixture
def open_stores(backend: Backend) -> Iterator[Callable[[], Stores]]:
    """Open handles on the test's storage; all are closed when the test ends."""
    opened: list[Stores] = []

    def open_() -> Stores:
        handle = run(backend.open())
        opened.append(handle)
        return handle

    yield open_
    for handle in opened:
        run(handle.close())


@pytest.fixture
def stores(open_stores: Callable[[], Stores]) -> Stores:
    return open_stores()
