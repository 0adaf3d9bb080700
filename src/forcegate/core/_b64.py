"""Base64 codecs with the exact strictness each format calls for.

JWS (RFC 7515 §2) uses base64url *without* padding, and a verifier must refuse anything else: a
token that decodes the same with extra characters is a different token (signature malleability,
and a replay-cache key that can be varied). Canvas uses standard base64 *with* padding for the
signature, and its payload is decoded leniently because Salesforce's encoders have varied.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["b64_decode_lenient", "b64_encode", "b64url_decode", "b64url_decode_segment", "b64url_encode"]

# A base64url string without padding can never have length % 4 == 1, and its last character
# must not carry set bits beyond the decoded length (RFC 4648 §3.5 canonical encoding).
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_LAST_CHAR_2 = frozenset("AQgw")  # length % 4 == 2: the last char encodes 2 significant bits
_LAST_CHAR_3 = frozenset("AEIMQUYcgkosw048")  # length % 4 == 3: 4 significant bits


def b64url_encode(data: bytes) -> str:
    """RFC 7515 base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_URL_TO_STD = bytes.maketrans(b"-_", b"+/")
_PADDING = ("", "", "==", "=")


def b64url_decode(text: str) -> bytes:
    """Strict RFC 7515 base64url decode: alphabet ``A-Za-z0-9-_``, no padding, canonical last char.

    Raises ``ValueError`` on anything else.
    """
    if _B64URL.fullmatch(text) is None:
        raise ValueError("not base64url: character outside the alphabet or padding present")
    return b64url_decode_segment(text)


def b64url_decode_segment(text: str) -> bytes:
    """:func:`b64url_decode` without the regular expression, for the JWS hot path.

    Same acceptance, cheaper: after ``-_`` become ``+/``, ``a2b_base64(strict_mode=True)`` refuses
    every character outside the alphabet, so only the three characters that translation or padding
    would let through (``+``, ``/``, ``=``) need a separate look. ``text`` must be ASCII.
    """
    if "+" in text or "/" in text or "=" in text:
        raise ValueError("not base64url: '+', '/' or padding present")
    rem = len(text) % 4
    if rem == 1:
        raise ValueError("not base64url: impossible length")
    if (rem == 2 and text[-1] not in _LAST_CHAR_2) or (rem == 3 and text[-1] not in _LAST_CHAR_3):
        raise ValueError("not base64url: non-canonical final character")
    # bytes.translate + a2b_base64 is several times faster than base64.urlsafe_b64decode here.
    try:
        return binascii.a2b_base64((text + _PADDING[rem]).encode("ascii").translate(_URL_TO_STD), strict_mode=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64url: {exc}") from None


def b64_encode(data: bytes) -> str:
    """Standard base64 (``+/``) with ``=`` padding, as Canvas signs."""
    return base64.b64encode(data).decode("ascii")


def b64_decode_lenient(text: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not, ignoring surrounding whitespace.

    Raises ``ValueError`` when the text is not base64 in either alphabet.
    """
    cleaned = text.strip().rstrip("=")
    if len(cleaned) % 4 == 1:
        raise ValueError("not base64: impossible length")
    try:
        data = (cleaned + _PADDING[len(cleaned) % 4]).encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("not base64: non-ASCII character") from None
    try:
        # strict_mode refuses any character outside the (translated) alphabet, like
        # b64decode(validate=True) but without its per-call regular expression.
        return binascii.a2b_base64(data.translate(_URL_TO_STD), strict_mode=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None
