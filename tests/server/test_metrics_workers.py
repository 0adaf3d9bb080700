"""``forcegate serve --workers 2``: any worker answers a scrape with every worker's counts.

Each scrape reaches one worker; on its own, each would report only its own requests. Requests are
sent on fresh connections until both workers have served some (each worker writes its values to its
own file in ``PROMETHEUS_MULTIPROC_DIR`` every second), then every scrape must report them all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from private_servers import free_port
from server.serve_process import ServeProcess


def healthz_count(url: str) -> float:
    # A new connection each time: a kept-alive one would stay with one worker.
    response = httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10)
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "forcegate_http_requests_total" and sample.labels["endpoint"] == "/healthz":
                return sample.value
    return 0.0


def served_healthz(folder: Path) -> dict[str, float]:
    """Each worker's /healthz requests, from the file it writes (``forcegate_metrics_<pid>.json``)."""
    found = {}
    for path in folder.glob("forcegate_metrics_*.json"):
        snapshot = json.loads(path.read_bytes())
        found[path.stem] = sum(
            value for labels, value in snapshot["forcegate_http_requests"] if labels[0] == "/healthz"
        )
    return found


def test_every_scrape_reports_every_workers_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    # An earlier run's file: forcegate serve empties the operator's folder of them first, else its
    # counts would be added to this run's.
    stale = {"forcegate_http_requests": [[["/healthz", "GET", "200"], 1000.0]]}
    (folder / "forcegate_metrics_1.json").write_text(json.dumps(stale))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    port = free_port()
    server = ServeProcess(None, tmp_path / "data", port=port, public_url=f"http://127.0.0.1:{port}", workers=2)
    try:
        assert "forcegate_metrics_1" not in served_healthz(folder)
        sent = 0
        deadline = time.monotonic() + 30
        while sum(1 for count in served_healthz(folder).values() if count) < 2:
            assert time.monotonic() < deadline, f"one worker served all {sent} requests"
            for _ in range(20):
                response = httpx.get(server.url + "/healthz", headers={"connection": "close"}, timeout=10)
                assert response.status_code == 200
                sent += 1
            time.sleep(1.2)  # each worker writes its file every second
        time.sleep(1.2)  # the last requests' counts written too
        counts = {healthz_count(server.url) for _ in range(12)}
        # ServeProcess's own readiness probes were /readyz, not /healthz: exactly what was sent here.
        assert counts == {float(sent)}
    finally:
        server.stop()
