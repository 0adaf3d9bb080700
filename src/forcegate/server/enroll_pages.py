"""The pages of ``/enroll``: choose where to sign in, upload the certificate, note the enrollment code.

No script, nothing loaded; the one inline style allowed by its hash (as the Canvas pages). The pages
of the web flow are never framed (``frame-ancestors 'none'``): a subscriber admin enrolls in a
top-level window. Those of ``/enroll/canvas`` live in Salesforce's Canvas iframe, so Salesforce's
pages may frame them and no one else (the Canvas pages' rule, :func:`forcegate.server.pages.page_headers`).
Every value shown is HTML-escaped. The code page is the only place the one-time code ever appears.

**Referrer policy.** ``no-referrer``, except on a page whose form posts back to this service: there
it is ``strict-origin``. Under ``no-referrer`` a browser sends ``Origin: null`` with a form's POST,
even to the page's own origin (Fetch Standard, "append a request `Origin` header"), and the upload
refuses any ``Origin`` but this service's. ``strict-origin`` keeps the real ``Origin`` and sends, to
anyone, at most the origin as ``Referer``: the callback URL's code and state still never leave the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from forcegate.server.pages import STYLE_HASH, page, page_headers
from forcegate.settings import Settings

__all__ = [
    "CERTIFICATE_FILE",
    "canvas_enroll_headers",
    "canvas_upload_page",
    "code_page",
    "enroll_headers",
    "start_page",
    "upload_headers",
    "upload_page",
]

_POSTS_BACK = ("referrer-policy", "strict-origin")


def enroll_headers(settings: Settings) -> list[tuple[str, str]]:
    """Security headers: forms go to this service or (through its redirect) to an allowed login host."""
    targets = ["'self'"]
    for entry in settings.enrollment_login_hosts:
        targets.append(entry if "://" in entry else f"https://{entry}")
    policy = (
        f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; "
        f"form-action {' '.join(targets)}; frame-ancestors 'none'"
    )
    return [
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),  # the callback's URL carries the code and the state
        ("cache-control", "no-store"),
    ]


def upload_headers(settings: Settings) -> list[tuple[str, str]]:
    """:func:`enroll_headers` for the web flow's upload page, whose form posts back (module docstring)."""
    return [_POSTS_BACK if name == "referrer-policy" else (name, value) for name, value in enroll_headers(settings)]


def canvas_enroll_headers(settings: Settings, *, posts_back: bool = False) -> list[tuple[str, str]]:
    """The headers of ``/enroll/canvas``'s pages: framed by Salesforce's pages only, forms to this
    service only; ``posts_back`` for the upload page (module docstring)."""
    headers = list(page_headers(settings.canvas_instance_domains))
    if posts_back:
        headers = [_POSTS_BACK if name == "referrer-policy" else (name, value) for name, value in headers]
    return headers


def start_page(login_hosts: Sequence[str]) -> str:
    exact = [entry for entry in login_hosts if not entry.startswith("*.")]
    links = "".join(f"<li><a href='/enroll?login={escape(host)}'>Sign in at {escape(host)}</a></li>" for host in exact)
    my_domain = ""
    if any(entry.startswith("*.") for entry in login_hosts):
        my_domain = (
            "<form method='get' action='/enroll'><label>Or your My Domain login host: "
            "<input name='login' placeholder='acme.my.salesforce.com' required></label> "
            "<button type='submit'>Sign in</button></form>"
        )
    return page(
        "forcegate — enroll your org",
        "<h1>Enroll your org's certificate</h1>"
        "<p>Sign in with a Salesforce user of your org who holds <b>Customize Application</b> or "
        "<b>Modify All Data</b>. You will then upload the certificate (.crt) you created in "
        "Setup &gt; Certificate and Key Management.</p>"
        f"<ul>{links}</ul>{my_domain}",
    )


#: The upload form's file input: the certificate file (.crt) downloaded from Setup.
CERTIFICATE_FILE = "certificate_file"


def _certificate_fields() -> str:
    return (
        "<p><label for='certificate_file'>The certificate file (.crt) downloaded from Setup &gt; Certificate "
        "and Key Management:</label><br>"
        f"<input type='file' id='certificate_file' name='{CERTIFICATE_FILE}' accept='.crt,.cer,.pem,.der'></p>"
        "<p><label for='certificate'>or paste its content, the lines from "
        "<code>-----BEGIN CERTIFICATE-----</code> to <code>-----END CERTIFICATE-----</code>:</label><br>"
        "<textarea id='certificate' name='certificate' rows='14' cols='70'></textarea></p>"
    )


def upload_page(org_id: str, username: str, form_token: str) -> str:
    return page(
        "forcegate — upload your certificate",
        f"<h1>Signed in as {escape(username)}</h1><p>Org <code id='org_id'>{escape(org_id)}</code>.</p>"
        "<form method='post' action='/enroll/certificate' enctype='multipart/form-data'>"
        f"<input type='hidden' name='form_token' value='{escape(form_token)}'>"
        + _certificate_fields()
        + "<button type='submit'>Enroll this certificate</button></form>",
    )


def canvas_upload_page(org_id: str, username: str, upload_token: str, action: str) -> str:
    """The upload page inside the Canvas app: the form carries the single-use upload token, no cookie."""
    return page(
        "forcegate — upload your certificate",
        f"<h1>Enroll as {escape(username)}</h1><p>Org <code id='org_id'>{escape(org_id)}</code>, "
        "from your Canvas app.</p>"
        "<p>This form works once, for ten minutes.</p>"
        f"<form method='post' action='{escape(action)}' enctype='multipart/form-data'>"
        f"<input type='hidden' name='upload_token' value='{escape(upload_token)}'>"
        + _certificate_fields()
        + "<button type='submit'>Enroll this certificate</button></form>",
    )


def code_page(
    *, enrollment_id: str, org_id: str, code: str, proof_url: str, expires: str, warnings: Sequence[str]
) -> str:
    notes = "".join(f"<li>{escape(warning)}</li>" for warning in warnings)
    return page(
        "forcegate — enrollment started",
        "<h1>Enrollment started</h1>"
        f"<p>Enrollment <code id='enrollment_id'>{escape(enrollment_id)}</code> for org "
        f"<code>{escape(org_id)}</code> waits for your org to prove it holds the certificate's private key.</p>"
        "<p>Your one-time enrollment code (shown once, valid until "
        f"{escape(expires)}):</p><pre id='code'>{escape(code)}</pre>"
        "<p>Paste it into the package's setup page and click <b>Test connection</b>: your org then sends "
        f"<code>{escape(proof_url)}</code> an assertion signed with the certificate, carrying the code in its "
        "<code>enrollment_code</code> claim (<code>iss</code>: your org id; <code>aud</code>: that URL).</p>"
        + (f"<ul>{notes}</ul>" if notes else ""),
    )
