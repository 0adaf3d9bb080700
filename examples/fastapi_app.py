"""An ISV's own FastAPI service protected by forcegate.

Install the ``fastapi`` extra (FastAPI, uvicorn and forcegate's server), create the store, register
an org (``forcegate orgs add`` / ``forcegate certs add``), and run it::

    pip install -e '.[fastapi]'
    forcegate init --data-dir .forcegate          # prints the admin token once
    FORCEGATE_DATA_DIR=.forcegate FORCEGATE_PORT=8001 python examples/fastapi_app.py

It listens where its settings say (``FORCEGATE_HOST``/``FORCEGATE_PORT``, default 127.0.0.1:8000)
and accepts the audience those settings give (``FORCEGATE_PUBLIC_URL``, by default derived from
host and port: here ``http://127.0.0.1:8001/oauth2/token``), so moving the port moves both. Behind a
proxy, set ``FORCEGATE_PUBLIC_URL`` to the external URL. Run by another server
(``uvicorn examples.fastapi_app:app --port …``), give that server's port in ``FORCEGATE_PORT`` too:
the application cannot see the command line of the process that imports it.

Every route below receives the same :class:`~forcegate.core.Identity` whether Salesforce reached it
through Canvas (the session cookie), an access token from ``/oauth2/token``, or an Apex-signed JWT
sent directly. forcegate's own endpoints (token endpoint, ``/canvas`` …) are mounted last.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI

from forcegate.core import Identity
from forcegate.server import Forcegate
from forcegate.settings import load_settings

# One set of settings decides both where the app listens and which audience it accepts.
settings = load_settings()
forcegate = Forcegate(settings)
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


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port)
