"""The small HTML pages of the Canvas path: the default landing page and error pages.

Every value shown comes from a verified signed request, and is still HTML-escaped: custom
parameters are arbitrary JSON an org admin can set.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from html import escape

from forcegate.core.identity import Identity
from forcegate.core.instance_url import parse_instance_domains

__all__ = ["STYLE_HASH", "error_page", "landing_page", "page", "page_headers"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#181818}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
    "pre{background:#f3f3f3;padding:.8rem;overflow:auto}"
)


_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")
#: The CSP hash of the pages' one inline style.
STYLE_HASH = _STYLE_HASH


@functools.lru_cache(maxsize=8)
def page_headers(instance_domains: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """The security headers of every page (``canvas_instance_domains``: where else Salesforce lives).

    The pages run no script and load nothing; the one inline style is allowed by its hash. They are
    shown inside Salesforce's Canvas iframe, so Salesforce's pages (the liveness check's domains)
    may frame them, and no one else: a page of another site cannot overlay them (clickjacking).
    """
    domains = parse_instance_domains(instance_domains)
    ancestors = ["'self'", *(f"https://*.{suffix}" for suffix in domains.suffixes)]
    ancestors += sorted(str(origin) for origin in domains.origins)
    policy = (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {' '.join(ancestors)}"
    )
    return (
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    )


def page(title: str, body: str) -> str:
    """A page: ``body`` is HTML (its values already escaped by the caller), ``title`` text."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


_page = page


def landing_page(identity: Identity) -> str:
    rows = "".join(
        f"<tr><th>{escape(label)}</th><td id='{key}'>{escape('—' if value is None else str(value))}</td></tr>"
        for label, key, value in (
            ("Org", "org_id", identity.org_id),
            ("User", "user_id", identity.user_id),
            ("Username", "username", identity.username),
            ("Instance", "instance_url", identity.instance_url),
            ("Record", "record_id", identity.record_id),
            ("Source", "source", identity.source),
            ("Scopes", "scopes", " ".join(sorted(identity.scopes))),
        )
    )
    parameters = json.dumps(dict(identity.parameters), indent=2, sort_keys=True)
    return _page(
        "forcegate — signed in",
        f"<h1>Signed in through Salesforce</h1><table>{rows}</table>"
        f"<h2>Custom parameters</h2><pre id='parameters'>{escape(parameters)}</pre>",
    )


def error_page(title: str, message: str) -> str:
    return _page(f"forcegate — {title}", f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")
