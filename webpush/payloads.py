"""What a push carries: a small JSON object the service worker turns into a notification."""

import json

# Push services take at most 4096 bytes of encrypted body (RFC 8030 §7.2); aes128gcm adds a
# header of 86 bytes, a padding delimiter and a 16-byte tag. 3 KB of JSON leaves room to spare.
MAX_PAYLOAD_BYTES = 3072
MAX_TITLE_CHARS = 120


class PushPayloadTooLarge(ValueError):
    """A payload over MAX_PAYLOAD_BYTES: a caller's bug (push_payload() always fits), never retried into success."""


def push_payload(*, title: str, body: str, url: str, notification_id: int, type: str, tag: str = "") -> dict:
    """The payload for one notification, its body shortened to fit; `url` is a path on this site ("/jobs/7/")."""
    if not url.startswith("/") or url.startswith("//"):
        raise ValueError(f"a push opens a page of this site: a path starting with one '/', got {url!r}")
    payload = {
        "title": _shortened(title, MAX_TITLE_CHARS),
        "body": body,
        "url": url,
        "notification_id": notification_id,
        "type": type,
        # Same tag, same notification on the screen: a repeat replaces it instead of showing twice.
        "tag": tag or f"notification-{notification_id}",
    }
    raw_body = body.encode("utf-8")
    budget = len(raw_body)
    size = len(payload_encode(payload, check=False))
    while size > MAX_PAYLOAD_BYTES and budget > 0:
        # Cut the body's UTF-8 bytes (not characters: "é" takes two), keeping room for "…" (three);
        # again if JSON escapes ("\n", '\"') made it longer than its bytes.
        budget = max(0, budget - (size - MAX_PAYLOAD_BYTES) - len("…".encode("utf-8")))
        payload["body"] = raw_body[:budget].decode("utf-8", "ignore").rstrip() + "…"
        size = len(payload_encode(payload, check=False))
    payload_encode(payload)  # a URL or tag too long to fit even with no body: the caller's bug
    return payload


def payload_encode(payload: dict, *, check: bool = True) -> bytes:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if check and len(data) > MAX_PAYLOAD_BYTES:
        raise PushPayloadTooLarge(f"push payload of {len(data)} bytes, the limit is {MAX_PAYLOAD_BYTES}")
    return data


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"
