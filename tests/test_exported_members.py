"""The public surface is deliberate: adding or removing a name must be a visible change here."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "forcegate": ["ForcegateDeprecationWarning", "ForcegateSecurityWarning", "__version__"],
    "forcegate.core": [
        "SUPPORTED_ALGORITHMS", "AccessTokenIssuer", "AccessTokenVerifier", "AssertionVerifier", "CanvasApplication",
        "CanvasClient", "CanvasEnvironment", "CanvasOrganization", "CanvasRequest", "CanvasUser", "CanvasVerifier",
        "Identity", "IssuedAccessToken", "JWSVerifier", "JWTPolicy", "JWTVerifier", "KeyResolver", "OrgTrust",
        "ProfileClaims", "ReplayClaimer", "TokenGrant", "TokenRequest", "TrustDirectory", "TrustedKey",
        "VerifiedAccessToken", "VerifiedAssertion", "VerifiedJWS", "VerifiedJWT", "es256_jwk", "exchange", "ids",
        "new_signing_key", "parse_token_request", "prepare_grant", "read_profile", "verify_jwt",
        "verify_signed_request",
    ],
    "forcegate.core.ids": ["ORG_PREFIX", "USER_PREFIX", "is_valid", "same_id", "to15", "to18", "validate"],
    "forcegate.keys": [
        "MAX_KEYSTORE_BYTES", "BundlePaths", "KeyEntry", "Keystore", "PrivateKey", "PublicKey",
        "check_key_strength", "describe_entry", "generate_certificate", "is_roca_vulnerable", "key_from_jwk",
        "load_jwks", "load_keystore", "load_keystore_file", "public_jwk", "read_jks", "read_pkcs12",
        "rfc7638_thumbprint", "self_signed_certificate", "sha256_fingerprint", "trusted_keys", "write_bundle",
        "write_jks", "write_pkcs12",
    ],
    "forcegate.salesforce": [
        "AsyncSalesforceSession", "CanvasConfig", "ConnectedAppMetadata", "SalesforceJWTLogin", "SalesforceSession",
        "SalesforceToken", "load_connected_app", "parse_connected_app",
    ],
    "forcegate.devtools": [
        "AsyncJWTBearerTokenExchange", "AuthJWS", "AuthJWT", "CertificateAndKeyManagement", "EmulatedUser",
        "JWTBearerTokenExchange", "SalesforceEmulator", "build_envelope", "running_emulator", "sign_envelope",
    ],
    "forcegate.devtools.demo": ["DemoOptions", "run_demo"],
    "forcegate.devtools.sfdx": [
        "API_VERSION", "CACHE_PARTITION_NAME", "CALLOUT_MODES", "DEFAULT_CERT_NAME", "DEFAULT_ISSUER", "ScaffoldPlan",
        "normalise_service_url", "plan_scaffold", "write_scaffold",
    ],
    "forcegate.core.jws_sign": ["SIGNING_ALGORITHMS", "SigningKey", "encode_header", "sign", "sign_compact"],
    "forcegate.clock": ["Clock", "FixedClock", "SystemClock"],
    "forcegate.settings": ["ENV_PREFIX", "Settings", "load_settings"],
    "forcegate.server": ["Forcegate", "ForcegateApp", "ForcegateRefusal", "create_app"],
    "forcegate.registry": [
        "Actor", "AddedCertificates", "AppChanges", "AppDetails", "AppInput", "CertificateInput",
        "CertificateStateInput", "EnrollmentRejectionInput", "KeyRotation", "OrgChanges", "OrgDetails", "OrgInput",
        "RegistryService", "SecretInput", "certificates_in",
    ],
    "forcegate.resource": [
        "SESSION_COOKIE", "CanvasSession", "JWKSVerifier", "Refusal", "RegistryVerifier", "Verifier",
    ],
    "forcegate.integrations.flask": ["Forcegate"],
    "forcegate.integrations.django": [
        "ForcegateMiddleware", "ForcegateRequest", "ForcegateSettingsError", "canvas_view", "forcegate_exempt",
        "forcegate_required", "get_identity", "get_verifier", "logout_view",
    ],
    "forcegate.integrations.drf": [
        "ForcegateAuthentication", "ForcegateAuthenticationFailed", "ForcegateNotAuthenticated",
        "ForcegatePermissionDenied", "ForcegateRefused", "ForcegateScopes", "ForcegateThrottled", "ForcegateUser",
        "HasForcegateScopes", "exception_handler", "identity_of", "refused_exception",
    ],
    "forcegate.service": [
        "SESSION_COOKIE", "AuthenticationService", "BootstrapResult", "CanvasLogin", "Credentials", "bootstrap",
    ],
    "forcegate.stores": [
        "UNSET", "App", "AppSecret", "AuditEvent", "AuditLog", "CertificateRecord", "Enrollment", "EnrollmentStore",
        "GrantRecorder", "IssuedToken",
        "Org", "OrgPolicy", "RateCounter", "ReplayCache", "ServiceKeyStore", "Session", "SessionStore", "SigningKey",
        "Stores", "TokenStore", "TrustStore", "open_stores",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned_and_resolves(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_every_error_is_exported_with_a_unique_code() -> None:
    from forcegate import errors

    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(cls, errors.ForcegateError) for cls in classes)
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)), "every error class has its own stable code"
    documented = errors.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in documented, f"{cls.__name__} missing from the tree in errors.py's docstring"
