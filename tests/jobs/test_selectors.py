"""jobs/selectors.py: each eligibility criterion at its boundary, both directions, one query.

cleaners_eligible_for_job (who is offered a job) and jobs_open_for_cleaner (the
board) are the same rule seen from the two ends; a property test at the bottom
checks they agree on a random population.
"""

import math
import random
from datetime import datetime, time, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.models import JobStatus, ServiceType, Weekday
from jobs.selectors import (
    EARTH_RADIUS_KM,
    bids_visible_to,
    cleaner_is_eligible_for_job,
    cleaners_eligible_for_job,
    job_bids_visible_to,
    job_messages_visible_to,
    job_payments_visible_to,
    jobs_open_for_cleaner,
    bidder_facts,
    job_for_bid,
    job_visible_to_bidder,
    jobs_visible_to,
)
from tests.factories import (
    CITY_LAT,
    CITY_LON,
    CleanerFactory,
    CleanerUnavailabilityFactory,
    CleaningJobFactory,
    ClientBlockFactory,
    ClientFactory,
    JobBidFactory,
    JobMessageFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- geometry helpers: exact great-circle offsets ------------------------------------------------


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def north(lat, lon, km):
    """The point `km` due north (negative: south) along the meridian: exactly km away."""
    return lat + math.degrees(km / EARTH_RADIUS_KM), lon


def east(lat, lon, km):
    """The point on the same parallel whose great-circle distance is exactly `km` (negative: west)."""
    half = math.asin(math.sin(abs(km) / (2 * EARTH_RADIUS_KM)) / math.cos(math.radians(lat)))
    new_lon = lon + math.copysign(math.degrees(2 * half), km)
    if new_lon > 180:
        new_lon -= 360
    if new_lon < -180:
        new_lon += 360
    return lat, new_lon


def test_geometry_helpers_are_exact():
    assert haversine_km(*north(CITY_LAT, CITY_LON, 12.34), CITY_LAT, CITY_LON) == pytest.approx(12.34, abs=1e-9)
    assert haversine_km(*east(CITY_LAT, CITY_LON, -7.5), CITY_LAT, CITY_LON) == pytest.approx(7.5, abs=1e-9)
    # 1 degree of latitude is about 111.19 km.
    assert north(0, 0, 111.19)[0] == pytest.approx(1.0, abs=1e-3)


def eligible_ids(job):
    return list(cleaners_eligible_for_job(job=job).values_list("pk", flat=True))


def board_ids(cleaner):
    return list(jobs_open_for_cleaner(cleaner=cleaner).values_list("pk", flat=True))


def cleaner_at(lat, lon, **kwargs):
    return CleanerFactory(profile__latitude=lat, profile__longitude=lon, **kwargs)


def weekday_of(job):
    return Weekday.values[timezone.localtime(job.scheduled_start).weekday()]


# --- cleaners_eligible_for_job: each criterion ----------------------------------------------------


def test_the_default_cleaner_is_eligible_and_sees_the_job():
    cleaner = CleanerFactory()
    job = CleaningJobFactory()
    assert eligible_ids(job) == [cleaner.pk]
    assert board_ids(cleaner) == [job.pk]
    assert cleaner_is_eligible_for_job(cleaner=cleaner, job=job)


def test_inactive_user_is_not_eligible():
    active = CleanerFactory()
    inactive = CleanerFactory(is_active=False)
    job = CleaningJobFactory()
    assert eligible_ids(job) == [active.pk]
    assert board_ids(inactive) == []
    assert not cleaner_is_eligible_for_job(cleaner=inactive, job=job)


def test_unverified_cleaner_is_not_eligible():
    verified = CleanerFactory()
    unverified = CleanerFactory(profile__is_verified=False)
    job = CleaningJobFactory()
    assert eligible_ids(job) == [verified.pk]
    assert board_ids(unverified) == []


def test_users_without_a_cleaner_profile_are_never_eligible():
    ClientFactory()
    UserFactory()
    assert eligible_ids(CleaningJobFactory()) == []


@pytest.mark.parametrize("service", ServiceType.values)
def test_service_type_must_be_offered(service):
    everything_else = CleanerFactory(profile__service_types=frozenset(ServiceType.values) - {service})
    only_this = CleanerFactory(profile__service_types=frozenset({service}))
    CleanerFactory(profile__service_types=frozenset())
    job = CleaningJobFactory(service_type=service)
    assert eligible_ids(job) == [only_this.pk]
    assert board_ids(only_this) == [job.pk]
    assert board_ids(everything_else) == []


DIRECTIONS = {
    "north": lambda lat, lon, km: north(lat, lon, km),
    "south": lambda lat, lon, km: north(lat, lon, -km),
    "east": lambda lat, lon, km: east(lat, lon, km),
    "west": lambda lat, lon, km: east(lat, lon, -km),
}
PLACES = {
    "amsterdam": (CITY_LAT, CITY_LON),
    "equator": (0.0, 10.0),
    "tromso": (69.65, 18.96),
    "sydney": (-33.87, 151.21),
    "fiji-antimeridian": (-17.0, 179.95),
}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("radius", [0.1, 3.0, 25.0, 100.0])
@pytest.mark.parametrize("margin", [0.05, 0.001])
def test_distance_just_inside_vs_just_outside_the_cleaners_own_radius(direction, radius, margin):
    job = CleaningJobFactory()
    move = DIRECTIONS[direction]
    inside = cleaner_at(*move(CITY_LAT, CITY_LON, radius - margin), profile__service_radius_km=radius)
    outside = cleaner_at(*move(CITY_LAT, CITY_LON, radius + margin), profile__service_radius_km=radius)
    assert eligible_ids(job) == [inside.pk]
    assert board_ids(inside) == [job.pk]
    assert board_ids(outside) == []


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_distance_boundary_holds_anywhere_on_earth(place, direction):
    lat, lon = PLACES[place]
    job = CleaningJobFactory(latitude=lat, longitude=lon)
    move = DIRECTIONS[direction]
    inside = cleaner_at(*move(lat, lon, 29.95), profile__service_radius_km=30.0)
    outside = cleaner_at(*move(lat, lon, 30.05), profile__service_radius_km=30.0)
    assert eligible_ids(job) == [inside.pk]
    assert board_ids(inside) == [job.pk]
    assert board_ids(outside) == []


def test_each_cleaner_is_judged_by_their_own_radius():
    job = CleaningJobFactory()
    lat, lon = north(CITY_LAT, CITY_LON, 10.0)
    wide = cleaner_at(lat, lon, profile__service_radius_km=10.05)
    narrow = cleaner_at(lat, lon, profile__service_radius_km=9.95)
    assert eligible_ids(job) == [wide.pk]
    assert board_ids(narrow) == []


@pytest.mark.parametrize("days_ahead", range(1, 8))
def test_cleaner_must_work_that_weekday(days_ahead):
    job = CleaningJobFactory(scheduled_start=timezone.now() + timedelta(days=days_ahead))
    day = weekday_of(job)
    works_that_day = CleanerFactory(profile__working_days=frozenset({day}))
    every_other_day = CleanerFactory(profile__working_days=frozenset(Weekday.values) - {day})
    CleanerFactory(profile__working_days=frozenset())
    assert eligible_ids(job) == [works_that_day.pk]
    assert board_ids(works_that_day) == [job.pk]
    assert board_ids(every_other_day) == []


def test_a_day_off_on_the_jobs_date_excludes_the_day_before_or_after_does_not():
    job = CleaningJobFactory()
    date = timezone.localtime(job.scheduled_start).date()
    off_that_day, off_day_before, off_day_after = CleanerFactory.create_batch(3)
    CleanerUnavailabilityFactory(cleaner=off_that_day.cleaner_profile, date=date)
    CleanerUnavailabilityFactory(cleaner=off_day_before.cleaner_profile, date=date - timedelta(days=1))
    CleanerUnavailabilityFactory(cleaner=off_day_after.cleaner_profile, date=date + timedelta(days=1))
    assert eligible_ids(job) == [off_day_before.pk, off_day_after.pk]
    assert board_ids(off_that_day) == []
    assert board_ids(off_day_before) == [job.pk]


def test_a_day_off_only_hides_the_jobs_on_that_day():
    cleaner = CleanerFactory()
    soon = CleaningJobFactory(scheduled_start=timezone.now() + timedelta(days=2))
    later = CleaningJobFactory(scheduled_start=timezone.now() + timedelta(days=5))
    CleanerUnavailabilityFactory(cleaner=cleaner.cleaner_profile, date=timezone.localtime(soon.scheduled_start).date())
    assert board_ids(cleaner) == [later.pk]


def test_blocked_by_this_client_vs_blocked_by_another_client():
    job = CleaningJobFactory()
    blocked_here, blocked_elsewhere = CleanerFactory.create_batch(2)
    ClientBlockFactory(client=job.client, cleaner=blocked_here)
    ClientBlockFactory(client=ClientFactory(), cleaner=blocked_elsewhere)
    assert eligible_ids(job) == [blocked_elsewhere.pk]
    assert board_ids(blocked_here) == []
    assert board_ids(blocked_elsewhere) == [job.pk]


def test_the_client_is_never_included_even_when_they_are_an_eligible_cleaner():
    other = CleanerFactory()
    cleaner_client = CleanerFactory()
    job = CleaningJobFactory(client=cleaner_client)
    assert eligible_ids(job) == [other.pk]
    assert board_ids(cleaner_client) == []
    assert board_ids(other) == [job.pk]


def test_the_job_date_and_weekday_are_taken_in_the_marketplace_time_zone(settings):
    """Monday 23:30 UTC is already Tuesday in Amsterdam: the Tuesday cleaner gets it."""
    settings.TIME_ZONE = "Europe/Amsterdam"
    today = timezone.now().date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 + 7)
    start = datetime.combine(monday, time(23, 30), tzinfo=timezone.get_fixed_timezone(0))
    job = CleaningJobFactory(scheduled_start=start)
    local_date = timezone.localtime(start).date()
    assert local_date == monday + timedelta(days=1)

    tuesday_only = CleanerFactory(profile__working_days=frozenset({"tue"}))
    monday_only = CleanerFactory(profile__working_days=frozenset({"mon"}))
    tuesday_but_off = CleanerFactory(profile__working_days=frozenset({"tue"}))
    CleanerUnavailabilityFactory(cleaner=tuesday_but_off.cleaner_profile, date=local_date)
    monday_off = CleanerFactory(profile__working_days=frozenset({"tue"}))
    CleanerUnavailabilityFactory(cleaner=monday_off.cleaner_profile, date=monday)

    assert eligible_ids(job) == [tuesday_only.pk, monday_off.pk]
    assert board_ids(tuesday_only) == [job.pk]
    assert board_ids(monday_off) == [job.pk]
    assert board_ids(monday_only) == []
    assert board_ids(tuesday_but_off) == []


# --- cleaners_eligible_for_job: shape of the query -------------------------------------------------


def test_ordered_by_id_and_iterator_yields_the_same_ids():
    cleaners = [CleanerFactory() for _ in range(7)]
    CleanerFactory(profile__is_verified=False)
    job = CleaningJobFactory()
    expected = sorted(c.pk for c in cleaners)
    assert eligible_ids(job) == expected
    assert [u.pk for u in cleaners_eligible_for_job(job=job).iterator(chunk_size=2)] == expected
    assert list(cleaners_eligible_for_job(job=job).values_list("pk", flat=True).iterator(chunk_size=3)) == expected


def test_it_is_one_query(django_assert_num_queries):
    CleanerFactory.create_batch(5)
    blocked = CleanerFactory()
    off = CleanerFactory()
    job = CleaningJobFactory()
    ClientBlockFactory(client=job.client, cleaner=blocked)
    CleanerUnavailabilityFactory(cleaner=off.cleaner_profile, date=timezone.localtime(job.scheduled_start).date())
    with django_assert_num_queries(1):
        users = list(cleaners_eligible_for_job(job=job))
    assert len(users) == 5
    with django_assert_num_queries(1):
        assert len(list(cleaners_eligible_for_job(job=job).iterator(chunk_size=2))) == 5


# --- jobs_open_for_cleaner: the board --------------------------------------------------------------


@pytest.mark.parametrize("status", [s for s in JobStatus.values if s != JobStatus.OPEN])
def test_board_lists_open_jobs_only(status):
    cleaner = CleanerFactory()
    open_job = CleaningJobFactory()
    CleaningJobFactory(status=status)
    assert board_ids(cleaner) == [open_job.pk]


def test_board_lists_future_jobs_only():
    cleaner = CleanerFactory()
    CleaningJobFactory(scheduled_start=timezone.now() - timedelta(minutes=1))
    CleaningJobFactory(scheduled_start=timezone.now() - timedelta(days=2))
    future = CleaningJobFactory(scheduled_start=timezone.now() + timedelta(minutes=5))
    assert board_ids(cleaner) == [future.pk]


def test_board_for_users_who_cannot_see_it():
    CleaningJobFactory()
    assert board_ids(ClientFactory()) == []
    assert board_ids(CleanerFactory(is_active=False)) == []
    assert board_ids(CleanerFactory(profile__is_verified=False)) == []
    assert board_ids(CleanerFactory(profile__working_days=frozenset())) == []
    assert board_ids(CleanerFactory(profile__service_types=frozenset())) == []


def test_board_is_newest_first_and_iterates_the_same():
    cleaner = CleanerFactory()
    jobs = [CleaningJobFactory() for _ in range(5)]
    expected = [j.pk for j in reversed(jobs)]
    assert board_ids(cleaner) == expected
    assert [j.pk for j in jobs_open_for_cleaner(cleaner=cleaner).iterator(chunk_size=2)] == expected


def test_board_is_one_query_after_reading_the_profile(django_assert_num_queries):
    cleaner = CleanerFactory()
    CleaningJobFactory.create_batch(4)
    blocked_job = CleaningJobFactory()
    ClientBlockFactory(client=blocked_job.client, cleaner=cleaner)
    cleaner = User.objects.get(pk=cleaner.pk)  # as a session loads it: the profile not read yet
    with django_assert_num_queries(1):  # the profile
        board = jobs_open_for_cleaner(cleaner=cleaner)
    with django_assert_num_queries(1):  # the board itself, however many criteria
        assert len(list(board)) == 4
    # The API's token authentication reads the profile with the user: no query for it then.
    cleaner = User.objects.select_related("cleaner_profile").get(pk=cleaner.pk)
    with django_assert_num_queries(1):
        assert len(list(jobs_open_for_cleaner(cleaner=cleaner))) == 4


# --- the two directions agree ----------------------------------------------------------------------


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Amsterdam", "America/New_York"])
def test_both_directions_agree_on_a_random_population(settings, time_zone):
    settings.TIME_ZONE = time_zone
    rng = random.Random(20240601)
    clients = ClientFactory.create_batch(4)
    cleaners = []
    for _ in range(30):
        lat, lon = north(*east(CITY_LAT, CITY_LON, rng.uniform(-15, 15)), rng.uniform(-15, 15))
        cleaners.append(
            cleaner_at(
                lat,
                lon,
                is_active=rng.random() > 0.1,
                profile__is_verified=rng.random() > 0.15,
                profile__service_radius_km=rng.choice([3, 5, 10, 20, 30]),
                profile__service_types=frozenset(rng.sample(ServiceType.values, rng.randint(1, 4))),
                profile__working_days=frozenset(rng.sample(Weekday.values, rng.randint(1, 6))),
            )
        )
    jobs = []
    for _ in range(15):
        lat, lon = north(*east(CITY_LAT, CITY_LON, rng.uniform(-10, 10)), rng.uniform(-10, 10))
        # Around midnight UTC, so the local date differs from the UTC date in some zones;
        # at least a day ahead whatever the time of the run, as the board shows only future jobs.
        start = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
            days=rng.randint(2, 10), minutes=rng.choice([-330, -90, -30, 30, 90, 330])
        )
        jobs.append(
            CleaningJobFactory(
                client=rng.choice(clients),
                latitude=lat,
                longitude=lon,
                service_type=rng.choice(ServiceType.values),
                scheduled_start=start,
            )
        )
    for cleaner in rng.sample(cleaners, 10):
        job = rng.choice(jobs)
        CleanerUnavailabilityFactory(
            cleaner=cleaner.cleaner_profile, date=timezone.localtime(job.scheduled_start).date()
        )
    for cleaner in rng.sample(cleaners, 6):
        ClientBlockFactory(client=rng.choice(clients), cleaner=cleaner)

    forward = {(c, j.pk) for j in jobs for c in eligible_ids(j)}
    backward = {(c.pk, j) for c in cleaners for j in board_ids(c)}
    assert forward == backward
    assert 10 < len(forward) < len(jobs) * len(cleaners)  # the population exercises both outcomes


# --- jobs_visible_to -------------------------------------------------------------------------------


def test_a_client_sees_their_own_jobs_in_every_state_and_nothing_else():
    client = ClientFactory()
    own = [CleaningJobFactory(client=client, status=s) for s in JobStatus.values]
    CleaningJobFactory()
    assert set(jobs_visible_to(user=client).values_list("pk", flat=True)) == {j.pk for j in own}


def test_a_cleaner_sees_the_board_their_bids_and_their_assignments():
    cleaner = CleanerFactory()
    on_board = CleaningJobFactory()
    far = CleaningJobFactory(latitude=CITY_LAT + 2)  # ~222 km: not on the board
    bid_on_far_now_cancelled = CleaningJobFactory(latitude=CITY_LAT + 2, status=JobStatus.CANCELLED)
    JobBidFactory(job=bid_on_far_now_cancelled, cleaner=cleaner, status="rejected")
    assigned = CleaningJobFactory(status=JobStatus.COMPLETED, assigned_cleaner=cleaner)
    someone_elses = CleaningJobFactory(status=JobStatus.ASSIGNED, assigned_cleaner=CleanerFactory())
    bid_and_board = CleaningJobFactory()
    JobBidFactory(job=bid_and_board, cleaner=cleaner)

    visible = list(jobs_visible_to(user=cleaner).values_list("pk", flat=True))
    assert sorted(visible) == sorted([on_board.pk, bid_on_far_now_cancelled.pk, assigned.pk, bid_and_board.pk])
    assert len(visible) == len(set(visible))  # no duplicates
    assert far.pk not in visible and someone_elses.pk not in visible


def test_jobs_visible_to_is_one_query_to_evaluate(django_assert_num_queries):
    cleaner = CleanerFactory()
    CleaningJobFactory.create_batch(3)
    JobBidFactory(cleaner=cleaner)
    qs = jobs_visible_to(user=cleaner)
    with django_assert_num_queries(1):
        assert len(list(qs)) == 4
    client = ClientFactory()
    CleaningJobFactory.create_batch(2, client=client)
    qs = jobs_visible_to(user=client)
    with django_assert_num_queries(1):
        assert len(list(qs)) == 2


# --- job_bids_visible_to and the other visibility selectors ---------------------------------------


def test_the_client_sees_every_bid_on_their_job_a_cleaner_only_their_own():
    job = CleaningJobFactory()
    mine, theirs = JobBidFactory(job=job), JobBidFactory(job=job, status="withdrawn")
    JobBidFactory()  # another job
    assert set(job_bids_visible_to(job=job, user=job.client)) == {mine, theirs}
    assert list(job_bids_visible_to(job=job, user=mine.cleaner)) == [mine]
    assert list(job_bids_visible_to(job=job, user=CleanerFactory())) == []
    assert list(job_bids_visible_to(job=job, user=ClientFactory())) == []


def test_job_bids_visible_to_is_one_query_with_the_cleaners(django_assert_num_queries):
    job = CleaningJobFactory()
    JobBidFactory.create_batch(4, job=job)
    with django_assert_num_queries(1):
        names = [bid.cleaner.username for bid in job_bids_visible_to(job=job, user=job.client)]
    assert len(names) == 4


def test_bids_visible_to():
    bid = JobBidFactory()
    JobBidFactory()
    assert list(bids_visible_to(user=bid.cleaner)) == [bid]
    assert list(bids_visible_to(user=bid.job.client)) == [bid]
    assert list(bids_visible_to(user=ClientFactory())) == []


def test_payments_and_messages_are_visible_to_their_two_parties_only():
    payment = PaymentFactory()
    assert list(job_payments_visible_to(job=payment.job, user=payment.payer)) == [payment]
    assert list(job_payments_visible_to(job=payment.job, user=payment.payee)) == [payment]
    assert list(job_payments_visible_to(job=payment.job, user=CleanerFactory())) == []

    message = JobMessageFactory()
    JobMessageFactory(job=message.job, sender=message.job.client, recipient=CleanerFactory())
    assert list(job_messages_visible_to(job=message.job, user=message.recipient)) == [message]
    assert len(job_messages_visible_to(job=message.job, user=message.job.client)) == 2
    assert list(job_messages_visible_to(job=message.job, user=CleanerFactory())) == []


# --- one job's bid facts, read in one query, agree with the listings ---------------------------------


def _bidder_scenarios():
    """(user, job) pairs covering every way a job is or is not visible to a user."""
    job = CleaningJobFactory()
    far = CleanerFactory(profile__latitude=CITY_LAT + 1)
    blocked = CleanerFactory()
    ClientBlockFactory(client=job.client, cleaner=blocked)
    day_off = CleanerFactory()
    CleanerUnavailabilityFactory(cleaner=day_off.cleaner_profile, date=timezone.localtime(job.scheduled_start).date())
    bid_before = CleanerFactory(profile__service_types=frozenset({"carpet"}))
    JobBidFactory(job=job, cleaner=bid_before, status="withdrawn")
    assigned = CleaningJobFactory(status=JobStatus.ASSIGNED)
    started = CleaningJobFactory(scheduled_start=timezone.now() - timedelta(hours=1))
    eligible = CleanerFactory()
    return [
        (eligible, job), (far, job), (blocked, job), (day_off, job), (bid_before, job),
        (CleanerFactory(is_active=False), job), (CleanerFactory(profile__is_verified=False), job),
        (job.client, job), (ClientFactory(), job), (eligible, assigned), (eligible, started),
        (CleanerFactory(profile__service_types=frozenset({"carpet"})), job),
    ]


def test_job_for_bid_sees_what_jobs_visible_to_sees(django_assert_num_queries):
    for user, job in _bidder_scenarios():
        listed = jobs_visible_to(user=user).filter(pk=job.pk).exists()
        user = User.objects.select_related("cleaner_profile").get(pk=user.pk)  # as the API's token auth reads it
        with django_assert_num_queries(1):
            locked, facts = job_for_bid(job_id=job.pk, cleaner=user)
        assert job_visible_to_bidder(job=locked, facts=facts, user=user) == listed, (user.username, job.pk)
        assert facts == bidder_facts(job=job, cleaner=user)
        eligible = cleaner_is_eligible_for_job(cleaner=user, job=job)
        if job.status == JobStatus.OPEN and job.scheduled_start > timezone.now() and not facts.blocked:
            assert facts.on_board == eligible, (user.username, job.pk)
