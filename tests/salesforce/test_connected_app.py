"""Reading Connected App metadata: consumer key, certificate (PEM or bare DER), Canvas settings, and refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from cryptography import x509

from forcegate.errors import ConnectedAppMetadataError, KeyMaterialError
from forcegate.salesforce import load_connected_app, parse_connected_app
from forcegate.salesforce.connected_app import default_app_name
from salesforce.connected_app_samples import CONSUMER_KEY, connected_app_xml, der_base64, pem


def test_a_retrieved_file_with_a_bare_der_certificate(certificate: x509.Certificate) -> None:
    metadata = parse_connected_app(connected_app_xml(certificate=der_base64(certificate)))
    assert metadata.consumer_key == CONSUMER_KEY
    assert metadata.label == "Acme Orders"
    assert metadata.certificate == certificate
    assert metadata.callback_url == "https://forcegate.example.com/oauth/callback"
    assert metadata.has_consumer_secret is False
    canvas = metadata.canvas
    assert canvas is not None
    assert canvas.canvas_url == "https://forcegate.example.com/canvas"
    assert canvas.access_method == "Post"
    assert canvas.signed_request is True
    assert canvas.locations == ("AuraComponent", "Visualforce", "Layout")
    assert canvas.options == ("HideHeader", "PersonalEnabled")
    assert canvas.lifecycle_class == "AcmeCanvasLifecycle"
    assert metadata.certificate_fingerprint is not None
    assert len(metadata.certificate_fingerprint) == 64


def test_pem_and_line_wrapped_der_certificates(certificate: x509.Certificate) -> None:
    assert parse_connected_app(connected_app_xml(certificate=pem(certificate))).certificate == certificate
    wrapped = "\n" + "\n".join(textwrap.wrap(der_base64(certificate), 64)) + "\n"
    assert parse_connected_app(connected_app_xml(certificate=wrapped)).certificate == certificate


def test_no_certificate_and_no_canvas() -> None:
    metadata = parse_connected_app(connected_app_xml(canvas=False))
    assert metadata.certificate is None
    assert metadata.certificate_fingerprint is None
    assert metadata.canvas is None


def test_get_access_method_is_not_a_signed_request() -> None:
    canvas = parse_connected_app(connected_app_xml(access_method="Get")).canvas
    assert canvas is not None
    assert canvas.signed_request is False


def test_a_consumer_secret_in_the_file_is_noted_not_read() -> None:
    metadata = parse_connected_app(connected_app_xml(extra_oauth="\n        <consumerSecret>s3cr3t</consumerSecret>"))
    assert metadata.has_consumer_secret is True
    assert "s3cr3t" not in repr(metadata)


def test_a_file_without_namespace_is_read() -> None:
    data = connected_app_xml().replace(b' xmlns="http://soap.sforce.com/2006/04/metadata"', b"")
    assert parse_connected_app(data).consumer_key == CONSUMER_KEY


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<ConnectedApp><oauthConfig>", "not well-formed"),
        (b"", "not well-formed"),
        (connected_app_xml(consumer_key=None), "consumerKey"),
        (connected_app_xml(consumer_key=""), "consumerKey"),
        (
            b'<?xml version="1.0"?><CustomObject xmlns="http://soap.sforce.com/2006/04/metadata"/>',
            "root element is CustomObject",
        ),
        (
            b'<ConnectedApp xmlns="urn:other"><oauthConfig><consumerKey>k</consumerKey></oauthConfig></ConnectedApp>',
            "root",
        ),
    ],
)
def test_unusable_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ConnectedAppMetadataError, match=message):
        parse_connected_app(data)


def test_entity_expansion_is_refused_before_expanding() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b"<ConnectedApp><label>&lol2;</label></ConnectedApp>"
    )
    with pytest.raises(ConnectedAppMetadataError, match="DTD"):
        parse_connected_app(bomb)


def test_external_entities_are_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<ConnectedApp><oauthConfig><consumerKey>&xxe;</consumerKey></oauthConfig></ConnectedApp>"
    )
    with pytest.raises(ConnectedAppMetadataError, match="DTD"):
        parse_connected_app(xxe)


@pytest.mark.parametrize(
    "text", ["not base64 at all!", "QUJD", "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----"]
)
def test_an_unreadable_certificate_is_key_material_error(text: str) -> None:
    with pytest.raises(KeyMaterialError, match="certificate"):
        parse_connected_app(connected_app_xml(certificate=text))


def test_load_and_default_name(tmp_path: Path) -> None:
    path = tmp_path / "Acme_Orders.connectedApp-meta.xml"
    path.write_bytes(connected_app_xml().replace(b"<label>Acme Orders</label>", b""))
    metadata = load_connected_app(path)
    assert metadata.label is None
    assert default_app_name(path, metadata) == "Acme_Orders"
    path.write_bytes(connected_app_xml())
    assert default_app_name(path, load_connected_app(path)) == "Acme Orders"
