import pytest

from jobs.selectors import cleaners_eligible_for_job, jobs_open_for_cleaner
from tests.factories import CleanerFactory, CleaningJobFactory

pytestmark = pytest.mark.django_db


def test_default_cleaner_is_eligible_for_default_job():
    cleaner = CleanerFactory()
    job = CleaningJobFactory()
    assert list(cleaners_eligible_for_job(job=job)) == [cleaner]
    assert list(jobs_open_for_cleaner(cleaner=cleaner)) == [job]
