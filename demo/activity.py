"""The demo activity: the seeded marketplace keeps moving while a newcomer watches (`make run`).

Every DEMO_ACTIVITY_SECONDS a background thread of the web process takes one step
through the real services (jobs/services.py), so the notifications, toasts, bell
and board all move the way they would for real users:

- a demo client posts a job, most often one cleaner1 is eligible for, and client1
  is the poster one time in three;
- a demo cleaner bids, half the time on one of client1's open jobs;
- a message arrives, for client1 from a cleaner who bid on their job, or for
  cleaner1 from the client of a job cleaner1 bid on or holds.

Jobs it posts say so in their description (ACTIVITY_MARK). It keeps at most
MAX_OPEN_JOBS of them open: past that the oldest moves on (its client accepts a bid,
or cancels it when nobody bid), and accepted ones are then started, completed and
paid a step at a time, so the board stays the same size.

Started and stopped by the ASGI lifespan (project/asgi.py) when DEMO_ACTIVITY is on,
which only `make run` sets; refused when DEBUG is off.
"""

import logging
import random
import threading
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from jobs import selectors, services
from jobs.models import LIVE_BID_STATUSES, BidStatus, CleanerProfile, CleaningJob, JobBid, JobStatus, PaymentStatus
from project.exceptions import DomainError

from . import story as demo_story

logger = logging.getLogger(__name__)

ACTIVITY_MARK = "(Posted by the demo activity.)"
MAX_OPEN_JOBS = 6
# Beyond this many pending bids a job gets no more from the activity.
MAX_PENDING_BIDS = 5
BID_NOTES = ["I can do it.", "Available that day, with my own supplies.", "Experienced, references on request.", "I can start early."]
CLEANER_MESSAGES = ["Is there parking nearby?", "Do you have a vacuum cleaner, or shall I bring mine?", "Could I come half an hour later?"]
CLIENT_MESSAGES = ["The code for the front door is 1234.", "Please use the eco products under the sink.", "Thanks, see you then!"]


def activity_refusal() -> str | None:
    """Why the activity must not run here, or None. Production (DEBUG off) never runs it."""
    if not settings.DEBUG:
        return "DEBUG is off, and the demo activity never runs outside development"
    return None


def start_if_enabled() -> "DemoActivity | None":
    """The lifespan's entry point: a running activity, or None (off, or refused with a log line)."""
    if not settings.DEMO_ACTIVITY:
        return None
    reason = activity_refusal()
    if reason is not None:
        logger.warning("DEMO_ACTIVITY is set but the demo activity was not started: %s.", reason)
        return None
    activity = DemoActivity(interval=settings.DEMO_ACTIVITY_SECONDS)
    activity.start()
    logger.info("Demo activity started: one step every %ss (DEMO_ACTIVITY=0 turns it off).", settings.DEMO_ACTIVITY_SECONDS)
    return activity


class DemoActivity:
    def __init__(self, *, interval: float, rng: random.Random | None = None):
        self.interval = interval
        self.rng = rng or random.Random()
        self.turns = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the thread ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-activity", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for the step in flight (it runs in its own transactions)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                happened = self.step()
                if happened:
                    logger.info("demo activity: %s", happened)
            except Exception:  # noqa: BLE001 - one failed step must not end the demo
                logger.exception("demo activity: a step failed; trying again next time")
            finally:
                # This thread's own connection: closed between steps so it never goes stale.
                connections.close_all()

    # --- one step -------------------------------------------------------------------------

    def step(self) -> str | None:
        """Move the oldest job on if the demo is full, then post, bid or message; what happened, in words."""
        moved = self.keep_bounded()
        # The two newcomers' seats take turns, so whoever a person logs in as sees something every
        # other step: cleaner1 a job they can take or a client writing to them, client1 a bid or a message.
        self.turns += 1
        seat = "cleaner" if self.turns % 2 else "client"
        if seat == "cleaner":
            action = self.rng.choices([partial(self.post_job, for_guide=True), partial(self.send_message, to=seat)], weights=[3, 2])[0]
        else:
            action = self.rng.choices([partial(self.place_bid, on_guide_client=True), partial(self.send_message, to=seat)], weights=[3, 2])[0]
        # Nothing to do for that one (say, every job of client1 has its bids): a message to the
        # same seat, else any bid, which is almost always possible.
        done = action() or self.send_message(to=seat) or self.place_bid()
        return "; ".join(text for text in (moved, done) if text) or None

    def post_job(self, *, for_guide: bool | None = None) -> str | None:
        from .management.commands.seed_demo import CITY, JOB_SPREAD_KM, JOB_TEMPLATES, STREETS, _random_point

        clients = self._demo_users("client")
        guide_profile = CleanerProfile.objects.filter(user__username=demo_story.GUIDE_CLEANER).first()
        if not clients:
            return None
        client = next((c for c in clients if c.username == demo_story.GUIDE_CLIENT), clients[0])
        if len(clients) > 1 and self.rng.random() >= 1 / 3:
            client = self.rng.choice([c for c in clients if c.pk != client.pk])
        if for_guide is None:
            for_guide = self.rng.random() < 0.7
        for_guide = for_guide and guide_profile is not None
        templates = JOB_TEMPLATES
        if for_guide:  # a job cleaner1 offers the service of
            templates = [t for t in JOB_TEMPLATES if t[0] in guide_profile.service_types] or JOB_TEMPLATES
        service_type, title, description = self.rng.choice(templates)
        params = {"rooms": self.rng.randint(2, 5), "people": self.rng.choice([8, 12, 20]), "m2": self.rng.choice([30, 45, 60])}
        if for_guide:
            where_and_when = demo_story.job_fields_for_cleaner(guide_profile, rng=self.rng, days_ahead=self.rng.randint(1, 6))
            if service_type in guide_profile.service_types:
                where_and_when["service_type"] = service_type
        else:
            latitude, longitude = _random_point(self.rng, JOB_SPREAD_KM)
            start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=self.rng.randint(1, 10))
            where_and_when = {"service_type": service_type, "latitude": latitude, "longitude": longitude, "scheduled_start": start}
        job = services.job_create(
            client=client,
            title=title.format(**params),
            description=f"{description.format(**params)} {ACTIVITY_MARK}",
            address=f"{self.rng.choice(STREETS)} {self.rng.randint(1, 400)}",
            city=CITY,
            duration_hours=Decimal(self.rng.choice(["2.0", "3.0", "4.0"])),
            budget=Decimal(self.rng.randrange(40, 300, 5)),
            **where_and_when,
        )
        return f"{client.username} posted job #{job.pk} {job.title!r}"

    def place_bid(self, *, on_guide_client: bool | None = None) -> str | None:
        open_jobs = CleaningJob.objects.filter(status=JobStatus.OPEN, scheduled_start__gt=timezone.now())
        if on_guide_client is None:
            on_guide_client = self.rng.random() < 0.5
        if on_guide_client:
            open_jobs = open_jobs.filter(client__username=demo_story.GUIDE_CLIENT)
        candidates = list(open_jobs.order_by("-pk").values_list("pk", flat=True)[:30])
        self.rng.shuffle(candidates)
        for job_id in candidates[:5]:
            job = CleaningJob.objects.get(pk=job_id)
            live = JobBid.objects.filter(job=job, status__in=LIVE_BID_STATUSES)
            if live.filter(status=BidStatus.PENDING).count() >= MAX_PENDING_BIDS:
                continue
            # cleaner1 is the newcomer's seat: the activity never bids for them.
            eligible = (
                selectors.cleaners_eligible_for_job(job=job)
                .exclude(username=demo_story.GUIDE_CLEANER)
                .exclude(pk__in=live.values("cleaner_id"))
            )
            cleaner_ids = list(eligible.values_list("pk", flat=True)[:50])
            if not cleaner_ids:
                continue
            cleaner = get_user_model().objects.get(pk=self.rng.choice(cleaner_ids))
            amount = (job.budget * Decimal(str(self.rng.uniform(0.8, 1.1)))).quantize(Decimal("1"))
            services.bid_place(job=job, cleaner=cleaner, amount=max(amount, Decimal("1")), message=self.rng.choice(BID_NOTES))
            return f"{cleaner.username} bid {amount} on job #{job.pk} of {job.client.username}"
        return None

    def send_message(self, *, to: str | None = None) -> str | None:
        """A cleaner writes to client1 (to="client") or a client to cleaner1 (to="cleaner"); None: either."""
        if to is None:
            to = self.rng.choice(["client", "cleaner"])
        if to == "client":
            bids = list(
                JobBid.objects.filter(job__client__username=demo_story.GUIDE_CLIENT, status__in=LIVE_BID_STATUSES)
                .exclude(cleaner__username=demo_story.GUIDE_CLEANER)
                .select_related("job", "cleaner")
                .order_by("-pk")[:10]
            )
            if bids:
                bid = self.rng.choice(bids)
                services.message_send(job=bid.job, sender=bid.cleaner, body=self.rng.choice(CLEANER_MESSAGES))
                return f"{bid.cleaner.username} wrote to {demo_story.GUIDE_CLIENT} about job #{bid.job_id}"
        guide = get_user_model().objects.filter(username=demo_story.GUIDE_CLEANER).first()
        if guide is None:
            return None
        jobs = (
            CleaningJob.objects.filter(bids__cleaner=guide)
            .exclude(status=JobStatus.CANCELLED)
            .exclude(client__username=demo_story.GUIDE_CLIENT)  # client1 is the other newcomer's seat
            .select_related("client")
            .distinct()
            .order_by("-pk")[:10]
        )
        jobs = list(jobs) or list(
            CleaningJob.objects.filter(bids__cleaner=guide).exclude(status=JobStatus.CANCELLED).select_related("client").distinct()[:10]
        )
        if not jobs:
            return None
        job = self.rng.choice(jobs)
        services.message_send(job=job, sender=job.client, recipient=guide, body=self.rng.choice(CLIENT_MESSAGES))
        return f"{job.client.username} wrote to {guide.username} about job #{job.pk}"

    # --- staying bounded ----------------------------------------------------------------

    def keep_bounded(self) -> str | None:
        """At most one transition a step: the oldest surplus open job, else the oldest unfinished one."""
        own = CleaningJob.objects.filter(description__endswith=ACTIVITY_MARK).select_related("client").order_by("pk")
        open_jobs = own.filter(status=JobStatus.OPEN)
        surplus = open_jobs.count() - MAX_OPEN_JOBS
        try:
            if surplus > 0:
                return self._close(open_jobs.first())
            moving = (
                own.filter(status__in=[JobStatus.ASSIGNED, JobStatus.IN_PROGRESS])
                .exclude(assigned_cleaner__username=demo_story.GUIDE_CLEANER)  # the newcomer starts their own jobs
                .select_related("assigned_cleaner")
                .first()
            )
            if moving is not None:
                return self._advance(moving)
            unpaid = (
                own.filter(status=JobStatus.COMPLETED)
                .exclude(assigned_cleaner__username=demo_story.GUIDE_CLEANER)
                .exclude(payments__status=PaymentStatus.SUCCEEDED)
                .first()
            )
            if unpaid is not None:
                services.payment_create(job=unpaid, payer=unpaid.client)
                return f"{unpaid.client.username} paid for job #{unpaid.pk}"
        except DomainError as exc:  # a person acted on the same job in between
            return f"left job alone: {exc}"
        return None

    def _close(self, job: CleaningJob) -> str:
        bid = JobBid.objects.filter(job=job, status=BidStatus.PENDING).order_by("amount", "pk").first()
        if bid is None:
            services.job_cancel(job=job, client=job.client)
            return f"{job.client.username} cancelled job #{job.pk} (no bids)"
        services.bid_accept(bid=bid, client=job.client)
        return f"{job.client.username} accepted {bid.cleaner.username}'s bid on job #{job.pk}"

    def _advance(self, job: CleaningJob) -> str:
        cleaner = job.assigned_cleaner
        if job.status == JobStatus.ASSIGNED:
            services.job_start(job=job, cleaner=cleaner)
            return f"{cleaner.username} started job #{job.pk}"
        services.job_complete(job=job, cleaner=cleaner)
        return f"{cleaner.username} completed job #{job.pk}"

    def _demo_users(self, kind: str) -> list:
        return list(get_user_model().objects.filter(username__regex=rf"^{kind}[0-9]+$", is_active=True).order_by("pk")[:200])
