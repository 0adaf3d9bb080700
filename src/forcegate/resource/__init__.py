"""Resource-server verification as a library, without a web framework (docs/resource-servers.md).

Two verifiers, one protocol (:class:`Verifier`), one result — the unified
:class:`~forcegate.core.Identity` — and one refusal (:class:`Refusal`), for the Django, DRF and Flask
integrations or any other code to build on:

* :class:`JWKSVerifier` — another service verifies the forcegate service's access tokens with its
  JWKS, fetched over HTTPS and cached (and, optionally, asks its introspection endpoint about
  revocation). Needs ``pip install 'forcegate[resource]'`` (httpx).
* :class:`RegistryVerifier` — an application that shares the service's registry (its SQLite file, or
  its PostgreSQL) verifies every credential in-process — access tokens, Apex JWTs sent directly,
  Canvas sessions — and opens Canvas sessions itself (:meth:`RegistryVerifier.open_canvas_session`),
  with the service's policy and audit log. Base install (``[postgres]``/``[redis]`` for those stores).

Both have a sync API (``verify``: any thread, no event loop needed) and an async one (``averify``:
any event loop). Each verifier owns a private event loop in a daemon thread where its I/O runs
(network fetches, the stores): see :mod:`forcegate.resource._loop`. Build one per process and reuse
it; nothing is opened before the first call, so building it at import time is fine, pre-fork servers
included. ::

    from forcegate.resource import JWKSVerifier, Refusal

    verifier = JWKSVerifier("https://auth.example.com")

    def handle(authorization_header):
        try:
            identity = verifier.verify(authorization_header, scopes=["orders:read"])
        except Refusal as refused:
            return refused.status, dict(refused.headers), refused.body
        return 200, {}, {"org": identity.org_id}
"""

from forcegate.resource._jwks import JWKSVerifier
from forcegate.resource._refusal import Refusal
from forcegate.resource._registry import CanvasSession, RegistryVerifier
from forcegate.resource._verifier import Verifier
from forcegate.service.credentials import SESSION_COOKIE

__all__ = ["SESSION_COOKIE", "CanvasSession", "JWKSVerifier", "Refusal", "RegistryVerifier", "Verifier"]
