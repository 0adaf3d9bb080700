"""One tenant reaching into another: org A (the attacker here) holds its own key and app X's consumer
secret, and tries to get a token or a session for org B.

App X is bound to org A (Canvas) and is one of org A's issuers (JWT); app Y is bound to org B. Org A's
certificate vouches for org A only; X's secret vouches only for the orgs bound to X.
"""

from __future__ import annotations

from typing import Any

import pytest

from attacks.forge import APP_Y, SECRET_Y, Attack, Build, Forge, der_b64, one_per_code, params, x5t_s256
from attacks.harness import Library, Target
from forcegate.core import ids
from forcegate.core.canvas import CanvasVerifier
from forcegate.core.trust import OrgTrust
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.errors import CanvasSignatureInvalid
from forcegate.service.canvas_trust import canvas_refusal
from forcegate.stores.models import App
from server.live import USER_ID


def _for_b(**header: Any) -> Build:
    """Org A's key signing an assertion whose issuer is org B."""
    return lambda f: f.token(f.claims(iss=f.org_b), header={"alg": "RS256", **header} if header else None)


JWT = [
    Attack(
        "consumer-key-x-naming-org-b",
        lambda f: f.token(f.claims(iss=f.app_x, org_id=f.org_b)),
        "issuer_not_allowed",
    ),
    Attack(
        "consumer-key-x-naming-org-b-15",
        lambda f: f.token(f.claims(iss=f.app_x, org_id=ids.to15(f.org_b))),
        "issuer_not_allowed",
    ),
    Attack(
        "consumer-key-y-naming-org-a",
        lambda f: f.token(f.claims(iss=APP_Y, org_id=f.org_a)),
        "issuer_not_allowed",
    ),
    Attack("org-a-key-signing-for-org-b", _for_b(), "invalid_signature"),
    Attack("org-a-key-signing-for-org-b-15", lambda f: f.token(f.claims(iss=ids.to15(f.org_b))), "invalid_signature"),
    Attack("org-a-key-for-org-b-kid", _for_b(kid="forcegate_cert"), "invalid_signature"),
    Attack(
        "org-a-key-for-org-b-x5c-of-a",
        lambda f: f.token(f.claims(iss=f.org_b), header={"alg": "RS256", "x5c": [der_b64(f.cert_a)]}),
        "invalid_signature",
    ),
    Attack(
        "org-a-key-for-org-b-x5t-of-a",
        lambda f: f.token(f.claims(iss=f.org_b), header={"alg": "RS256", "x5t#S256": x5t_s256(f.cert_a)}),
        "key_not_found",
    ),
    Attack("org-a-naming-org-b-in-org_id", lambda f: f.token(f.claims(org_id=f.org_b)), "invalid_claim"),
    Attack("org-a-asking-for-org-b-scope", lambda f: f.token(f.claims(scope="b-only")), "invalid_scope"),
]


@pytest.mark.parametrize("attack", params(JWT))
def test_jwt_refused_by_the_core(library: Library, attack: Attack) -> None:
    library.refuse(attack.build(library.forge), attack.code)


@pytest.mark.parametrize("attack", params(JWT))
def test_jwt_refused_at_the_token_endpoint(http: Target, attack: Attack) -> None:
    http.refused_at_token_endpoint(attack.build(http.forge), attack.code)


@pytest.mark.parametrize("attack", params(one_per_code(JWT)))
def test_jwt_refused_at_the_api(http: Target, attack: Attack) -> None:
    http.refused_at_api(attack.build(http.forge), attack.code)


def test_the_scope_parameter_cannot_ask_for_another_orgs_scope(http: Target) -> None:
    refusal = http.refused_at_token_endpoint(http.forge.token(), "invalid_scope", scope="b-only")
    assert refusal.response.json()["error"] == "invalid_scope"


# --- Canvas ------------------------------------------------------------------------------------------


def _envelope(forge: Forge, org_id: str, secret: str) -> str:
    return sign_envelope(build_envelope(org_id=org_id, user_id=USER_ID, now=forge.now), secret)


def _recased(org_id: str) -> str:
    """Another org: the 15-character id with the case of its letters flipped (ids are case-sensitive)."""
    base = ids.to15(org_id)
    return base[:3] + base[3:].swapcase()


#: (name, org of the envelope, secret that signs it: "x", "y" or "attacker", path, status, code)
CANVAS = [
    ("x-secret-org-b-shared", "b", "x", "/canvas", 403, "canvas_org_refused"),
    ("x-secret-org-b-at-x", "b", "x", "/canvas/{x}", 403, "canvas_org_refused"),
    ("x-secret-org-b-at-y", "b", "x", "/canvas/{y}", 401, "canvas_signature_invalid"),
    ("x-secret-org-b-15-shared", "b15", "x", "/canvas", 403, "canvas_org_refused"),
    ("x-secret-unregistered-recased-org-a", "recased-a", "x", "/canvas", 403, "canvas_org_refused"),
    ("x-secret-unregistered-recased-org-a-at-x", "recased-a", "x", "/canvas/{x}", 403, "canvas_org_refused"),
    ("y-secret-org-a-shared", "a", "y", "/canvas", 403, "canvas_org_refused"),
    ("y-secret-org-a-at-x", "a", "y", "/canvas/{x}", 401, "canvas_signature_invalid"),
    ("attacker-secret-org-a", "a", "attacker", "/canvas", 401, "canvas_signature_invalid"),
    ("attacker-secret-org-a-at-x", "a", "attacker", "/canvas/{x}", 401, "canvas_signature_invalid"),
    ("x-secret-at-unknown-app", "a", "x", "/canvas/3MVG9_no_such_app", 401, "unknown_app"),
]
ATTACKER_SECRET = "attacker-made-up-secret-0001"


def _org(forge: Forge, which: str) -> str:
    return {
        "a": forge.org_a,
        "b": forge.org_b,
        "b15": ids.to15(forge.org_b),
        "recased-a": _recased(forge.org_a),
    }[which]


def _secret(forge: Forge, which: str) -> str:
    return {"x": forge.secret_x, "y": SECRET_Y, "attacker": ATTACKER_SECRET}[which]


def _path(forge: Forge, template: str) -> str:
    return template.format(x=forge.app_x, y=APP_Y)


@pytest.mark.parametrize(
    ("org", "signer", "path", "status", "code"), [pytest.param(*case[1:], id=case[0]) for case in CANVAS]
)
def test_canvas_refused_over_http(http: Target, org: str, signer: str, path: str, status: int, code: str) -> None:
    forge = http.forge
    signed = _envelope(forge, _org(forge, org), _secret(forge, signer))
    http.refused_at_canvas(signed, code, status=status, path=_path(forge, path))


@pytest.mark.parametrize("org", ["b", "b15", "recased-a"])
def test_x_secret_verifies_but_does_not_vouch_for_another_org(
    library: Library, scene: tuple[Forge, OrgTrust, OrgTrust], org: str
) -> None:
    """The core: X's HMAC holds; the service's rule (canvas_refusal) still refuses the org."""
    forge, org_a, org_b = scene
    request = CanvasVerifier([forge.secret_x]).verify(_envelope(forge, _org(forge, org), forge.secret_x))
    registered = {org_a.org_id: org_a, org_b.org_id: org_b}.get(request.organization_id)
    reason = canvas_refusal(App(consumer_key=forge.app_x, name="X"), registered, request.organization_id)
    assert reason is not None
    assert request.organization_id in reason
    # Bound to org A, X does vouch for org A: the rule refuses the org, not the app.
    assert canvas_refusal(App(consumer_key=forge.app_x, name="X"), org_a, org_a.org_id) is None


@pytest.mark.parametrize(("signer", "verifier_secret"), [("x", "y"), ("y", "x"), ("attacker", "x")])
def test_a_secret_verifies_nothing_for_another_app(library: Library, signer: str, verifier_secret: str) -> None:
    forge = library.forge
    signed = _envelope(forge, forge.org_a, _secret(forge, signer))
    with pytest.raises(CanvasSignatureInvalid) as caught:
        CanvasVerifier([_secret(forge, verifier_secret)]).verify(signed)
    assert caught.value.verified is False
