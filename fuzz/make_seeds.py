"""Write the seed corpus of every fuzz target: ``python fuzz/make_seeds.py``.

Seeds are realistic inputs, made the way Salesforce makes them (forcegate.devtools' Canvas signer
and Auth.JWT / Auth.JWS emulation), each prefixed with its target's mode byte (see each target's
docstring). They give the fuzzer a valid starting point behind every check, so its mutations
explore the interesting edges from the inside. Re-running rewrites the same files, but for the
PKCS#12 seed's salt and the access-token seed's jti and ECDSA signature, which are random (tokens
are minted for the targets' fixed clock with their fixed keys); findings live in fuzz/crashes/ and
are never touched here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import sys
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, str(Path(__file__).resolve().parent))  # forcegate_fuzz, beside this file

from forcegate_fuzz import canvas, jwt
from forcegate_fuzz._support import FUZZ_DIR, NOW, org_keys
from forcegate_fuzz.keystore import PASSWORD

from forcegate.clock import FixedClock
from forcegate.core import ids
from forcegate.core.identity import Identity
from forcegate.devtools import AuthJWS, AuthJWT, CertificateAndKeyManagement, build_envelope, sign_envelope
from forcegate.keys import public_jwk, write_jks, write_pkcs12
from forcegate.keys.model import KeyEntry

REPO = FUZZ_DIR.parent
CORPUS = FUZZ_DIR / "corpus"
CANVAS_FIXTURES = REPO / "tests" / "core" / "data"


def _write(target: str, name: str, mode: int | None, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if mode is None else bytes([mode]) + data)


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- canvas ------------------------------------------------------------------------------------------

ORG = ids.to18("00D5g000004ABCD")
USER = ids.to18("0055g00000AbCdE")


def canvas_seeds() -> None:
    envelope = build_envelope(
        org_id=ORG,
        user_id=USER,
        oauth_token="00D5g000004ABCD!AQ0AQFuzzSeedSessionTokenNotARealOne",  # noqa: S106  # a made-up session
        parameters={"region": "EMEA", "view": "open-orders", "limits": [1, 2.5, None, True]},
        record={"Id": "0015g00000XyZabAAB", "attributes": {"type": "Account"}},
        sublocation="S1RecordHome",
        now=NOW,
    )
    _write("canvas", "signed-request-current-secret", 0, sign_envelope(envelope, canvas.CURRENT_SECRET).encode())
    aura = (CANVAS_FIXTURES / "canvas_aura.json").read_bytes().strip()
    page_layout = (CANVAS_FIXTURES / "canvas_pagelayout.json").read_bytes().strip()
    _write(
        "canvas", "signed-request-previous-secret-aura", 0, canvas.sign(base64.b64encode(aura), canvas.PREVIOUS_SECRET)
    )
    _write("canvas", "envelope-built", 1, _compact(envelope))
    _write("canvas", "envelope-aura-traffic", 1, aura)
    _write("canvas", "envelope-page-layout-traffic", 3, page_layout)
    minimal = {"algorithm": "HMACSHA256", "userId": USER[:15], "context": {"organization": {"organizationId": ORG}}}
    _write("canvas", "envelope-minimal", 3, _compact(minimal))
    _write("canvas", "payload-text-urlsafe-unpadded", 2, base64.urlsafe_b64encode(_compact(minimal)).rstrip(b"="))


# --- jwt -----------------------------------------------------------------------------------------------


def _apex_token(**options: object) -> str:
    keys = org_keys()
    certificates = CertificateAndKeyManagement()
    certificates.add("forcegate_cert", private_key=keys.rsa, certificate=keys.rsa_certificate)
    claims = dict(options)
    apex = AuthJWT(
        iss=str(claims.pop("iss", jwt.ORG)), sub=str(claims.pop("sub", jwt.USERNAME)), aud=jwt.AUD, validity_length=300
    )
    apex.set_additional_claims(claims)
    return AuthJWS(apex, "forcegate_cert", certificates=certificates, clock=FixedClock(NOW)).compact_serialization()


def _claims(**extra: object) -> dict[str, object]:
    return {"iss": jwt.ORG, "sub": jwt.USERNAME, "aud": jwt.AUD, "exp": NOW + 300, "nbf": NOW, **extra}


PROFILE = {
    "org_id": jwt.ORG,
    "user_id": USER,
    "instance_url": "https://acme.my.salesforce.com",
    "record_id": "0015g00000XyZab",
    "params": {"region": "EMEA", "lines": [{"sku": "GX-100", "qty": 3}], "beta": True},
    "scope": "api refresh",
}


def jwt_seeds() -> None:
    _write("jwt", "apex-assertion", 0, _apex_token().encode())
    _write("jwt", "apex-assertion-profile", 0, _apex_token(**PROFILE).encode())
    _write("jwt", "consumer-key-assertion", 0, _apex_token(iss=jwt.CONSUMER_KEY, org_id=jwt.ORG).encode())
    _write("jwt", "claims-apex", 1, _compact(_claims()) + b"\x00api")
    _write("jwt", "claims-profile", 1, _compact(_claims(**PROFILE)))
    locked = _claims(iss=jwt.LOCKED_ORG, sub=USER, iat=NOW - 5, exp=NOW + 100)
    _write("jwt", "claims-locked-org-user-id", 1, _compact(locked))
    header = {"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}
    _write("jwt", "header-and-claims-kid", 2, _compact(header) + b"\x00" + _compact(_claims(jti="id-1")) + b"\x00web")
    keys = org_keys()
    ec_der = keys.ec_certificate.public_bytes(serialization.Encoding.DER)
    x5t = base64.urlsafe_b64encode(hashlib.sha256(ec_der).digest()).rstrip(b"=")
    es_header = b'{"alg":"ES256","x5t#S256":"' + x5t + b'"}'
    _write(
        "jwt", "header-and-claims-x5t", 2, es_header + b"\x00" + _compact(_claims(iss=jwt.CONSUMER_KEY, org_id=jwt.ORG))
    )
    _write("jwt", "claims-eddsa", 3, b"\x01" + _compact(_claims(params={"a": {"b": [1, 2, 3]}})))
    # A valid access token of the service, so the raw mode starts inside AccessTokenVerifier too,
    # and its header and claims for the signed mode.
    token = _access_token()
    _write("jwt", "access-token", 0, token.encode())
    header_segment, claims_segment, _ = token.split(".")
    access_header, access_claims = (base64.urlsafe_b64decode(part + "==") for part in (header_segment, claims_segment))
    _write("jwt", "header-and-claims-access-token", 2, access_header + b"\x00" + access_claims)


def _access_token() -> str:
    world = jwt._world()
    identity = Identity(
        source="jwt-bearer",
        org_id=jwt.ORG,
        user_id=USER,
        username=jwt.USERNAME,
        scopes=frozenset({"api"}),
        issuer=jwt.ORG,
    )
    token, _record = world.issuer.issue(identity, client_id=jwt.ORG)
    return token


# --- form ------------------------------------------------------------------------------------------------


def form_seeds() -> None:
    assertion = _apex_token()
    grant = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    _write("form", "token-request-apex", None, f"grant_type={grant}&assertion={assertion}".encode())
    _write("form", "token-request-scope", None, f"assertion={assertion}&grant_type={grant}&scope=api+refresh".encode())
    signed = sign_envelope({"algorithm": "HMACSHA256"}, canvas.CURRENT_SECRET)
    _write("form", "canvas-post", None, ("signed_request=" + urllib.parse.quote(signed, safe="")).encode())
    _write("form", "revocation", None, b"token=abc.def.ghi&token_type_hint=access_token")
    _write("form", "encodings", None, "name=%C3%9Cberpr%C3%BCfung&empty=&plus=a+b%2Bc&ü=✓".encode())


# --- admin_json --------------------------------------------------------------------------------------------


def admin_json_seeds() -> None:
    pem = org_keys().rsa_certificate.public_bytes(serialization.Encoding.PEM).decode()
    bodies: list[tuple[str, int, object]] = [
        ("app", 0, {"consumer_key": jwt.CONSUMER_KEY, "secret": "8203618327490917733", "name": "Order Console"}),
        ("app-any-org", 0, {"consumer_key": "3MVG9_x.y~z-1", "secret": "F" * 64, "any_org": True}),
        ("secret", 1, {"secret": "0123456789abcdef" * 4, "keep_previous": 1}),
        (
            "org",
            2,
            {
                "org_id": "00D5g000004ABCD",
                "name": "Acme",
                "enabled": True,
                "issuers": [jwt.CONSUMER_KEY],
                "subjects": [jwt.USERNAME],
                "scopes": ["api", "refresh"],
                "algorithms": ["RS256", "ES256"],
                "apps": [jwt.CONSUMER_KEY],
                "max_assertion_lifetime": 300,
                "token_lifetime": None,
            },
        ),
        ("org-changes", 3, {"enabled": False, "subjects": None, "name": "Acme (EMEA)"}),
        ("certificate", 4, {"certificate": pem, "label": "forcegate_cert", "shared": False}),
        ("certificate-state", 5, {"state": "retired"}),
    ]
    for name, mode, body in bodies:
        _write("admin_json", name, mode, _compact(body))


# --- keystore ---------------------------------------------------------------------------------------------


def keystore_seeds() -> None:
    keys = org_keys()
    certificate = keys.rsa_certificate
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    der = certificate.public_bytes(serialization.Encoding.DER)
    _write("keystore", "text-pem-certificate", 0, pem)
    _write("keystore", "text-base64-der-metadata", 0, base64.b64encode(der))
    jwk = public_jwk(keys.ec.public_key(), kid="ec-1", alg="ES256", certificate=keys.ec_certificate)
    _write("keystore", "text-jwk-x5c", 0, _compact(jwk))
    _write("keystore", "text-jwks", 0, _compact({"keys": [public_jwk(keys.ed25519.public_key(), kid="ed")]}))
    _write("keystore", "file-der-certificate", 1, der)
    key_pem = keys.rsa.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write("keystore", "file-pem-key-and-certificate", 1, key_pem + pem)
    entry = KeyEntry(
        alias="forcegate_cert",
        kind="private_key",
        source_format="pem",
        certificate=certificate,
        chain=(certificate,),
        private_key=keys.rsa,
        public_key=keys.rsa.public_key(),
    )
    now = dt.datetime.fromtimestamp(NOW, dt.UTC)
    _write("keystore", "file-jks", 2, write_jks([entry], password=PASSWORD, now=now))
    _write("keystore", "file-pkcs12", 2, write_pkcs12(entry, password=PASSWORD))


def main() -> None:
    canvas_seeds()
    jwt_seeds()
    form_seeds()
    admin_json_seeds()
    keystore_seeds()
    for folder in sorted(CORPUS.iterdir()):
        print(f"{folder.relative_to(REPO)}: {len(list(folder.iterdir()))} seeds")


if __name__ == "__main__":
    main()
