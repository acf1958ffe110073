"""A local Web Push service for tests and benchmarks, and a browser's side of a subscription.

PushService is a real HTTP/1.1 server in a thread (keep-alive, so connection reuse shows in
its connection count). It records every request (path, headers: Authorization, Content-Encoding,
TTL, Topic; body) and answers per endpoint: 201 by default, or a status set with answer(), or
never (hang(), until the client times out). BrowserSubscription makes the keys a browser would
(ECDH P-256 + a 16-byte auth secret), the JSON it would POST, and decrypts what a push service
received for it (RFC 8291 aes128gcm, through http_ece). vapid_claims() checks a VAPID
Authorization header (RFC 8292: JWT ES256 signed by the key named in k=).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

HANG = "hang"
HANG_MAX_SECONDS = 60


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class ReceivedPush:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    connection: int  # which TCP connection brought it (1, 2, ...)


@dataclass
class PushService:
    """Start with start() (or as a context manager); endpoint(name) is a subscription's URL on it."""

    record_bodies: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    received: list[ReceivedPush] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self._answers: dict[str, int | str] = {}
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.request_count = 0

    # --- control ---------------------------------------------------------------------
    def start(self) -> PushService:
        self._server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="push-service", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def answer(self, name: str, status: int | str) -> None:
        """From now on answer pushes to endpoint(name) with this status, or HANG (no answer at all)."""
        with self._lock:
            self._answers[f"/push/{name}"] = status

    def pushes_to(self, name: str) -> list[ReceivedPush]:
        with self._lock:
            return [push for push in self.received if push.path == f"/push/{name}"]

    # --- the server's side ----------------------------------------------------------------
    def _new_connection(self) -> int:
        with self._lock:
            self.connections += 1
            return self.connections

    def _record(self, push: ReceivedPush) -> int | str:
        with self._lock:
            self.request_count += 1
            if self.record_bodies:
                self.received.append(push)
            return self._answers.get(push.path, 201)


def _handler_for(service: PushService):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: one connection carries many pushes

        def setup(self):
            super().setup()
            self.connection_number = service._new_connection()

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            answer = service._record(ReceivedPush(self.path, headers, body, self.connection_number))
            if answer == HANG:
                service._stopping.wait(HANG_MAX_SECONDS)
                self.close_connection = True
                return
            self.send_response(int(answer))
            if int(answer) == 201:
                self.send_header("Location", f"{service.origin}/message/{service.request_count}")
            elif 300 <= int(answer) < 400:
                self.send_header("Location", f"{service.origin}/push/redirected")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            """/stats: what a service in another process counted (the benchmark reads it)."""
            body = json.dumps({"requests": service.request_count, "connections": service.connections}).encode()
            self.send_response(200 if self.path == "/stats" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # quiet
            pass

    return Handler


class BrowserSubscription:
    """What a browser makes when it subscribes: an ECDH P-256 key pair and a 16-byte auth secret."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        public = self.private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.p256dh = _b64url(public)
        self.auth = _b64url(self.auth_secret)

    def as_json(self) -> dict:
        """PushSubscription.toJSON(), as the page POSTs it."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def decrypt(self, body: bytes) -> bytes:
        """The plaintext of an aes128gcm body sent to this subscription (raises if it was not encrypted for it)."""
        return http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")

    def decrypt_json(self, body: bytes) -> dict:
        return json.loads(self.decrypt(body))


def vapid_claims(authorization: str, *, public_key: str) -> dict:
    """The JWT claims of `vapid t=<jwt>,k=<key>` if k is `public_key` and the ES256 signature verifies; else ValueError."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"not a vapid Authorization header: {authorization[:20]!r}")
    parts = dict(item.strip().split("=", 1) for item in params.split(","))
    if parts.get("k") != public_key:
        raise ValueError("signed with another public key")
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(_unb64url(header_b64))
    if header.get("alg") != "ES256":
        raise ValueError(f"alg {header.get('alg')!r}, not ES256")
    signature = _unb64url(signature_b64)
    if len(signature) != 64:
        raise ValueError("an ES256 signature is 64 bytes (r, s)")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64url(public_key))
    try:
        key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the VAPID signature does not verify") from None
    return json.loads(_unb64url(claims_b64))


def start_push_service_process(log_dir, *, port: int | None = None):
    """A push service in a process of its own (a benchmark must not share its sender's GIL); (Process, origin)."""
    import sys

    from devtools.processes import Process, free_port, wait_for

    port = port or free_port()
    process = Process("push-service", [sys.executable, "-m", "devtools.push_service", "--port", str(port)], dict(os.environ), log_dir)
    process.wait_for_output("push service ready", timeout=30)
    origin = f"http://127.0.0.1:{port}"
    wait_for(lambda: push_service_stats(origin), timeout=10, what="the push service's /stats")
    return process, origin


def push_service_stats(origin: str) -> dict | None:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{origin}/stats", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="A local Web Push service answering 201 to every push (counts only).")
    parser.add_argument("--port", type=int, required=True)
    service = PushService(record_bodies=False, port=parser.parse_args().port).start()
    print(f"push service ready on {service.origin}", flush=True)
    threading.Event().wait()
