"""Write the Salesforce side of forcegate as an SFDX source fragment, from packaged templates.

Templates live in ``templates/`` laid out as ``force-app/main/default/`` is: ``common/`` for every
package, plus the folder of the callout mode (``apex/`` or ``named-credential/``, decision 0020),
whose files are never also in ``common/``. Placeholders are ``{{NAME}}``; every value is validated
first and then escaped for the file it lands in (an Apex string literal, XML, JavaScript, HTML), so a
value can never change the structure of the code.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from forcegate.errors import ConfigurationError

__all__ = [
    "API_VERSION",
    "CACHE_PARTITION_NAME",
    "CALLOUT_MODES",
    "DEFAULT_CERT_NAME",
    "DEFAULT_ISSUER",
    "ScaffoldPlan",
    "normalise_service_url",
    "plan_scaffold",
    "write_scaffold",
]

# Winter '25: every org Salesforce supports today runs it or later; raise it in the generated
# files when you need a newer feature.
API_VERSION = "62.0"
DEFAULT_CERT_NAME = "forcegate_jwt"
CACHE_PARTITION_NAME = "forcegate"
SOURCE_ROOT = PurePosixPath("force-app/main/default")
#: How the package's Apex reaches the service: ``apex`` signs and exchanges per call (per-call claims);
#: ``named-credential`` lets the platform do it through a Named Credential (decision 0020).
CALLOUT_MODES = ("apex", "named-credential")
#: The External Credential's ``iss`` in the Named Credential mode: one static value for every
#: subscriber org, which the service accepts for an org that lists it (``forcegate orgs update --issuer``).
DEFAULT_ISSUER = "forcegate-package"

# Salesforce developer names (certificate Unique Name, namespace prefix): a letter first, then
# letters, digits and single underscores, not ending in an underscore. Also valid Apex identifiers.
_DEVELOPER_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)")
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
# What a service URL's path may contain: no quotes, spaces, `*/` or percent-escapes to go wrong in
# an Apex literal, a comment or XML, and nothing a real forcegate mount point would need.
_URL_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*/?")
_HOST = re.compile(r"[A-Za-z0-9.-]+")
# A path ending in one of the service's own endpoints (or their folders) is an endpoint URL, not the
# base URL: `…/oauth2/token` would make Apex call `…/oauth2/token/oauth2/token`. A mount prefix
# (`https://app.example/forcegate`, the service embedded under a path) is a base URL and stays.
_ENDPOINT_PATH = re.compile(
    r"(?P<prefix>.*?)(?P<endpoint>/(?:oauth2(?:/[^/]*)?|canvas(?:/.*)?|\.well-known(?:/.*)?|api(?:/v1(?:/me)?)?|admin(?:/.*)?"
    r"|healthz|readyz|openapi\.json))/?",
    re.IGNORECASE,
)
# An issuer is a StringOrURI (RFC 7519 §2) the registry can list: printable, no spaces or quotes.
_ISSUER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}")
# Apex callouts reach only these ports (Apex Developer Guide, "Invoking Callouts Using Apex").
_CALLOUT_PORTS = (80, 443)
_MIN_HIGH_PORT = 1024


@dataclass(frozen=True, slots=True)
class ScaffoldPlan:
    """What ``write_scaffold`` will write: file path (relative to the target folder) -> content."""

    directory: Path
    files: Mapping[PurePosixPath, str]


def _validate_name(value: str, *, what: str, max_length: int) -> str:
    if not _DEVELOPER_NAME.fullmatch(value) or len(value) > max_length:
        raise ConfigurationError(
            f"{what} {value!r} is not a valid Salesforce name: a letter, then letters, digits and single "
            f"underscores, not ending in '_', at most {max_length} characters"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_service_url(url: str) -> tuple[str, str]:
    """Check the service's base URL and return it without a trailing ``/``, and its origin.

    Apex calls ``URL + '/oauth2/token'``, which must equal an audience the service accepts (its
    token endpoint URL, no normalisation: see docs/claim-profile.md), so the URL given here must be
    the service's ``FORCEGATE_PUBLIC_URL``: scheme, host, port, and the path the service is mounted
    under if any. A URL naming one of the service's endpoints (``…/oauth2/token``) is refused.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(f"service URL {url!r} must be an absolute https:// URL")
    host = parts.hostname
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(f"service URL {url!r} must use https (plain http only for localhost/loopback)")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment or "?" in url:
        raise ConfigurationError(f"service URL {url!r} must not carry user info, a query or a fragment")
    if not _HOST.fullmatch(host) and not _is_loopback(host):
        raise ConfigurationError(f"service URL {url!r} has an unusable host name")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"service URL {url!r} has an invalid port") from None
    if port is not None and port not in _CALLOUT_PORTS and port < _MIN_HIGH_PORT:
        raise ConfigurationError(f"service URL {url!r}: Apex callouts reach only ports 80, 443 and 1024 and above")
    if not _URL_PATH.fullmatch(parts.path):
        raise ConfigurationError(f"service URL {url!r}: the path may hold only letters, digits and . _ ~ - /")
    endpoint = _ENDPOINT_PATH.fullmatch(parts.path)
    if endpoint is not None:
        raise ConfigurationError(
            f"service URL {url!r} names the endpoint {endpoint['endpoint']!r}: give the service's base URL "
            f"(FORCEGATE_PUBLIC_URL, here {parts.scheme}://{parts.netloc}{endpoint['prefix']}); "
            "Apex adds /oauth2/token itself"
        )
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    origin = f"{parts.scheme}://{netloc.lower()}"
    return origin + parts.path.rstrip("/"), origin


def _apex_literal(value: str) -> str:
    # Inside '...': a backslash and a quote are the only characters that end or bend the literal;
    # control characters cannot pass validation but are escaped anyway.
    return (
        value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )


def _js_literal(value: str) -> str:
    # json.dumps gives a valid double-quoted JS string; the templates supply the quotes.
    return json.dumps(value)[1:-1]


def _html_text(value: str) -> str:
    return xml_escape(value, {'"': "&quot;"})


_ESCAPERS: dict[str, Callable[[str], str]] = {
    ".cls": _apex_literal,
    ".xml": xml_escape,
    ".js": _js_literal,
    ".html": _html_text,
    ".json": _js_literal,
}


def _render(template: str, *, suffix: str, values: Mapping[str, str], name: str) -> str:
    escape = _ESCAPERS[suffix]

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise ConfigurationError(f"template {name} uses an unknown placeholder {{{{{key}}}}}")
        return escape(values[key])

    return _PLACEHOLDER.sub(substitute, template)


def _templates(root: Traversable, prefix: PurePosixPath) -> list[tuple[PurePosixPath, str]]:
    found: list[tuple[PurePosixPath, str]] = []
    for entry in sorted(root.iterdir(), key=lambda item: item.name):
        if entry.name.startswith((".", "__")):
            continue
        path = prefix / entry.name
        if entry.is_dir():
            found.extend(_templates(entry, path))
        else:
            found.append((path, entry.read_text(encoding="utf-8")))
    return found


def _validate_issuer(issuer: str) -> str:
    if not _ISSUER.fullmatch(issuer):
        raise ConfigurationError(
            f"issuer {issuer!r} must be 1 to 255 letters, digits and . _ : / -, starting with a letter or digit"
        )
    if len(issuer) in (15, 18) and issuer.startswith("00D"):
        # An org id as the one issuer of every subscriber org would name one org for all of them.
        raise ConfigurationError(f"issuer {issuer!r} looks like an org id: the package's issuer must name no org")
    return issuer


def _sfdx_project(namespace: str | None) -> str:
    project = {
        "packageDirectories": [{"path": "force-app", "default": True}],
        "name": "forcegate-client",
        "namespace": namespace or "",
        "sfdcLoginUrl": "https://login.salesforce.com",
        "sourceApiVersion": API_VERSION,
    }
    return json.dumps(project, indent=2) + "\n"


def plan_scaffold(
    directory: Path,
    *,
    service_url: str,
    namespace: str | None = None,
    cert_name: str = DEFAULT_CERT_NAME,
    callout: str = "apex",
    issuer: str = DEFAULT_ISSUER,
) -> ScaffoldPlan:
    """Validate the inputs and render every file; nothing is written.

    ``callout`` is one of :data:`CALLOUT_MODES`; ``issuer`` is used by the ``named-credential`` mode.
    """
    url, origin = normalise_service_url(service_url)
    _validate_name(cert_name, what="certificate name", max_length=80)
    if namespace is not None:
        _validate_name(namespace, what="namespace", max_length=15)
    if callout not in CALLOUT_MODES:
        raise ConfigurationError(f"callout mode {callout!r} is not one of {', '.join(CALLOUT_MODES)}")
    _validate_issuer(issuer)
    values = {
        "API_VERSION": API_VERSION,
        "SERVICE_URL": url,
        "SERVICE_ORIGIN": origin,
        "CERT_NAME": cert_name,
        # `local` is the running org's namespace, which in an installed managed package is the
        # subscriber's, not the package's: a packaged partition must be named by its namespace.
        "CACHE_PARTITION": f"{namespace or 'local'}.{CACHE_PARTITION_NAME}",
        "LIFECYCLE_NAMESPACE_HINT": f" (as {namespace}.ForcegateCanvasLifecycle)" if namespace else "",
        "ISSUER": issuer,
    }
    root = resources.files("forcegate.devtools.sfdx") / "templates"
    files: dict[PurePosixPath, str] = {}
    for folder in ("common", callout):
        for path, template in _templates(root / folder, PurePosixPath()):
            if SOURCE_ROOT / path in files:  # a packaging mistake: a mode's file must not shadow a common one
                raise ConfigurationError(f"template {path} is both common and specific to {callout}")
            # `X.cls-meta.xml` is XML: the last suffix decides the escaping.
            files[SOURCE_ROOT / path] = _render(template, suffix=path.suffix, values=values, name=f"{folder}/{path}")
    if not (directory / "sfdx-project.json").exists():
        files[PurePosixPath("sfdx-project.json")] = _sfdx_project(namespace)
    return ScaffoldPlan(directory=directory, files=files)


def write_scaffold(plan: ScaffoldPlan, *, force: bool = False) -> list[Path]:
    """Write the plan's files; without ``force``, refuse (before writing any) if one exists."""
    targets = [(plan.directory / Path(relative), content) for relative, content in plan.files.items()]
    existing = [str(path) for path, _ in targets if path.exists()]
    if existing and not force:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise ConfigurationError(f"refusing to overwrite {shown} (use --force)")
    written: list[Path] = []
    for path, content in targets:
        if path.is_dir():
            raise ConfigurationError(f"{path} is a folder, not a file")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
