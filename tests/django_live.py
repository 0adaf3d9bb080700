"""Support of the Django and DRF integration tests: the live service they verify against, as the tests use it."""

from __future__ import annotations

from dataclasses import dataclass

import django_support
from forcegate.clock import FixedClock
from forcegate.devtools import build_envelope, sign_envelope
from server.live import CONSUMER_SECRET, RECORD_ID, USER_ID, LiveServer, Org, exchange

SALESFORCE_ORIGIN = "https://example.my.salesforce.com"

django_support.configure()


@dataclass
class Service:
    server: LiveServer
    org: Org
    clock: FixedClock

    def token(self, scope: str | None = None) -> str:
        extra = {} if scope is None else {"scope": scope}
        response = exchange(self.server, self.org.assertion(self.server.settings.token_endpoint), **extra)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def bearer(self, scope: str | None = None) -> str:
        return f"Bearer {self.token(scope)}"

    def apex_jwt(self) -> str:
        """An Apex JWT sent directly (single use), addressed to the service."""
        return f"Bearer {self.org.assertion(self.server.settings.token_endpoint)}"

    def signed_request(self, secret: str = CONSUMER_SECRET) -> str:
        envelope = build_envelope(
            org_id=self.org.org_id,
            user_id=USER_ID,
            user_name="grace@example.com",
            parameters={"region": "APAC"},
            record={"attributes": {"type": "Account", "url": "/x"}, "Id": RECORD_ID[:15]},
        )
        return sign_envelope(envelope, secret)
