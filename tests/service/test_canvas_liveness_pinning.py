"""How the liveness check calls a Salesforce host: resolved, every address checked, the checked one connected to.

The resolver and the network are replaced (``resolver=``, ``transport=``), except in the TLS test at
the end, where a real TLS server proves that the name, not the address, is what the certificate is
checked against (SNI and hostname verification through httpx's ``sni_hostname`` extension).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from typing import Any

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from forcegate.core.canvas import verify_signed_request
from forcegate.core.canvas_request import CanvasRequest
from forcegate.devtools import build_envelope, sign_envelope
from forcegate.errors import CanvasSessionNotLive, SalesforceUnavailable
from forcegate.service.canvas_liveness import CanvasLivenessCheck, Resolver
from server.live import CONSUMER_SECRET, ORG_ID, USER_ID, USERNAME

HOST = "acme.my.salesforce.com"
INSTANCE_URL = f"https://{HOST}"
TOKEN = "00D5g000004ABCD!token"
PUBLIC = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"
LIVE = {"organization_id": ORG_ID, "user_id": USER_ID}


def _request(instance_url: str = INSTANCE_URL, oauth_token: str | None = TOKEN) -> CanvasRequest:
    envelope = build_envelope(
        org_id=ORG_ID, user_id=USER_ID[:15], user_name=USERNAME, instance_url=instance_url, oauth_token=oauth_token
    )
    return verify_signed_request(sign_envelope(envelope, CONSUMER_SECRET), [CONSUMER_SECRET])


class Recorder:
    """A fake resolver and a fake network in one: what was asked, what was sent."""

    def __init__(self, addresses: Sequence[str] | BaseException = (PUBLIC,), answer: Any = None) -> None:
        self.addresses = addresses
        self.answer: Any = httpx.Response(200, json=LIVE) if answer is None else answer
        self.resolved: list[tuple[str, int]] = []
        self.sent: list[httpx.Request] = []

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        self.resolved.append((host, port))
        if isinstance(self.addresses, BaseException):
            raise self.addresses
        return self.addresses

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        answer = self.answer(request) if callable(self.answer) else self.answer
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, httpx.Response)
        return answer

    def check(self, request: CanvasRequest | None = None, **options: Any) -> None:
        checker = CanvasLivenessCheck(transport=httpx.MockTransport(self.handle), resolver=self.resolve, **options)
        asyncio.run(checker.check(request or _request()))


def test_the_call_goes_to_the_checked_address_with_the_name_as_host_and_sni() -> None:
    recorder = Recorder()
    recorder.check()
    assert recorder.resolved == [(HOST, 443)]
    (sent,) = recorder.sent
    assert str(sent.url) == f"https://{PUBLIC}/services/oauth2/userinfo"
    assert sent.headers["host"] == HOST
    assert sent.extensions["sni_hostname"] == HOST
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"


def test_an_ipv6_address_is_bracketed() -> None:
    recorder = Recorder([PUBLIC_V6])
    recorder.check()
    assert str(recorder.sent[0].url) == f"https://[{PUBLIC_V6}]/services/oauth2/userinfo"
    assert recorder.sent[0].headers["host"] == HOST


def test_the_normalised_name_is_resolved_and_sent() -> None:
    recorder = Recorder()
    recorder.check(_request("https://ACME.My.Salesforce.com.:443/"))
    assert recorder.resolved == [(HOST, 443)]
    assert recorder.sent[0].headers["host"] == HOST
    assert recorder.sent[0].extensions["sni_hostname"] == HOST


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["172.31.0.5"],
        ["192.168.0.10"],
        ["169.254.169.254"],
        ["100.100.100.200"],
        ["0.0.0.0"],  # noqa: S104 - a resolver's answer under test, not a bind
        ["::1"],
        ["fe80::1"],
        ["fd00:ec2::254"],
        ["::ffff:169.254.169.254"],
        [PUBLIC, "10.0.0.1"],  # a mix: any internal address refuses
        ["10.0.0.1", PUBLIC],
        [PUBLIC_V6, "::1"],
        ["not-an-address"],
    ],
)
def test_a_name_with_any_internal_address_is_refused_without_a_connection(addresses: list[str]) -> None:
    recorder = Recorder(addresses)
    with pytest.raises(CanvasSessionNotLive, match="resolves to a non-public address"):
        recorder.check()
    assert recorder.sent == []


def test_a_name_that_does_not_exist_is_not_live() -> None:
    recorder = Recorder(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    with pytest.raises(CanvasSessionNotLive, match="does not resolve"):
        recorder.check()
    assert recorder.sent == []


def test_no_address_at_all_is_not_live() -> None:
    with pytest.raises(CanvasSessionNotLive, match="does not resolve"):
        Recorder([]).check()


@pytest.mark.parametrize(
    "failure", [socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), OSError("no network")]
)
def test_a_resolver_failure_fails_closed(failure: BaseException) -> None:
    recorder = Recorder(failure)
    with pytest.raises(SalesforceUnavailable, match=f"cannot resolve {HOST}"):
        recorder.check()
    assert recorder.sent == []


def test_a_slow_resolver_fails_closed() -> None:
    async def slow(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(5)
        return [PUBLIC]  # pragma: no cover - the timeout ends it first

    checker = CanvasLivenessCheck(timeout=0.05, resolver=slow)
    with pytest.raises(SalesforceUnavailable, match="TimeoutError"):
        asyncio.run(checker.check(_request()))


def test_a_failed_connection_tries_the_next_checked_address() -> None:
    def answer(request: httpx.Request) -> httpx.Response | Exception:
        if request.url.host == PUBLIC_V6:
            return httpx.ConnectError("network unreachable")
        return httpx.Response(200, json=LIVE)

    recorder = Recorder([PUBLIC_V6, PUBLIC], answer)
    recorder.check()
    assert [sent.url.host for sent in recorder.sent] == [PUBLIC_V6, PUBLIC]


def test_when_no_address_answers_it_fails_closed() -> None:
    recorder = Recorder([PUBLIC_V6, PUBLIC], httpx.ConnectTimeout("slow"))
    with pytest.raises(SalesforceUnavailable, match="did not answer: ConnectTimeout"):
        recorder.check()
    assert len(recorder.sent) == 2


def test_a_read_error_is_not_retried_elsewhere() -> None:
    recorder = Recorder([PUBLIC, "93.184.216.35"], httpx.ReadTimeout("slow"))
    with pytest.raises(SalesforceUnavailable, match="ReadTimeout"):
        recorder.check()
    assert len(recorder.sent) == 1


def test_a_configured_origin_is_called_by_name_without_resolving() -> None:
    recorder = Recorder(AssertionError("an exact origin is not resolved by the check"))
    checker = CanvasLivenessCheck(transport=httpx.MockTransport(recorder.handle), resolver=recorder.resolve)
    request = _request("http://127.0.0.1:8443")
    asyncio.run(checker.check(request, instance_domains=["http://127.0.0.1:8443"]))
    assert recorder.resolved == []
    assert str(recorder.sent[0].url) == "http://127.0.0.1:8443/services/oauth2/userinfo"
    assert "sni_hostname" not in recorder.sent[0].extensions


def test_a_configured_suffix_is_resolved_and_checked_like_salesforce() -> None:
    recorder = Recorder(["10.0.0.7"])
    checker = CanvasLivenessCheck(transport=httpx.MockTransport(recorder.handle), resolver=recorder.resolve)
    with pytest.raises(CanvasSessionNotLive, match="non-public address"):
        asyncio.run(checker.check(_request("https://sf.corp.example"), instance_domains=["corp.example"]))
    assert recorder.resolved == [("sf.corp.example", 443)]
    assert recorder.sent == []


@pytest.mark.parametrize(
    ("instance_url", "oauth_token", "reason"),
    [
        ("http://127.0.0.1:8443", TOKEN, "is not https://"),
        ("https://xn--n3h.example", TOKEN, "invalid internationalised host name"),
        ("https://evilsalesforce.com", TOKEN, "not on one of Salesforce's domains"),
        (INSTANCE_URL, "00D5g000004ABCD!tök€n", "not a bearer token"),
        (INSTANCE_URL, "00D5g000004ABCD! token", "not a bearer token"),
        (INSTANCE_URL, "00D5g000004ABCD!\r\nX-Injected: 1", "not a bearer token"),
        (INSTANCE_URL, "t" * 4097, "not a bearer token"),
        (INSTANCE_URL, "", "no client.oauthToken"),
    ],
)
def test_refusals_resolve_nothing_and_send_nothing(instance_url: str, oauth_token: str, reason: str) -> None:
    recorder = Recorder()
    with pytest.raises(CanvasSessionNotLive, match=reason) as refused:
        recorder.check(_request(instance_url, oauth_token))
    assert (recorder.resolved, recorder.sent) == ([], [])
    if oauth_token:
        assert oauth_token not in str(refused.value)


# --- Salesforce's answers ------------------------------------------------------------------------------------


def test_a_matching_userinfo_passes() -> None:
    Recorder().check()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(403, text="Bad_OAuth_Token"),
        httpx.Response(401, json=[{"errorCode": "INVALID_SESSION_ID"}]),
        httpx.Response(200, json={"organization_id": "00D5g000004XYZWEA4", "user_id": USER_ID}),
        httpx.Response(200, json={"organization_id": ORG_ID}),
    ],
)
def test_refusals_and_mismatches_are_not_live(answer: httpx.Response) -> None:
    with pytest.raises(CanvasSessionNotLive):
        Recorder(answer=answer).check()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(302, headers={"location": "https://login.salesforce.com"}),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, content=b"{" + b" " * (64 * 1024) + b"}"),
    ],
)
def test_no_usable_answer_is_unavailable(answer: httpx.Response) -> None:
    recorder = Recorder(answer=answer)
    with pytest.raises(SalesforceUnavailable) as unavailable:
        recorder.check()
    assert len(recorder.sent) == 1  # a redirect is not followed
    assert TOKEN not in str(unavailable.value)


# --- real TLS: the certificate is checked against the name, while TCP goes to the checked address -----------


def _certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for ``name`` (its own CA), and its key: PEM both."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


class _ToLocalPort(httpcore.AnyIOBackend):
    """The network seen from the check: records where it connects, and delivers every TCP connection locally."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connected: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return await super().connect_tcp("127.0.0.1", self.port, *args, **kwargs)


async def _tls_check(served_name: str, tmp_path: Any) -> tuple[list[str | None], list[tuple[str, int]], list[bytes]]:
    """Serve TLS as ``served_name`` on loopback; run the check for HOST resolved to a public address."""
    cert_pem, key_pem = _certificate(served_name)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_names: list[str | None] = []
    server_context.sni_callback = lambda sock, name, context: server_names.append(name)
    requests: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            body = b'{"organization_id": "%s", "user_id": "%s"}' % (ORG_ID.encode(), USER_ID.encode())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except (asyncio.IncompleteReadError, ssl.SSLError, ConnectionError):
            pass  # the client refused our certificate: nothing to answer
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    backend = _ToLocalPort(server.sockets[0].getsockname()[1])
    client_context = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    transport = httpx.AsyncHTTPTransport(verify=client_context)
    # httpx takes no network backend; its pool does: swapped so TCP reaches the local server.
    transport._pool._network_backend = backend

    async def public(host: str, port: int) -> Sequence[str]:
        return [PUBLIC]

    try:
        await CanvasLivenessCheck(transport=transport, resolver=public, timeout=5).check(_request())
    finally:
        server.close()
        await server.wait_closed()
    return server_names, backend.connected, requests


def test_over_tls_the_name_is_sent_as_sni_and_verified_on_the_certificate(tmp_path: Any) -> None:
    server_names, connected, requests = asyncio.run(_tls_check(HOST, tmp_path))
    assert connected == [(PUBLIC, 443)]  # TCP to the checked address, not to a fresh lookup of the name
    assert server_names == [HOST]
    (sent,) = requests
    assert f"\r\nHost: {HOST}\r\n".encode() in sent
    assert sent.startswith(b"GET /services/oauth2/userinfo HTTP/1.1\r\n")


def test_over_tls_a_certificate_for_another_name_is_refused(tmp_path: Any) -> None:
    with pytest.raises(SalesforceUnavailable, match="ConnectError"):
        asyncio.run(_tls_check("evil.example", tmp_path))


def test_the_test_address_is_public() -> None:
    assert ipaddress.ip_address(PUBLIC).is_global
    assert ipaddress.ip_address(PUBLIC_V6).is_global


def test_the_resolver_type_fits_the_system_resolver() -> None:
    from forcegate.service.canvas_liveness import system_resolver

    resolver: Resolver = system_resolver

    async def resolve() -> Sequence[str]:
        return await resolver("localhost", 443)

    assert asyncio.run(resolve())  # the hosts file: no network needed
