"""jobs/compiled.py and job_for_bid's use of it: a query compiled once per shape, its values filled in per call.

The shortcut is sound when the filled-in statement is exactly the one the ORM compiles
for the same values, and when a reused shape answers for the new cleaner and job.
"""

from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from jobs import selectors
from jobs.compiled import CompiledQuery, ShapeError
from jobs.models import CleanerUnavailability, CleaningJob, ServiceType, Weekday
from jobs.selectors import job_for_bid
from tests.factories import (
    CITY_LAT, CITY_LON, CleanerFactory, CleanerUnavailabilityFactory, CleaningJobFactory, ClientFactory, JobBidFactory,
)

pytestmark = pytest.mark.django_db


def _statement(values: dict) -> tuple[str, list]:
    """What job_for_bid sends for these values, and what the ORM compiles for them."""
    compiled = selectors._job_for_bid._compiled(values)
    filled = [p.fill(values) if hasattr(p, "fill") else p for p in compiled.params]
    queryset = selectors._job_for_bid_queryset(values)
    sql, params = queryset.query.get_compiler(queryset.db).as_sql()
    return (compiled.sql, filled), (sql, list(params))


def _values(cleaner, job_id: int) -> dict:
    board, _is_cleaner = selectors._bidder_inputs(cleaner=cleaner)
    return {"job_id": job_id, "cleaner_id": cleaner.pk, **(vars(board) if board else {})}


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Amsterdam", "America/New_York"])
def test_the_filled_in_statement_is_the_one_the_orm_compiles_for_every_shape(settings, time_zone):
    settings.TIME_ZONE = time_zone
    job = CleaningJobFactory()
    places = [(CITY_LAT, CITY_LON), (10.0, 179.9), (89.9, 0.0), (-45.5, -179.95)]  # plain, wrapping, polar
    cleaners = [ClientFactory(), CleanerFactory(profile__is_verified=False)]
    for services in range(len(ServiceType.values) + 1):
        days = services % (len(Weekday.values) + 1)
        lat, lon = places[services % len(places)]
        cleaners.append(CleanerFactory(
            profile__latitude=lat, profile__longitude=lon, profile__service_radius_km=7,
            profile__service_types=frozenset(ServiceType.values[:services]),
            profile__working_days=frozenset(Weekday.values[:days]),
        ))
    for cleaner in cleaners:
        sent, orm = _statement(_values(cleaner, job.pk))
        assert sent == orm, cleaner.username


def test_a_reused_shape_answers_for_the_new_cleaner_and_job():
    near = CleanerFactory()
    far = CleanerFactory(profile__latitude=CITY_LAT + 1)  # same services and days: the same shape
    job, other_job = CleaningJobFactory(), CleaningJobFactory()
    JobBidFactory(job=other_job, cleaner=far)
    assert selectors._job_for_bid._compiled(_values(near, job.pk)) is selectors._job_for_bid._compiled(
        _values(far, other_job.pk)
    )
    with transaction.atomic():
        first, near_facts = job_for_bid(job_id=job.pk, cleaner=near)
        second, far_facts = job_for_bid(job_id=other_job.pk, cleaner=far)
        third, far_facts_first_job = job_for_bid(job_id=job.pk, cleaner=far)
    assert (first.pk, second.pk, third.pk) == (job.pk, other_job.pk, job.pk)
    assert near_facts.on_board and not near_facts.has_bid
    assert not far_facts.on_board and far_facts.has_bid and far_facts.has_live_bid
    assert not far_facts_first_job.on_board and not far_facts_first_job.has_bid
    assert second.title == other_job.title and second.status_at_load == other_job.status


def test_a_missing_job_raises_does_not_exist():
    with transaction.atomic(), pytest.raises(CleaningJob.DoesNotExist):
        job_for_bid(job_id=2**31 - 1, cleaner=CleanerFactory())


@pytest.mark.django_db(transaction=True)
def test_the_lock_needs_a_transaction_as_with_the_orm():
    job = CleaningJobFactory()
    with pytest.raises(TransactionManagementError):
        job_for_bid(job_id=job.pk, cleaner=CleanerFactory())
    with transaction.atomic():
        assert job_for_bid(job_id=job.pk, cleaner=CleanerFactory())[0].pk == job.pk


# --- what the stand-ins catch ----------------------------------------------------------------------


def test_a_value_in_the_sql_text_is_refused():
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(pk=RawSQL(str(v["id"]), ())))
    with pytest.raises(ShapeError):
        query.first({"id": 1})


def test_a_value_transformed_on_its_way_to_the_params_is_refused():
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(latitude__gte=v["lat"] - 1))
    with pytest.raises(ShapeError):
        query.first({"lat": 50.0})


def test_a_naive_datetime_is_refused():
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(scheduled_start__lt=v["now"]))
    with pytest.raises(ShapeError):
        query.first({"now": datetime.now()})


def test_an_input_that_does_not_matter_is_fine():
    # As job_for_bid's board for a cleaner offering no service: the condition is false whatever the place.
    job = CleaningJobFactory()
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(Q(pk=v["id"]) | Q(pk__in=v["none"], latitude=v["lat"])))
    assert query.first({"id": job.pk, "none": (), "lat": 50.0}).pk == job.pk


def test_a_tuple_input_fills_each_position_and_its_length_is_the_shape():
    jobs = CleaningJobFactory.create_batch(3)
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(pk__in=v["ids"]).order_by("-pk"))
    assert query.first({"ids": (jobs[0].pk, jobs[1].pk)}).pk == jobs[1].pk
    assert query.first({"ids": (jobs[0].pk,)}).pk == jobs[0].pk
    assert query.first({"ids": (jobs[2].pk, jobs[0].pk)}).pk == jobs[2].pk
    assert query.first({"ids": (jobs[2].pk + 1000,)}) is None


def test_a_start_in_the_past_is_a_param_not_a_shape():
    past = CleaningJobFactory(scheduled_start=timezone.now() - timedelta(hours=1))
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(pk=v["id"], scheduled_start__lt=v["now"]))
    assert query.first({"id": past.pk, "now": timezone.now()}).pk == past.pk
    assert query.first({"id": past.pk, "now": timezone.now() - timedelta(days=1)}) is None


# --- flat: one column of every row -----------------------------------------------------------------


def test_flat_reads_every_row_s_value_as_values_list_does():
    jobs = CleaningJobFactory.create_batch(3)
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(pk__in=v["ids"]).order_by("-pk").values_list("pk", flat=True))
    for ids in [(jobs[0].pk, jobs[2].pk), (jobs[1].pk, jobs[2].pk + 1000), (jobs[1].pk,)]:
        built = CleaningJob.objects.filter(pk__in=ids).order_by("-pk").values_list("pk", flat=True)
        assert query.flat({"ids": ids}) == list(built)
    assert query.flat({"ids": (jobs[2].pk + 1000,)}) == []


def test_flat_applies_the_column_s_converter():
    job = CleaningJobFactory()
    query = CompiledQuery(lambda v: CleaningJob.objects.filter(pk=v["id"]).values_list("budget", flat=True))
    assert query.flat({"id": job.pk}) == [job.budget] and type(query.flat({"id": job.pk})[0]) is type(job.budget)


def test_rows_and_one_column_are_read_by_their_own_method():
    job = CleaningJobFactory()
    rows = CompiledQuery(lambda v: CleaningJob.objects.filter(pk=v["id"]))
    column = CompiledQuery(lambda v: CleaningJob.objects.filter(pk=v["id"]).values_list("pk", flat=True))
    pairs = CompiledQuery(lambda v: CleaningJob.objects.filter(pk=v["id"]).values_list("pk", "title"))
    with pytest.raises(ShapeError):
        rows.flat({"id": job.pk})
    with pytest.raises(ShapeError):
        column.first({"id": job.pk})
    with pytest.raises(ShapeError):
        pairs.flat({"id": job.pk})


def test_all_reads_every_row_as_the_orm_does():
    jobs = CleaningJobFactory.create_batch(3)
    query = CompiledQuery(lambda v: CleaningJob.objects.select_related("client").filter(pk__in=v["ids"]).order_by("-pk"))
    ids = (jobs[0].pk, jobs[2].pk)
    got = query.all({"ids": ids})
    expected = list(CleaningJob.objects.select_related("client").filter(pk__in=ids).order_by("-pk"))
    assert [(j.pk, j.title, j.client.username) for j in got] == [(j.pk, j.title, j.client.username) for j in expected]
    assert query.all({"ids": (jobs[1].pk + 1000,)}) == []


def test_a_date_is_an_input_like_a_datetime():
    day_off = CleanerUnavailabilityFactory()
    query = CompiledQuery(lambda v: CleanerUnavailability.objects.filter(pk__in=v["ids"], date__gte=v["day"]))
    assert query.first({"ids": (day_off.pk,), "day": day_off.date}).pk == day_off.pk
    assert query.first({"ids": (day_off.pk,), "day": day_off.date + timedelta(days=1)}) is None


def test_postgresql_plans_the_statement_once_per_connection_not_on_every_call():
    """Prepared on first use (project/prepared.py): later calls skip parsing and planning."""
    query = CompiledQuery(lambda values: CleaningJob.objects.filter(client_id=values["client_id"]))
    job = CleaningJobFactory()

    assert [j.pk for j in query.all({"client_id": job.client_id})] == [job.pk]
    assert query.all({"client_id": job.client_id + 1}) == []
    assert [j.pk for j in query.all({"client_id": job.client_id})] == [job.pk]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "jobs_cleaningjob" WHERE "jobs_cleaningjob"."client_id" = $1%'],
        )
        assert cursor.fetchall() == [(3,)]  # one statement, run three times
