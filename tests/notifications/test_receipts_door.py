"""POST /receipts/ (notifications/receipts_door.py): the pages' acks, by receipt token, written in batches.

The same rules as the API's door (tests/notifications/test_receipts.py): own rows only, forward
only, a bounded list, throttled; run on the ASGI app in this process, the writer's thread and
its database connection included.
"""

import asyncio
import json

import pytest
from django.core import signing

from notifications import metrics, receipts_door
from notifications.models import Notification, OutboxEvent
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db(transaction=True)


async def post(body, *, token: str | None, method: str = "POST", raw: bytes | None = None) -> tuple[int, dict, dict]:
    sent = []
    payload = raw if raw is not None else json.dumps(body).encode()
    messages = [{"type": "http.request", "body": payload, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if token is not None:
        headers.append((b"x-receipt-token", token.encode()))
    scope = {"type": "http", "method": method, "path": receipts_door.RECEIPTS_PATH, "headers": headers, "query_string": b""}
    await receipts_door.receipts_app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), json.loads(sent[1]["body"])


def ack(*requests) -> list[tuple[int, dict, dict]]:
    """Send the requests, then let the writer write what it queued (as at shutdown)."""

    async def scenario():
        answers = [await post(body, token=token, **kwargs) for body, token, kwargs in requests]
        await receipts_door.writer.close()
        return answers

    return asyncio.run(scenario())


def states(notification):
    return Notification.objects.values_list("delivered_at", "seen_at", "clicked_at").get(pk=notification.pk)


@pytest.fixture
def user():
    return UserFactory()


def token_of(user):
    return receipts_door.receipt_token_for(user.pk)


def test_acks_by_token_move_the_senders_rows_forward_in_one_batch(user):
    first, second = NotificationFactory(recipient=user), NotificationFactory(recipient=user)

    answers = ack(({"delivered": [first.pk]}, token_of(user), {}), ({"seen": [second.pk]}, token_of(user), {}))

    assert [(status, body) for status, _, body in answers] == [
        (202, {"delivered": 1, "seen": 0, "clicked": 0}),
        (202, {"delivered": 0, "seen": 1, "clicked": 0}),
    ]
    delivered_at, seen_at, clicked_at = states(first)
    assert delivered_at is not None and seen_at is None and clicked_at is None
    assert None not in states(second)[:2]  # seen implies delivered


def test_a_repeated_ack_never_moves_a_time(user):
    note = NotificationFactory(recipient=user)
    ack(({"clicked": [note.pk]}, token_of(user), {}))
    before = states(note)

    ack(({"delivered": [note.pk], "seen": [note.pk], "clicked": [note.pk]}, token_of(user), {}))

    assert states(note) == before and None not in before


def test_acks_for_another_users_notifications_change_nothing(user):
    theirs = NotificationFactory(recipient=UserFactory())

    [(status, _, _)] = ack(({"delivered": [theirs.pk], "seen": [theirs.pk], "clicked": [theirs.pk]}, token_of(user), {}))

    assert status == 202
    assert states(theirs) == (None, None, None)


def test_a_deactivated_users_acks_change_nothing(user):
    note = NotificationFactory(recipient=user)
    user.is_active = False
    user.save(update_fields=["is_active"])

    ack(({"delivered": [note.pk]}, token_of(user), {}))

    assert states(note) == (None, None, None)


@pytest.mark.parametrize(
    "token",
    ["", "12", "12:forged:signature", signing.TimestampSigner(salt="another.salt").sign("12")],
    ids=["none", "unsigned", "forged", "other-salt"],
)
def test_without_a_valid_token_nothing_changes(user, token):
    note = NotificationFactory(recipient=user)
    forged = token.replace("12", str(user.pk))

    [(status, _, body)] = ack(({"delivered": [note.pk]}, forged, {}))

    assert (status, body["code"]) == (403, "permission_denied")
    assert states(note) == (None, None, None)


def test_an_expired_token_is_refused(user, settings):
    note = NotificationFactory(recipient=user)
    settings.NOTIFICATION_RECEIPT_TOKEN_MAX_AGE = 0.001
    token = token_of(user)
    asyncio.run(asyncio.sleep(0.01))

    [(status, _, _)] = ack(({"delivered": [note.pk]}, token, {}))

    assert status == 403
    assert states(note) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "raw", "status", "code"),
    [
        (None, b"{not json", 400, "parse_error"),
        ([1, 2], None, 400, "invalid"),
        ({"delivered": [0]}, None, 400, "invalid"),
        ({"delivered": ["x"]}, None, 400, "invalid"),
        ({"delivered": 5}, None, 400, "invalid"),
        ({"delivered": list(range(1, 202))}, None, 400, "invalid"),
        ({"seen": [2**63]}, None, 400, "invalid"),
        ({"clicked": [True]}, None, 400, "invalid"),
        (None, b'{"delivered": [' + b"1," * 10_000 + b"1]}", 413, "request_too_large"),
    ],
    ids=["not-json", "not-an-object", "zero", "string", "not-a-list", "201-ids", "past-bigint", "bool", "huge-body"],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(user, body, raw, status, code):
    note = NotificationFactory(recipient=user)

    [(answer, _, payload)] = ack((body, token_of(user), {"raw": raw}))

    assert (answer, payload["code"]) == (status, code)
    assert payload["detail"]
    assert states(note) == (None, None, None)


def test_only_post_is_allowed(user):
    [(status, headers, _)] = ack(({}, token_of(user), {"method": "GET"}))

    assert (status, headers[b"allow"]) == (405, b"POST")


def test_a_flood_of_acks_is_throttled_per_user_at_the_apis_rate(user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "notification_receipts": "3/min"},
    }
    notes = [NotificationFactory(recipient=user) for _ in range(5)]
    other = UserFactory()

    answers = ack(*[({"delivered": [n.pk]}, token_of(user), {}) for n in notes], ({"delivered": []}, token_of(other), {}))

    assert [status for status, _, _ in answers] == [202, 202, 202, 429, 429, 202]
    assert int(answers[3][1][b"retry-after"]) >= 1
    assert [states(n)[0] is not None for n in notes] == [True, True, True, False, False]


def test_the_first_delivery_feeds_the_latency_histogram_once(user):
    event = OutboxEvent.objects.create(event_type="bid_received", payload={})
    note = NotificationFactory(recipient=user, event=event)
    before = metrics.delivery_seconds._sum.get(), sum(b.get() for b in metrics.delivery_seconds._buckets)

    ack(({"delivered": [note.pk]}, token_of(user), {}), ({"delivered": [note.pk], "seen": [note.pk]}, token_of(user), {}))

    after = metrics.delivery_seconds._sum.get(), sum(b.get() for b in metrics.delivery_seconds._buckets)
    assert after[1] - before[1] == 1
    delivered_at = states(note)[0]
    assert after[0] - before[0] == pytest.approx((delivered_at - event.created_at).total_seconds(), abs=0.001)


def test_while_the_database_is_behind_the_door_answers_503_and_queues_nothing_more(user, monkeypatch):
    # Acks waiting past MAX_PENDING_IDS mean the writer cannot keep up (the database is down or slow).
    monkeypatch.setattr(receipts_door, "MAX_PENDING_IDS", 2)
    notes = [NotificationFactory(recipient=user) for _ in range(3)]

    answers = ack(*[({"delivered": [n.pk]}, token_of(user), {}) for n in notes])

    assert [status for status, _, _ in answers] == [202, 202, 503]
    assert answers[2][1][b"retry-after"] == b"5"
    assert [states(n)[0] is not None for n in notes] == [True, True, False]
