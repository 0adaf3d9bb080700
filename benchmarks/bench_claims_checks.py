"""What refusing duplicate members and >64-bit integers costs a JWT verify, against plain orjson.

Both contenders are the same ``JWTVerifier.verify`` of one Apex-shaped RS256 token; they differ in
the claims parser only: forcegate's ``loads_claims`` (``loads_unique``: orjson, then its own
serialisation compared with the input) or plain ``orjson.loads`` (which keeps the last of two equal
names and reads an integer beyond 64 bits as a float). Rounds alternate the order; the figure is
the median of per-round ratios. Claims are measured compact (as Apex's ``Auth.JWT.toJSONString()``
writes them) and with spaces (the count-based path).

    .venv/bin/python benchmarks/bench_claims_checks.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson
from bench_jwt import AUDIENCE, ORG_ID
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import forcegate.core.jwt as jwt_module
from forcegate.core._b64 import b64url_encode
from forcegate.core.jwt import JWTPolicy, JWTVerifier
from forcegate.core.trusted_key import TrustedKey


def _plain(data: bytes) -> dict[str, Any]:
    value = orjson.loads(data)
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def main(rounds: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {
        "iss": ORG_ID, "sub": "integration.user@example.com", "aud": AUDIENCE, "exp": now + 300, "nbf": now,
        "org_id": ORG_ID, "user_id": "0055g00000AbCdEAAV", "instance_url": "https://example.my.salesforce.com",
        "params": {"recordId": "0015g00000XyZabAAF", "mode": "edit"},
    }  # fmt: skip
    verifier = JWTVerifier(
        policy=JWTPolicy(audiences=frozenset({AUDIENCE}), issuers=frozenset({ORG_ID})),
        keys=[TrustedKey(key.public_key(), label="bench")],
    )
    namespace = vars(jwt_module)  # the name JWTVerifier.verify looks up at each call
    checked: Callable[[bytes], dict[str, Any]] = namespace["loads_claims"]
    forms = {"compact": json.dumps(claims, separators=(",", ":")), "spaced": json.dumps(claims)}
    try:
        for form, text in forms.items():
            signing_input = b64url_encode(b'{"alg":"RS256"}') + "." + b64url_encode(text.encode())
            signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
            token = signing_input + "." + b64url_encode(signature)
            ratios: list[float] = []
            times: dict[str, list[float]] = {"forcegate": [], "plain orjson": []}
            for n in range(rounds):
                order = [("forcegate", checked), ("plain orjson", _plain)]
                for name, parser in order if n % 2 else reversed(order):
                    namespace["loads_claims"] = parser
                    start = time.perf_counter()
                    for _ in range(300):
                        verifier.verify(token)
                    times[name].append((time.perf_counter() - start) / 300 * 1e6)
                ratios.append(times["forcegate"][-1] / times["plain orjson"][-1])
            print(
                f"{form:8} forcegate {statistics.median(times['forcegate']):6.1f} µs, plain orjson "
                f"{statistics.median(times['plain orjson']):6.1f} µs per verify: +"
                f"{(statistics.median(ratios) - 1) * 100:.1f}% (median of {rounds} rounds)"
            )
    finally:
        namespace["loads_claims"] = checked


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    main(parser.parse_args().rounds)
