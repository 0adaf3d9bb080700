"""The forcegate service: the ASGI application, and the pieces to embed it in your own.

``forcegate serve`` runs :func:`create_app` under uvicorn; :class:`Forcegate` embeds the same
service in a Starlette or FastAPI application and protects your routes with its identity.
"""

from forcegate.server.app import ForcegateApp, create_app
from forcegate.server.integration import Forcegate, ForcegateRefusal

__all__ = ["Forcegate", "ForcegateApp", "ForcegateRefusal", "create_app"]
