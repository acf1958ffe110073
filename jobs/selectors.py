"""Reads: who may see what, and which cleaners a job goes out to.

Everything here is one SQL query that the caller can iterate in chunks.
"""

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import BooleanField, DateTimeField, Exists, ExpressionWrapper, F, FloatField, IntegerField, OuterRef, Q, QuerySet, Value
from django.db.models.functions import ASin, Cos, ExtractIsoWeekDay, Least, Power, Radians, Sin, Sqrt, TruncDate
from django.db.models.lookups import In, LessThanOrEqual
from django.utils import timezone

from .compiled import CompiledQuery
from .models import (
    LIVE_BID_STATUSES,
    MAX_SERVICE_RADIUS_KM,
    BidStatus,
    CleanerProfile,
    CleanerUnavailability,
    CleaningJob,
    ClientBlock,
    JobBid,
    JobMessage,
    JobStatus,
    Payment,
    PaymentStatus,
    ServiceType,
    Weekday,
)

User = get_user_model()

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE_LATITUDE = 111.19


def cleaner_profile_of(*, user) -> CleanerProfile | None:
    """The user's cleaner profile (None for a client).

    No query when it was read along with the user, as the API's token authentication
    does (jobs/authentication.py); one query otherwise, never cached on the user.
    """
    if isinstance(user, User) and User.cleaner_profile.is_cached(user):
        try:
            return user.cleaner_profile
        except CleanerProfile.DoesNotExist:
            return None
    return CleanerProfile.objects.filter(user_id=user.pk).first()


def user_is_cleaner(*, user) -> bool:
    if isinstance(user, User) and User.cleaner_profile.is_cached(user):
        return cleaner_profile_of(user=user) is not None
    return CleanerProfile.objects.filter(user_id=user.pk).exists()


def job_local_date(*, job: CleaningJob) -> date:
    """The calendar day the job starts on, in the marketplace's time zone."""
    return timezone.localtime(job.scheduled_start).date()


def great_circle_km(lat_a, lon_a, lat_b, lon_b):
    """Haversine distance as a database expression; each argument is an expression."""
    half_dlat = (Radians(lat_b) - Radians(lat_a)) / 2
    half_dlon = (Radians(lon_b) - Radians(lon_a)) / 2
    a = Power(Sin(half_dlat), 2) + Cos(Radians(lat_a)) * Cos(Radians(lat_b)) * Power(Sin(half_dlon), 2)
    # Least() keeps rounding error from pushing asin's argument past 1.
    return 2 * EARTH_RADIUS_KM * ASin(Least(Sqrt(a), Value(1.0)))


def _box_bounds(latitude: float, longitude: float) -> tuple[float, ...]:
    """Cheap, index-friendly pre-filter: nobody serves farther than MAX_SERVICE_RADIUS_KM.

    (lat min, lat max, lon min, lon max); without the longitudes near a pole or where the box would wrap.
    """
    dlat = MAX_SERVICE_RADIUS_KM / KM_PER_DEGREE_LATITUDE
    box = (latitude - dlat, latitude + dlat)
    cos_lat = math.cos(math.radians(min(abs(latitude) + dlat, 90.0)))
    if cos_lat > 0.01:
        dlon = MAX_SERVICE_RADIUS_KM / (KM_PER_DEGREE_LATITUDE * cos_lat)
        if -180 < longitude - dlon and longitude + dlon < 180:  # no wrap at the antimeridian
            box += (longitude - dlon, longitude + dlon)
    return box


def _box_filter(prefix: str, box: tuple[float, ...]) -> Q:
    condition = Q(**{f"{prefix}latitude__gte": box[0], f"{prefix}latitude__lte": box[1]})
    if len(box) == 4:
        condition &= Q(**{f"{prefix}longitude__gte": box[2], f"{prefix}longitude__lte": box[3]})
    return condition


def _bounding_box(prefix: str, latitude: float, longitude: float) -> Q:
    return _box_filter(prefix, _box_bounds(latitude, longitude))


def cleaners_eligible_for_job(*, job: CleaningJob) -> QuerySet:
    """Users who may be offered `job`: one query, ordered by id, safe to `.iterator()`.

    Active and verified cleaners offering the job's service type, whose own radius
    covers the job's location, who work that weekday and are not off that date,
    and whom the client has not blocked.
    """
    field = CleanerProfile._meta.get_field("service_types")
    service_bit = field.bit(job.service_type)
    start_date = job_local_date(job=job)
    day_bit = CleanerProfile._meta.get_field("working_days").bit(Weekday.values[start_date.weekday()])

    day_off = CleanerUnavailability.objects.filter(cleaner_id=OuterRef("cleaner_profile__id"), date=start_date)
    blocked = ClientBlock.objects.filter(client_id=job.client_id, cleaner_id=OuterRef("pk"))
    distance = great_circle_km(
        Value(job.latitude), Value(job.longitude),
        F("cleaner_profile__latitude"), F("cleaner_profile__longitude"),
    )
    return (
        User.objects.filter(is_active=True, cleaner_profile__is_verified=True)
        .filter(_bounding_box("cleaner_profile__", job.latitude, job.longitude))
        .alias(
            offers_service=ExpressionWrapper(
                F("cleaner_profile__service_types").bitand(service_bit), output_field=IntegerField()
            ),
            works_that_day=ExpressionWrapper(
                F("cleaner_profile__working_days").bitand(day_bit), output_field=IntegerField()
            ),
            distance_km=ExpressionWrapper(distance, output_field=FloatField()),
        )
        .filter(offers_service__gt=0, works_that_day__gt=0, distance_km__lte=F("cleaner_profile__service_radius_km"))
        .exclude(Exists(day_off))
        .exclude(Exists(blocked))
        .exclude(pk=job.client_id)
        .order_by("pk")
    )


def cleaner_is_eligible_for_job(*, cleaner, job: CleaningJob) -> bool:
    return cleaners_eligible_for_job(job=job).filter(pk=cleaner.pk).exists()


def jobs_open_for_cleaner(*, cleaner) -> QuerySet:
    """The job board: open, future jobs this cleaner is eligible for (the reverse of the above)."""
    criteria = _board_criteria(cleaner=cleaner)
    if criteria is None:
        return CleaningJob.objects.none()
    return CleaningJob.objects.filter(criteria)


def _board_criteria(*, cleaner) -> Q | None:
    """The board's rule as one condition on a job row (None: the board is empty).

    jobs_open_for_cleaner filters by it; job_for_bid reads it for one job.
    """
    inputs = _board_inputs(cleaner=cleaner)
    return None if inputs is None else _board_rule(inputs)


@dataclass(frozen=True)
class _BoardInputs:
    """What the board's rule reads about the cleaner, and the clock: its parameters.

    Normalised (sorted, deduplicated, float) so that one cleaner's inputs always
    compile to the same SQL text (job_for_bid compiles it once per shape: jobs/compiled.py).
    """

    cleaner_id: int
    profile_id: int
    latitude: float
    longitude: float
    service_radius_km: float
    service_types: tuple[str, ...]
    iso_days: tuple[int, ...]
    box: tuple[float, ...]
    now: datetime


_ISO_WEEKDAY = {day: number for number, day in enumerate(Weekday.values, start=1)}  # Weekday.values is rebuilt per read


def _board_inputs(*, cleaner) -> _BoardInputs | None:
    profile = cleaner_profile_of(user=cleaner)
    if profile is None or not (cleaner.is_active and profile.is_verified):
        return None
    latitude, longitude = float(profile.latitude), float(profile.longitude)
    return _BoardInputs(
        cleaner_id=cleaner.pk,
        profile_id=profile.pk,
        latitude=latitude,
        longitude=longitude,
        service_radius_km=float(profile.service_radius_km),
        service_types=tuple(sorted({str(service) for service in profile.service_types})),
        iso_days=tuple(sorted({_ISO_WEEKDAY[day] for day in profile.working_days})),
        box=_box_bounds(latitude, longitude),
        now=timezone.now(),
    )


def _board_rule(inputs: _BoardInputs) -> Q:
    """The rule itself. It must not branch on the inputs' values (only on their tuples' lengths)."""
    tz = timezone.get_current_timezone()
    distance = great_circle_km(Value(inputs.latitude), Value(inputs.longitude), F("latitude"), F("longitude"))
    day_off = CleanerUnavailability.objects.filter(
        cleaner_id=inputs.profile_id,
        date=TruncDate(ExpressionWrapper(OuterRef("scheduled_start"), output_field=DateTimeField()), tzinfo=tz),
    )
    blocked = ClientBlock.objects.filter(client_id=OuterRef("client_id"), cleaner_id=inputs.cleaner_id)
    return (
        Q(status=JobStatus.OPEN, scheduled_start__gt=inputs.now, service_type__in=inputs.service_types)
        & _box_filter("", inputs.box)
        & Q(In(ExtractIsoWeekDay("scheduled_start", tzinfo=tz), inputs.iso_days))
        & Q(LessThanOrEqual(ExpressionWrapper(distance, output_field=FloatField()), inputs.service_radius_km))
        & ~Q(Exists(day_off))
        & ~Q(Exists(blocked))
        & ~Q(client_id=inputs.cleaner_id)
    )


@dataclass(frozen=True)
class BidderFacts:
    """What deciding one cleaner's bid on one job needs, read with the job in one query."""

    is_cleaner: bool
    on_board: bool  # jobs_open_for_cleaner holds the job: open, ahead, eligible, not blocked, not their own
    blocked: bool  # the job's client blocked them
    has_bid: bool  # any bid on the job, live or not
    has_live_bid: bool


def _bidder_annotations(*, cleaner_id: int, board: _BoardInputs | None) -> dict:
    """BidderFacts as expressions over a job row (the board is jobs_open_for_cleaner's rule)."""
    bids = JobBid.objects.filter(job_id=OuterRef("pk"), cleaner_id=cleaner_id)
    return {
        "bidder_on_board": ExpressionWrapper(_board_rule(board), output_field=BooleanField()) if board else Value(False),
        "bidder_blocked": Exists(ClientBlock.objects.filter(client_id=OuterRef("client_id"), cleaner_id=cleaner_id)),
        "bidder_has_bid": Exists(bids),
        "bidder_has_live_bid": Exists(bids.filter(status__in=LIVE_BID_STATUSES)),
    }


def _bidder_inputs(*, cleaner) -> tuple[_BoardInputs | None, bool]:
    is_cleaner = user_is_cleaner(user=cleaner)
    return (_board_inputs(cleaner=cleaner) if is_cleaner else None), is_cleaner


def _facts(row: dict, is_cleaner: bool) -> BidderFacts:
    return BidderFacts(
        is_cleaner=is_cleaner,
        on_board=row["bidder_on_board"],
        blocked=row["bidder_blocked"],
        has_bid=row["bidder_has_bid"],
        has_live_bid=row["bidder_has_live_bid"],
    )


def _job_for_bid_queryset(values: dict) -> QuerySet:
    board = _BoardInputs(**{name: values[name] for name in _BOARD_INPUTS}) if "profile_id" in values else None
    annotations = _bidder_annotations(cleaner_id=values["cleaner_id"], board=board)
    return CleaningJob.objects.select_for_update(of=("self",)).annotate(**annotations).filter(pk=values["job_id"])


_BOARD_INPUTS = tuple(_BoardInputs.__dataclass_fields__)
# Building and compiling this query was most of a bid's CPU: it is compiled once per
# shape (the cleaner's number of services and working days, a wrapping box, the time zone).
_job_for_bid = CompiledQuery(_job_for_bid_queryset, extra_shape=timezone.get_current_timezone_name)


def job_for_bid_prepare() -> None:
    """Compile and prepare job_for_bid's commonest shape (a cleaner offering every service on every
    day) before the first bid asks for it: a fresh web process warming up (project/warmup.py)."""
    board = _BoardInputs(
        cleaner_id=0, profile_id=0, latitude=0.0, longitude=0.0, service_radius_km=0.0,
        service_types=tuple(sorted(ServiceType.values)), iso_days=tuple(sorted(_ISO_WEEKDAY.values())),
        box=_box_bounds(0.0, 0.0), now=timezone.now(),
    )
    _job_for_bid.prepare({"job_id": 0, "cleaner_id": 0, **vars(board)})


def job_for_bid(*, job_id: int, cleaner) -> tuple[CleaningJob, BidderFacts]:
    """The job, locked for update, and the facts about `cleaner`'s bid on it: one query.

    Raises CleaningJob.DoesNotExist. With the API's token authentication the cleaner's
    profile came with the user, so this is the only query before the bid's INSERT.
    """
    board, is_cleaner = _bidder_inputs(cleaner=cleaner)
    values = {"job_id": int(job_id), "cleaner_id": int(cleaner.pk)}
    if board is not None:
        values.update(vars(board))
    job = _job_for_bid.first(values)
    if job is None:
        raise CleaningJob.DoesNotExist("CleaningJob matching query does not exist.")
    return job, _facts(vars(job), is_cleaner)


def bidder_facts(*, job: CleaningJob, cleaner) -> BidderFacts:
    """The same facts for a job already read (the job page): one query."""
    board, is_cleaner = _bidder_inputs(cleaner=cleaner)
    annotations = _bidder_annotations(cleaner_id=cleaner.pk, board=board)
    row = CleaningJob.objects.filter(pk=job.pk).annotate(**annotations).values(*annotations).get()
    return _facts(row, is_cleaner)


def job_visible_to_bidder(*, job: CleaningJob, facts: BidderFacts, user) -> bool:
    """jobs_visible_to's rule for one job, from the facts read with it (a test keeps the two in step)."""
    if not facts.is_cleaner:
        return job.client_id == user.pk
    return job.assigned_cleaner_id == user.pk or facts.has_bid or facts.on_board


def jobs_visible_to(*, user) -> QuerySet:
    """Jobs a user may look at: their own, the ones they bid on or hold, and their board."""
    if not user_is_cleaner(user=user):
        return CleaningJob.objects.filter(client_id=user.pk)
    involved = Q(assigned_cleaner_id=user.pk) | Q(Exists(JobBid.objects.filter(job_id=OuterRef("pk"), cleaner_id=user.pk)))
    board_ids = jobs_open_for_cleaner(cleaner=user).values("pk")
    return CleaningJob.objects.filter(involved | Q(pk__in=board_ids))


def job_bids_visible_to(*, job: CleaningJob, user) -> QuerySet:
    """The client sees every bid on their job; a cleaner sees only their own."""
    bids = JobBid.objects.filter(job_id=job.pk).select_related("cleaner")
    if job.client_id == user.pk:
        return bids
    return bids.filter(cleaner_id=user.pk)


def bids_visible_to(*, user) -> QuerySet:
    return JobBid.objects.filter(Q(cleaner_id=user.pk) | Q(job__client_id=user.pk)).select_related("job", "cleaner")


def job_payments_visible_to(*, job: CleaningJob, user) -> QuerySet:
    return Payment.objects.filter(job_id=job.pk).filter(Q(payer_id=user.pk) | Q(payee_id=user.pk))


def job_messages_visible_to(*, job: CleaningJob, user) -> QuerySet:
    return (
        JobMessage.objects.filter(job_id=job.pk)
        .filter(Q(sender_id=user.pk) | Q(recipient_id=user.pk))
        .select_related("sender", "recipient")
    )


def client_has_blocked(*, client_id: int, cleaner_id: int) -> bool:
    return ClientBlock.objects.filter(client_id=client_id, cleaner_id=cleaner_id).exists()


def cleaner_ids_blocked_by(*, client_id: int) -> set[int]:
    return set(ClientBlock.objects.filter(client_id=client_id).values_list("cleaner_id", flat=True))


def job_cleaner_may_message(*, job: CleaningJob, cleaner) -> bool:
    """A cleaner who bid on (live or not) or holds the job may talk with its client."""
    if job.assigned_cleaner_id == cleaner.pk:
        return True
    return JobBid.objects.filter(job_id=job.pk, cleaner_id=cleaner.pk).exists()


def job_live_bid_for(*, job: CleaningJob, cleaner) -> JobBid | None:
    return JobBid.objects.filter(job_id=job.pk, cleaner_id=cleaner.pk, status__in=LIVE_BID_STATUSES).first()


def job_is_paid(*, job: CleaningJob) -> bool:
    return Payment.objects.filter(job_id=job.pk, status=PaymentStatus.SUCCEEDED).exists()


def job_price(*, job: CleaningJob) -> Decimal:
    """What the job costs its client: the accepted bid's amount, else the budget."""
    accepted = JobBid.objects.filter(job_id=job.pk, status=BidStatus.ACCEPTED).values_list("amount", flat=True).first()
    return job.budget if accepted is None else accepted
