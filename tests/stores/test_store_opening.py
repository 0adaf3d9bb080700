"""Opening the stores the settings name: a scale-out backend without its driver names the extra to install."""

from __future__ import annotations

from pathlib import Path

from blocked_imports import run_python

OPEN = """
import asyncio
from forcegate.errors import ConfigurationError
from forcegate.settings import Settings
from forcegate.stores import open_stores
settings = Settings({settings})
try:
    stores = asyncio.run(open_stores(settings))
except ConfigurationError as exc:
    print(exc.reason)
else:
    asyncio.run(stores.close())
    print("opened")
"""
_KEY = 'encryption_key="A" * 43 + "="'


def test_postgresql_without_asyncpg_names_the_postgres_extra() -> None:
    settings = f"database_url='postgresql://127.0.0.1:1/none', {_KEY}"
    done = run_python(OPEN.format(settings=settings), blocked=["asyncpg"])
    assert done.returncode == 0, done.stderr
    assert "pip install 'forcegate[postgres]'" in done.stdout


def test_redis_without_its_client_names_the_redis_extra() -> None:
    settings = f"database_url='postgresql://127.0.0.1:1/none', redis_url='redis://127.0.0.1:1/0', {_KEY}"
    done = run_python(OPEN.format(settings=settings), blocked=["redis"])
    assert done.returncode == 0, done.stderr
    assert "pip install 'forcegate[redis]'" in done.stdout


def test_the_embedded_default_needs_no_driver(tmp_path: Path) -> None:
    code = "from pathlib import Path\n" + OPEN.format(settings=f"data_dir=Path({str(tmp_path)!r})")
    done = run_python(code, blocked=["asyncpg", "redis"])
    assert done.returncode == 0, done.stderr
    assert "opened" in done.stdout
