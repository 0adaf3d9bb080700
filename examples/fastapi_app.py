"""An ISV's own FastAPI service protected by forcegate.

Run it (after registering an org with ``forcegate orgs add`` / ``forcegate certs add``)::

    FORCEGATE_DATA_DIR=.forcegate forcegate serve --port 8000   # once, to create the data folder
    FORCEGATE_DATA_DIR=.forcegate uvicorn examples.fastapi_app:app --port 8000

Every route below receives the same :class:`~forcegate.core.Identity` whether Salesforce reached it
through Canvas (the session cookie), an access token from ``/oauth2/token``, or an Apex-signed JWT
sent directly. forcegate's own endpoints (token endpoint, ``/canvas`` …) are mounted last.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from forcegate.core import Identity
from forcegate.server import Forcegate

forcegate = Forcegate()
# The exception handlers make a refusal on these routes answer exactly as forcegate's own API does.
app = FastAPI(title="Acme orders", lifespan=forcegate.lifespan, exception_handlers=dict(forcegate.exception_handlers))


@app.get("/orders")
async def list_orders(identity: Annotated[Identity, Depends(forcegate.require("orders:read"))]) -> dict[str, Any]:
    """Orders of the calling org; the Apex side chose the region in the custom parameters."""
    return {
        "org_id": identity.org_id,
        "user_id": identity.user_id,
        "region": identity.parameters.get("region"),
        "via": identity.source,
        "orders": [],
    }


@app.get("/whoami")
async def whoami(identity: Annotated[Identity, Depends(forcegate.require())]) -> dict[str, Any]:
    return identity.to_dict()


app.mount("/", forcegate.app)
