"""Seed a demo city: cleaners around an Amsterdam-like centre, clients with open jobs, a few bids,
and a storyline around cleaner1 and client1 played through the real services.

    python manage.py seed_demo --clients 20 --cleaners 500

Idempotent: users have fixed names (client1..N, cleaner1..N, admin), every value
comes from a random generator seeded per user, and a second run creates nothing
new. Fast: one password hash shared by every demo user and bulk_create in batches
(100,000 cleaners take well under a minute on PostgreSQL). bulk_create sends no
post_save, so the city itself notifies nobody; the storyline (demo/story.py)
then goes through the services and the notification pipeline like a real user.
"""

import logging
import math
import random
import time
from datetime import datetime, time as dtime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from demo import story as demo_story
from jobs import selectors
from jobs.models import (
    BidStatus,
    CleanerProfile,
    CleanerUnavailability,
    CleaningJob,
    JobBid,
    JobStatus,
    ServiceType,
    Weekday,
)

CENTRE_LAT = 52.3676
CENTRE_LON = 4.9041
CITY = "Amsterdam"
CLEANER_SPREAD_KM = 15.0
JOB_SPREAD_KM = 8.0
DEMO_PASSWORD = "demo-cleaning-2024"
ADMIN_USERNAME = "admin"
EMAIL_DOMAIN = "demo.example.com"
JOBS_PER_CLIENT = (1, 4)  # inclusive range
# Users per batch: bounded memory; on SQLite under its 999-parameter limit for `IN (...)`.
BATCH_POSTGRES = 2000
BATCH_SQLITE = 900
DEFAULT_SEED = 2024

SERVICE_VALUES = list(ServiceType.values)
WORKDAYS = list(Weekday.values[:5])
RADII_KM = [3, 5, 5, 8, 10, 10, 12, 15, 15, 20, 25, 30]
FIRST_NAMES = [
    "Anna", "Bram", "Chloe", "Daan", "Emma", "Finn", "Julia", "Lars", "Lotte", "Milan",
    "Noor", "Ruben", "Sanne", "Sem", "Sophie", "Thijs", "Tess", "Lucas", "Yara", "Zoë",
    "Fatima", "Mohamed", "Priya", "Wei", "Olga", "Jan", "Eva", "Bas", "Iris", "Koen",
]
LAST_NAMES = [
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
    "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
    "van Leeuwen", "Dekker", "Brouwer", "El Amrani", "Yilmaz", "Kaur", "Chen", "Novak",
]
STREETS = [
    "Prinsengracht", "Keizersgracht", "Herengracht", "Singel", "Damrak", "Rokin", "Kalverstraat",
    "Utrechtsestraat", "Ferdinand Bolstraat", "Albert Cuypstraat", "Overtoom", "Kinkerstraat",
    "Haarlemmerdijk", "Westerstraat", "Javastraat", "Czaar Peterstraat", "Linnaeusstraat",
    "Van Woustraat", "Beethovenstraat", "Amstelveenseweg", "Bos en Lommerweg", "Buikslotermeerplein",
]
JOB_TEMPLATES = [
    (ServiceType.STANDARD, "Weekly clean of a {rooms}-room apartment", "Kitchen, bathroom, floors and dusting."),
    (ServiceType.STANDARD, "Tidy-up before guests arrive", "Living room, kitchen and the guest toilet."),
    (ServiceType.DEEP, "Deep clean of a {rooms}-room flat", "Inside the oven and fridge, limescale, skirting boards."),
    (ServiceType.DEEP, "Spring clean, top to bottom", "Everything, including cupboards and behind the furniture."),
    (ServiceType.MOVE_OUT, "Move-out clean, deposit back please", "Empty {rooms}-room apartment, must pass inspection."),
    (ServiceType.OFFICE, "Office clean after hours", "Open-plan office for {people} people, kitchenette, two toilets."),
    (ServiceType.OFFICE, "Co-working space, Friday evening", "Desks, meeting rooms and the coffee corner."),
    (ServiceType.WINDOWS, "Canal house windows, inside and out", "Tall windows on three floors; we have a ladder."),
    (ServiceType.WINDOWS, "Shop front windows", "Ground floor shop window and the glass door."),
    (ServiceType.CARPET, "Carpet shampoo, living room and stairs", "Wool carpet, about {m2} m2."),
    (ServiceType.POST_CONSTRUCTION, "Clean-up after the renovation", "Plaster dust everywhere, new kitchen, {m2} m2."),
]


def _offset(lat: float, lon: float, distance_km: float, bearing: float) -> tuple[float, float]:
    """The point `distance_km` from (lat, lon) along `bearing` (radians), on a sphere."""
    r = selectors.EARTH_RADIUS_KM
    phi1, lam1, delta = math.radians(lat), math.radians(lon), distance_km / r
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(bearing))
    lam2 = lam1 + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return round(math.degrees(phi2), 6), round(math.degrees(lam2), 6)


def _random_point(rng: random.Random, spread_km: float) -> tuple[float, float]:
    # sqrt: uniform over the disc rather than bunched in the centre.
    return _offset(CENTRE_LAT, CENTRE_LON, spread_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi))


def _rng(seed: int, kind: str, index: int) -> random.Random:
    """One generator per user: cleaner42 is the same whatever --cleaners says."""
    return random.Random(f"{seed}:{kind}:{index}")


class Progress:
    """A one-line text progress bar: `label [#####-----]  50% 250/500`."""

    def __init__(self, stream, label: str, total: int, width: int = 30):
        """`stream` is a command's OutputWrapper (self.stderr)."""
        self.stream, self.label, self.total, self.width = stream, label, max(total, 1), width
        self.tty = stream.isatty()
        self.last_pct = -1

    def update(self, done: int) -> None:
        pct = done * 100 // self.total
        # On a terminal redraw in place; in a log print at most every 10%.
        if pct == self.last_pct or (not self.tty and pct < 100 and pct // 10 == self.last_pct // 10):
            return
        self.last_pct = pct
        filled = self.width * done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.label:<9} [{bar}] {pct:3d}% {done}/{self.total}"
        text = ("\r" + line + ("\n" if done >= self.total else "")) if self.tty else line + "\n"
        self.stream.write(text, style_func=str, ending="")
        self.stream.flush()


class Command(BaseCommand):
    help = "Create demo clients, cleaners, open jobs and bids around an Amsterdam-like city (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--clients", type=int, default=20, help="number of clients (client1..N)")
        parser.add_argument("--cleaners", type=int, default=500, help="number of cleaners (cleaner1..N)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
        parser.add_argument("--no-progress", action="store_true", help="do not draw progress bars")

    def handle(self, *args, clients: int, cleaners: int, seed: int, no_progress: bool, **options):
        if clients < 0 or cleaners < 0:
            raise CommandError("--clients and --cleaners must be zero or more.")
        self.seed = seed
        self.batch = BATCH_POSTGRES if connection.vendor == "postgresql" else BATCH_SQLITE
        self.progress_stream = None if no_progress else self.stderr
        self.now = timezone.now()
        self.password_hash = make_password(DEMO_PASSWORD)  # hashed once, shared by every demo user
        started = time.monotonic()

        created = {"admin": self._ensure_admin()}
        created["clients"] = self._ensure_users("client", clients)
        cleaner_counts = self._ensure_cleaners(cleaners)
        created.update(cleaner_counts)
        created.update(self._ensure_jobs(clients))
        created.update(self._ensure_story())

        elapsed = time.monotonic() - started
        if not any(created.values()):
            self.stdout.write(f"Nothing new: the demo data is already there ({elapsed:.1f}s).")
        else:
            summary = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in created.items() if count)
            self.stdout.write(self.style.SUCCESS(f"Created {summary} in {elapsed:.1f}s."))
        self._print_logins(clients, cleaners)

    # --- users ----------------------------------------------------------------------

    def _ensure_admin(self) -> int:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=ADMIN_USERNAME,
            defaults={
                "email": f"{ADMIN_USERNAME}@{EMAIL_DOMAIN}",
                "is_staff": True,
                "is_superuser": True,
                "password": self.password_hash,
            },
        )
        self.admin_has_demo_password = created or user.check_password(DEMO_PASSWORD)
        return int(created)

    def _new_user(self, kind: str, index: int):
        rng = _rng(self.seed, f"{kind}-name", index)
        username = f"{kind}{index}"
        return get_user_model()(
            username=username,
            email=f"{username}@{EMAIL_DOMAIN}",
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            password=self.password_hash,
            is_active=True,
            date_joined=self.now,
        )

    def _create_missing_users(self, kind: str, indexes: range) -> tuple[dict[str, int], int]:
        """Create the batch's missing users; return {username: id} for the whole batch."""
        User = get_user_model()
        usernames = [f"{kind}{i}" for i in indexes]
        existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
        missing = [self._new_user(kind, i) for i in indexes if f"{kind}{i}" not in existing]
        User.objects.bulk_create(missing, batch_size=self.batch)
        ids = dict(User.objects.filter(username__in=usernames).values_list("username", "pk"))
        return ids, len(missing)

    def _ensure_users(self, kind: str, count: int) -> int:
        created = 0
        progress = self._progress(f"{kind}s", count)
        for start in range(1, count + 1, self.batch):
            indexes = range(start, min(start + self.batch, count + 1))
            with transaction.atomic():
                created += self._create_missing_users(kind, indexes)[1]
            progress.update(indexes[-1])
        return created

    # --- cleaners ---------------------------------------------------------------------

    def _new_profile(self, index: int, user_id: int) -> tuple[CleanerProfile, list]:
        rng = _rng(self.seed, "cleaner", index)
        latitude, longitude = _random_point(rng, CLEANER_SPREAD_KM)
        services = {ServiceType.STANDARD} if rng.random() < 0.8 else set()
        services |= set(rng.sample(SERVICE_VALUES, rng.randint(1, 3)))
        days = set(rng.sample(WORKDAYS, rng.randint(3, 5)))
        if rng.random() < 0.4:
            days.add(Weekday.SATURDAY)
        if rng.random() < 0.2:
            days.add(Weekday.SUNDAY)
        verified = rng.random() < 0.85
        if f"cleaner{index}" == demo_story.GUIDE_CLEANER:
            verified = True  # the storyline's cleaner must be eligible for jobs
        rating = Decimal(str(round(rng.uniform(3.4, 5.0), 2))) if verified else Decimal("0")
        profile = CleanerProfile(
            user_id=user_id,
            service_types=frozenset(services),
            working_days=frozenset(days),
            latitude=latitude,
            longitude=longitude,
            service_radius_km=float(rng.choice(RADII_KM)),
            is_verified=verified,
            rating=rating,
        )
        # About one cleaner in five has a day or two off in the next three weeks.
        days_off = []
        if rng.random() < 0.2:
            today = timezone.localdate(self.now)
            days_off = sorted({today + timedelta(days=rng.randint(1, 21)) for _ in range(rng.randint(1, 2))})
        return profile, days_off

    def _ensure_cleaners(self, count: int) -> dict[str, int]:
        created = {"cleaners": 0, "cleaner_profiles": 0, "days_off": 0}
        progress = self._progress("cleaners", count)
        for start in range(1, count + 1, self.batch):
            indexes = range(start, min(start + self.batch, count + 1))
            with transaction.atomic():
                ids, new_users = self._create_missing_users("cleaner", indexes)
                created["cleaners"] += new_users
                with_profile = set(
                    CleanerProfile.objects.filter(user_id__in=ids.values()).values_list("user_id", flat=True)
                )
                profiles, days_off = [], {}
                for i in indexes:
                    user_id = ids[f"cleaner{i}"]
                    if user_id in with_profile:
                        continue
                    profile, dates = self._new_profile(i, user_id)
                    profiles.append(profile)
                    days_off[user_id] = dates
                CleanerProfile.objects.bulk_create(profiles, batch_size=self.batch)
                created["cleaner_profiles"] += len(profiles)
                if any(days_off.values()):
                    profile_ids = dict(
                        CleanerProfile.objects.filter(user_id__in=days_off).values_list("user_id", "pk")
                    )
                    rows = [
                        CleanerUnavailability(cleaner_id=profile_ids[user_id], date=date)
                        for user_id, dates in days_off.items()
                        for date in dates
                    ]
                    CleanerUnavailability.objects.bulk_create(rows, batch_size=self.batch, ignore_conflicts=True)
                    created["days_off"] += len(rows)
            progress.update(indexes[-1])
        # A profile for a user that already existed is not a new cleaner; report it on its own.
        if created["cleaner_profiles"] == created["cleaners"]:
            del created["cleaner_profiles"]
        return created

    # --- jobs and bids ------------------------------------------------------------------

    def _new_jobs(self, index: int, client_id: int) -> list[CleaningJob]:
        rng = _rng(self.seed, "client", index)
        today = timezone.localdate(self.now)
        jobs = []
        for service_type, title, description in rng.sample(JOB_TEMPLATES, rng.randint(*JOBS_PER_CLIENT)):
            params = {"rooms": rng.randint(2, 5), "people": rng.choice([8, 12, 20, 35]), "m2": rng.choice([30, 45, 60, 80])}
            latitude, longitude = _random_point(rng, JOB_SPREAD_KM)
            day = today + timedelta(days=rng.randint(1, 14))
            start = timezone.make_aware(datetime.combine(day, dtime(hour=rng.randint(8, 17), minute=rng.choice([0, 30]))))
            jobs.append(
                CleaningJob(
                    client_id=client_id,
                    title=title.format(**params),
                    description=description.format(**params),
                    service_type=service_type,
                    address=f"{rng.choice(STREETS)} {rng.randint(1, 400)}",
                    city=CITY,
                    latitude=latitude,
                    longitude=longitude,
                    scheduled_start=start,
                    duration_hours=Decimal(rng.choice(["2.0", "2.5", "3.0", "4.0", "5.0", "6.0", "8.0"])),
                    budget=Decimal(rng.randrange(40, 400, 5)),
                    status=JobStatus.OPEN,
                )
            )
        return jobs

    def _ensure_jobs(self, clients: int) -> dict[str, int]:
        """Jobs for clients that have none of their demo jobs yet; bids only on jobs created now."""
        User = get_user_model()
        created = {"jobs": 0, "bids": 0}
        progress = self._progress("jobs", clients)
        for start in range(1, clients + 1, self.batch):
            indexes = range(start, min(start + self.batch, clients + 1))
            with transaction.atomic():
                ids = dict(User.objects.filter(username__in=[f"client{i}" for i in indexes]).values_list("username", "pk"))
                existing = set(CleaningJob.objects.filter(client_id__in=ids.values()).values_list("client_id", "title"))
                new_jobs = []
                for i in indexes:
                    client_id = ids[f"client{i}"]
                    new_jobs += [j for j in self._new_jobs(i, client_id) if (client_id, j.title) not in existing]
                CleaningJob.objects.bulk_create(new_jobs, batch_size=self.batch)
                created["jobs"] += len(new_jobs)
                created["bids"] += self._create_bids(new_jobs)
            progress.update(indexes[-1])
        return created

    def _create_bids(self, jobs: list[CleaningJob]) -> int:
        """Up to three pending bids on about two jobs in three, from cleaners eligible for them."""
        if any(job.pk is None for job in jobs):  # a backend that returns no ids from bulk_create
            keys = {(job.client_id, job.title) for job in jobs}
            jobs = [
                job
                for job in CleaningJob.objects.filter(client_id__in={c for c, _ in keys}).order_by("pk")
                if (job.client_id, job.title) in keys
            ]
        bids = []
        for job in jobs:
            rng = random.Random(f"{self.seed}:bids:{job.client_id}:{job.title}")
            if rng.random() < 0.33:
                continue
            candidates = list(selectors.cleaners_eligible_for_job(job=job).values_list("pk", flat=True)[:30])
            for cleaner_id in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
                amount = (job.budget * Decimal(str(rng.uniform(0.8, 1.1)))).quantize(Decimal("1"))
                bids.append(
                    JobBid(
                        job=job,
                        cleaner_id=cleaner_id,
                        amount=max(amount, Decimal("1")),
                        message=rng.choice(
                            ["I can do it.", "Available that day, with my own supplies.", "Experienced, references on request."]
                        ),
                        status=BidStatus.PENDING,
                    )
                )
        JobBid.objects.bulk_create(bids, batch_size=self.batch)
        return len(bids)

    # --- the storyline ---------------------------------------------------------------------

    def _ensure_story(self) -> dict[str, int]:
        storyline = demo_story.Storyline(seed=self.seed)
        if not storyline.can_play():
            return {}
        # On the embedded default every fan-out runs in-process and Celery logs each one: too chatty here.
        trace_log = logging.getLogger("celery.app.trace")
        level = trace_log.level
        trace_log.setLevel(logging.WARNING)
        try:
            return storyline.play(self._progress("story", storyline.steps()))
        finally:
            trace_log.setLevel(level)

    # --- output -------------------------------------------------------------------------

    def _progress(self, label: str, total: int) -> Progress:
        class _Silent:
            def update(self, done):
                pass

        if self.progress_stream is None or total == 0:
            return _Silent()
        return Progress(self.progress_stream, label, total)

    def _print_logins(self, clients: int, cleaners: int) -> None:
        def names(kind, count):
            if count == 0:
                return "(none)"
            return f"{kind}1" if count == 1 else f"{kind}1 .. {kind}{count}"

        self.stdout.write("")
        self.stdout.write("Demo logins (password for all: %s)" % DEMO_PASSWORD)
        admin_note = "" if self.admin_has_demo_password else " (existing account with its own password, left as is)"
        self.stdout.write(f"  admin:    {ADMIN_USERNAME}{admin_note}  -> /admin/")
        self.stdout.write(f"  clients:  {names('client', clients)}")
        self.stdout.write(f"  cleaners: {names('cleaner', cleaners)}")
        if clients and cleaners:
            self.stdout.write(
                f"Start with {demo_story.GUIDE_CLIENT} (a job with bids waiting) and "
                f"{demo_story.GUIDE_CLEANER} (open jobs on the board)."
            )
