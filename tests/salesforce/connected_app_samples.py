"""Connected App metadata as ``sf project retrieve start -m ConnectedApp`` writes it, with the certificate varied."""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

CONSUMER_KEY = "3MVG9rZjd7MXFdLhbGk.fXkVjZ3c0mPcRkIxQWXmM4Z2pIuUe_mJ3mQy8pTn3m0l5h6k7s1aB2cD3eF4gH5iJ6k"


def der_base64(certificate: x509.Certificate) -> str:
    """The certificate as Salesforce writes it in metadata: base64 of the DER, no PEM armour."""
    return base64.b64encode(certificate.public_bytes(Encoding.DER)).decode("ascii")


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


def connected_app_xml(
    *,
    certificate: str | None = None,
    access_method: str = "Post",
    consumer_key: str | None = CONSUMER_KEY,
    canvas: bool = True,
    extra_oauth: str = "",
) -> bytes:
    certificate_element = f"\n        <certificate>{certificate}</certificate>" if certificate is not None else ""
    consumer_key_element = f"\n        <consumerKey>{consumer_key}</consumerKey>" if consumer_key is not None else ""
    canvas_element = (
        f"""
    <canvasConfig>
        <accessMethod>{access_method}</accessMethod>
        <canvasUrl>https://forcegate.example.com/canvas</canvasUrl>
        <lifecycleClass>AcmeCanvasLifecycle</lifecycleClass>
        <locations>AuraComponent</locations>
        <locations>Visualforce</locations>
        <locations>Layout</locations>
        <options>HideHeader</options>
        <options>PersonalEnabled</options>
    </canvasConfig>"""
        if canvas
        else ""
    )
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<ConnectedApp xmlns="http://soap.sforce.com/2006/04/metadata">{canvas_element}
    <contactEmail>isv-admin@example.com</contactEmail>
    <description>Acme orders, embedded in Salesforce</description>
    <label>Acme Orders</label>
    <oauthConfig>
        <callbackUrl>https://forcegate.example.com/oauth/callback</callbackUrl>{certificate_element}{consumer_key_element}
        <isAdminApproved>true</isAdminApproved>
        <isConsumerSecretOptional>false</isConsumerSecretOptional>
        <isIntrospectAllTokens>false</isIntrospectAllTokens>
        <isSecretRequiredForRefreshToken>true</isSecretRequiredForRefreshToken>
        <scopes>Api</scopes>
        <scopes>Full</scopes>
        <scopes>RefreshToken</scopes>{extra_oauth}
    </oauthConfig>
    <oauthPolicy>
        <ipRelaxation>ENFORCE</ipRelaxation>
        <refreshTokenPolicy>infinite</refreshTokenPolicy>
    </oauthPolicy>
    <profileName>System Administrator</profileName>
</ConnectedApp>
"""
    return text.encode("utf-8")
