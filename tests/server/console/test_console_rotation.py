"""A rotation from the org held for the ISV (``rotation_approval``) in the console: the enrollment
queue shows it as a rotation with the certificate it replaces; approving it trusts the new certificate
and the org page shows the old one retiring."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from forcegate.clock import FixedClock
from forcegate.devtools.setup_page import rotation_form
from helpers import self_signed
from server.console.support import URL, console_app, csrf_of, run, sign_in
from server.live import CERT_NAME, ORG_ID, make_org

NEW_NAME = "forcegate_cert_2027"


def test_a_held_rotation_is_shown_as_one_and_approving_it_starts_the_overlap(
    tmp_path: Path, clock: FixedClock, rsa_key: rsa.RSAPrivateKey, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    org = make_org(ORG_ID, rsa_key, clock)
    start = dt.datetime.fromtimestamp(clock.now(), dt.UTC) - dt.timedelta(days=1)
    org.certificates.add(NEW_NAME, private_key=other_rsa_key, certificate=self_signed(other_rsa_key, start=start))

    async def scenario() -> None:
        async with console_app(tmp_path, clock, rotation_approval=True) as console:
            admin = console.admin_headers()
            assert (await console.client.post("/admin/api/v1/orgs", json={"org_id": ORG_ID}, headers=admin)).is_success
            added = await console.client.post(
                f"/admin/api/v1/orgs/{ORG_ID}/certificates", json={"certificate": org.certificate_pem}, headers=admin
            )
            assert added.status_code == 201, added.text
            form = rotation_form(
                org.certificates, current=CERT_NAME, new=NEW_NAME, org_id=ORG_ID, username="admin@acme.example",
                service_url=URL, clock=clock,
            )  # fmt: skip
            held = await console.client.post("/enroll/rotate", data=form)
            assert held.status_code == 200, held.text
            assert held.json()["state"] == "pending_approval"
            await console.add_operator()
            await sign_in(console.client)
            queue = await console.client.get("/console/enrollments")
            assert "Rotation from the org" in queue.text
            enrollment_id = held.json()["enrollment_id"]
            approved = await console.client.post(
                f"/console/enrollments/{enrollment_id}/approve", data={"csrf": csrf_of(queue.text)}
            )
            assert approved.status_code == 303, approved.text
            page = await console.client.get(f"/console/orgs/{ORG_ID}")
            assert "retiring" in page.text
            listed = await console.client.get(f"/admin/api/v1/orgs/{ORG_ID}/certificates", headers=admin)
            retiring = [c for c in listed.json() if c["retire_at"] is not None]
            assert len(retiring) == 1
            assert retiring[0]["state"] == "active"
            assert retiring[0]["sha256_fingerprint"][:16] in queue.text  # the queue named it

    run(scenario)
