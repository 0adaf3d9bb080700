"""/healthz answers at once and /readyz says "not ready" while another process holds the SQLite lock.

Regression of the penetration test's finding 8 (LOW): /healthz took 25 s and /readyz answered
``database: ok`` after 10 s while another process held a write lock.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import time

import httpx

from server.live import LiveServer


def test_health_while_another_process_holds_the_write_lock(live_server: LiveServer) -> None:
    assert httpx.get(live_server.url + "/readyz").status_code == 200
    holder = sqlite3.connect(live_server.settings.data_dir / "forcegate.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            # Requests that write (each refusal is audited) wait for the lock in the background...
            writers = [
                pool.submit(httpx.post, live_server.url + "/oauth2/token", data={"grant_type": "x"}, timeout=30)
                for _ in range(2)
            ]
            time.sleep(0.2)
            # ...while liveness answers at once and readiness says why it is not ready, in time.
            started = time.monotonic()
            alive = httpx.get(live_server.url + "/healthz")
            alive_after = time.monotonic() - started
            started = time.monotonic()
            ready = httpx.get(live_server.url + "/readyz", timeout=10)
            ready_after = time.monotonic() - started
            assert alive.status_code == 200
            assert alive_after < 0.1
            assert ready.status_code == 503
            assert ready_after < 2
            assert ready.json()["checks"]["database"].startswith("locked: another process has held the write lock")
            holder.execute("COMMIT")
            # Released in time, the waiting writes went through: refused as they deserve, not 503.
            assert [writer.result().status_code for writer in writers] == [400, 400]
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
    assert httpx.get(live_server.url + "/readyz").status_code == 200
