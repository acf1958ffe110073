"""The demo activity: off unless enabled, refused without DEBUG, and each step goes through
the services and the notification pipeline; the ASGI lifespan starts and stops it."""

import asyncio
import io
import logging
import random
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from demo import activity as demo_activity
from jobs import services
from demo.activity import ACTIVITY_MARK, MAX_OPEN_JOBS, DemoActivity
from jobs.models import BidStatus, CleaningJob, JobBid, JobMessage, JobStatus
from jobs.selectors import cleaners_eligible_for_job, jobs_open_for_cleaner
from notifications.catalog import NotificationType
from notifications.models import Notification
from tests.factories import CleanerFactory

User = get_user_model()


@pytest.fixture
def demo_city(db):
    call_command("seed_demo", clients=3, cleaners=80, no_progress=True, stdout=io.StringIO(), stderr=io.StringIO())


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a step schedules on commit (the fan-out, in-process as on the embedded default)."""

    def call(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return call


def activity(seed=1):
    return DemoActivity(interval=5, rng=random.Random(seed))


# --- on, off, refused ---------------------------------------------------------------------


def test_off_unless_enabled(settings):
    assert settings.DEMO_ACTIVITY is False  # the default everywhere but `make run`
    assert demo_activity.start_if_enabled() is None


def test_refused_with_debug_off_and_says_why(settings, caplog):
    settings.DEMO_ACTIVITY, settings.DEBUG = True, False
    with caplog.at_level(logging.WARNING, logger="demo.activity"):
        assert demo_activity.start_if_enabled() is None
    assert "not started: DEBUG is off" in caplog.text
    assert not any(t.name == "demo-activity" for t in threading.enumerate())


def test_the_make_run_target_turns_it_on_and_nothing_else_does():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    run_target = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "DEMO_ACTIVITY=$(DEMO_ACTIVITY)" in run_target
    assert "DEMO_ACTIVITY ?= 1" in makefile
    assert makefile.count("DEMO_ACTIVITY=$(DEMO_ACTIVITY)") == 1


# --- the ASGI lifespan ----------------------------------------------------------------------


async def lifespan(steps: list, *, seconds_running: float):
    from project.asgi import application

    inbox: asyncio.Queue = asyncio.Queue()
    outbox: list = []

    async def send(message):
        outbox.append(message["type"])

    server = asyncio.create_task(application({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    await asyncio.sleep(seconds_running)
    running = [t.name for t in threading.enumerate() if t.name == "demo-activity"]
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(server, timeout=10)
    return outbox, running


def test_the_lifespan_starts_it_and_stops_it_cleanly(settings, monkeypatch):
    settings.DEMO_ACTIVITY, settings.DEBUG, settings.DEMO_ACTIVITY_SECONDS = True, True, 0.05
    steps = []
    monkeypatch.setattr(DemoActivity, "step", lambda self: steps.append(1))

    outbox, running = asyncio.run(lifespan(steps, seconds_running=0.5))

    assert outbox == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert running == ["demo-activity"]
    assert len(steps) >= 3
    assert not any(t.name == "demo-activity" for t in threading.enumerate())
    taken = len(steps)
    asyncio.run(asyncio.sleep(0.2))
    assert len(steps) == taken  # nothing runs after shutdown


def test_the_lifespan_starts_nothing_when_off_or_without_debug(settings, monkeypatch):
    steps = []
    monkeypatch.setattr(DemoActivity, "step", lambda self: steps.append(1))
    settings.DEMO_ACTIVITY_SECONDS = 0.05
    for enabled, debug in ((False, True), (True, False)):
        settings.DEMO_ACTIVITY, settings.DEBUG = enabled, debug
        outbox, running = asyncio.run(lifespan(steps, seconds_running=0.3))
        assert outbox == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert running == []
    assert steps == []


# --- the steps, through the services ----------------------------------------------------------


def test_posting_a_job_for_cleaner1_puts_it_on_their_board_and_notifies_every_eligible_cleaner(demo_city, run_on_commit):
    cleaner1 = User.objects.get(username="cleaner1")
    before = set(jobs_open_for_cleaner(cleaner=cleaner1).values_list("pk", flat=True))

    text = run_on_commit(activity().post_job, for_guide=True)

    job = CleaningJob.objects.filter(description__endswith=ACTIVITY_MARK).get()
    assert text.endswith(f"posted job #{job.pk} {job.title!r}")
    assert set(jobs_open_for_cleaner(cleaner=cleaner1).values_list("pk", flat=True)) == before | {job.pk}
    offered = set(Notification.objects.filter(job=job, notification_type=NotificationType.JOB_CREATED).values_list("recipient_id", flat=True))
    assert offered == set(cleaners_eligible_for_job(job=job).values_list("pk", flat=True))
    assert cleaner1.pk in offered


def test_a_bid_notifies_the_jobs_client(demo_city, run_on_commit):
    bids_before = JobBid.objects.count()
    received_before = Notification.objects.filter(notification_type=NotificationType.BID_RECEIVED).count()

    text = run_on_commit(activity(seed=3).place_bid)

    bid = JobBid.objects.latest("pk")
    assert JobBid.objects.count() == bids_before + 1
    assert bid.cleaner.username != "cleaner1"  # the newcomer's seat is never played
    assert text == f"{bid.cleaner.username} bid {bid.amount:.0f} on job #{bid.job_id} of {bid.job.client.username}"
    notes = Notification.objects.filter(notification_type=NotificationType.BID_RECEIVED)
    assert notes.count() == received_before + 1
    assert notes.latest("pk").recipient_id == bid.job.client_id


def test_messages_reach_client1_or_cleaner1(demo_city, run_on_commit):
    recipients = []
    for seed in range(6):
        before = JobMessage.objects.count()
        run_on_commit(activity(seed=seed).send_message)
        assert JobMessage.objects.count() == before + 1
        message = JobMessage.objects.latest("pk")
        note = Notification.objects.get(notification_type=NotificationType.MESSAGE_RECEIVED, metadata__message_id=message.pk)
        assert note.recipient_id == message.recipient_id
        recipients.append(message.recipient.username)
    assert set(recipients) == {"client1", "cleaner1"}


def test_a_step_always_does_something_and_notifies_someone(demo_city, run_on_commit):
    for seed in range(8):
        before = Notification.objects.count()
        assert run_on_commit(activity(seed=seed).step)
        assert Notification.objects.count() > before


def test_it_stays_bounded_by_moving_its_oldest_jobs_on(demo_city, run_on_commit):
    mover = activity(seed=5)
    for _ in range(MAX_OPEN_JOBS + 2):
        run_on_commit(mover.post_job, for_guide=False)
    own = CleaningJob.objects.filter(description__endswith=ACTIVITY_MARK).order_by("pk")
    assert own.filter(status=JobStatus.OPEN).count() == MAX_OPEN_JOBS + 2
    oldest, second = own[0], own[1]
    helper = CleanerFactory(username="helper-cleaner", profile__latitude=oldest.latitude, profile__longitude=oldest.longitude)
    bid = run_on_commit(services.bid_place, job=oldest, cleaner=helper, amount=oldest.budget)

    # The oldest had a bid: its client accepts it. The next had none: cancelled. Then the board is full, not over.
    assert run_on_commit(mover.keep_bounded) == f"{oldest.client.username} accepted helper-cleaner's bid on job #{oldest.pk}"
    assert run_on_commit(mover.keep_bounded) == f"{second.client.username} cancelled job #{second.pk} (no bids)"
    assert own.filter(status=JobStatus.OPEN).count() == MAX_OPEN_JOBS
    # ...and the accepted one is played to the end, a step at a time.
    assert run_on_commit(mover.keep_bounded) == f"helper-cleaner started job #{oldest.pk}"
    assert run_on_commit(mover.keep_bounded) == f"helper-cleaner completed job #{oldest.pk}"
    assert run_on_commit(mover.keep_bounded) == f"{oldest.client.username} paid for job #{oldest.pk}"
    assert run_on_commit(mover.keep_bounded) is None
    bid.refresh_from_db()
    assert bid.status == BidStatus.ACCEPTED
    assert list(Notification.objects.filter(recipient=helper).order_by("pk").values_list("notification_type", flat=True)) == [
        "bid_accepted", "payment_received"  # joined after the job was posted: no offer
    ]


def test_jobs_cleaner1_won_are_left_for_cleaner1_to_start(demo_city, run_on_commit):
    mover = activity(seed=7)
    for _ in range(MAX_OPEN_JOBS + 1):
        run_on_commit(mover.post_job, for_guide=True)
    oldest = CleaningJob.objects.filter(description__endswith=ACTIVITY_MARK).order_by("pk").first()
    cleaner1 = User.objects.get(username="cleaner1")
    run_on_commit(services.bid_place, job=oldest, cleaner=cleaner1, amount=oldest.budget)
    assert run_on_commit(mover.keep_bounded) == f"{oldest.client.username} accepted cleaner1's bid on job #{oldest.pk}"
    assert run_on_commit(mover.keep_bounded) is None
    oldest.refresh_from_db()
    assert oldest.status == JobStatus.ASSIGNED


# --- settings ------------------------------------------------------------------------------------


def read_demo_settings(**env):
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = "import django; django.setup(); from django.conf import settings; print(settings.DEMO_ACTIVITY, settings.DEMO_ACTIVITY_SECONDS)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings", **env}, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.parametrize("value", ["0", "soon", "nan"])
def test_an_interval_that_is_not_a_positive_number_is_refused_at_startup(value):
    result = read_demo_settings(DEMO_ACTIVITY_SECONDS=value)
    assert result.returncode != 0
    assert f"DEMO_ACTIVITY_SECONDS must be a number of seconds above 0, got {value!r}" in result.stderr


def test_the_activity_settings_come_from_the_environment():
    result = read_demo_settings(DEMO_ACTIVITY="1", DEMO_ACTIVITY_SECONDS="2.5")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "2.5"]


def test_every_two_steps_both_newcomers_get_something(demo_city, run_on_commit):
    """cleaner1 and client1 take turns: whoever a person logs in as sees a toast every other step."""
    demo = activity(seed=3)
    for _ in range(3):
        touched = set()
        for _ in range(2):
            before = Notification.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            assert run_on_commit(demo.step)
            touched |= set(
                Notification.objects.filter(pk__gt=before).values_list("recipient__username", flat=True)
            )
        assert {"cleaner1", "client1"} <= touched
