"""The service tests use the server tests' live server and emulated org where they run end to end."""

from __future__ import annotations

from server.conftest import clock, live_server, org, registered

__all__ = ["clock", "live_server", "org", "registered"]
