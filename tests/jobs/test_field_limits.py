"""Every input limit of the page forms and the API serializers is the model field's own.

Changing a limit on the model changes it at every door; a form or serializer that
restated a number would drift, and this catches it.
"""

from decimal import Decimal

import pytest

from jobs.field_limits import length_limit, number_limits
from jobs.forms import BidForm, JobForm, MessageForm
from jobs.models import CleaningJob, JobBid, JobMessage
from jobs.serializers import BidPlaceSerializer, JobCreateSerializer, MessageSendSerializer

LENGTHS = [
    (JobForm, CleaningJob, "title"),
    (JobForm, CleaningJob, "description"),
    (JobForm, CleaningJob, "address"),
    (JobForm, CleaningJob, "city"),
    (BidForm, JobBid, "message"),
    (MessageForm, JobMessage, "body"),
    (JobCreateSerializer, CleaningJob, "title"),
    (JobCreateSerializer, CleaningJob, "description"),
    (JobCreateSerializer, CleaningJob, "address"),
    (JobCreateSerializer, CleaningJob, "city"),
    (BidPlaceSerializer, JobBid, "message"),
    (MessageSendSerializer, JobMessage, "body"),
]
NUMBERS = [
    (JobForm, CleaningJob, "duration_hours", "duration_hours"),
    (JobForm, CleaningJob, "budget", "budget"),
    (BidForm, JobBid, "amount", "amount"),
    (JobCreateSerializer, CleaningJob, "latitude", "latitude"),
    (JobCreateSerializer, CleaningJob, "longitude", "longitude"),
    (JobCreateSerializer, CleaningJob, "duration_hours", "duration_hours"),
    (JobCreateSerializer, CleaningJob, "budget", "budget"),
    (BidPlaceSerializer, JobBid, "amount", "amount"),
]


def input_field(owner, name):
    return owner.base_fields[name] if hasattr(owner, "base_fields") else owner().fields[name]


@pytest.mark.parametrize(("owner", "model", "name"), LENGTHS)
def test_text_lengths_are_the_model_fields(owner, model, name):
    assert input_field(owner, name).max_length == length_limit(model, name)["max_length"]
    assert length_limit(model, name)["max_length"] == model._meta.get_field(name).max_length


@pytest.mark.parametrize(("owner", "model", "name", "model_name"), NUMBERS)
def test_number_ranges_and_digits_are_the_model_fields(owner, model, name, model_name):
    field = input_field(owner, name)
    limits = number_limits(model, model_name)
    assert {key: getattr(field, key) for key in limits} == limits


def test_the_limits_read_are_the_ones_stated_on_the_models():
    assert number_limits(CleaningJob, "budget") == {
        "min_value": Decimal("1"), "max_value": Decimal("100000.00"), "max_digits": 9, "decimal_places": 2,
    }
    assert number_limits(CleaningJob, "duration_hours") == {
        "min_value": Decimal("0.5"), "max_value": Decimal("72"), "max_digits": 4, "decimal_places": 1,
    }
    assert number_limits(CleaningJob, "latitude") == {"min_value": -90, "max_value": 90}
    assert length_limit(JobBid, "message") == {"max_length": 2000}
