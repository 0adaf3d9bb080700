"""An app under uvicorn with a chosen HTTP protocol, for the protocol measurements of decision 0012.

``--app forcegate`` serves the service (settings from ``FORCEGATE_*``, data folder brought up to date
as ``forcegate serve`` does); ``--app baseline`` serves benchmarks/_baseline_app.py's raw ASGI app.
Everything else is ``forcegate serve``'s uvicorn settings; only ``--http`` changes:

* ``httptools``: uvicorn's own httptools protocol (what ``forcegate serve`` ran before decision 0012);
* ``limited``: forcegate's ``LimitedHttpToolsProtocol`` with the settings' limits (what it runs now);
* ``h11``: uvicorn's h11 protocol, its incomplete-event cap at the settings' ``max_header_bytes``.

    .venv/bin/python benchmarks/_protocol_server.py --app forcegate --http h11 --port 8100 [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

PROTOCOLS = ("httptools", "limited", "h11")
BENCHMARKS = Path(__file__).resolve().parent


def uvicorn_arguments(app: str, http: str) -> dict[str, Any]:
    """The app's factory and the protocol settings for uvicorn.run."""
    from forcegate.server.limits import ConnectionLimits, connection_limits, raise_open_file_limit
    from forcegate.server.protocol import http_protocol
    from forcegate.settings import Settings, load_settings

    if app == "forcegate":
        from forcegate.service.bootstrap import bootstrap

        settings = load_settings()
        asyncio.run(bootstrap(settings))
        arguments: dict[str, Any] = {"app": "forcegate.server.app:create_app_from_environment"}
        limits = connection_limits(settings, raise_open_file_limit())
    else:
        defaults = Settings()
        arguments = {"app": "_baseline_app:create_app", "app_dir": str(BENCHMARKS)}
        limits = ConnectionLimits(
            header_read_timeout=defaults.header_read_timeout,
            body_read_timeout=defaults.body_read_timeout,
            max_header_bytes=defaults.max_header_bytes,
            max_connections=0,
        )
    if http == "limited":
        arguments["http"] = http_protocol(limits)
    elif http == "h11":
        arguments.update(http="h11", h11_max_incomplete_event_size=limits.max_header_bytes)
    else:
        arguments["http"] = "httptools"
    return arguments


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--app", choices=("forcegate", "baseline"), required=True)
    parser.add_argument("--http", choices=PROTOCOLS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()

    import uvicorn

    sys.path.insert(0, str(BENCHMARKS))
    uvicorn.run(
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        log_level=args.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        **uvicorn_arguments(args.app, args.http),
    )


if __name__ == "__main__":
    main()
