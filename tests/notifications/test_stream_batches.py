"""Streams opening together share their database reads (a restart's reconnects come all at once).

database.threads.run_batched groups the items of one function that wait while the threads
are busy; credentials.authenticate_many and opening.read_openings answer a whole batch in
a fixed number of statements, each item exactly as it would be answered alone.
"""

import asyncio
import re
import threading

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from notifications import selectors
from notifications.catalog import NotificationType
from notifications.models import Notification
from notifications.sse import credentials, opening
from notifications.sse.database import DatabaseThreads
from tests.factories import ClientFactory


@override_settings(STREAM_DB_THREADS=1)
def test_items_that_wait_while_the_thread_is_busy_are_answered_in_one_batch():
    threads = DatabaseThreads()
    release = threading.Event()
    calls = []

    def double_all(items):
        calls.append(list(items))
        return [2 * item for item in items]

    async def main():
        busy = asyncio.ensure_future(threads.run(release.wait))
        await asyncio.sleep(0.05)  # the thread has taken the blocking job
        waiting = [asyncio.ensure_future(threads.run_batched(double_all, i)) for i in range(10)]
        await asyncio.sleep(0.05)
        release.set()
        await busy
        return await asyncio.gather(*waiting), await threads.run_batched(double_all, 7)

    try:
        answers, lone = asyncio.run(main())
    finally:
        threads.close()

    assert answers == [2 * i for i in range(10)]
    assert lone == 14
    assert calls == [list(range(10)), [7]]


@override_settings(STREAM_DB_THREADS=1)
def test_a_failing_batch_fails_each_of_its_items():
    threads = DatabaseThreads()

    def broken(items):
        raise ValueError("no")

    async def main():
        return await asyncio.gather(*(threads.run_batched(broken, i) for i in range(3)), return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        threads.close()
    assert [type(o) for o in outcomes] == [ValueError] * 3


def session_cookie(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


@pytest.mark.django_db
def test_a_batch_authenticates_each_request_as_alone_with_the_tokens_in_one_query(django_assert_num_queries):
    alice, bob, gone = ClientFactory.create_batch(3)
    gone.is_active = False
    gone.save()
    requests = [
        {"authorization": f"Token {Token.objects.create(user=alice).key}"},
        {"authorization": "Token not-a-token"},
        {"authorization": f"Token {Token.objects.create(user=gone).key}"},
        {"authorization": f"Bearer {Token.objects.get(user=alice).key}"},
        {"cookie": session_cookie(bob)},
        {},
        {"authorization": f"Token {Token.objects.get(user=alice).key}"},
    ]
    alone = [credentials.authenticate(headers) for headers in requests]

    with django_assert_num_queries(1 + 2):  # the tokens; the one session and its user
        together = credentials.authenticate_many(requests)

    assert together == alone
    assert [c.user_id if c else None for c in together] == [alice.pk, None, None, None, bob.pk, None, alice.pk]


def without_retry(body: str) -> str:
    return re.sub(r"^retry: \d+$", "retry: -", body, flags=re.M)  # drawn per stream


@pytest.mark.django_db
def test_a_batch_of_openings_answers_each_as_alone(django_assert_num_queries):
    alice, bob, carol = ClientFactory.create_batch(3)
    for i in range(3):
        Notification.objects.create(recipient=alice, notification_type=NotificationType.SYSTEM_ALERT, title=f"a{i}")
    Notification.objects.filter(recipient=alice, title="a0").update(is_read=True)
    Notification.objects.create(recipient=bob, notification_type=NotificationType.SYSTEM_ALERT, title="b0")
    requests = [(alice.pk, None), (bob.pk, None), (carol.pk, None), (alice.pk, 1), (bob.pk, 1), (carol.pk, 0)]
    alone = [opening.read_opening(user_id=user_id, last_seq=last_seq) for user_id, last_seq in requests]

    # Fresh: unread counts, seqs; then alice's replay (bob and carol have nothing to replay); their unread counts.
    with django_assert_num_queries(4):
        together = opening.read_openings(requests)

    assert [(o.seq, o.reset, o.replayed, without_retry(o.body)) for o in together] == [
        (o.seq, o.reset, o.replayed, without_retry(o.body)) for o in alone
    ]
    assert [o.seq for o in together] == [3, 1, 0, 3, 1, 0]
    assert together[3].replayed == {2, 3}


@pytest.mark.django_db
def test_the_batched_reads_count_unread_live_rows_and_read_each_users_seq():
    alice, bob, carol = ClientFactory.create_batch(3)
    for i in range(4):
        Notification.objects.create(recipient=alice, notification_type=NotificationType.SYSTEM_ALERT, title=f"a{i}")
    Notification.objects.filter(recipient=alice, title="a0").update(is_read=True)
    Notification.objects.filter(recipient=alice, title="a1").update(expired_at=timezone.now())
    Notification.objects.create(recipient=bob, notification_type=NotificationType.SYSTEM_ALERT, title="b0")

    assert selectors.notification_unread_counts(user_ids=[alice.pk, bob.pk, carol.pk]) == {alice.pk: 2, bob.pk: 1, carol.pk: 0}
    assert [o.seq for o in opening.read_openings([(alice.pk, None), (bob.pk, None), (carol.pk, None)])] == [4, 1, 0]
    assert [
        re.search(r"event: unread_count\ndata: (.*)\n", o.body).group(1)
        for o in opening.read_openings([(alice.pk, None), (bob.pk, 0), (carol.pk, None)])
    ] == ['{"count":2}', '{"count":1}', '{"count":0}']


@pytest.mark.django_db
def test_fifty_fresh_openings_take_two_statements(django_assert_num_queries):
    users = ClientFactory.create_batch(50)
    with django_assert_num_queries(2):
        answers = opening.read_openings([(user.pk, None) for user in users])
    assert len(answers) == 50


@pytest.mark.django_db
def test_a_batch_of_resuming_openings_replays_in_one_statement(django_assert_num_queries):
    users = ClientFactory.create_batch(20)
    for user in users:
        for i in range(3):
            Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title=f"n{i}")
    Notification.objects.filter(recipient=users[0], title="n1").update(expired_at=timezone.now())
    # Each resumes after its first notification; users[1] twice (two tabs), once from the start.
    requests = [(user.pk, 1) for user in users] + [(users[1].pk, 0)]
    alone = [opening.read_opening(user_id=user_id, last_seq=last_seq) for user_id, last_seq in requests]

    # The seqs; the replay of every tab resuming from seq 1; users[1]'s second tab; the unread counts.
    with django_assert_num_queries(4):
        together = opening.read_openings(requests)

    assert [(o.seq, o.reset, o.replayed, without_retry(o.body)) for o in together] == [
        (o.seq, o.reset, o.replayed, without_retry(o.body)) for o in alone
    ]
    assert together[0].replayed == {3}  # its seq 2 expired
    assert [o.replayed for o in together[1:20]] == [{2, 3}] * 19
    assert together[20].replayed == {1, 2, 3}


@pytest.mark.django_db
def test_a_page_that_missed_more_than_the_replay_limit_is_told_to_reload_in_a_batch_too(monkeypatch):
    monkeypatch.setattr(opening, "REPLAY_LIMIT", 3)
    away, back = ClientFactory.create_batch(2)
    for i in range(6):
        Notification.objects.create(recipient=away, notification_type=NotificationType.SYSTEM_ALERT, title=f"a{i}")
    Notification.objects.create(recipient=back, notification_type=NotificationType.SYSTEM_ALERT, title="b0")

    long_away, just_back = opening.read_openings([(away.pk, 0), (back.pk, 0)])

    assert (long_away.reset, long_away.replayed) == (True, frozenset())
    assert (just_back.reset, just_back.replayed) == (False, {1})


@pytest.mark.django_db
def test_resuming_openings_beyond_one_slice_replay_in_a_query_per_slice(django_assert_num_queries, monkeypatch):
    monkeypatch.setattr(selectors, "MISSED_USERS_PER_QUERY", 8)  # SQLite's expression depth bounds a slice
    users = ClientFactory.create_batch(20)
    for user in users:
        for i in range(2):
            Notification.objects.create(recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title=f"n{i}")
    requests = [(user.pk, 0) for user in users]

    # The seqs; 3 slices of replay (8 + 8 + 4 users); the unread counts.
    with django_assert_num_queries(5):
        together = opening.read_openings(requests)

    assert [o.replayed for o in together] == [{1, 2}] * 20
