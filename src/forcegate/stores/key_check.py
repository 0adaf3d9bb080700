"""The encryption-key check every backend runs when it opens its database.

The first process to open a database seals a known value with its key into ``store_meta``; every
later one must be able to open it with one of its keys (the box may be a keyring during an encryption
key rotation, and the value may be sealed with any key of it). A process given no key that the secrets
were sealed with is refused at start, rather than on the first request that needs a secret.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from forcegate.errors import ConfigurationError
from forcegate.stores.encryption import SecretBox

__all__ = ["KEY_CHECK_NAME", "ensure_key_check"]

#: The ``store_meta`` row holding the sealed value (and the encryption context binding it there).
KEY_CHECK_NAME = "encryption_key_check"
_PLAINTEXT = b"forcegate"


async def ensure_key_check(
    box: SecretBox,
    *,
    read: Callable[[], Awaitable[str | None]],
    insert: Callable[[str], Awaitable[None]],
    database: str,
) -> None:
    """Seal the check value if the database has none, then check it opens with ``box``.

    ``read`` returns the stored value (None: none yet); ``insert`` stores one unless a value exists
    already (``ON CONFLICT DO NOTHING``): when two processes race, the first one's value stands and
    both check it. ``database`` names the database in the error.
    """
    sealed = await read()
    if sealed is None:
        await insert(box.encrypt(_PLAINTEXT, context=KEY_CHECK_NAME))
        sealed = await read()
    if sealed is None:
        raise ConfigurationError(f"the database {database} failed its encryption key check: no check value")
    try:
        opened = box.decrypt(sealed, context=KEY_CHECK_NAME)
    except ConfigurationError as exc:
        raise ConfigurationError(f"the database {database} failed its encryption key check: {exc.reason}") from None
    # Not a secret (the plaintext is fixed and public): a plain comparison leaks nothing.
    if opened != _PLAINTEXT:
        raise ConfigurationError(f"the database {database} failed its encryption key check")
