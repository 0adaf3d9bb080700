"""The instance-URL policy of the Canvas liveness check: which ``client.instanceUrl`` may be called, and how."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcegate.core.instance_url import (
    SALESFORCE_DOMAINS,
    USERINFO_PATH,
    InstanceDomains,
    Origin,
    UserinfoTarget,
    is_public_address,
    is_salesforce_page,
    parse_instance_domains,
    userinfo_target,
)
from forcegate.errors import CanvasSessionNotLive, ConfigurationError

SALESFORCE = InstanceDomains()
CONFIGURED = InstanceDomains.parse(["sf.example.com", "*.corp.example", "http://127.0.0.1:8443", "https://[::1]:9443"])


def _pinned(host: str) -> UserinfoTarget:
    return UserinfoTarget(host, f"https://{host}{USERINFO_PATH}", pinned=True)


@pytest.mark.parametrize(
    ("instance_url", "host"),
    [
        ("https://acme.my.salesforce.com", "acme.my.salesforce.com"),
        ("https://acme.my.salesforce.com/", "acme.my.salesforce.com"),
        ("https://acme.my.salesforce.com:443", "acme.my.salesforce.com"),
        ("https://acme.my.salesforce.com:443/", "acme.my.salesforce.com"),
        ("HTTPS://ACME.My.SalesForce.COM", "acme.my.salesforce.com"),
        ("https://acme.my.salesforce.com.", "acme.my.salesforce.com"),  # the trailing dot of a FQDN
        ("https://acme.my.salesforce.com.:443/", "acme.my.salesforce.com"),
        ("https://acme--uat.sandbox.my.salesforce.com", "acme--uat.sandbox.my.salesforce.com"),
        ("https://ab--uat.sandbox.my.salesforce.com", "ab--uat.sandbox.my.salesforce.com"),  # "--" at 3-4, not IDNA
        ("https://acme-dev-ed.develop.my.salesforce.com", "acme-dev-ed.develop.my.salesforce.com"),
        ("https://acme-1a2b.scratch.my.salesforce.com", "acme-1a2b.scratch.my.salesforce.com"),
        ("https://usa77.salesforce.com", "usa77.salesforce.com"),  # an instanced URL (Hyperforce too)
        ("https://acme.lightning.force.com", "acme.lightning.force.com"),
        ("https://acme.my.cloudforce.com", "acme.my.cloudforce.com"),
        ("https://acme.my.salesforce.mil", "acme.my.salesforce.mil"),
        ("https://acme.my.sfcrmproducts.cn", "acme.my.sfcrmproducts.cn"),
        ("https://acme.my.salesforce-setup.com", "acme.my.salesforce-setup.com"),
        ("https://b\u00fccher.my.salesforce.com", "xn--bcher-kva.my.salesforce.com"),  # IDNA: A-labels
        ("https://xn--bcher-kva.my.salesforce.com", "xn--bcher-kva.my.salesforce.com"),
        ("https://XN--BCHER-KVA.my.salesforce.com", "xn--bcher-kva.my.salesforce.com"),
        ("https://acme\uff0emy\uff0esalesforce\uff0ecom", "acme.my.salesforce.com"),  # UTS #46 maps full-width dots
        ("https://ACME.my.salesforce.com", "acme.my.salesforce.com"),
    ],
)
def test_salesforce_hosts_are_called_by_name_on_443(instance_url: str, host: str) -> None:
    assert userinfo_target(instance_url, SALESFORCE) == _pinned(host)


@pytest.mark.parametrize(
    ("instance_url", "reason"),
    [
        # not Salesforce, whole labels only
        ("https://evilsalesforce.com", "not on one of Salesforce's domains"),
        ("https://salesforce.com.evil.example", "not on one of Salesforce's domains"),
        ("https://acme.my.salesforce.com.evil.example", "not on one of Salesforce's domains"),
        ("https://acme.my.salesforce.co", "not on one of Salesforce's domains"),
        ("https://acme.my.salesforce.com\uff0eevil.example", "not on one of Salesforce's domains"),
        ("https://acme.my.s\u0430lesforce.com", "not on one of Salesforce's domains"),  # a Cyrillic "a"
        ("https://localhost", "not on one of Salesforce's domains"),
        ("https://metadata.google.internal", "not on one of Salesforce's domains"),
        # scheme and port
        ("http://acme.my.salesforce.com", "is not https://"),
        ("http://127.0.0.1:8080", "is not https://"),
        ("ftp://acme.my.salesforce.com", "is not https://"),
        ("https://acme.my.salesforce.com:8443", "a port other than 443"),
        ("https://acme.my.salesforce.com:80", "a port other than 443"),
        ("https://acme.my.salesforce.com:0443", "invalid port"),
        ("https://acme.my.salesforce.com:", "invalid port"),
        ("https://acme.my.salesforce.com:99999", "invalid port"),
        ("https://acme.my.salesforce.com:+443", "invalid port"),
        ("https://acme.my.salesforce.com:443:443", "invalid port"),
        # IP literals in every form
        ("https://127.0.0.1", "names an IP address"),
        ("https://10.0.0.1:443", "names an IP address"),
        ("https://169.254.169.254", "names an IP address"),
        ("https://8.8.8.8", "names an IP address"),
        ("https://127.1", "names an IP address"),
        ("https://2130706433", "names an IP address"),  # decimal
        ("https://0x7f000001", "names an IP address"),  # hex
        ("https://0x7f.0.0.1", "names an IP address"),
        ("https://0177.0.0.1", "names an IP address"),  # octal
        ("https://1.2.3.4.", "names an IP address"),
        ("https://[::1]", "names an IP address"),
        ("https://[::ffff:127.0.0.1]", "names an IP address"),
        ("https://[2606:4700::1]:443", "names an IP address"),
        ("https://[fe80::1%25eth0]", "names an IP address"),
        ("https://::1", "has no host"),  # unbracketed IPv6: never a host
        # userinfo, query, fragment, path
        ("https://user@acme.my.salesforce.com", "user information"),
        ("https://user:pass@acme.my.salesforce.com", "user information"),
        ("https://evil.example@acme.my.salesforce.com", "user information"),
        ("https://acme.my.salesforce.com@evil.example", "user information"),
        ("https://acme.my.salesforce.com?x=1", "query or fragment"),
        ("https://acme.my.salesforce.com/?", "has a path"),
        ("https://acme.my.salesforce.com#x", "query or fragment"),
        ("https://acme.my.salesforce.com/services/apexrest/x", "has a path"),
        ("https://acme.my.salesforce.com//evil.example", "has a path"),
        ("https://acme.my.salesforce.com/%2e%2e/", "has a path"),
        # not a plain URL or host
        ("acme.my.salesforce.com", "not an absolute URL"),
        ("//acme.my.salesforce.com", "not an absolute URL"),
        ("https:acme.my.salesforce.com", "not an absolute URL"),
        ("https://", "has no host"),
        ("https://:443", "has no host"),
        ("https://acme.my.salesforce.com\\@evil.example", "not a plain URL"),
        ("https://acme.my.salesforce.com\t", "not a plain URL"),
        ("https://acme.my.salesforce.com\n.evil.example", "not a plain URL"),
        ("https://acme my.salesforce.com", "not a plain URL"),
        ("https://" + "a" * 2100 + ".salesforce.com", "not a plain URL"),
        ("https://a_b.my.salesforce.com", "invalid host name"),
        ("https://-acme.my.salesforce.com", "invalid host name"),
        ("https://acme..salesforce.com", "invalid host name"),
        ("https://acme.my.salesforce.com..", "invalid host name"),
        ("https://%61cme.my.salesforce.com", "invalid host name"),
        ("https://" + "a" * 64 + ".my.salesforce.com", "invalid host name"),
        # invalid IDNA
        ("https://xn--n3h.example", "invalid internationalised host name"),  # a snowman: not IDNA 2008
        ("https://xn--n3h.my.salesforce.com", "invalid internationalised host name"),
        ("https://\u2603.my.salesforce.com", "invalid internationalised host name"),
        ("https://xn--abc.my.salesforce.com", "invalid internationalised host name"),
        ("https://xn--.my.salesforce.com", "invalid internationalised host name"),
    ],
)
def test_everything_else_is_refused_with_the_reason(instance_url: str, reason: str) -> None:
    with pytest.raises(CanvasSessionNotLive, match=r"client\.instanceUrl") as refused:
        userinfo_target(instance_url, SALESFORCE)
    assert reason in refused.value.reason


@pytest.mark.parametrize("instance_url", [None, ""])
def test_no_instance_url_is_refused(instance_url: str | None) -> None:
    with pytest.raises(CanvasSessionNotLive, match=r"no client\.instanceUrl"):
        userinfo_target(instance_url, SALESFORCE)


def test_salesforce_domains_alone_are_the_default() -> None:
    assert SALESFORCE.suffixes == SALESFORCE_DOMAINS
    assert InstanceDomains.parse([]) == SALESFORCE


# --- configured suffixes and exact origins ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_url", "host"),
    [
        ("https://sf.example.com", "sf.example.com"),
        ("https://acme.sf.example.com", "acme.sf.example.com"),
        ("https://acme.corp.example:443/", "acme.corp.example"),
        ("https://acme.my.salesforce.com", "acme.my.salesforce.com"),  # Salesforce's stay
    ],
)
def test_a_configured_suffix_is_allowed_by_the_same_rules(instance_url: str, host: str) -> None:
    assert userinfo_target(instance_url, CONFIGURED) == _pinned(host)


@pytest.mark.parametrize(
    "instance_url",
    [
        "https://evilsf.example.com",
        "https://sf.example.com.evil.example",
        "https://acme.sf.example.com:8443",
        "http://acme.sf.example.com",
        "https://acme.sf.example.com/path",
        "https://example.com",
    ],
)
def test_a_configured_suffix_relaxes_nothing_else(instance_url: str) -> None:
    with pytest.raises(CanvasSessionNotLive):
        userinfo_target(instance_url, CONFIGURED)


@pytest.mark.parametrize(
    ("instance_url", "url"),
    [
        ("http://127.0.0.1:8443", "http://127.0.0.1:8443/services/oauth2/userinfo"),
        ("http://127.0.0.1:8443/", "http://127.0.0.1:8443/services/oauth2/userinfo"),
        ("HTTP://127.0.0.1:8443", "http://127.0.0.1:8443/services/oauth2/userinfo"),
        ("https://[::1]:9443", "https://[::1]:9443/services/oauth2/userinfo"),
        ("https://[0:0::1]:9443", "https://[::1]:9443/services/oauth2/userinfo"),
    ],
)
def test_an_exact_origin_is_called_as_configured_without_address_checks(instance_url: str, url: str) -> None:
    target = userinfo_target(instance_url, CONFIGURED)
    assert target.url == url
    assert target.pinned is False


@pytest.mark.parametrize(
    "instance_url",
    [
        "http://127.0.0.1:8444",  # another port
        "https://127.0.0.1:8443",  # another scheme
        "http://127.0.0.1",  # the default port is another port
        "http://localhost:8443",  # another host for the same address
        "http://127.1:8443",
        "http://0x7f000001:8443",
        "http://[::ffff:127.0.0.1]:8443",
        "http://127.0.0.1:8443/services/oauth2",  # a path
        "http://127.0.0.1:8443?x",
        "http://user@127.0.0.1:8443",
        "https://[::1]:9444",
    ],
)
def test_an_origin_allows_exactly_itself(instance_url: str) -> None:
    with pytest.raises(CanvasSessionNotLive):
        userinfo_target(instance_url, CONFIGURED)


def test_origins_are_normalised() -> None:
    domains = InstanceDomains.parse(["HTTPS://SF.Example:8443/", "http://localhost", " https://[0::1]:443 "])
    assert domains.origins == {
        Origin("https", "sf.example", 8443),
        Origin("http", "localhost", 80),
        Origin("https", "::1", 443),
    }
    assert userinfo_target("https://sf.example.:8443", domains).url == "https://sf.example:8443" + USERINFO_PATH
    assert userinfo_target("http://LOCALHOST:80/", domains).url == "http://localhost:80" + USERINFO_PATH


def test_suffix_entries_are_normalised() -> None:
    domains = InstanceDomains.parse(["*.SF.Example.com", ".corp.example.", "b\u00fccher.example", "salesforce.com"])
    assert domains.suffixes == (*SALESFORCE_DOMAINS, "sf.example.com", "corp.example", "xn--bcher-kva.example")


@pytest.mark.parametrize(
    "entry",
    [
        "com",  # a whole top-level domain
        "*.com",
        "",
        "*.",
        "10.0.0.1",
        "127.1",
        "sf.example.com/path",
        "sf.example.com:8443",
        "user@sf.example.com",
        "evil_host.example",
        "xn--n3h.example",
        "ftp://sf.example.com",
        "https://",
        "https://user@sf.example.com",
        "https://sf.example.com/services",
        "https://sf.example.com?x",
        "https://sf.example.com:0",
        "https://sf.example.com:70000",
        "https://[127.0.0.1]:8443",
        "https://::1:8443",
        "https://xn--n3h.example",
    ],
)
def test_bad_entries_are_a_configuration_error_naming_them(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="canvas_instance_domains") as refused:
        InstanceDomains.parse([entry])
    assert repr(entry) in refused.value.reason


def test_the_pinned_url_takes_a_checked_address() -> None:
    target = userinfo_target("https://acme.my.salesforce.com", SALESFORCE)
    assert target.url_at("93.184.216.34") == "https://93.184.216.34/services/oauth2/userinfo"
    assert target.url_at("2606:2800:220:1::1") == "https://[2606:2800:220:1::1]/services/oauth2/userinfo"


QUERY = "/services/data/v60.0/query?q=SELECT%20Id%20FROM%20PermissionSetAssignment"


def test_another_resource_of_the_checked_instance_keeps_its_origin() -> None:
    """The enrollment's permission query: forcegate's path on the origin the policy checked."""
    pinned = userinfo_target("https://acme.my.salesforce.com/", SALESFORCE).at_path(QUERY)
    assert (pinned.host, pinned.pinned, pinned.path) == ("acme.my.salesforce.com", True, QUERY)
    assert pinned.url == "https://acme.my.salesforce.com" + QUERY
    assert pinned.url_at("93.184.216.34") == "https://93.184.216.34" + QUERY
    configured = userinfo_target("http://127.0.0.1:8443", CONFIGURED).at_path(QUERY)
    assert (configured.url, configured.pinned) == ("http://127.0.0.1:8443" + QUERY, False)


@pytest.mark.parametrize(
    "path", ["", "/", "/id/00D/005", "//evil.example/services/x", "/services/x#y", "/services/a b", "/services\\x"]
)
def test_only_a_services_path_of_forcegates_making_is_taken(path: str) -> None:
    with pytest.raises(ConfigurationError):
        userinfo_target("https://acme.my.salesforce.com", SALESFORCE).at_path(path)


@given(st.text(max_size=80))
def test_any_text_is_a_target_or_a_refusal(text: str) -> None:
    for candidate in (text, "https://" + text, "https://" + text + ".my.salesforce.com"):
        try:
            target = userinfo_target(candidate, SALESFORCE)
        except CanvasSessionNotLive:
            continue
        assert target.pinned
        assert SALESFORCE.allows(target.host)
        assert target.url == f"https://{target.host}{USERINFO_PATH}"


# --- addresses ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "255.255.255.255",
        "224.0.0.1",
        "239.1.2.3",
        "240.0.0.1",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",  # site-local (deprecated)
        "ff02::1",
        "ff0e::1",  # global-scope multicast
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",  # local-use NAT64
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",
        "not an address",
        "",
        "127.1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "13.110.6.8", "8.8.8.8", "2606:4700::6810:84e5"])
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://acme.lightning.force.com", True),
        ("https://acme.my.salesforce.com:443", True),
        ("https://sub.sf.example.com", True),
        ("http://127.0.0.1:8443", True),
        ("http://127.0.0.1:8444", False),
        ("https://sf.example.com.evil.example", False),
        ("http://acme.my.salesforce.com", False),
        ("https://acme.my.salesforce.com:444", False),
        ("null", False),
        ("https://203.0.113.7", False),
        ("https://xn--n3h.force.com", False),
        ("https://acme.my.salesforce.com/", True),
        ("https://acme.my.salesforce.com/x", False),
    ],
)
def test_is_salesforce_page(origin: str, allowed: bool) -> None:
    domains = parse_instance_domains(("sf.example.com", "http://127.0.0.1:8443"))
    assert is_salesforce_page(origin, domains) is allowed
