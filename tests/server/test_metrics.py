"""``GET /metrics`` scraped over real HTTP: Prometheus's conventions, and each figure moving as it should."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import forcegate
from forcegate.clock import FixedClock
from forcegate.errors import StoreUnavailable
from forcegate.stores.bundle import Stores
from server.live import CONSUMER_KEY, LiveServer, Org, exchange, get_me, start_server

METRICS_TOKEN = "scraper-token-0123456789"
# Prometheus's naming rules (https://prometheus.io/docs/practices/naming/): the metric name charset,
# lowercase snake case for forcegate's own, base units.
NAME = re.compile(r"[a-z_][a-z0-9_]*")
LABEL = re.compile(r"[a-z_][a-z0-9_]*")


def scrape(server: LiveServer, **headers: str) -> list[Sample]:
    response = httpx.get(server.url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels`` (0 when there is none yet)."""
    found = [s.value for s in samples if s.name == name and _has(s.labels, labels)]
    assert len(found) <= 1, f"{name} {labels} is ambiguous: {found}"
    return found[0] if found else 0.0


def _has(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def test_names_follow_prometheus_conventions(live_server: LiveServer) -> None:
    response = httpx.get(live_server.url + "/metrics", timeout=10)
    families = list(text_string_to_metric_families(response.text))
    ours = [f for f in families if f.name.startswith("forcegate_")]
    expected = {
        "forcegate_http_requests",
        "forcegate_http_request_duration_seconds",
        "forcegate_decisions",
        "forcegate_replay_claims",
        "forcegate_rate_limited",
        "forcegate_store_operation_duration_seconds",
        "forcegate_store_errors",
        "forcegate_build_info",
        "forcegate_registry_readable",
        "forcegate_certificates_expiring",
        "forcegate_notifications",
    }
    assert expected <= {f.name for f in ours}
    for family in families:
        assert NAME.fullmatch(family.name), family.name
        assert family.documentation, f"{family.name} has no HELP"
        for sample in family.samples:
            assert all(LABEL.fullmatch(label) for label in sample.labels), sample
            if family.type == "counter":
                assert sample.name.endswith(("_total", "_created")), sample.name
            if family.type == "histogram":
                # A duration is in seconds, the base unit; a histogram's series are its buckets, sum and count.
                assert family.name.endswith("_seconds"), family.name
                assert sample.name.removeprefix(family.name) in ("_bucket", "_sum", "_count", "_created")
    # The standard process figures of a single-process server are there too.
    assert any(f.name == "process_cpu_seconds" for f in families)


def test_token_requests_decisions_and_replays_are_counted(live_server: LiveServer, registered: Org) -> None:
    before = scrape(live_server)
    assertion = registered.assertion(live_server.token_endpoint)
    first = exchange(live_server, assertion)
    assert first.status_code == 200, first.text
    assert exchange(live_server, assertion).status_code == 400  # the same assertion again: a replay
    assert get_me(live_server.url, first.json()["access_token"]).status_code == 200
    after = scrape(live_server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    token = {"endpoint": "/oauth2/token", "method": "POST"}
    assert delta("forcegate_http_requests_total", status="200", **token) == 1
    assert delta("forcegate_http_requests_total", status="400", **token) == 1
    assert delta("forcegate_http_requests_total", endpoint="/api/v1/me", method="GET", status="200") == 1
    assert delta("forcegate_http_request_duration_seconds_count", endpoint="/oauth2/token") == 2
    assert delta("forcegate_http_request_duration_seconds_sum", endpoint="/oauth2/token") > 0
    granted = {"endpoint": "/oauth2/token", "credential": "jwt-bearer"}
    assert delta("forcegate_decisions_total", result="allowed", code="ok", **granted) == 1
    assert delta("forcegate_decisions_total", result="denied", code="assertion_replayed", **granted) == 1
    assert delta("forcegate_decisions_total", endpoint="/api/v1/me", credential="access-token", result="allowed") == 1
    assert delta("forcegate_replay_claims_total", result="accepted") == 1
    assert delta("forcegate_replay_claims_total", result="replayed") == 1
    # Every store call is timed: the grant's transaction among them.
    grants = [
        s
        for s in after
        if s.name == "forcegate_store_operation_duration_seconds_count" and s.labels["store"] == "grants"
    ]
    assert sum(s.value for s in grants) >= 1
    assert all(s.value == 0 for s in after if s.name == "forcegate_store_errors_total")
    # The scrape itself is a request like any other.
    assert value(after, "forcegate_http_requests_total", endpoint="/metrics", method="GET", status="200") >= 1


def test_labels_are_route_templates_never_the_requested_path(live_server: LiveServer) -> None:
    with live_server.client() as client:
        assert client.get("/no-such-path-7f3a").status_code == 404
        assert client.post(f"/canvas/{CONSUMER_KEY}-unknown", data={"signed_request": "x.y"}).status_code >= 400
        assert client.request("PROPFIND", "/healthz").status_code == 405
    text = httpx.get(live_server.url + "/metrics", timeout=10).text
    for requested in ("no-such-path", "-unknown", "PROPFIND"):
        assert requested not in text
    samples = scrape(live_server)
    assert value(samples, "forcegate_http_requests_total", endpoint="other", method="GET", status="404") == 1
    assert value(samples, "forcegate_http_requests_total", endpoint="/canvas/{consumer_key}", method="POST") == 1
    assert value(samples, "forcegate_http_requests_total", endpoint="/healthz", method="other", status="405") == 1


def test_rate_limited_requests_are_counted_by_limit(tmp_path: Path, clock: FixedClock, org: Org) -> None:
    server = start_server(tmp_path / "data", clock=clock, token_rate_limit=1)
    try:
        with server.admin() as admin:
            assert admin.post("/admin/api/v1/orgs", json={"org_id": org.org_id}).status_code == 201
            assert (
                admin.post(
                    f"/admin/api/v1/orgs/{org.org_id}/certificates", json={"certificate": org.certificate_pem}
                ).status_code
                == 201
            )
        assert exchange(server, org.assertion(server.token_endpoint)).status_code == 200
        assert exchange(server, org.assertion(server.token_endpoint)).status_code == 429
        samples = scrape(server)
        assert value(samples, "forcegate_rate_limited_total", limit="assertions") == 1
        assert value(samples, "forcegate_rate_limited_total", limit="failures") == 0
        assert value(samples, "forcegate_decisions_total", code="rate_limited", result="denied") == 1
    finally:
        server.stop()


def test_certificates_close_to_expiry_are_gauged(live_server: LiveServer, registered: Org) -> None:
    days_left = (registered.certificate.not_valid_after_utc.timestamp() - live_server.clock.now()) / 86_400
    samples = scrape(live_server)
    for within in (0, 7, 30, 90):
        expected = 1 if days_left < within else 0
        assert value(samples, "forcegate_certificates_expiring", within_days=str(within)) == expected, within
    assert value(samples, "forcegate_registry_readable") == 1
    assert value(samples, "forcegate_build_info", version=forcegate.__version__) == 1
    # Disabled orgs' certificates verify nothing, so they are not counted.
    with live_server.admin() as admin:
        assert admin.patch(f"/admin/api/v1/orgs/{registered.org_id}", json={"enabled": False}).status_code == 200
    live_server.clock.advance(400 * 86_400)  # expired, if it still counted
    assert value(scrape(live_server), "forcegate_certificates_expiring", within_days="0") == 0


class _FailingTrust:
    """A trust store whose expiry query fails as a database that went away does; the rest works."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    async def certificates_expiring(self, before: object) -> list[int]:
        raise StoreUnavailable("the database went away")

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@pytest.fixture
def failing_trust(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    import dataclasses

    def wrap(stores: Stores) -> Stores:
        return dataclasses.replace(stores, trust=_FailingTrust(stores.trust))  # type: ignore[arg-type]

    server = start_server(tmp_path / "data", clock=clock, wrap_stores=wrap)
    try:
        yield server
    finally:
        server.stop()


def test_a_store_failure_is_counted_and_the_scrape_still_answers(failing_trust: LiveServer) -> None:
    first = scrape(failing_trust)
    assert value(first, "forcegate_registry_readable") == 0  # the registry's figures are left out …
    assert not [s for s in first if s.name == "forcegate_certificates_expiring"]
    # … the process's own are there, and the failed call is counted, by this scrape already.
    assert value(first, "forcegate_http_requests_total", endpoint="/metrics") == 0  # counted once answered
    assert value(first, "forcegate_store_errors_total", store="trust", operation="certificates_expiring") == 1
    second = scrape(failing_trust)
    assert value(second, "forcegate_store_errors_total", store="trust", operation="certificates_expiring") == 2
    assert value(second, "forcegate_http_requests_total", endpoint="/metrics", status="200") == 1


@pytest.fixture
def protected(tmp_path: Path, clock: FixedClock) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "data", clock=clock, metrics_token=METRICS_TOKEN)
    try:
        yield server
    finally:
        server.stop()


def test_a_metrics_token_is_required_when_set(protected: LiveServer) -> None:
    url = protected.url + "/metrics"
    missing = httpx.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(url, headers={"authorization": "Bearer wrong-token-0123456789"}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Basic {METRICS_TOKEN}"}, timeout=10).status_code == 401
    assert httpx.get(url, headers={"authorization": "Bearer a b"}, timeout=10).status_code == 400
    # Not the admin token either: a scraper must not be able to administer, nor the reverse.
    assert httpx.get(url, headers={"authorization": f"Bearer {protected.admin_token}"}, timeout=10).status_code == 401
    right = httpx.get(url, headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert right.status_code == 200
    assert METRICS_TOKEN not in right.text
    assert "forcegate_http_requests_total" in right.text


def test_metrics_can_be_switched_off(tmp_path: Path, clock: FixedClock) -> None:
    server = start_server(tmp_path / "data", clock=clock, metrics=False)
    try:
        with server.client() as client:
            assert client.get("/metrics").status_code == 404
            assert "/metrics" not in client.get("/openapi.json").json()["paths"]
            assert client.get("/readyz").status_code == 200
    finally:
        server.stop()
