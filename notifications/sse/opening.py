"""The database reads of a stream's first answer: the replay of what it missed, the unread count.

All of these run on database.threads (kept connections): an open stream holds none.
The user's delivery seq (notifications.sequencing) is read first: every row up to it is
committed, so the replay is exact up to it, and everything above it arrives live (the
stream subscribed first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone

from django.db.models import Q

from . import frames

# A client that missed more than this is told to reset and reload through the API.
REPLAY_LIMIT = 500


@dataclass(frozen=True)
class Opening:
    """A stream's first body and what it covers.

    Every notification up to `seq` was replayed, expired, or is one the client already
    had (or, without Last-Event-ID, one it did not ask for); the ones above it come live.
    """

    body: str
    seq: int
    reset: bool  # the client missed too many and was told to reload through the API
    replayed: frozenset[int]  # the seqs of the notifications in the body


def read_opening(*, user_id: int, last_seq: int | None) -> Opening:
    """Padding, retry, stream_open, then the replay (with Last-Event-ID) and the unread count."""
    return read_openings([(user_id, last_seq)])[0]


def read_openings(requests: list[tuple[int, int | None]]) -> list[Opening]:
    """read_opening() for each (user id, Last-Event-ID or None), each read in one query for all of them.

    In the order a lone opening reads them: without Last-Event-ID the unread count, then the
    seq; with it the seq, the replay, then the unread count.
    """
    from ..selectors import notification_unread_counts, notifications_missed
    from ..sequencing import seqs_current

    fresh = {user_id for user_id, last_seq in requests if last_seq is None}
    resuming = {user_id for user_id, last_seq in requests if last_seq is not None}
    unread = notification_unread_counts(user_ids=fresh) if fresh else {}
    current = seqs_current(user_ids=fresh | resuming)
    behind = [(user_id, last_seq) for user_id, last_seq in requests if last_seq is not None and last_seq < current[user_id]]
    # One user's two tabs resuming from different places are two ranges: one query per distinct place.
    missed: dict[tuple[int, int], list] = {}
    while behind:
        ranges = {}
        for user_id, last_seq in behind:
            if user_id not in ranges and (user_id, last_seq) not in missed:
                ranges[user_id] = (last_seq, current[user_id])
        rows = notifications_missed(ranges=ranges, limit=REPLAY_LIMIT + 1)
        missed.update({(user_id, after): rows[user_id] for user_id, (after, _upto) in ranges.items()})
        behind = [request for request in behind if request not in missed]
    missed_by_request = [missed.get((user_id, last_seq), []) for user_id, last_seq in requests]
    if resuming:
        unread.update(notification_unread_counts(user_ids=resuming))
    return [
        _opening(missed, current=current[user_id], unread=unread[user_id], fresh=last_seq is None)
        for (user_id, last_seq), missed in zip(requests, missed_by_request)
    ]


def _opening(missed: list, *, current: int, unread: int, fresh: bool) -> Opening:
    # A fresh stream starts at the user's seq: the id makes its browser's reconnect resume
    # from there (without one, what was stored while it was away would not be replayed).
    body = frames.preamble() + frames.stream_open_frame(current if fresh else None)
    reset = len(missed) > REPLAY_LIMIT
    if reset:
        # With the id the page resumes from once it has reloaded through the API.
        body += frames.stream_reset_frame(current)
        missed = []
    body += "".join(frames.notification_frame(n) for n in missed)
    body += frames.unread_count_frame(unread)
    return Opening(body=body, seq=current, reset=reset, replayed=frozenset(n.seq for n in missed))


@dataclass(frozen=True)
class CatchUpQuery:
    """What a held (Pushpin) stream's opening covered, for the catch-up that follows it."""

    user_id: int
    session_key: str | None
    opening_seq: int  # the user's seq read by the opening
    replayed: frozenset[int]  # seqs the opening sent
    created_since: float  # epoch seconds: rows created since may have committed after the opening
    last_seq: int  # the client's Last-Event-ID (0 without one)


@dataclass(frozen=True)
class CatchUp:
    still_allowed: bool  # False: the credential went away in the meantime
    frames: list[str]


def read_catch_up(query: CatchUpQuery) -> CatchUp:
    """The frames the opening did not send: seqs above its seq, and late commits it could not see.

    Those are the seqs above `opening_seq`, and the rows above the client's Last-Event-ID
    created since `created_since` that were not replayed (with seqs in commit order a safety
    net only). Pushpin cannot rewrite ids per connection: the browser's Last-Event-ID is the
    seq of the last frame it got, so a frame published after a higher seq while the page was
    away is not replayed (the page shows it on its next load).

    """
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from ..models import Notification
    from ..selectors import notification_unread_count
    from .credentials import authenticate

    if query.session_key:
        credential = authenticate({"cookie": f"{settings.SESSION_COOKIE_NAME}={query.session_key}"})
        if credential is None or credential.user_id != query.user_id:
            return CatchUp(still_allowed=False, frames=[])
    if not query.session_key and not get_user_model().objects.filter(pk=query.user_id, is_active=True).exists():
        return CatchUp(still_allowed=False, frames=[])
    since_at = datetime.fromtimestamp(query.created_since, tz=dt_timezone.utc)
    missed = list(
        Notification.objects.filter(recipient_id=query.user_id, seq__gt=query.last_seq, expired_at__isnull=True)
        .filter(Q(seq__gt=query.opening_seq) | Q(created_at__gte=since_at))
        .exclude(seq__in=query.replayed)
        .order_by("seq")[: REPLAY_LIMIT + 1]
    )
    unread = notification_unread_count(user_id=query.user_id) if missed else 0
    if len(missed) > REPLAY_LIMIT:
        return CatchUp(still_allowed=True, frames=[frames.stream_reset_frame()])
    sent = [frames.notification_frame(n) for n in missed]
    if sent:
        sent.append(frames.unread_count_frame(unread))
    return CatchUp(still_allowed=True, frames=sent)
