"""Reading a Connected App's metadata file (``<name>.connectedApp-meta.xml``).

Metadata API Developer Guide, "ConnectedApp": the root element is ``ConnectedApp`` in the namespace
``http://soap.sforce.com/2006/04/metadata``; ``oauthConfig`` (ConnectedAppOauthConfig) holds
``consumerKey``, ``certificate`` and ``callbackUrl``; ``canvasConfig`` (ConnectedAppCanvasConfig)
holds ``canvasUrl``, ``accessMethod`` (``Get`` = OAuth Webflow, ``Post`` = Signed Request),
``locations`` and ``options`` (both repeated elements) and ``lifecycleClass``. ``label`` names the
app. A retrieved file never holds the consumer secret; the certificate is written as PEM or as bare
base64 of the DER, which this module reads either way.

The XML is parsed with the standard library after a first pass that refuses any document type
declaration (and so any entity declaration): a metadata file has no DTD, and refusing it closes
entity-expansion and external-entity attacks without a further dependency (what ``defusedxml``
would add on top of expat's own amplification limits is exactly this refusal).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from xml.parsers import expat

from cryptography import x509

from forcegate.errors import ConnectedAppMetadataError, KeyMaterialError
from forcegate.keys._util import load_certificate
from forcegate.keys.describe import sha256_fingerprint

__all__ = [
    "METADATA_NAMESPACE",
    "CanvasConfig",
    "ConnectedAppMetadata",
    "api_name",
    "default_app_name",
    "load_connected_app",
    "parse_connected_app",
]

METADATA_NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
MAX_METADATA_BYTES = 1024 * 1024
_SUFFIX = ".connectedApp-meta.xml"


@dataclass(frozen=True, slots=True)
class CanvasConfig:
    """``canvasConfig``: where and how Salesforce opens the Canvas app."""

    canvas_url: str | None
    access_method: str | None
    locations: tuple[str, ...]
    options: tuple[str, ...]
    lifecycle_class: str | None

    @property
    def signed_request(self) -> bool:
        """Whether Salesforce POSTs a signed request (``accessMethod`` ``Post``), which forcegate needs."""
        return (self.access_method or "").lower() == "post"


@dataclass(frozen=True, slots=True)
class ConnectedAppMetadata:
    """What forcegate uses from a Connected App's metadata; never a secret."""

    consumer_key: str
    label: str | None
    certificate: x509.Certificate | None
    canvas: CanvasConfig | None
    callback_url: str | None
    #: The file carried an ``oauthConfig/consumerSecret`` (possible in hand-written files, never in
    #: retrieved ones). Its value is not read: the secret is given to forcegate separately.
    has_consumer_secret: bool = False

    @property
    def certificate_fingerprint(self) -> str | None:
        """Lowercase hex SHA-256 of the certificate's DER, as the registry writes it."""
        if self.certificate is None:
            return None
        return sha256_fingerprint(self.certificate)


def _refuse(reason: str) -> NoReturn:
    raise ConnectedAppMetadataError(reason)


def _refuse_doctype(*_: object) -> None:
    _refuse("the file has a document type declaration (DTD); Connected App metadata has none")


def _check_no_dtd(data: bytes) -> None:
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = _refuse_doctype
    scanner.EntityDeclHandler = _refuse_doctype
    try:
        scanner.Parse(data, True)
    except expat.ExpatError as exc:
        _refuse(f"not well-formed XML: {expat.errors.messages[exc.code]} (line {exc.lineno})")


def _local(tag: str) -> tuple[str, str]:
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, name


def _text(parent: ET.Element, name: str, namespace: str) -> str | None:
    element = parent.find(f"{{{namespace}}}{name}" if namespace else name)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _texts(parent: ET.Element, name: str, namespace: str) -> tuple[str, ...]:
    found = parent.findall(f"{{{namespace}}}{name}" if namespace else name)
    return tuple(text for element in found if element.text and (text := element.text.strip()))


def _certificate(text: str) -> x509.Certificate:
    # load_certificate vets what it loads (a positive serial, names that parse) as every other
    # certificate reader does, raising KeyMaterialError for what forcegate refuses.
    try:
        if "-----BEGIN" in text:
            return load_certificate(text.encode("ascii"), pem=True)
        # Salesforce writes the DER as bare base64, possibly wrapped over several lines.
        der = base64.b64decode("".join(text.split()), validate=True)
        return load_certificate(der)
    except (ValueError, binascii.Error, UnicodeEncodeError, x509.InvalidVersion):
        raise KeyMaterialError("oauthConfig/certificate is neither a PEM certificate nor base64 of a DER one") from None


def parse_connected_app(data: bytes) -> ConnectedAppMetadata:
    """Parse the bytes of a ``.connectedApp-meta.xml`` file.

    Raises :class:`~forcegate.errors.ConnectedAppMetadataError` for a file that is not well-formed
    XML, has a DTD, has another root element or lacks ``oauthConfig/consumerKey``, and
    :class:`~forcegate.errors.KeyMaterialError` for an unreadable ``oauthConfig/certificate``.
    """
    if len(data) > MAX_METADATA_BYTES:
        _refuse(f"the file is larger than {MAX_METADATA_BYTES} bytes")
    _check_no_dtd(data)
    root = ET.fromstring(data)  # noqa: S314 - well-formed and free of DTDs and entities (checked above)
    namespace, name = _local(root.tag)
    if name != "ConnectedApp" or namespace not in (METADATA_NAMESPACE, ""):
        shown = f"{name} (namespace {namespace})" if namespace else name
        _refuse(f"the root element is {shown}, not ConnectedApp: is this a .connectedApp-meta.xml file?")
    oauth = root.find(f"{{{namespace}}}oauthConfig" if namespace else "oauthConfig")
    consumer_key = _text(oauth, "consumerKey", namespace) if oauth is not None else None
    if consumer_key is None:
        _refuse("no oauthConfig/consumerKey: enable OAuth settings on the Connected App and retrieve it again")
    certificate_text = _text(oauth, "certificate", namespace) if oauth is not None else None
    canvas_element = root.find(f"{{{namespace}}}canvasConfig" if namespace else "canvasConfig")
    canvas = None
    if canvas_element is not None:
        canvas = CanvasConfig(
            canvas_url=_text(canvas_element, "canvasUrl", namespace),
            access_method=_text(canvas_element, "accessMethod", namespace),
            locations=_texts(canvas_element, "locations", namespace),
            options=_texts(canvas_element, "options", namespace),
            lifecycle_class=_text(canvas_element, "lifecycleClass", namespace),
        )
    return ConnectedAppMetadata(
        consumer_key=consumer_key,
        label=_text(root, "label", namespace),
        certificate=_certificate(certificate_text) if certificate_text else None,
        canvas=canvas,
        callback_url=_text(oauth, "callbackUrl", namespace) if oauth is not None else None,
        has_consumer_secret=oauth is not None
        and oauth.find(f"{{{namespace}}}consumerSecret" if namespace else "consumerSecret") is not None,
    )


def load_connected_app(path: Path) -> ConnectedAppMetadata:
    """Read and parse the metadata file at ``path`` (``OSError`` propagates to the caller)."""
    with path.open("rb") as file:
        data = file.read(MAX_METADATA_BYTES + 1)
    return parse_connected_app(data)


def default_app_name(path: Path, metadata: ConnectedAppMetadata) -> str:
    """The metadata's ``label``, else the API name from the file name (``Acme.connectedApp-meta.xml``)."""
    if metadata.label:
        return metadata.label
    return api_name(path)


def api_name(path: Path) -> str:
    """The Connected App's API (developer) name: its metadata file's name (``Acme.connectedApp-meta.xml``)."""
    name = path.name
    return name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else path.stem
