"""RFC 7662 introspection and RFC 7009 revocation of the service's access tokens and Canvas sessions,
independent of HTTP."""

from __future__ import annotations

from typing import Any

from forcegate.core.access_token import VerifiedAccessToken
from forcegate.core.form import required
from forcegate.errors import AuthenticationRequired, NoCredentials, StoreUnavailable, TokenError
from forcegate.service.authentication import AuthenticationService, Form, session_digest
from forcegate.service.credentials import Credentials

__all__ = ["end_session", "introspect", "revoke"]


async def introspect(
    service: AuthenticationService, credentials: Credentials, form: Form, *, endpoint: str, client: str | None
) -> dict[str, Any]:
    """RFC 7662 §2.2: the token's claims when it is live here, else ``{"active": false}`` and nothing more.

    The caller must present ``introspection_token`` (a resource server's credential) or the admin
    token. A store that is down is raised (the answer would be a guess).
    """
    await service.require_admin(
        credentials, endpoint=endpoint, client=client, or_token=service.settings.introspection_token
    )
    token = required(dict(await form()), "token")
    try:
        verified = await service.verify_access_token(token)
    except StoreUnavailable:
        raise
    except TokenError:
        return {"active": False}
    identity = verified.identity
    settings = service.settings
    body: dict[str, Any] = {
        "active": True,
        "token_type": "Bearer",
        "scope": " ".join(sorted(identity.scopes)),
        "client_id": verified.client_id,
        "sub": identity.user_id or identity.org_id,
        "username": identity.username,
        "exp": int(verified.expires_at),
        "iss": settings.public_url,
        "aud": settings.public_url,
        "jti": verified.jti,
        "org_id": identity.org_id,
        "user_id": identity.user_id,
        "instance_url": identity.instance_url,
    }
    return {k: v for k, v in body.items() if v is not None}


async def revoke(
    service: AuthenticationService, credentials: Credentials, form: Form, *, endpoint: str, client: str | None
) -> None:
    """RFC 7009: the admin revokes any token; a holder revokes its own by authenticating with it.

    Access tokens and Canvas sessions both: a session's token is its cookie's value (never a JWT, so
    never a dot in it), which its holder presents as the session cookie. An invalid or unknown token is
    not an error for the admin (§2.2); the revocation is audited.
    """
    caller = credentials.bearer()
    token = required(dict(await form()), "token")
    admin = caller is not None and await service.is_admin(caller)
    if "." not in token:
        await _end_session(service, credentials, token, admin=admin, endpoint=endpoint, client=client)
        return
    if caller is None:
        raise NoCredentials("revocation needs the admin token or the token itself as bearer")
    if not admin and caller != token:
        raise AuthenticationRequired("a holder may revoke only the token it authenticates with")
    verified: VerifiedAccessToken
    try:
        if admin:
            # Only that it is a token of ours (signature, expiry): a token of an org that is disabled
            # or removed right now is still revoked, so re-enabling the org later does not bring it back.
            verified = await service.verify_token_signature(token)
        else:
            # The holder authenticates with the token: it must be live in every respect.
            verified = await service.verify_access_token(token)
    except StoreUnavailable:
        raise
    except TokenError:
        if not admin:
            raise
        return
    await service.stores.tokens.revoke(verified.jti, verified.expires_at)
    await service.audit.write(
        service.audit.event(
            endpoint=endpoint,
            credential="admin" if admin else "access-token",
            org_id=verified.identity.org_id,
            user_id=verified.identity.user_id,
            client=client,
        )
    )


async def end_session(service: AuthenticationService, session_id: str, *, endpoint: str, client: str | None) -> bool:
    """Delete the session ``session_id`` (its holder logs out, or it is revoked); audited. Whether it was live."""
    digest = session_digest(session_id)
    session = await service.stores.sessions.get(digest, now=service.clock.now())
    await service.stores.sessions.delete(digest)
    if session is not None:
        identity = session.identity
        await service.audit.write(
            service.audit.event(
                endpoint=endpoint,
                credential="session",
                org_id=identity.org_id,
                user_id=identity.user_id,
                subject=identity.username,
                issuer=identity.issuer,
                client=client,
            )
        )
    return session is not None


async def _end_session(
    service: AuthenticationService,
    credentials: Credentials,
    session_id: str,
    *,
    admin: bool,
    endpoint: str,
    client: str | None,
) -> None:
    if not admin and credentials.session != session_id:
        if credentials.session is None and credentials.authorization is None:
            raise NoCredentials("revoking a session needs the admin token or that session's cookie")
        raise AuthenticationRequired("a holder may revoke only the session it presents")
    await end_session(service, session_id, endpoint=endpoint, client=client)
