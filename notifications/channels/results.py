"""What a channel says about one delivery after trying to send it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SendResult:
    """sent, retry (transient: backoff, then again), failed (permanent) or cancelled (nowhere to send)."""

    status: str
    detail: str = ""
