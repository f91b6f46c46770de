"""A small HTTP server on the edge that hands evidence to the alerting service:

    GET /evidence/<event_id>.mp4   the clip (waits while it is still being recorded)
    GET /evidence/<event_id>.jpg   the snapshot
    GET /evidence/<event_id>.boxes.json   the alert's box on each frame of the clip (edge/track_trail.py)
    GET /healthz                   200 "ok"
    GET /stats                     the worker's per-camera stats as JSON (frames, drops, detect time, link)

Threaded, so a request waiting for a clip that is still recording blocks nobody else. Everything but
/healthz needs `Authorization: Bearer <token>`, the shared secret of `edge.evidence.token_env`
(quaywatch.evidence_token): a clip is someone's worst moment, and only alerting may fetch it.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from quaywatch.edge.evidence import EvidenceStore
from quaywatch.errors import QuaywatchError

log = logging.getLogger(__name__)
ROUTE = re.compile(r"^/evidence/(?P<id>[A-Za-z0-9_.:-]{8,80})\.(?P<ext>mp4|jpg|boxes\.json)$")
TYPES = {"mp4": "video/mp4", "jpg": "image/jpeg", "boxes.json": "application/json"}


class EvidenceServer:
    def __init__(self, store: EvidenceStore, host: str, port: int, token: str, public_url: str | None = None,
                 stats: Callable[[], dict] | None = None):
        if not token:
            raise QuaywatchError("the evidence server needs a token (edge.evidence.token_env)")
        self.store = store
        handler = type("Handler", (_Handler,), {"store": store, "stats": staticmethod(stats or dict),
                                                "token": f"Bearer {token}".encode()})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise QuaywatchError(f"evidence server cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._httpd.daemon_threads = True
        self.host, self.port = host, self._httpd.server_address[1]
        self.base_url = (public_url or f"http://{host}:{self.port}").rstrip("/")
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="evidence-http", daemon=True)

    def start(self) -> EvidenceServer:
        self._thread.start()
        log.info("evidence served at %s/evidence/", self.base_url)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def clip_url(self, event_id: str) -> str:
        return f"{self.base_url}/evidence/{event_id}.mp4"

    def snapshot_url(self, event_id: str) -> str:
        return f"{self.base_url}/evidence/{event_id}.jpg"


class _Handler(BaseHTTPRequestHandler):
    store: EvidenceStore
    stats: Callable[[], dict]
    token: bytes
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path == "/healthz":
            return self._send(HTTPStatus.OK, b"ok\n", "text/plain")
        sent = self.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(sent, self.token):
            log.warning("evidence http: refused %s from %s: %s token", self.path[:100].encode("unicode_escape"),
                        self.client_address[0], "wrong" if sent else "no")
            return self._send(HTTPStatus.UNAUTHORIZED, b"a token is needed\n", "text/plain")
        if self.path == "/stats":
            return self._send(HTTPStatus.OK, json.dumps(self.stats()).encode(), "application/json")
        m = ROUTE.match(self.path.split("?", 1)[0])
        if not m:
            return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
        event_id, ext = m["id"], m["ext"]
        if ext in ("mp4", "boxes.json"):  # written with the clip
            cfg = self.store.cfg
            self.store.wait_for(event_id, timeout=cfg.post_s + max(2.0, cfg.post_s) + 5)
        path = self.store.path(event_id, ext)
        try:
            body = path.read_bytes() if path else None
        except FileNotFoundError:
            body = None
        if body is None:
            return self._send(HTTPStatus.NOT_FOUND, b"no such evidence\n", "text/plain")
        self._send(HTTPStatus.OK, body, TYPES[ext])

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "private, max-age=3600")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args) -> None:
        log.debug("evidence http: " + fmt, *args)
