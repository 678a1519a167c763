"""`python -m analyzer serve`: the API on uvicorn, refusing to be open to a network unguarded."""

from __future__ import annotations

import ipaddress
import logging
import re
import sys

import uvicorn

from analyzer.api.settings import ApiSettings

EXIT_OK, EXIT_USAGE = 0, 2
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*")


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class RedactTokenFilter(logging.Filter):
    """Access logs print request paths: hide an EventSource's `?token=` in them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def serve(host: str = "127.0.0.1", port: int = 8000) -> int:
    """Run the API until Ctrl-C. Returns an exit code (2: refused to start)."""
    try:
        settings = ApiSettings.from_env()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not is_loopback(host) and not settings.api_token:
        print(
            f"error: refusing to listen on {host} without a token: anyone who can reach it "
            "could run jobs on your provider account. Set ANALYZER_API_TOKEN (clients send "
            "'Authorization: Bearer <token>'), or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        return EXIT_USAGE

    from analyzer.api.app import create_app

    config = uvicorn.Config(
        create_app(settings=settings),
        host=host,
        port=port,
        timeout_graceful_shutdown=5,
        log_level="info",
    )
    # uvicorn.Config sets logging up; add the filter after that so it stays.
    logging.getLogger("uvicorn.access").addFilter(RedactTokenFilter())
    print(f"DocPulse API on http://{host}:{port}  (docs: /docs, demo page: /)", file=sys.stderr)
    uvicorn.Server(config).run()
    return EXIT_OK
