"""A local HTTP server on 127.0.0.1 for download tests: serves fabricated files, honours range
requests, and can drop a connection half-way. Tests never contact real hosts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class FileServer:
    """Routes path -> bytes; ``drop_after[path] = n`` cuts the first response of ``path`` after n bytes;
    ``handlers[path]`` answers dynamically from the query string."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, int] = {}
        self.handlers: dict[str, Callable[[str], bytes]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.url = ""


@contextmanager
def serve() -> Iterator[FileServer]:
    state = FileServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            state.requests.append((parts.path, self.headers.get("Range")))
            if parts.path in state.handlers:
                body = state.handlers[parts.path](parts.query)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if parts.path not in state.files:
                self.send_error(404)
                return
            body = state.files[parts.path]
            start = 0
            if (spec := self.headers.get("Range")) and spec.startswith("bytes="):
                start = int(spec[6:].split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if parts.path in state.drop_after:
                cut = state.drop_after.pop(parts.path)
                self.wfile.write(body[start:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
