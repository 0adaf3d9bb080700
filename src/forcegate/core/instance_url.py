"""Where the Canvas liveness check may send a user's session: the instance-URL policy (no I/O).

The liveness check calls ``{client.instanceUrl}/services/oauth2/userinfo`` with ``client.oauthToken``
as bearer (and enrollment from a Canvas app asks the same checked instance one permission query,
:meth:`UserinfoTarget.at_path`). The envelope is signed by Salesforce, but with a consumer secret
that every subscriber org admin of the Connected App shares, so its ``instanceUrl`` is a request to our server to open a
connection anywhere, with a credential, and the answer (303/401/503) is an oracle for internal
probing. Only these are called:

* ``https://HOST/services/oauth2/userinfo`` (port 443, explicit or not) where HOST is one of
  Salesforce's own domains (:data:`SALESFORCE_DOMAINS`) or a configured suffix, matched on whole
  DNS labels, case-insensitively, after IDNA (UTS #46) mapping; no IP literal in any form, no
  userinfo, query, fragment or path. The caller must still resolve HOST and refuse it unless every
  address is public (:func:`is_public_address`), then connect to a checked address.
* exactly a configured origin (``http://127.0.0.1:8443``): an emulator or a test, set on purpose,
  which skips the address checks.

Salesforce's domains, as Salesforce documents them (found and read for this module):

* production My Domain ``MyDomainName.my.salesforce.com``; non-production "partitioned domains" add a
  word: ``MyDomainName--SandboxName.sandbox.my.salesforce.com``, ``…-dev-ed.develop.my.salesforce.com``,
  and ``demo`` / ``free`` / ``patch`` / ``scratch`` / ``trailblaze`` partitions; instanced URLs such
  as ``https://usa77.salesforce.com`` and ``https://eu55.salesforce.com`` still exist, on Hyperforce
  too. Salesforce Help "What Determines Your URL Formats" (sf.domain_name_url_formats_what_determines),
  "My Domain Considerations" (xcloud.domain_name_considerations), "Set the My Domain Login Policy"
  (xcloud.domain_name_setting_login_policy); Metadata API ``MyDomainSettings.domainPartition``.
  All of these are under ``salesforce.com``.
* Lightning and legacy Visualforce/site hosts are under ``force.com``; ``cloudforce.com`` is an older
  My Domain suffix.
* NOT verified in Salesforce's documentation (kept because the security brief lists them as
  Salesforce's): ``salesforce.mil`` (Government Cloud Plus), ``sfcrmproducts.cn`` (Salesforce on
  Alibaba Cloud; Alibaba's docs show it only as the sender domain ``email.sfcrmproducts.cn``) and
  ``salesforce-setup.com`` (the enhanced-domains Setup host). ``cloudforce.mil`` was not found at
  all and is not listed. Experience Cloud and Salesforce Sites hosts (``my.site.com``,
  ``salesforce-sites.com``) and user content (``force-user-content.com``) serve customers' content,
  not an instance's API, and are left out: add one with ``canvas_instance_domains`` if needed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from forcegate.errors import CanvasSessionNotLive, ConfigurationError

__all__ = [
    "HTTPS_PORT",
    "SALESFORCE_DOMAINS",
    "USERINFO_PATH",
    "InstanceDomains",
    "Origin",
    "UserinfoTarget",
    "is_public_address",
    "is_salesforce_page",
    "parse_instance_domains",
    "userinfo_target",
]

SALESFORCE_DOMAINS = (
    "salesforce.com",
    "force.com",
    "cloudforce.com",
    "salesforce.mil",
    "sfcrmproducts.cn",
    "salesforce-setup.com",
)
USERINFO_PATH = "/services/oauth2/userinfo"
HTTPS_PORT = 443
_DEFAULT_PORTS = {"https": 443, "http": 80}
_MAX_URL = 2048
_MAX_HOST = 253
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)(.*)", re.DOTALL)
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PORT = re.compile(r"[0-9]{1,5}")
# A path and query of forcegate's own making: printable ASCII, no spaces, fragments or backslashes.
_RESOURCE = re.compile(r"/services/[\x21\x22\x24-\x5b\x5d-\x7e]*")
# WHATWG URL: a host whose last label is a number (decimal, octal, 0x-hex) is an IPv4 address;
# inet_aton() agrees ("127.1", "0x7f.1", "2130706433", "0177.0.0.1" are all 127.0.0.1).
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class _Refused(ValueError):
    """A URL or an entry breaks the policy; the text says how (and never holds a credential)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """A scheme, a normalised host (a name, or an IP address in its canonical form) and a port."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class UserinfoTarget:
    """Where to ask: ``url`` by name; when ``pinned``, resolve ``host`` and connect to a checked address.

    ``path`` is the resource asked for on the checked instance: userinfo, unless :meth:`at_path`
    named another one (the enrollment's permission query).
    """

    host: str
    url: str
    pinned: bool
    path: str = USERINFO_PATH

    def url_at(self, address: str) -> str:
        """The URL with ``address`` (already checked) in place of the name."""
        shown = f"[{address}]" if ":" in address else address
        return f"https://{shown}{self.path}"

    def at_path(self, path: str) -> UserinfoTarget:
        """Another resource of the same checked instance. ``path`` is written by forcegate (a REST
        resource and its query string), never taken from the envelope: only the origin is the
        envelope's, and that was checked."""
        if not _RESOURCE.fullmatch(path):
            raise ConfigurationError(f"{path[:80]!r} is not an absolute path under /services/")
        return replace(self, url=self.url[: len(self.url) - len(self.path)] + path, path=path)


@dataclass(frozen=True, slots=True)
class InstanceDomains:
    """Salesforce's domains, plus the configured suffixes and exact origins (``canvas_instance_domains``)."""

    suffixes: tuple[str, ...] = SALESFORCE_DOMAINS
    origins: frozenset[Origin] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> InstanceDomains:
        """Read configured entries: ``sf.example.com`` (a suffix; ``*.`` allowed) or an origin ``http://host:port``."""
        suffixes = list(SALESFORCE_DOMAINS)
        origins: set[Origin] = set()
        for entry in entries:
            try:
                if "://" in entry:
                    origins.add(_configured_origin(entry))
                else:
                    suffixes.append(_configured_suffix(entry))
            except _Refused as exc:
                raise ConfigurationError(f"canvas_instance_domains: {entry!r} {exc}") from None
        return cls(tuple(dict.fromkeys(suffixes)), frozenset(origins))

    def allows(self, host: str) -> bool:
        """``host`` (normalised) is one of the suffixes or below one, on whole labels."""
        return any(host == suffix or host.endswith("." + suffix) for suffix in self.suffixes)


@functools.lru_cache(maxsize=8)
def parse_instance_domains(entries: tuple[str, ...]) -> InstanceDomains:
    """:meth:`InstanceDomains.parse`, once per setting value."""
    return InstanceDomains.parse(entries)


def is_salesforce_page(origin: str, domains: InstanceDomains) -> bool:
    """A browser's ``Origin`` header names a page of Salesforce's (https on port 443, one of
    ``domains``' suffixes, by name) or exactly one of its configured origins. ``null`` and anything
    unreadable are not."""
    try:
        scheme, host, port, bracketed = _split(origin)
        if domains.origins:
            exact = _origin_of(scheme, host, port, bracketed)
            if exact is not None and exact in domains.origins:
                return True
        if scheme != "https" or port not in (None, HTTPS_PORT):
            return False
        return domains.allows(_name(host, bracketed))
    except _Refused:
        return False


def userinfo_target(instance_url: str | None, domains: InstanceDomains) -> UserinfoTarget:
    """Where the userinfo call for ``instance_url`` goes, or :class:`CanvasSessionNotLive` saying why not."""
    if not instance_url:
        raise CanvasSessionNotLive("the envelope has no client.instanceUrl to check the session at")
    try:
        return _target(instance_url, domains)
    except _Refused as exc:
        # The URL itself may be shown: it is the envelope's, not a secret, and the operator needs it.
        raise CanvasSessionNotLive(f"client.instanceUrl {instance_url[:200]!r} {exc}") from None


def _target(instance_url: str, domains: InstanceDomains) -> UserinfoTarget:
    scheme, host, port, bracketed = _split(instance_url)
    if domains.origins:
        origin = _origin_of(scheme, host, port, bracketed)
        if origin is not None and origin in domains.origins:
            return UserinfoTarget(origin.host, f"{origin}{USERINFO_PATH}", pinned=False)
    if scheme != "https":
        raise _Refused("is not https:// (the session token must not cross the network in clear)")
    if port is not None and port != HTTPS_PORT:
        raise _Refused("names a port other than 443")
    name = _name(host, bracketed)
    if not domains.allows(name):
        raise _Refused("is not on one of Salesforce's domains (see canvas_instance_domains)")
    return UserinfoTarget(name, f"https://{name}{USERINFO_PATH}", pinned=True)


def _split(url: str) -> tuple[str, str, int | None, bool]:
    """``(scheme, host, port, bracketed)`` of a URL that is nothing more than an origin (and maybe ``/``)."""
    if len(url) > _MAX_URL or any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise _Refused("is not a plain URL")
    match = _URL.fullmatch(url)
    if match is None:
        raise _Refused("is not an absolute URL")
    scheme, authority, rest = match.groups()
    if rest not in ("", "/"):
        raise _Refused("has a query or fragment" if rest[0] in "?#" else "has a path")
    if "@" in authority:
        raise _Refused("has user information")
    bracketed = authority.startswith("[")
    if bracketed:
        host, _, after = authority[1:].partition("]")
        if after and not after.startswith(":"):
            raise _Refused("is not a plain URL")
        port_text = after[1:] if after else None
    else:
        host, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
    if not host:
        raise _Refused("has no host")
    return scheme.lower(), host, _port(port_text), bracketed


def _port(text: str | None) -> int | None:
    if text is None:
        return None
    # Canonical digits only: "0443" is refused rather than read as 443.
    if not _PORT.fullmatch(text) or text != str(int(text)) or not 0 < int(text) < 65536:
        raise _Refused("has an invalid port")
    return int(text)


def _name(host: str, bracketed: bool) -> str:
    """A DNS name, normalised, or :class:`_Refused` (IP literals in any form are refused)."""
    if bracketed or _ip(host) is not None:
        raise _Refused("names an IP address, not a host name")
    name = _normalised(host)
    if _NUMERIC_LABEL.fullmatch(name.rsplit(".", 1)[-1]):
        raise _Refused("names an IP address, not a host name")
    return name


def _normalised(host: str) -> str:
    """Lower case, IDNA A-labels, one trailing dot dropped; every label checked (LDH, lengths)."""
    text = host[:-1] if host.endswith(".") else host
    if not text.isascii() or "xn--" in text.lower():
        text = _idna(text)
    text = text.lower()
    labels = text.split(".")
    if len(text) > _MAX_HOST or not all(_LABEL.fullmatch(label) for label in labels):
        raise _Refused("has an invalid host name")
    return text


def _idna(text: str) -> str:
    """A-labels for a name with non-ASCII or ``xn--`` labels, refused unless valid IDNA 2008 (UTS #46 mapped)."""
    try:
        import idna  # httpx's own dependency: present wherever the liveness check can run
    except ImportError:  # pragma: no cover - the base install without httpx
        raise _Refused("has an internationalised host name, which needs the 'idna' package to check") from None
    try:
        mapped = idna.uts46_remap(text, std3_rules=True, transitional=False)
        labels = []
        for label in mapped.split("."):
            if label.isascii() and not label.startswith("xn--"):
                labels.append(label)  # plain LDH, checked by the caller (R-LDH "ab--cd" is a valid host)
                continue
            ascii_label = idna.alabel(label) if not label.isascii() else label.encode("ascii")
            idna.ulabel(ascii_label)  # decodes and checks an A-label (xn--n3h, a snowman, is refused)
            labels.append(ascii_label.decode("ascii"))
    except (idna.IDNAError, UnicodeError, ValueError):
        raise _Refused("has an invalid internationalised host name") from None
    return ".".join(labels)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _origin_of(scheme: str, host: str, port: int | None, bracketed: bool) -> Origin | None:
    """The URL's origin in the configured entries' normal form, or None when it cannot be one."""
    if scheme not in _DEFAULT_PORTS:
        return None
    address = _ip(host)
    if bracketed != (address is not None and address.version == 6):
        return None
    try:
        normal = address.compressed if address is not None else _normalised(host)
    except _Refused:
        return None
    return Origin(scheme, normal, _DEFAULT_PORTS[scheme] if port is None else port)


def _configured_origin(entry: str) -> Origin:
    scheme, host, port, bracketed = _split(entry.strip())
    if scheme not in _DEFAULT_PORTS:
        raise _Refused("is not an http(s) origin")
    origin = _origin_of(scheme, host, port, bracketed)
    if origin is None:
        raise _Refused("has an invalid host")
    return origin


def _configured_suffix(entry: str) -> str:
    text = entry.strip()
    text = text[2:] if text.startswith("*.") else text.removeprefix(".")
    if not text or any(c in text for c in "/:@?#[]"):
        raise _Refused("is not a domain suffix (write sf.example.com, or a full origin like https://host:port)")
    name = _name(text, bracketed=False)
    if "." not in name:
        raise _Refused("is a single label: it would allow a whole top-level domain")
    return name


def is_public_address(text: str) -> bool:
    """Globally routable unicast, and so are the IPv4 addresses it embeds (mapped, 6to4, Teredo, NAT64)."""
    address = _ip(text)
    if address is None:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return False
        if address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            candidates.append(address.sixtofour)
        if address.teredo is not None:
            candidates.extend(address.teredo)
        if address in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(_global_unicast(candidate) for candidate in candidates)


def _global_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )
