"""The pages of ``/enroll``: choose where to sign in, upload the certificate, note the enrollment code.

No script, nothing loaded; the one inline style allowed by its hash (as the Canvas pages). Unlike those
they are never framed (``frame-ancestors 'none'``): a subscriber admin enrolls in a top-level window.
Every value shown is HTML-escaped. The code page is the only place the one-time code ever appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from forcegate.server.pages import STYLE_HASH, page
from forcegate.settings import Settings

__all__ = ["code_page", "enroll_headers", "start_page", "upload_page"]


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


def upload_page(org_id: str, username: str, form_token: str) -> str:
    return page(
        "forcegate — upload your certificate",
        f"<h1>Signed in as {escape(username)}</h1><p>Org <code id='org_id'>{escape(org_id)}</code>.</p>"
        "<p>Paste the content of the certificate file (.crt) downloaded from Setup &gt; Certificate and Key "
        "Management: the lines from <code>-----BEGIN CERTIFICATE-----</code> to "
        "<code>-----END CERTIFICATE-----</code>.</p>"
        "<form method='post' action='/enroll/certificate'>"
        f"<input type='hidden' name='form_token' value='{escape(form_token)}'>"
        "<p><textarea name='certificate' rows='14' cols='70' required></textarea></p>"
        "<button type='submit'>Enroll this certificate</button></form>",
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
