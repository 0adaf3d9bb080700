"""forcegate's security warning (a dangerous option was switched on, STYLE principle 9), and the one
comparison of a configured secret (the metrics and introspection tokens).

Options that weaken a check carry a ``dangerously_`` name and warn with this category when used, so a
deployment can turn exactly these into errors (``warnings.simplefilter("error",
ForcegateSecurityWarning)``) without touching other warnings.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["ForcegateSecurityWarning", "secret_matches"]


class ForcegateSecurityWarning(UserWarning):
    """A ``dangerously_`` option is in use; the message says which and what it gives up."""


def secret_matches(sent: str | None, expected: str) -> bool:
    """Whether ``sent`` is the configured secret ``expected``, in constant time whatever was sent:
    digests of equal length are compared, so neither the length nor a prefix of the secret leaks."""
    given = b"" if sent is None else sent.encode("utf-8")
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected.encode("utf-8")).digest())
