"""The authentication service: the application logic behind every entry point, without HTTP.

:class:`AuthenticationService` verifies credentials (the JWT-bearer grant, access tokens, Apex JWTs
sent directly, Canvas signed requests and sessions, the admin token) and audits each decision; the
service's own endpoints, the Starlette/FastAPI dependency and the CLI share it without importing the
server package. The trust registry it reads is managed by :mod:`forcegate.registry`.
"""

from forcegate.service.authentication import AuthenticationService
from forcegate.service.bootstrap import BootstrapResult, bootstrap
from forcegate.service.canvas import CanvasLogin
from forcegate.service.credentials import SESSION_COOKIE, Credentials

__all__ = ["SESSION_COOKIE", "AuthenticationService", "BootstrapResult", "CanvasLogin", "Credentials", "bootstrap"]
