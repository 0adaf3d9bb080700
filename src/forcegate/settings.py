"""Service settings: environment variables (``FORCEGATE_*``) over an optional TOML file over defaults.

``forcegate serve`` and every registry command read the same settings, so a CLI command run beside a
running server works on the same data. ``FORCEGATE_CONFIG`` names the TOML file; its keys are the
field names below (``public_url = "https://…"``). Environment variables win over the file.

A ``FORCEGATE_*`` variable that is not a setting would be ignored: one that is a near miss of a
setting's name (``FORCEGATE_ENCRYPTON_KEY``) is refused, since running without the setting the
operator meant to make — a generated encryption key, a local SQLite instead of the shared database,
no trusted proxy — is worse than not starting; any other unknown name is only reported
(:func:`environment_warnings`), since deployments and tools use the prefix for their own variables.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from forcegate.core.claim_profile import is_loopback_host
from forcegate.core.instance_url import InstanceDomains
from forcegate.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "FORCEGATE_"
MAX_LEEWAY = 300
MAX_POOL_SIZE = 1000
# Far above any real org's minting rate; only stops a typo from meaning "no limit" silently.
MAX_RATE_LIMIT = 1_000_000
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")
# Connection limits (decision 0012): a head needs a second or two even over a poor link, and one of a
# few KiB even with Salesforce's bearer tokens and cookies; the bounds only catch a typo.
MAX_HEADER_READ_TIMEOUT = 300
MAX_BODY_READ_TIMEOUT = 3600
MIN_HEADER_BYTES = 1024
MAX_HEADER_BYTES = 1024 * 1024
MAX_CONNECTIONS = 1_000_000
#: Each is an HMAC over the whole request; beyond this the cost of one unsigned request is the attacker's lever.
MAX_CANVAS_SECRETS = 64
LOG_FORMATS = ("text", "json")
ENROLLMENT_POLICIES = ("auto", "listed", "manual")
MIN_ENROLLMENT_CODE_LIFETIME = 300
MAX_ENROLLMENT_CODE_LIFETIME = 30 * 24 * 3600
#: The longest a replaced certificate may stay trusted after a rotation from the org.
MAX_ROTATION_OVERLAP = 90 * 24 * 3600
#: A login host: a host name, a ``*.`` suffix, or an http(s) origin (http only on loopback, checked apart).
LOGIN_HOST_ENTRY = re.compile(r"(?:\*\.)?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|https?://[a-z0-9.\[\]:-]{1,255}")
MIN_SECRET_TOKEN = 16
#: The longest one notification's POST may take, whole (seconds): a receiver is a webhook, quick or down.
MAX_NOTIFY_TIMEOUT = 30
#: FORCEGATE_* variables that are not settings: the settings file, and those of the tests, benchmarks
#: and fuzzing (never read here; listed so that setting them is not reported as a typo).
OTHER_VARIABLES = frozenset(
    {
        "FORCEGATE_CONFIG",
        "FORCEGATE_TEST_DATABASE_URL",
        "FORCEGATE_TEST_REDIS_URL",
        "FORCEGATE_TEST_SERVERS",
        "FORCEGATE_VECTORS",
        "FORCEGATE_BENCH_MODE",
        "FORCEGATE_FUZZ_STRICT",
    }
)
#: How alike (difflib's ratio, on the names without the prefix) an unknown name and a setting's must
#: be for the unknown one to be refused as a misspelling: one or two letters off (ENCRYPTON_KEY 0.96,
#: TRUSTED_PROXY 0.86, WORKER 0.92), not a different word (DB_URL against DATABASE_URL is 0.67).
NEAR_MISS = 0.85
#: Below this, no known name is suggested at all.
SUGGESTION = 0.6


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the service is configured with. Build with :func:`load_settings`.

    ``encryption_key`` is base64url of 32 bytes (AES-256-GCM for secrets at rest), or a keyring of
    such keys, comma-separated, newest first: secrets are sealed with the first and opened with any
    (to rotate the key without downtime, see ``forcegate db rekey``); when it is not set, the embedded
    default keeps a generated key in ``data_dir/encryption.key`` (mode 0600).
    ``development`` relaxes only what a laptop needs (an ``http://`` public URL that is not loopback,
    non-``Secure`` cookies) and never a verification check.

    Scale-out (docs/deploy.md): ``database_url`` ``postgresql://…`` shares the registry, audit log and
    issued-token records and revocations between workers and hosts; ``redis_url`` moves replay claims,
    sessions and rate counters to Redis, and mirrors the revocations there (it needs PostgreSQL beside
    it). ``redis_prefix`` starts every Redis key, so several deployments can share one Redis.
    ``database_pool_size`` is the PostgreSQL connections of each worker process. ``migrate`` lets
    ``forcegate serve`` upgrade an outdated schema at start (otherwise it refuses; a new, empty
    database is always set up). ``audit_retention_days``: audit events older than this are deleted by
    the periodic purge (0 keeps them forever).
    ``canvas_liveness_check``: accept a Canvas signed request only when Salesforce's userinfo, called
    with the envelope's ``client.oauthToken``, confirms the same org and user (fails closed: 503 when
    Salesforce cannot be reached).
    ``canvas_max_secrets``: how many consumer secrets one Canvas request may be checked against (each
    an HMAC over the whole request). A request to ``/canvas/{consumer_key}`` is checked against that
    app's; one to ``/canvas`` against the app its envelope names (the app's ``canvas_name``), or,
    when it names none, against the apps without one — refused when those hold more secrets.
    ``canvas_instance_domains``: where else that check may call: domain suffixes (``sf.example.com``,
    every rule of Salesforce's own domains applies) or exact origins (``http://127.0.0.1:8443``, an
    emulator on loopback); see :mod:`forcegate.core.instance_url`.
    ``token_rate_limit``: how many single-use assertions (token requests and direct-JWT calls) one
    org may spend per minute, counted after signature verification (0: no limit); beyond it, 429.
    ``failure_rate_limit``: how many refused attempts (token requests, API calls, Canvas posts, admin
    calls) one client address may make per minute for one claimed org; beyond it, its refusals are
    answered 429 (0: no limit). A credential that verifies always passes, so a verified org is never
    throttled by its (shared) address; admin calls beyond it are refused before the token is compared.
    ``audit_unverified_limit``: unverified refusals written to the audit log per client address and
    refusal code per minute; beyond it they are counted and summarised in one row (0: no bound).
    ``trusted_proxies``: addresses or networks (CIDR) of the reverse proxies in front of the service;
    only from those is the client address read from ``X-Forwarded-For`` / ``Forwarded``.
    ``header_read_timeout``, ``body_read_timeout``, ``max_header_bytes``, ``max_connections``
    (``forcegate serve``, decision 0012): a request's line and headers must arrive within
    ``header_read_timeout`` seconds and its body within ``body_read_timeout`` more (else the connection
    is closed), its head take at most ``max_header_bytes`` (else 431); a worker closes new connections
    beyond ``max_connections`` open ones (0: as many as its open-file limit allows, minus its own reserve).
    ``log_format`` (``forcegate serve``): ``text`` (uvicorn's lines; authentication decisions too in
    development mode) or ``json`` (one JSON object per line on standard error, decisions included,
    each with its request id; see :mod:`forcegate.server.logs`).
    ``metrics``: serve Prometheus metrics at ``/metrics`` (:mod:`forcegate.server.metrics`);
    ``metrics_token``: when set, ``/metrics`` answers only ``Authorization: Bearer <metrics_token>``
    (at least 16 characters; not the admin token: a scraper must not administer).
    ``introspection_token``: a credential for ``POST /oauth2/introspect`` only (RFC 7662), for
    resource servers that ask about revocation (:class:`forcegate.resource.JWKSVerifier`), so they
    need not hold the admin token; at least 16 characters. The admin token is accepted there too.
    ``tracing``: OpenTelemetry spans for every request and store call (the ``[otel]`` extra; where
    they go, the standard ``OTEL_*`` variables say; :mod:`forcegate.server.tracing`).

    Subscriber enrollment (docs/onboarding.md): ``enrollment_policy`` decides what activates a proven
    enrollment — ``auto`` (the Salesforce sign-in and the proof of possession are enough), ``listed``
    (orgs on the approval list, ``forcegate orgs import``, activate; others wait for the ISV) or
    ``manual`` (the default: every enrollment waits for ``forcegate enrollments approve``).
    ``enrollment_code_lifetime``: seconds a one-time enrollment code stays usable (default one day).
    ``enrollment_client_id`` and ``enrollment_client_secret``: the consumer key and secret of the
    ISV's Connected App that ``GET /enroll`` signs subscriber admins in with (OAuth 2.0 web server
    flow with PKCE); without both, ``/enroll`` is off. The secret is never logged or shown.
    ``enrollment_login_hosts``: where that sign-in may happen: host names (``login.salesforce.com``),
    ``*.``-prefixed suffixes (``*.my.salesforce.com``, My Domains) or, for an emulator, a loopback
    origin (``http://127.0.0.1:8443``).
    ``enrollment_canvas``: enrollment from inside a Canvas app (``POST /enroll/canvas``, decision
    0022): the verified signed request stands in for the sign-in; off by default.
    ``rotation_overlap``: seconds a certificate replaced by a rotation from the org stays trusted
    (default 7 days; 0 retires it at once), so transactions signing with it finish.
    ``rotation_approval``: hold rotations for the ISV's approval too (default off: a rotation signed
    with a trusted certificate needs no operator, even under ``enrollment_policy = manual``).
    ``notify_url``: where notifications are POSTed as JSON (``certificate.expiring`` at 30, 7 and 1
    days, ``enrollment.pending_approval``; docs/onboarding.md): https, or http to a loopback host;
    unset, none are sent. Kept out of logs but for its origin (a webhook URL may carry its token).
    ``notify_secret``: when set (16 or more characters), each POST carries ``Forcegate-Signature``, an
    HMAC-SHA256 over the send time and the body, for the receiver to authenticate it.
    ``notify_timeout``: seconds one POST may take, whole (1 to 30).
    """

    public_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path(".forcegate")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "forcegate:"
    database_pool_size: int = 10
    migrate: bool = False
    audit_retention_days: int = 365
    token_rate_limit: int = 3000
    failure_rate_limit: int = 120
    audit_unverified_limit: int = 60
    trusted_proxies: tuple[str, ...] = ()
    encryption_key: str | None = field(default=None, repr=False)
    token_lifetime: int = 600
    leeway: int = 60
    max_assertion_lifetime: int = 300
    extra_audiences: tuple[str, ...] = ()
    session_lifetime: int = 3600
    canvas_landing_path: str = "/canvas/app"
    canvas_liveness_check: bool = False
    canvas_instance_domains: tuple[str, ...] = ()
    canvas_max_secrets: int = 8
    development: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    header_read_timeout: int = 10
    body_read_timeout: int = 30
    max_header_bytes: int = 32 * 1024
    max_connections: int = 0
    log_format: str = "text"
    metrics: bool = True
    metrics_token: str | None = field(default=None, repr=False)
    introspection_token: str | None = field(default=None, repr=False)
    tracing: bool = False
    enrollment_policy: str = "manual"
    enrollment_code_lifetime: int = 24 * 3600
    enrollment_client_id: str | None = None
    enrollment_client_secret: str | None = field(default=None, repr=False)
    enrollment_login_hosts: tuple[str, ...] = ("login.salesforce.com", "test.salesforce.com", "*.my.salesforce.com")
    enrollment_canvas: bool = False
    rotation_overlap: int = 7 * 24 * 3600
    rotation_approval: bool = False
    notify_url: str | None = field(default=None, repr=False)
    notify_secret: str | None = field(default=None, repr=False)
    notify_timeout: int = 5

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(f"public_url {self.public_url!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise ConfigurationError("public_url must not have a query or fragment")
        if parts.scheme == "http" and not self.development and not is_loopback_host(parts.hostname):
            raise ConfigurationError(
                f"public_url {self.public_url!r} is plain http on a non-loopback host; use https "
                "(or set FORCEGATE_DEVELOPMENT=1 on a development machine)"
            )
        for name in ("token_lifetime", "max_assertion_lifetime", "session_lifetime"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{name} must be a positive number of seconds")
        if not 0 <= self.leeway <= MAX_LEEWAY:
            raise ConfigurationError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        if not self.canvas_landing_path.startswith("/") or self.canvas_landing_path.startswith("//"):
            raise ConfigurationError("canvas_landing_path must be a path on this service, starting with one '/'")
        if not 1 <= self.canvas_max_secrets <= MAX_CANVAS_SECRETS:
            raise ConfigurationError(f"canvas_max_secrets must be between 1 and {MAX_CANVAS_SECRETS}")
        if not 0 < self.port < 65536:
            raise ConfigurationError("port must be between 1 and 65535")
        if self.workers < 1:
            raise ConfigurationError("workers must be at least 1")
        if not 1 <= self.header_read_timeout <= MAX_HEADER_READ_TIMEOUT:
            raise ConfigurationError(f"header_read_timeout must be between 1 and {MAX_HEADER_READ_TIMEOUT} seconds")
        if not 1 <= self.body_read_timeout <= MAX_BODY_READ_TIMEOUT:
            raise ConfigurationError(f"body_read_timeout must be between 1 and {MAX_BODY_READ_TIMEOUT} seconds")
        if not MIN_HEADER_BYTES <= self.max_header_bytes <= MAX_HEADER_BYTES:
            raise ConfigurationError(f"max_header_bytes must be between {MIN_HEADER_BYTES} and {MAX_HEADER_BYTES}")
        if not 0 <= self.max_connections <= MAX_CONNECTIONS:
            raise ConfigurationError(
                f"max_connections must be 0 (as the open-file limit allows) or up to {MAX_CONNECTIONS}"
            )
        for name in ("metrics_token", "introspection_token"):
            value = getattr(self, name)
            if value is not None and not value:
                object.__setattr__(self, name, None)
            elif value is not None and (len(value) < MIN_SECRET_TOKEN or any(c.isspace() for c in value)):
                raise ConfigurationError(f"{name} must be at least {MIN_SECRET_TOKEN} characters without whitespace")
        object.__setattr__(self, "log_format", self.log_format.strip().lower())
        if self.log_format not in LOG_FORMATS:
            raise ConfigurationError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.database_url is not None and not self.database_url:
            object.__setattr__(self, "database_url", None)
        if self.redis_url is not None and not self.redis_url:
            object.__setattr__(self, "redis_url", None)
        if self.effective_database_url.startswith(POSTGRESQL_SCHEMES) and not self.encryption_key:
            # A generated key file would live on one host's disk only: another host could not read
            # the secrets, and losing that disk would lose them all.
            raise ConfigurationError(
                "a PostgreSQL database is shared by hosts: set encryption_key (FORCEGATE_ENCRYPTION_KEY, "
                "the same on every host, from your secret manager)"
            )
        if self.redis_url is not None and not self.effective_database_url.startswith(POSTGRESQL_SCHEMES):
            raise ConfigurationError(
                "redis_url is set but the database is not PostgreSQL: Redis holds per-request state shared "
                "by workers on several hosts, which needs a shared registry too (database_url=postgresql://…)"
            )
        if not 1 <= self.database_pool_size <= MAX_POOL_SIZE:
            raise ConfigurationError(f"database_pool_size must be between 1 and {MAX_POOL_SIZE}")
        if self.audit_retention_days < 0:
            raise ConfigurationError("audit_retention_days must be 0 (keep forever) or a positive number of days")
        if not 0 <= self.token_rate_limit <= MAX_RATE_LIMIT:
            raise ConfigurationError(f"token_rate_limit must be 0 (no limit) or up to {MAX_RATE_LIMIT} per minute")
        if not self.redis_prefix or any(c.isspace() for c in self.redis_prefix):
            raise ConfigurationError("redis_prefix must be a non-empty string without spaces")
        for name in ("failure_rate_limit", "audit_unverified_limit"):
            if not 0 <= getattr(self, name) <= MAX_RATE_LIMIT:
                raise ConfigurationError(f"{name} must be 0 (no limit) or up to {MAX_RATE_LIMIT} per minute")
        try:
            self.proxy_networks  # noqa: B018 - parsed here to refuse a bad entry at start
        except ValueError as exc:
            raise ConfigurationError(f"trusted_proxies: {exc}") from None
        InstanceDomains.parse(self.canvas_instance_domains)  # a bad entry names itself here, not at a login
        self._check_enrollment()
        self._check_notifications()

    def _check_enrollment(self) -> None:
        object.__setattr__(self, "enrollment_policy", self.enrollment_policy.strip().lower())
        if self.enrollment_policy not in ENROLLMENT_POLICIES:
            raise ConfigurationError(f"enrollment_policy must be one of {', '.join(ENROLLMENT_POLICIES)}")
        if not MIN_ENROLLMENT_CODE_LIFETIME <= self.enrollment_code_lifetime <= MAX_ENROLLMENT_CODE_LIFETIME:
            raise ConfigurationError(
                f"enrollment_code_lifetime must be between {MIN_ENROLLMENT_CODE_LIFETIME} and "
                f"{MAX_ENROLLMENT_CODE_LIFETIME} seconds"
            )
        if not 0 <= self.rotation_overlap <= MAX_ROTATION_OVERLAP:
            raise ConfigurationError(f"rotation_overlap must be between 0 and {MAX_ROTATION_OVERLAP} seconds (90 days)")
        for name in ("enrollment_client_id", "enrollment_client_secret"):
            if getattr(self, name) is not None and not getattr(self, name):
                object.__setattr__(self, name, None)
        if (self.enrollment_client_id is None) != (self.enrollment_client_secret is None):
            raise ConfigurationError("enrollment_client_id and enrollment_client_secret are set together, or neither")
        for entry in self.enrollment_login_hosts:
            if not LOGIN_HOST_ENTRY.fullmatch(entry) or (
                entry.startswith("http://") and not is_loopback_host(urlsplit(entry).hostname or "")
            ):
                raise ConfigurationError(
                    f"enrollment_login_hosts: {entry!r} is not a host name, a '*.' suffix or a loopback http origin"
                )

    def _check_notifications(self) -> None:
        for name in ("notify_url", "notify_secret"):
            if getattr(self, name) is not None and not getattr(self, name):
                object.__setattr__(self, name, None)
        if self.notify_url is not None:
            # The URL is never quoted back: it may carry the receiver's token.
            try:
                parts = urlsplit(self.notify_url)
                parts.port  # noqa: B018 - a port out of range raises here
            except ValueError:
                raise ConfigurationError("notify_url is not a valid URL") from None
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise ConfigurationError("notify_url must be an https:// URL (or http:// to a loopback host)")
            if parts.scheme == "http" and not is_loopback_host(parts.hostname):
                raise ConfigurationError(
                    "notify_url is plain http to a non-loopback host: use https (notifications name your orgs)"
                )
            url = self.notify_url
            if parts.fragment or len(url) > 2048 or not url.isprintable() or " " in url:
                raise ConfigurationError("notify_url must be a URL without fragment or spaces, at most 2048 characters")
        secret = self.notify_secret
        if secret is not None and (len(secret) < MIN_SECRET_TOKEN or any(c.isspace() for c in secret)):
            raise ConfigurationError(f"notify_secret must be at least {MIN_SECRET_TOKEN} characters without whitespace")
        if secret is not None and self.notify_url is None:
            raise ConfigurationError("notify_secret is set but notify_url is not: set both, or neither")
        if not 1 <= self.notify_timeout <= MAX_NOTIFY_TIMEOUT:
            raise ConfigurationError(f"notify_timeout must be between 1 and {MAX_NOTIFY_TIMEOUT} seconds")

    @property
    def enrollment_enabled(self) -> bool:
        """Whether ``GET /enroll`` signs subscriber admins in (the Connected App is configured)."""
        return self.enrollment_client_id is not None and self.enrollment_client_secret is not None

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``trusted_proxies`` parsed."""
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.trusted_proxies)

    @property
    def token_endpoint(self) -> str:
        return self.public_url + "/oauth2/token"

    @property
    def audiences(self) -> frozenset[str]:
        """Accepted ``aud`` values, exact match: the token endpoint URL, the public URL, configured extras."""
        return frozenset({self.token_endpoint, self.public_url, *self.extra_audiences})

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'forcegate.db').resolve()}"

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_url).scheme == "https" or not self.development


def _coerce(name: str, kind: Any, raw: Any, source: str) -> Any:
    try:
        if kind is bool or kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind is int or kind == "int":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if kind == "Path":
            return Path(str(raw))
        if kind == "tuple[str, ...]":
            items = raw if isinstance(raw, list) else str(raw).split(",")
            return tuple(str(item).strip() for item in items if str(item).strip())
        return str(raw)
    except ValueError:
        raise ConfigurationError(f"{source}: {name} has an invalid value") from None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then the TOML file named by ``FORCEGATE_CONFIG``, then ``FORCEGATE_*``, then ``overrides``."""
    env = os.environ if environ is None else environ
    _check_environment(env)  # a misspelt setting is refused before anything else is read
    values: dict[str, Any] = {}
    # Field annotations are strings under "from __future__ import annotations": map them to coercions.
    kinds = {f.name: _kind(str(f.type)) for f in fields(Settings)}

    config_path = env.get(ENV_PREFIX + "CONFIG")
    if config_path:
        try:
            data = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read {ENV_PREFIX}CONFIG file {config_path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{config_path} is not valid TOML: {exc}") from None
        unknown = sorted(set(data) - set(kinds))
        if unknown:
            raise ConfigurationError(f"{config_path}: unknown setting(s) {', '.join(unknown)}")
        for name, raw in data.items():
            values[name] = _coerce(name, kinds[name], raw, config_path)

    for name, kind in kinds.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(name, kind, raw, ENV_PREFIX + name.upper())

    values.update({k: v for k, v in overrides.items() if v is not None})
    if "public_url" not in values and ("host" in values or "port" in values):
        host = values.get("host", "127.0.0.1")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - naming, not binding
        values["public_url"] = f"http://{shown}:{values.get('port', 8000)}"
    return Settings(**values)


def environment_warnings(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line for each ``FORCEGATE_*`` variable that is neither a setting nor one of
    :data:`OTHER_VARIABLES`, naming the closest known name if one is alike (what ``forcegate serve``
    prints at start). A near miss of a setting's name is not in the list: :func:`load_settings` refuses it."""
    return _check_environment(os.environ if environ is None else environ)


def _check_environment(env: Mapping[str, str]) -> list[str]:
    settings = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}
    known = settings | OTHER_VARIABLES
    warnings = []
    for name in sorted(env):
        if not name.upper().startswith(ENV_PREFIX) or name in known:
            continue
        if name.endswith("_FILE") and name.removesuffix("_FILE") in settings:
            # Docker's convention for secrets: not forcegate's, and the key would be generated instead.
            raise ConfigurationError(
                f"{name} is not a setting: forcegate reads no *_FILE variables; set "
                f"{name.removesuffix('_FILE')} to the file's content"
            )
        closest, likeness = _closest(name, known)
        if closest in settings and likeness >= NEAR_MISS:  # forcegate_public_url too: 1.0
            raise ConfigurationError(
                f"{name} is not a setting: did you mean {closest}? (a misspelt setting would be ignored; "
                "correct or unset it)"
            )
        hint = f" (did you mean {closest}?)" if closest is not None and likeness >= SUGGESTION else ""
        warnings.append(f"{name} is not a forcegate setting and is ignored{hint}")
    return warnings


def _closest(name: str, known: set[str] | frozenset[str]) -> tuple[str | None, float]:
    """The known name most like ``name`` (compared without the prefix, which they all share), and how alike."""
    wanted = name.upper()[len(ENV_PREFIX) :]
    best, likeness = None, 0.0
    for candidate in sorted(known):
        ratio = difflib.SequenceMatcher(None, wanted, candidate[len(ENV_PREFIX) :]).ratio()
        if ratio > likeness:
            best, likeness = candidate, ratio
    return best, likeness


def _kind(annotation: str) -> str:
    text = annotation.replace(" | None", "")
    return {"bool": "bool", "int": "int", "Path": "Path", "tuple[str, ...]": "tuple[str, ...]"}.get(text, "str")
