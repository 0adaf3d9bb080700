"""Throughput of RS256 JWT verification with forcegate's full policy, beside its baselines.

Baseline (measured in the same run, interleaved): one bare RSA-2048 PKCS#1 v1.5 verify with
``cryptography`` — the floor no JWT verifier can beat. Also measured: PyJWT's ``decode`` with the
equivalent checks (algorithm allow-list, audience, issuer, exp/nbf with leeway, required claims).

Targets (issue "forcegate core"): forcegate >= 60% of the bare verify rate and >= 2x PyJWT.

    .venv/bin/python benchmarks/bench_jwt.py [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Contender, print_results, run

from forcegate.core._b64 import b64url_decode, b64url_encode
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trusted_key import TrustedKey

ORG_ID = "00D5g000004ABCDEA4"
AUDIENCE = "https://forcegate.example.com/oauth2/token"


def apex_shaped_token(private_key: rsa.RSAPrivateKey, now: int) -> str:
    """A token shaped like Auth.JWS output: header exactly {"alg":"RS256"}, forcegate claim profile."""
    claims = {
        "iss": ORG_ID,
        "sub": "integration.user@example.com",
        "aud": AUDIENCE,
        "exp": now + 300,
        "nbf": now,
        "org_id": ORG_ID,
        "user_id": "0055g00000AbCdEAAV",
        "instance_url": "https://example.my.salesforce.com",
        "params": {"recordId": "0015g00000XyZabAAF", "mode": "edit"},
    }
    # Compact, as Auth.JWT.toJSONString() writes it (see forcegate.devtools.apex_jwt): no spaces.
    payload = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = b64url_encode(b'{"alg":"RS256"}') + "." + b64url_encode(payload)
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url_encode(signature)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="approximate measuring time")
    args = parser.parse_args()

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_key = private_key.public_key()
    token = apex_shaped_token(private_key, int(time.time()))
    head, payload, sig = token.split(".")
    signing_input = f"{head}.{payload}".encode()
    signature = b64url_decode(sig)

    verifier = JWTVerifier(
        policy=JWTPolicy(audiences=frozenset({AUDIENCE}), issuers=frozenset({ORG_ID})),
        keys=[TrustedKey(public_key, label="bench")],
    )
    verifier.verify(token)  # fail fast if the token would be rejected
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def bare() -> None:
        public_key.verify(signature, signing_input, pkcs1, sha256)

    def pyjwt_decode() -> None:
        pyjwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ORG_ID,
            leeway=60,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )

    results = run(
        [
            Contender("bare RSA-2048 verify (cryptography)", bare),
            Contender("forcegate JWTVerifier.verify (full policy)", lambda: verifier.verify(token)),
            Contender("PyJWT decode (equivalent checks)", pyjwt_decode),
        ],
        seconds=args.seconds,
    )
    print_results("RS256 JWT verification, one core, in-process", results)
    ours, theirs = results[1], results[2]
    vs_pyjwt = ours.ops_per_second / theirs.ops_per_second
    print(f"  forcegate / bare verify: {ours.ratio_to_baseline:.0%} (target >= 60%)")
    print(f"  forcegate / PyJWT:       {vs_pyjwt:.2f}x (target >= 2x)")


if __name__ == "__main__":
    main()
