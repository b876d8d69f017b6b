"""`grocery dashboard --serve`: the page at a URL on this machine, for people who prefer one.

The server binds 127.0.0.1 only and answers GET for the page and nothing else; it re-reads the file
on every request, so a dashboard rendered again shows on reload.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from grocery.errors import ConfigError

HOST = "127.0.0.1"


def make_server(page: Path, port: int = 8050) -> ThreadingHTTPServer:
    """A loopback server for one page (port 0 picks a free port); call serve_forever() on it."""
    page = Path(page).resolve()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            body = page.read_bytes()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    another = "pass another with --port, or --port 0 for any free one"
    try:
        return ThreadingHTTPServer((HOST, port), Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {HOST} is in use", hint=another) from None
        # Any other refusal is the user's to fix too: a port below 1024 without the privilege
        # (EACCES), a loopback address this machine lacks (EADDRNOTAVAIL).
        raise ConfigError(
            f"cannot serve on port {port} on {HOST}: {exc.strerror or exc}", hint=another
        ) from None


def serve(page: Path, port: int = 8050, announce: Callable[[str], None] = print) -> None:
    """Serve the page until interrupted (Ctrl+C)."""
    with make_server(page, port) as server:
        announce(f"serving {page} at http://{HOST}:{server.server_address[1]}/ (Ctrl+C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
