"""A fake Kaggle API on 127.0.0.1:7777 that the real `kagglesdk` client downloads datasets from.

kagglesdk sends every call as `POST <endpoint>/api/v1/<service>/<method>` with a JSON body and
either Basic auth (username:key) or `Authorization: Bearer <token>`. With
`KAGGLE_API_ENVIRONMENT=TEST` the endpoint is always http://localhost:7777 (kagglesdk/kaggle_env.py
offers no other way to choose it), so the server must take that port.

A dataset download is `DatasetApiService/DownloadDataset` with `{"ownerSlug", "datasetSlug"}`,
answered like the real API: a 302 redirect to a blob URL on another host (here 127.0.0.1, so the
client drops the Authorization header as it does for storage.googleapis.com), which serves the zip.
Errors are JSON `{"code": <status>, "message": ...}` as Kaggle sends them.

    with FakeKaggle(archives={"owner/slug": zip_bytes}, username="u", key="k") as fake:
        ...  # fake.requests lists (method, path) of every request

Set `fake.fail_status = 500` to fail the API call, `fake.drop_blob_midway = True` to cut the
archive's transfer short.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from grocery.tables import TABLES, Kind, Table

HOST, PORT = "127.0.0.1", 7777
DOWNLOAD_PATH = "/api/v1/datasets.DatasetApiService/DownloadDataset"


class FakeKaggle:
    """The fake API; a context manager that serves in a background thread."""

    def __init__(
        self,
        archives: dict[str, bytes],
        username: str | None = None,
        key: str | None = None,
        token: str | None = None,
    ) -> None:
        self.archives = dict(archives)  # "owner/slug" -> zip bytes
        self.accepted = set()  # Authorization header values the server lets in
        if username and key:
            self.accepted.add("Basic " + base64.b64encode(f"{username}:{key}".encode()).decode())
        if token:
            self.accepted.add(f"Bearer {token}")
        self.fail_status: int | None = None  # answer DownloadDataset with this status instead
        self.drop_blob_midway = False  # close the connection after half of the archive
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeKaggle:
        try:
            self._server = _Server((HOST, PORT), _handler(self))
        except OSError as e:
            raise RuntimeError(
                f"cannot start the fake Kaggle API on {HOST}:{PORT} ({e}); kagglesdk's TEST "
                f"environment always talks to http://localhost:{PORT}, so free that port and run again"
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a previous test's socket in TIME_WAIT must not block the port


def _handler(fake: FakeKaggle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            fake.record("POST", self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != DOWNLOAD_PATH:
                return self._json(404, {"code": 404, "message": f"no such method {self.path}"})
            if self.headers.get("Authorization") not in fake.accepted:
                return self._json(401, {"code": 401, "message": "Unauthenticated"})
            if fake.fail_status:
                return self._json(
                    fake.fail_status, {"code": fake.fail_status, "message": "failing on purpose"}
                )
            request = json.loads(body or b"{}")
            handle = f"{request.get('ownerSlug')}/{request.get('datasetSlug')}"
            if handle not in fake.archives:
                return self._json(404, {"code": 404, "message": f"dataset {handle} not found"})
            self.send_response(302)
            self.send_header("Location", f"http://{HOST}:{PORT}/blobs/{handle}.zip?signature=fake")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            fake.record("GET", self.path)
            path = self.path.split("?")[0]
            handle = path.removeprefix("/blobs/").removesuffix(".zip")
            if not path.startswith("/blobs/") or handle not in fake.archives:
                return self._json(404, {"code": 404, "message": "no such blob"})
            data = fake.archives[handle]
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Last-Modified", "Mon, 02 Jan 2023 00:00:00 GMT")
            self.end_headers()
            if fake.drop_blob_midway:
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self.wfile.write(data)

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest's output clean

    return Handler


def port_is_free() -> bool:
    """Whether the fake's port can be bound right now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, PORT))
        except OSError:
            return False
    return True


def sample_csv(table: Table, rows: int = 3, header: list[str] | None = None, newline: str = "\n") -> bytes:
    """A small valid file for a table: its exact header and a few rows of the right kinds."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(header or table.column_names)
    for i in range(1, rows + 1):
        writer.writerow([_value(c.kind, c.allowed, i) for c in table.columns])
    return out.getvalue().encode()


def _value(kind: Kind, allowed: tuple[str, ...] | None, i: int) -> str:
    if allowed:
        return allowed[i % len(allowed)]
    return {
        Kind.INT: str(i),
        Kind.FLOAT: f"{i}.5",
        Kind.TEXT: f"text {i}",
        Kind.TIMESTAMP: f"2018-01-0{i % 9 + 1} 10:00:00.000",
        Kind.DATE: f"1980-01-0{i % 9 + 1}",
    }[kind]


def grocery_zip(
    prefix: str = "",
    files: dict[str, bytes] | None = None,
    skip: Iterable[str] = (),
) -> bytes:
    """A zip of the seven sample files under prefix ("" or "folder/"); files replaces some."""
    skipped = set(skip)
    contents = {t.file_name: sample_csv(t) for t in TABLES if t.file_name not in skipped}
    contents.update(files or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in contents.items():
            z.writestr(prefix + name, data)
    return buffer.getvalue()
