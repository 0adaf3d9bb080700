"""forcegate in a Django project (docs/django.md): ``pip install 'forcegate[django]'``.

* ``settings.FORCEGATE`` names the verifier — ``{"JWKS": {...}}`` (the service's access tokens, with
  its JWKS), ``{"REGISTRY": {...}}`` (every credential, in-process, on the service's registry, Canvas
  included) or ``{"VERIFIER": ...}`` — checked by ``manage.py check`` when
  ``"forcegate.integrations.django"`` is in ``INSTALLED_APPS``;
* :class:`ForcegateMiddleware` puts the :class:`~forcegate.core.Identity` on ``request.forcegate``
  (None without a credential), and answers a refused one with forcegate's refusal;
* :func:`forcegate_required` guards a view (401/403 with the RFC 6750 challenge);
* :func:`canvas_view` and :func:`logout_view` open and end Canvas sessions (decision 0009), with a
  ``RegistryVerifier``.

Django REST framework: :mod:`forcegate.integrations.drf`.
"""

from forcegate._extras import require_extra

require_extra("forcegate.integrations.django", "django", "django")

from forcegate.integrations.django._config import (  # noqa: E402 - after the extra's check
    ForcegateSettingsError,
    get_verifier,
)
from forcegate.integrations.django._http import ForcegateRequest, get_identity  # noqa: E402
from forcegate.integrations.django._middleware import (  # noqa: E402
    ForcegateMiddleware,
    forcegate_exempt,
    forcegate_required,
)
from forcegate.integrations.django._views import canvas_view, logout_view  # noqa: E402

__all__ = [
    "ForcegateMiddleware",
    "ForcegateRequest",
    "ForcegateSettingsError",
    "canvas_view",
    "forcegate_exempt",
    "forcegate_required",
    "get_identity",
    "get_verifier",
    "logout_view",
]
