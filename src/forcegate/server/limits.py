"""Connection-level limits of ``forcegate serve``, and the open-file budget they are checked against.

The limits are enforced by :mod:`forcegate.server.protocol`; this module only decides them, from the
settings and the process's open-file limit (``RLIMIT_NOFILE``), so it imports no web server.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from forcegate.errors import ConfigurationError
from forcegate.settings import Settings

__all__ = ["FILE_RESERVE", "ConnectionLimits", "connection_limits", "raise_open_file_limit"]

#: Descriptors a worker keeps for itself beside its client connections (besides one per PostgreSQL
#: connection of its pool): the listening socket, the event loop's, SQLite's database, journal and
#: shared-memory files, Redis, the outbound HTTPS calls to Salesforce, logs. Far more than these
#: take; running out of them fails requests in ways a refused connection does not.
FILE_RESERVE = 256


@dataclass(frozen=True)
class ConnectionLimits:
    """Timeouts in seconds; ``max_connections``: open connections per worker beyond which new ones close (0: none)."""

    header_read_timeout: float
    body_read_timeout: float
    max_header_bytes: int
    max_connections: int


def raise_open_file_limit() -> int | None:
    """Raise this process's soft ``RLIMIT_NOFILE`` to its hard limit; the soft limit now (None: unlimited).

    Distributions start processes at a soft limit of 1,024 under a much higher hard one: every idle
    client costs a descriptor, so the service takes what it is allowed (its workers inherit it).
    """
    if sys.platform == "win32":  # no RLIMIT_NOFILE; the C runtime's own limit applies
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass  # macOS refuses an unlimited soft limit: keep the one we have
    return None if soft == resource.RLIM_INFINITY else soft


def connection_limits(settings: Settings, open_files: int | None) -> ConnectionLimits:
    """The limits for ``settings`` in a worker allowed ``open_files`` descriptors (None: unlimited).

    ``max_connections`` 0 means "as many as the descriptors allow": the open-file limit minus the
    worker's own reserve (:data:`FILE_RESERVE` plus its PostgreSQL pool). A cap set explicitly must
    fit under that limit, or it would not protect the reserve: refused, naming the limit to raise.
    """
    reserve = FILE_RESERVE + (settings.database_pool_size if settings.database_url else 0)
    room = None if open_files is None else open_files - reserve
    if room is not None and room < 1:
        raise ConfigurationError(
            f"the open-file limit ({open_files}) leaves no descriptor for connections beside the worker's own "
            f"{reserve}: raise it (ulimit -n, systemd LimitNOFILE=)"
        )
    cap = settings.max_connections
    if cap == 0:
        cap = 0 if room is None else room
    elif room is not None and cap > room:
        raise ConfigurationError(
            f"max_connections {cap} does not fit the open-file limit {open_files} (the worker keeps {reserve} "
            f"for itself): raise the limit (ulimit -n, systemd LimitNOFILE=) or lower max_connections"
        )
    return ConnectionLimits(
        header_read_timeout=float(settings.header_read_timeout),
        body_read_timeout=float(settings.body_read_timeout),
        max_header_bytes=settings.max_header_bytes,
        max_connections=cap,
    )
