"""The demo's storyline: a few jobs played through the real services, so the demo starts in motion.

seed_demo builds the city with bulk inserts, which notify nobody. On top of it this
plays, through jobs/services.py, one job at each state around the demo's guides,
`cleaner1` and `client1`: open jobs on cleaner1's board, bids pending on client1's
job, jobs accepted, in progress, completed, paid and cancelled, message threads,
and a welcome announcement. Every save goes through the real notification pipeline
(signals, outbox, fan-out), run in this process right after each step, so the
notifications are exactly the ones the product would have sent; the older ones of
the guides are then marked read through the notification service.

Idempotent: a job of the story that already exists (same client, same title) is
skipped with everything that follows from it.
"""

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications import services as notification_services
from notifications.outbox.dispatch import outbox_event_dispatch
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus

from jobs import selectors, services
from jobs.models import CleanerProfile, CleanerUnavailability, CleaningJob, JobMessage, ServiceType, Weekday

GUIDE_CLEANER = "cleaner1"
GUIDE_CLIENT = "client1"
SECOND_CLIENT = "client2"
WELCOME_TITLE = "Welcome to the demo marketplace"
WELCOME_MESSAGE = (
    "Log in as client1 or cleaner1 and watch: jobs, bids and messages arrive by themselves "
    "every few seconds while `make run` is up."
)
# The newest notifications of each guide stay unread, so the bell has a count.
UNREAD_KEPT_PER_GUIDE = 4
STORY_ADDRESSES = ["Prinsengracht 263", "Herengracht 502", "Singel 88", "Utrechtsestraat 41", "Overtoom 160"]


class Stage:
    OPEN = "open"  # on cleaner1's board, nobody has bid yet
    BIDS_PENDING = "bids_pending"  # other cleaners bid; client1 has to choose
    GUIDE_BID_PENDING = "guide_bid_pending"  # cleaner1 bid and waits
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class StoryJob:
    client: str
    title: str
    stage: str
    days_ahead: int
    messages: tuple[tuple[str, str], ...] = ()  # (who writes: "client" or "cleaner", body)


STORY = (
    StoryJob(GUIDE_CLIENT, "Deep clean of our new flat before we move in", Stage.BIDS_PENDING, 3,
             (("cleaner", "Is there parking nearby, or should I come by bike?"), ("client", "Bike is easiest, the street is narrow."))),
    StoryJob(SECOND_CLIENT, "Weekly clean for a family of four", Stage.OPEN, 4),
    StoryJob(SECOND_CLIENT, "Kitchen and bathroom refresh", Stage.GUIDE_BID_PENDING, 5),
    StoryJob(GUIDE_CLIENT, "Fortnightly clean of a 3-room apartment", Stage.ACCEPTED, 2,
             (("client", "The key is with the neighbours at number 12."), ("cleaner", "Great, I will pick it up on the way."),
              ("client", "Please water the plants too, if you have a minute."))),
    StoryJob(GUIDE_CLIENT, "End-of-tenancy clean, keys back Friday", Stage.IN_PROGRESS, 1,
             (("cleaner", "Started; the oven will take a while."),)),
    StoryJob(GUIDE_CLIENT, "Clean-up after the birthday party", Stage.COMPLETED, 6,
             (("cleaner", "All done, the balcony too."),)),
    StoryJob(GUIDE_CLIENT, "Spring clean, windows included", Stage.PAID, 7),
    StoryJob(GUIDE_CLIENT, "Office clean before the audit", Stage.CANCELLED, 8),
)
STORY_TITLES = frozenset(job.title for job in STORY)


# --- jobs a given cleaner is eligible for (the story and the demo activity) ----------


def point_near(latitude: float, longitude: float, *, distance_km: float, bearing: float) -> tuple[float, float]:
    """A point about `distance_km` away (flat-earth approximation: fine at city distances)."""
    dlat = distance_km * math.cos(bearing) / 111.19
    dlon = distance_km * math.sin(bearing) / (111.19 * math.cos(math.radians(latitude)))
    return round(latitude + dlat, 6), round(longitude + dlon, 6)


def next_working_day(profile: CleanerProfile, *, after: date, days_off: set[date]) -> date:
    """The first day after `after` on which the cleaner works and is not off."""
    day = after + timedelta(days=1)
    while Weekday.values[day.weekday()] not in profile.working_days or day in days_off:
        day += timedelta(days=1)
    return day


def job_fields_for_cleaner(profile: CleanerProfile, *, rng: random.Random, days_ahead: int) -> dict:
    """job_create's place, service and start for a job this cleaner is eligible for.

    Inside half their radius (at most 2 km), a service they offer, on one of their
    working days (at least `days_ahead` days from now) that is not a day off.
    """
    days_off = set(CleanerUnavailability.objects.filter(cleaner=profile).values_list("date", flat=True))
    offered = sorted(profile.service_types)
    service = ServiceType.STANDARD if ServiceType.STANDARD in profile.service_types else rng.choice(offered)
    latitude, longitude = point_near(
        profile.latitude,
        profile.longitude,
        distance_km=rng.uniform(0.1, min(2.0, profile.service_radius_km / 2)),
        bearing=rng.uniform(0, 2 * math.pi),
    )
    today = timezone.localdate()
    day = next_working_day(profile, after=today + timedelta(days=days_ahead - 1), days_off=days_off)
    start = timezone.make_aware(datetime.combine(day, dtime(hour=rng.randint(8, 16), minute=rng.choice([0, 30]))))
    return {
        "service_type": service,
        "latitude": latitude,
        "longitude": longitude,
        "scheduled_start": start,
    }


# --- the story ---------------------------------------------------------------------------


def deliver_recorded_events(*, after_id: int) -> None:
    """Run the fan-out of the events recorded since `after_id` now, in this process.

    On the embedded default they already ran on commit and this finds nothing pending;
    with a broker the worker may not be running yet (make stack seeds first), and the
    task it gets later finds the event done and does nothing.
    """
    pending = OutboxEvent.objects.filter(pk__gt=after_id, status=OutboxStatus.PENDING).order_by("pk")
    for event_id in pending.values_list("pk", flat=True):
        outbox_event_dispatch(event_id=event_id)


def _last_event_id() -> int:
    return OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


class Storyline:
    def __init__(self, *, seed: int):
        self.seed = seed
        User = get_user_model()
        self.users = {u.username: u for u in User.objects.filter(username__in=[GUIDE_CLEANER, GUIDE_CLIENT, SECOND_CLIENT])}
        self.guide = self.users.get(GUIDE_CLEANER)
        self.guide_profile = CleanerProfile.objects.filter(user=self.guide).first() if self.guide else None

    def can_play(self) -> bool:
        return (
            GUIDE_CLIENT in self.users
            and self.guide_profile is not None
            and self.guide.is_active
            and self.guide_profile.is_verified
        )

    def steps(self) -> int:
        return len(STORY) + 2  # the jobs, the announcement, the read marks

    def play(self, progress) -> dict[str, int]:
        """Play what is missing; returns counts of what was created."""
        created = {"story_jobs": 0, "story_bids": 0, "messages": 0, "announcements": 0, "notifications": 0}
        if not self.can_play():
            return created
        notifications_before = Notification.objects.count()
        messages_before = JobMessage.objects.count()
        for done, story_job in enumerate(STORY, start=1):
            client = self.users.get(story_job.client) or self.users[GUIDE_CLIENT]
            if not CleaningJob.objects.filter(client=client, title=story_job.title).exists():
                created["story_bids"] += self._play_job(story_job, client, index=done)
                created["story_jobs"] += 1
            progress.update(done)
        created["announcements"] = self._announce()
        progress.update(len(STORY) + 1)
        if created["story_jobs"]:
            self._mark_older_read()
        progress.update(self.steps())
        created["messages"] = JobMessage.objects.count() - messages_before
        created["notifications"] = Notification.objects.count() - notifications_before
        return created

    def _step(self, service, **kwargs):
        """One service call, then its notifications, delivered before the next step re-reads the world."""
        after_id = _last_event_id()
        result = service(**kwargs)
        deliver_recorded_events(after_id=after_id)
        return result

    def _play_job(self, story_job: StoryJob, client, *, index: int) -> int:
        rng = random.Random(f"{self.seed}:story:{story_job.title}")
        budget = Decimal(rng.randrange(60, 300, 5))
        job = self._step(
            services.job_create,
            client=client,
            title=story_job.title,
            description="A demo job: see the README's 'Your first hour'.",
            address=STORY_ADDRESSES[index % len(STORY_ADDRESSES)],
            city="Amsterdam",
            duration_hours=Decimal(rng.choice(["2.5", "3.0", "4.0"])),
            budget=budget,
            **job_fields_for_cleaner(self.guide_profile, rng=rng, days_ahead=story_job.days_ahead),
        )
        others = list(selectors.cleaners_eligible_for_job(job=job).exclude(pk=self.guide.pk)[:3])
        stage = story_job.stage
        bids = 0

        def bid(cleaner, message):
            nonlocal bids
            bids += 1
            amount = (budget * Decimal(str(rng.uniform(0.85, 1.05)))).quantize(Decimal("1"))
            return self._step(services.bid_place, job=job, cleaner=cleaner, amount=amount, message=message)

        if stage == Stage.BIDS_PENDING:
            for cleaner in others:
                bid(cleaner, rng.choice(["I can do it.", "Available that day, with my own supplies."]))
        elif stage != Stage.OPEN:
            guide_bid = bid(self.guide, "Happy to help, I live close by.")
            if others and stage != Stage.GUIDE_BID_PENDING:
                bid(others[0], "I can come earlier if you like.")
            if stage == Stage.CANCELLED:
                self._step(services.job_cancel, job=job, client=client)
            elif stage != Stage.GUIDE_BID_PENDING:
                self._step(services.bid_accept, bid=guide_bid, client=client)
                if stage in (Stage.IN_PROGRESS, Stage.COMPLETED, Stage.PAID):
                    self._step(services.job_start, job=job, cleaner=self.guide)
                if stage in (Stage.COMPLETED, Stage.PAID):
                    self._step(services.job_complete, job=job, cleaner=self.guide)
                if stage == Stage.PAID:
                    self._step(services.payment_create, job=job, payer=client)

        counterpart = self.guide if stage != Stage.BIDS_PENDING else (others[0] if others else None)
        if counterpart is not None:  # a tiny city may have nobody else near cleaner1
            for who, body in story_job.messages:
                sender, recipient = (client, counterpart) if who == "client" else (counterpart, None)
                self._step(services.message_send, job=job, sender=sender, body=body, recipient=recipient)
        return bids

    def _announce(self) -> int:
        if OutboxEvent.objects.filter(event_type=NotificationType.SYSTEM_ALERT, payload__title=WELCOME_TITLE).exists():
            return 0
        self._step(notification_services.announcement_send, audience="all", title=WELCOME_TITLE, message=WELCOME_MESSAGE)
        return 1

    def _mark_older_read(self) -> None:
        """Both guides start with a history: all but their newest few notifications read."""
        for user in (self.guide, self.users[GUIDE_CLIENT]):
            unread = Notification.objects.filter(recipient=user, is_read=False, expired_at__isnull=True).order_by("-pk")
            for notification_id in list(unread.values_list("pk", flat=True))[UNREAD_KEPT_PER_GUIDE:]:
                notification_services.notification_mark_read(user=user, notification_id=notification_id)
