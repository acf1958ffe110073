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
    excess = len(payload_encode(payload, check=False)) - MAX_PAYLOAD_BYTES
    if excess > 0:
        payload["body"] = _shortened(body, max(0, len(body) - excess - 1))
        while len(payload_encode(payload, check=False)) > MAX_PAYLOAD_BYTES:  # multi-byte characters
            payload["body"] = _shortened(payload["body"], len(payload["body"]) - 8)
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
