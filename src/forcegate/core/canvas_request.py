"""The typed, read-only model of a verified Canvas ``CanvasRequest`` envelope.

Field names follow the Canvas Developer Guide, "Objects" chapter (CanvasRequest, Client, Context,
Application, Environment, Links, Organization, User), in snake_case. :mod:`forcegate.core.canvas`
builds these from a verified envelope; nothing here verifies anything.

Nested JSON (``parameters``, ``record``, ``dimensions``, ``version`` and the whole envelope as
``raw``) is exposed through :class:`FrozenJSONObject`, a read-only view that wraps nested objects
and arrays only when they are read. Freezing a 32 KB ``parameters`` tree eagerly would cost more
than verifying the signature; a lazy view costs nothing until used and still offers no way to
mutate the verified data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

__all__ = [
    "CanvasApplication",
    "CanvasClient",
    "CanvasEnvironment",
    "CanvasOrganization",
    "CanvasRequest",
    "CanvasUser",
    "FrozenJSONArray",
    "FrozenJSONObject",
]

# Values never shown by repr(): the session and refresh tokens Salesforce puts in ``client``.
_SECRET_KEYS = frozenset({"oauthToken", "refreshToken"})


def _freeze(value: Any) -> Any:
    if type(value) is dict:
        return FrozenJSONObject(value)
    if type(value) is list:
        return FrozenJSONArray(value)
    return value


def _deep_copy(value: Any) -> Any:
    """A mutable deep copy of decoded JSON, level by level with a stack rather than recursion: the
    nesting is the sender's choice (up to :data:`forcegate.core._json.MAX_DEPTH`), and
    ``copy.deepcopy`` spends two Python frames per level of it."""
    if type(value) is dict:
        root: Any = dict(value)
    elif type(value) is list:
        root = list(value)
    else:
        return value
    pending = [root]
    while pending:
        node = pending.pop()
        for key in node.keys() if type(node) is dict else range(len(node)):
            child = node[key]
            if type(child) is dict:
                node[key] = dict(child)
                pending.append(node[key])
            elif type(child) is list:
                node[key] = list(child)
                pending.append(node[key])
    return root


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<redacted>" if k in _SECRET_KEYS and v is not None else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


class FrozenJSONObject(Mapping[str, Any]):
    """A read-only view of a decoded JSON object; nested objects and arrays are read-only views too.

    It compares equal to a ``dict`` with the same content. ``to_dict()`` returns a mutable deep
    copy (for ``json.dumps`` and the like). ``repr()`` hides ``oauthToken`` and ``refreshToken``.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return _freeze(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenJSONObject):
            return self._data == other._data
        if type(other) is dict:
            return self._data == other
        return Mapping.__eq__(self, other)

    def __repr__(self) -> str:
        return f"FrozenJSONObject({_redacted(self._data)!r})"

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the object."""
        copied: dict[str, Any] = _deep_copy(self._data)
        return copied


class FrozenJSONArray(Sequence[Any]):
    """A read-only view of a decoded JSON array (see :class:`FrozenJSONObject`).

    It compares equal to a ``list`` with the same content (as list equality has it: a nested tuple
    is not a nested array) and to a ``tuple`` of equal items.
    """

    __slots__ = ("_data",)

    def __init__(self, data: list[Any]) -> None:
        self._data = data

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> FrozenJSONArray: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return FrozenJSONArray(self._data[index])
        return _freeze(self._data[index])

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenJSONArray):
            return self._data == other._data
        if type(other) is list:
            # Compared in C, one level of recursion per level of nesting; the element-wise loop
            # below costs several Python frames per level, which a deeply nested array exhausts.
            return self._data == other
        if isinstance(other, list | tuple):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenJSONArray({_redacted(self._data)!r})"

    def to_list(self) -> list[Any]:
        """A mutable deep copy of the array."""
        copied: list[Any] = _deep_copy(self._data)
        return copied


_T = TypeVar("_T")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class CanvasClient:
    """The ``client`` object: the Salesforce instance and the session handed to the canvas app.

    ``oauth_token`` is the user's session (valid about two hours) and ``refresh_token`` is present
    only when the connected app has the ``refresh_token`` scope; neither appears in ``repr()``.
    """

    instance_id: str | None = None
    instance_url: str | None = None
    oauth_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    target_origin: str | None = None


@dataclass(frozen=True, slots=True)
class CanvasUser:
    """``context.user``: the context user. ``user_id`` is always the canonical 18-character id."""

    user_id: str
    user_name: str | None = None
    email: str | None = None
    full_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    language: str | None = None
    time_zone: str | None = None
    user_type: str | None = None
    profile_id: str | None = None
    role_id: str | None = None
    network_id: str | None = None
    site_url: str | None = None
    site_url_prefix: str | None = None
    profile_photo_url: str | None = None
    profile_thumbnail_url: str | None = None
    accessibility_mode_enabled: bool | None = None
    is_default_network: bool | None = None
    currency_iso_code: str | None = None


@dataclass(frozen=True, slots=True)
class CanvasOrganization:
    """``context.organization``. ``organization_id`` is always the canonical 18-character id."""

    organization_id: str
    name: str | None = None
    multicurrency_enabled: bool | None = None
    namespace_prefix: str | None = None
    currency_iso_code: str | None = None


@dataclass(frozen=True, slots=True)
class CanvasApplication:
    """``context.application``: the canvas app (connected app) as the org configured it."""

    name: str | None = None
    canvas_url: str | None = None
    application_id: str | None = None
    version: str | None = None
    auth_type: str | None = None
    namespace: str | None = None
    developer_name: str | None = None
    reference_id: str | None = None
    is_installed_personal_app: bool | None = None
    saml_initiation_method: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CanvasEnvironment:
    """``context.environment``: where the app is shown, and the custom parameters.

    ``parameters`` holds what Apex ``Canvas.CanvasLifecycleHandler.onRender`` (or the
    ``parameters`` attribute of ``force:canvasApp`` / ``apex:canvasApp``) put there.
    ``sublocation`` comes from ``subLocation`` (the Guide's spelling) or ``sublocation``.
    """

    display_location: str | None = None
    location_url: str | None = None
    ui_theme: str | None = None
    sublocation: str | None = None
    dimensions: Mapping[str, Any] = field(default_factory=_empty)
    version: Mapping[str, Any] = field(default_factory=_empty)
    parameters: Mapping[str, Any] = field(default_factory=_empty)
    record: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CanvasRequest:
    """A verified Canvas signed request (Canvas Developer Guide, "CanvasRequest").

    ``user_id`` and ``organization_id`` are canonical 18-character ids (the envelope's top-level
    ``userId`` is often 15). ``issued_at`` is when Salesforce issued ``client.oauth_token`` (the
    Guide now says "for internal use only"); it may be ``None`` and is NOT a freshness signal:
    Salesforce re-sends the same signed request on reload, so never accept or reject on it.
    ``secret_index`` says which configured secret verified the signature (0 = current,
    1 = previous …), to follow a secret rotation.

    ``client``, ``user``, ``organization``, ``application``, ``links``, ``environment`` and ``raw``
    (the whole envelope) are read-only views built on first access: every type was already
    checked by the verifier, so building them cannot fail, and a request that only needs the ids
    and ``parameters`` never pays for the sixty-odd fields it does not read.
    """

    algorithm: str
    issued_at: int | None
    user_id: str
    organization_id: str
    secret_index: int
    _envelope: dict[str, Any] = field(repr=False, hash=False)
    _views: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def _view(self, name: str, build: Callable[[CanvasRequest], _T]) -> _T:
        # A benign memo on a frozen object: two threads racing here build equal views.
        view: _T | None = self._views.get(name)
        if view is None:
            view = self._views[name] = build(self)
        return view

    @property
    def raw(self) -> FrozenJSONObject:
        """The whole decoded envelope, read-only (``repr()`` hides the tokens)."""
        return FrozenJSONObject(self._envelope)

    @property
    def client(self) -> CanvasClient:
        """``client``: instance URL and the session handed to the app."""
        return self._view("client", _build_client)

    @property
    def user(self) -> CanvasUser:
        """``context.user``."""
        return self._view("user", _build_user)

    @property
    def organization(self) -> CanvasOrganization:
        """``context.organization``."""
        return self._view("organization", _build_organization)

    @property
    def application(self) -> CanvasApplication:
        """``context.application``."""
        return self._view("application", _build_application)

    @property
    def links(self) -> Mapping[str, str]:
        """``context.links``: REST, SOAP and Chatter URLs, relative to ``client.instance_url``."""
        return self._view("links", _build_links)

    @property
    def environment(self) -> CanvasEnvironment:
        """``context.environment``."""
        return self._view("environment", _build_environment)

    @property
    def parameters(self) -> Mapping[str, Any]:
        """Shortcut for ``environment.parameters``: the custom parameters, read-only."""
        return _frozen(_section(self._envelope, "context", "environment").get("parameters"))


# The JSON keys of each class's fields, in field order (a test checks the alignment); the builders
# below compute the other fields (ids, spelling variants, nested objects).
_CLIENT_KEYS = ("instanceId", "instanceUrl", "oauthToken", "refreshToken", "targetOrigin")
_USER_KEYS = (
    "userName", "email", "fullName", "firstName", "lastName", "locale", "language", "timeZone", "userType",
    "profileId", "roleId", "networkId", "siteUrl", "siteUrlPrefix", "profilePhotoUrl", "profileThumbnailUrl",
    "accessibilityModeEnabled", "isDefaultNetwork",
)  # fmt: skip
_ORGANIZATION_KEYS = ("name", "multicurrencyEnabled", "namespacePrefix")
_APPLICATION_KEYS = (
    "name", "canvasUrl", "applicationId", "version", "authType", "namespace", "developerName", "referenceId",
    "isInstalledPersonalApp", "samlInitiationMethod",
)  # fmt: skip
_ENVIRONMENT_KEYS = ("displayLocation", "locationUrl", "uiTheme")


def _section(envelope: dict[str, Any], *path: str) -> dict[str, Any]:
    section = envelope
    for key in path:
        section = section.get(key) or {}  # types were checked: an object, or absent / null
    return section


def _either(section: dict[str, Any], key: str, alias: str) -> Any:
    value = section.get(key)
    return section.get(alias) if value is None else value


def _frozen(value: dict[str, Any] | None) -> Mapping[str, Any]:
    return _EMPTY if value is None else FrozenJSONObject(value)


# Positional construction from map(section.get, keys) is the cheapest way to fill a frozen
# dataclass; mypy cannot match a map() against the fields, so these aliases accept any arguments.
_new_client: Callable[..., CanvasClient] = CanvasClient
_new_user: Callable[..., CanvasUser] = CanvasUser
_new_organization: Callable[..., CanvasOrganization] = CanvasOrganization
_new_application: Callable[..., CanvasApplication] = CanvasApplication
_new_environment: Callable[..., CanvasEnvironment] = CanvasEnvironment


def _build_client(request: CanvasRequest) -> CanvasClient:
    return _new_client(*map(_section(request._envelope, "client").get, _CLIENT_KEYS))


def _build_user(request: CanvasRequest) -> CanvasUser:
    user = _section(request._envelope, "context", "user")
    return _new_user(request.user_id, *map(user.get, _USER_KEYS), _either(user, "currencyISOCode", "currencyIsoCode"))


def _build_organization(request: CanvasRequest) -> CanvasOrganization:
    organization = _section(request._envelope, "context", "organization")
    return _new_organization(
        request.organization_id,
        *map(organization.get, _ORGANIZATION_KEYS),
        _either(organization, "currencyIsoCode", "currencyISOCode"),
    )


def _build_application(request: CanvasRequest) -> CanvasApplication:
    application = _section(request._envelope, "context", "application")
    return _new_application(*map(application.get, _APPLICATION_KEYS), tuple(application.get("options") or ()))


def _build_links(request: CanvasRequest) -> Mapping[str, str]:
    links = _section(request._envelope, "context", "links")
    # str values are immutable, so a shallow read-only proxy is read-only all the way down.
    return MappingProxyType({key: value for key, value in links.items() if value is not None})


def _build_environment(request: CanvasRequest) -> CanvasEnvironment:
    environment = _section(request._envelope, "context", "environment")
    record = environment.get("record")
    return _new_environment(
        *map(environment.get, _ENVIRONMENT_KEYS),
        _either(environment, "subLocation", "sublocation"),
        _frozen(environment.get("dimensions")),
        _frozen(environment.get("version")),
        _frozen(environment.get("parameters")),
        None if record is None else FrozenJSONObject(record),
    )
