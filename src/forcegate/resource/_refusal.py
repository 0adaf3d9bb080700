"""The one exception a resource verifier raises: a refusal, ready for any framework to render."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from forcegate.errors import ForcegateError
from forcegate.service.refusals import Edge, refusal_parts

__all__ = ["Refusal", "refusal"]


class Refusal(Exception):
    """A request refused by a :mod:`forcegate.resource` verifier, with everything an adapter answers with.

    ``error`` is the :class:`~forcegate.errors.ForcegateError` behind it (also ``__cause__``): its
    ``code`` and ``reason`` are for the application's log. What the caller is told follows RFC 6750 §3
    and decision 0005, as the service's own ``/api/v1/me`` does:

    * ``status`` — 401 (no, or a refused, credential), 400 (a malformed ``Authorization`` header), 403
      (a missing scope), 429 (rate limited), 503 (the store or the service's JWKS/introspection is
      unreachable), 500 (a configuration fault);
    * ``challenge`` — the ``WWW-Authenticate`` value (``Bearer realm="forcegate", error="invalid_token"``),
      None when none is due;
    * ``body`` — the JSON object ``{"error": …}``, with ``error_description`` and ``code`` only when they
      are harmless to tell (the request's own shape, a rate limit) or in development mode;
    * ``headers`` — ``Cache-Control: no-store``, ``Pragma: no-cache``, ``WWW-Authenticate`` and
      ``Retry-After`` when due (lower-case names, no content type: the adapter picks JSON or a page).

    A Canvas login's refusal (:meth:`RegistryVerifier.open_canvas_session`) has no challenge: the
    adapter shows the browser a page with ``status``.
    """

    def __init__(
        self,
        error: ForcegateError,
        *,
        status: int,
        oauth_error: str,
        body: Mapping[str, str],
        challenge: str | None,
        retry_after: int | None,
        headers: tuple[tuple[str, str], ...],
    ) -> None:
        super().__init__(f"{status} {oauth_error} ({error.code}: {error.reason})")
        self.error = error
        self.status = status
        self.oauth_error = oauth_error
        self.body: Mapping[str, str] = body
        self.challenge = challenge
        self.retry_after = retry_after
        self.headers = headers

    @property
    def code(self) -> str:
        """forcegate's stable code of the failed check (``token_expired``, ``insufficient_scope`` …)."""
        return self.error.code

    def json(self) -> bytes:
        """The body, as JSON bytes."""
        return orjson.dumps(dict(self.body))


def refusal(exc: ForcegateError, *, development: bool, canvas: bool = False) -> Refusal:
    """``exc`` as the resource edge (or, ``canvas``, the Canvas edge) of the service answers it."""
    parts = refusal_parts(exc, Edge.CANVAS if canvas else Edge.RESOURCE, development=development)
    answer = Refusal(
        exc,
        status=parts.status,
        oauth_error=parts.error,
        body=parts.body,
        challenge=parts.challenge,
        retry_after=parts.retry_after,
        headers=tuple(parts.headers()),
    )
    answer.__cause__ = exc
    return answer
