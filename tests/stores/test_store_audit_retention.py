"""Contract of the audit log's retention purge (``AuditLog.purge``), on every backend."""

from __future__ import annotations

from forcegate.stores import Stores
from stores.stores_support import NOW, event, run


def test_purge_deletes_only_events_older_than_the_limit(stores: Stores) -> None:
    run(stores.audit.append([event(n) for n in range(10)]))  # at NOW + 0 … NOW + 9
    assert run(stores.audit.purge(NOW + 4)) == 4
    assert sorted(e.at - NOW for e in run(stores.audit.query())) == [4, 5, 6, 7, 8, 9]
    assert run(stores.audit.purge(NOW + 4)) == 0
    assert run(stores.audit.purge(NOW)) == 0
    assert len(run(stores.audit.query())) == 6
