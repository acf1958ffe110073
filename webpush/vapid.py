"""VAPID (RFC 8292): the application's P-256 key pair and the signed Authorization header per push service."""

import base64
import json
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid02

# A signed header is valid for 12 hours (push services refuse more than 24); it is
# re-signed an hour before it expires, so one signature serves many sends.
TOKEN_LIFETIME_SECONDS = 12 * 3600
TOKEN_RENEW_BEFORE_SECONDS = 3600


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url (padding optional); binascii.Error or ValueError on anything else."""
    if not isinstance(text, str) or not text.isascii() or "=" in text.rstrip("="):
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))


def vapid_keys_generate() -> tuple[str, str]:
    """A new key pair: (public key as the uncompressed point, private key as the raw 32-byte scalar), both base64url.

    The public one is what PushManager.subscribe() takes as applicationServerKey.
    """
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_raw = private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    private_raw = private_key.private_numbers().private_value.to_bytes(32, "big")
    return b64url_encode(public_raw), b64url_encode(private_raw)


def vapid_public_key_of(private_key_b64: str) -> str:
    """The public key (base64url uncompressed point) that belongs to a raw private key."""
    value = int.from_bytes(b64url_decode(private_key_b64), "big")
    public = ec.derive_private_key(value, ec.SECP256R1()).public_key()
    return b64url_encode(public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def vapid_pair_problem(public_key_b64: str, private_key_b64: str) -> str:
    """Why these two keys are not one P-256 pair ("" if they are): every push would be refused (403)."""
    try:
        derived = vapid_public_key_of(private_key_b64)
    except ValueError:
        return "VAPID_PRIVATE_KEY is not a P-256 private key"
    if derived != public_key_b64:
        return "VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY (make a new pair with manage.py webpush_vapid_keys)"
    return ""


def dev_vapid_keys(path: Path) -> tuple[str, str]:
    """Development keys kept in `path` (created once, first writer wins), so `make run` has Web Push without setup.

    Stable across restarts: a browser's subscription is bound to the public key it was made with.
    """
    try:
        with open(path, "x") as file:  # only one process creates it
            public, private = vapid_keys_generate()
            json.dump({"VAPID_PUBLIC_KEY": public, "VAPID_PRIVATE_KEY": private}, file)
        os.chmod(path, 0o600)
    except FileExistsError:
        pass
    for _ in range(20):  # another process may be writing it this instant
        try:
            keys = json.loads(path.read_text())
            return keys["VAPID_PUBLIC_KEY"], keys["VAPID_PRIVATE_KEY"]
        except (ValueError, KeyError):
            time.sleep(0.05)
    raise RuntimeError(f"{path} does not hold VAPID keys: delete it to have new ones made")


def webpush_enabled() -> bool:
    """Web Push is on when the application has a key pair."""
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


def push_service_origin(endpoint: str) -> str:
    """The JWT's audience: the push service's origin (scheme, host, port)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class _HeaderCache:
    """One signed VAPID header per push service origin, shared by the threads of a process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._headers: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._signers: dict[str, Vapid02] = {}

    def authorization(self, endpoint: str) -> str:
        audience = push_service_origin(endpoint)
        key = (settings.VAPID_PRIVATE_KEY, settings.VAPID_SUBJECT, audience)
        now = time.time()
        with self._lock:
            cached = self._headers.get(key)
            if cached and cached[0] - TOKEN_RENEW_BEFORE_SECONDS > now:
                return cached[1]
            signer = self._signers.get(key[0])
            if signer is None:
                signer = self._signers[key[0]] = Vapid02.from_raw(key[0].encode())
            expires = int(now) + TOKEN_LIFETIME_SECONDS
            header = signer.sign({"aud": audience, "sub": settings.VAPID_SUBJECT, "exp": expires})["Authorization"]
            self._headers[key] = (expires, header)
            return header


vapid_authorization = _HeaderCache().authorization
