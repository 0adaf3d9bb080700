"""Which algorithm should sign the service's access tokens? Sign and verify cost of each candidate.

An access token is signed once (at the token endpoint) and verified on every API call, so verify
cost matters most, then sign. Candidates: ES256 (P-256), EdDSA (Ed25519), RS256 (RSA-2048). Each
operation runs over the same ~600-byte signing input, shaped like a forcegate access token, with
``cryptography`` directly (plus the DER -> R||S conversion ES256 needs for JOSE). Then forcegate's
own :class:`AccessTokenVerifier`: a full verify (cache off), the service's check by signing again
(cache off; decision 0019) and a cache hit.

Interleaved rounds (``_harness.py``); the baseline of each group is its first row.

    .venv/bin/python benchmarks/bench_access_token_alg.py [--seconds 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Contender, print_results, run

from forcegate.clock import FixedClock
from forcegate.core.access_token import AccessTokenIssuer, AccessTokenVerifier
from forcegate.core.identity import Identity

NOW = 1_750_000_000
SERVICE = "https://svc.example.com"
SIGNING_INPUT = b"eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IngifQ." + b"A" * 560


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="approximate measuring time per group")
    args = parser.parse_args()

    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_public = ec_key.public_key()
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_public = ed_key.public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_public = rsa_key.public_key()
    ecdsa, pkcs1, sha256 = ec.ECDSA(hashes.SHA256()), padding.PKCS1v15(), hashes.SHA256()

    def es256_sign() -> bytes:
        r, s = decode_dss_signature(ec_key.sign(SIGNING_INPUT, ecdsa))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    es_signature = es256_sign()
    ed_signature = ed_key.sign(SIGNING_INPUT)
    rsa_signature = rsa_key.sign(SIGNING_INPUT, pkcs1, sha256)

    def es256_verify() -> None:
        r = int.from_bytes(es_signature[:32], "big")
        s = int.from_bytes(es_signature[32:], "big")
        ec_public.verify(encode_dss_signature(r, s), SIGNING_INPUT, ecdsa)

    print_results(
        "sign (one token issued)",
        run(
            [
                Contender("ES256 sign (P-256, DER -> R||S)", es256_sign),
                Contender("EdDSA sign (Ed25519)", lambda: ed_key.sign(SIGNING_INPUT)),
                Contender("RS256 sign (RSA-2048)", lambda: rsa_key.sign(SIGNING_INPUT, pkcs1, sha256)),
            ],
            seconds=args.seconds,
            batch=100,
        ),
    )
    print_results(
        "verify (every API call)",
        run(
            [
                Contender("ES256 verify (R||S -> DER)", es256_verify),
                Contender("EdDSA verify (Ed25519)", lambda: ed_public.verify(ed_signature, SIGNING_INPUT)),
                Contender(
                    "RS256 verify (RSA-2048)", lambda: rsa_public.verify(rsa_signature, SIGNING_INPUT, pkcs1, sha256)
                ),
            ],
            seconds=args.seconds,
        ),
    )

    clock = FixedClock(NOW)
    issuer = AccessTokenIssuer(private_key=ec_key, kid="k1", issuer=SERVICE, audience=SERVICE, clock=clock)
    identity = Identity(
        source="jwt-bearer",
        org_id="00D5g000004ABCDEA4",
        user_id="0055g00000AbCdEAAV",
        username="integration.user@example.com",
        instance_url="https://example.my.salesforce.com",
        parameters={"recordId": "0015g00000XyZabAAF", "mode": "edit"},
        scopes=frozenset({"api"}),
        issuer="00D5g000004ABCDEA4",
    )
    token, _ = issuer.issue(identity, client_id=identity.issuer)
    uncached = AccessTokenVerifier(keys={"k1": ec_public}, issuer=SERVICE, audience=SERVICE, clock=clock, cache_size=0)
    cached = AccessTokenVerifier(keys={"k1": ec_public}, issuer=SERVICE, audience=SERVICE, clock=clock)
    # The service holds the signing key: it signs the token's input again and compares (decision 0019).
    own = AccessTokenVerifier(
        keys={"k1": ec_public}, issuer=SERVICE, audience=SERVICE, clock=clock, cache_size=0, signing_keys={"k1": ec_key}
    )
    print(f"\naccess token: {len(token)} bytes")
    print_results(
        "forcegate access tokens (ES256)",
        run(
            [
                Contender("AccessTokenIssuer.issue", lambda: issuer.issue(identity, client_id=identity.issuer)),
                Contender("AccessTokenVerifier.verify, cache off", lambda: uncached.verify(token)),
                Contender("AccessTokenVerifier.verify, cache off, sign again", lambda: own.verify(token)),
                Contender("AccessTokenVerifier.verify, cache hit", lambda: cached.verify(token)),
            ],
            seconds=args.seconds,
        ),
    )


if __name__ == "__main__":
    main()
