"""Which orgs a Canvas app's consumer secret vouches for: checked when a session opens and on every use.

Kept apart from :mod:`forcegate.service.canvas` so the session check in
:mod:`forcegate.service.authentication` can use it without importing the login flow.
"""

from __future__ import annotations

from forcegate.core.trust import OrgTrust
from forcegate.stores.models import App

__all__ = ["canvas_refusal"]


def canvas_refusal(app: App, org: OrgTrust | None, org_id: str) -> str | None:
    """Why ``app`` may not open (or keep) a session for ``org_id`` (``org``: its registry entry), or None.

    The rule of the JWT path, applied to Canvas: a consumer secret vouches only for the orgs bound to
    its app — unless the app is ``any_org`` (the weaker legacy model, where the secret alone vouches
    for any org). A registered org must be enabled either way.
    """
    if org is not None and not org.enabled:
        return f"org {org_id} is disabled"
    if app.any_org:
        return None
    if org is None:
        return f"org {org_id} is not registered (app {app.consumer_key})"
    if app.consumer_key not in org.apps:
        return f"org {org_id} does not trust app {app.consumer_key} (bind it: forcegate orgs update {org_id} --app …)"
    return None
