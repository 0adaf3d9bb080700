"""An ISV's own Flask application protected by forcegate (docs/flask.md).

Install the ``flask`` extra, then point the app at the forcegate service in one of two ways::

    pip install -e '.[flask]'

    # The service runs elsewhere: verify its access tokens with its published keys (JWKS).
    FLASK_FORCEGATE='{"JWKS": {"issuer": "https://auth.example.com"}}' flask --app examples/flask_app.py run

    # On the service's host, sharing its registry: access tokens, Apex JWTs sent directly, and Canvas.
    FLASK_FORCEGATE='{"REGISTRY": {"data_dir": ".forcegate"}}' flask --app examples/flask_app.py run

``flask`` finds :func:`create_app`, which reads every ``FLASK_*`` variable into ``app.config``
(``from_prefixed_env``; the value is JSON). With ``REGISTRY`` the app takes Canvas too: Salesforce POSTs
the signed request to ``/canvas`` (the Connected App's Canvas App URL), the app opens a forcegate session
and shows ``/app``. For Apex to send its JWTs straight to this app, add the app's URL to the audiences:
``{"REGISTRY": {"data_dir": ".forcegate", "extra_audiences": ["https://app.example.com"]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template_string, url_for

from forcegate.integrations.flask import Forcegate
from forcegate.resource import RegistryVerifier

forcegate = Forcegate()
views = Blueprint("acme", __name__)

LANDING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme orders</title></head><body>
<h1>Acme orders</h1>
<p>Signed in through Salesforce as <b id="user">{{ identity.username or identity.user_id }}</b>
of org <b id="org">{{ identity.org_id }}</b> ({{ identity.source }}).</p>
<p>Region: <span id="region">{{ identity.parameters.get("region", "—") }}</span></p>
{% if logout %}<form method="post" action="{{ logout }}"><button>Sign out</button></form>{% endif %}
</body></html>
"""


@views.get("/orders")
@forcegate.required(scopes=["orders:read"])
def list_orders() -> dict[str, Any]:
    """Orders of the calling org; the Apex side chose the region in the custom parameters."""
    identity = g.forcegate
    return {
        "org_id": identity.org_id,
        "user_id": identity.user_id,
        "region": identity.parameters.get("region"),
        "via": identity.source,
        "orders": [],
    }


@views.get("/whoami")
@forcegate.required
def whoami() -> dict[str, Any]:
    return dict(g.forcegate.to_dict())


@views.get("/app")
@forcegate.required(page=True)
def landing() -> str:
    """Where a Canvas login lands: a page for the user in Salesforce's iframe (escaped by the template)."""
    logout = url_for("forcegate_canvas.logout") if "forcegate_canvas" in current_app.blueprints else None
    return render_template_string(LANDING, identity=g.forcegate, logout=logout)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application: ``FLASK_*`` variables, then ``config``, say which verifier (``FORCEGATE``)."""
    app = Flask(__name__)
    app.config.from_prefixed_env()
    app.config.update(config or {})
    forcegate.init_app(app)
    app.register_blueprint(views)
    if isinstance(forcegate.get_verifier(app), RegistryVerifier):  # Canvas sessions live in the registry
        app.register_blueprint(forcegate.canvas_blueprint(landing="acme.landing"))
    return app
