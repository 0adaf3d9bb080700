"""Both verifiers are a Verifier: what a framework adapter is written against (checked by mypy too)."""

from __future__ import annotations

import inspect

from forcegate.resource import JWKSVerifier, RegistryVerifier, Verifier
from forcegate.settings import Settings


def test_both_verifiers_offer_the_protocol_with_the_same_signatures() -> None:
    verifiers: list[Verifier] = [JWKSVerifier("https://auth.example.com"), RegistryVerifier(Settings())]
    for verifier in verifiers:
        for name in ("verify", "averify", "close", "aclose"):
            assert inspect.signature(getattr(verifier, name)) == inspect.signature(
                getattr(Verifier, name).__get__(verifier)
            ), (type(verifier).__name__, name)
        verifier.close()  # nothing was opened: a no-op
