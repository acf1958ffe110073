"""ChoiceSetField: a set of choices stored as a bit mask."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import ExpressionWrapper, F, IntegerField
from django.forms import modelform_factory

from jobs.fields import ChoiceSetField
from jobs.models import CleanerProfile, ServiceType, Weekday
from tests.factories import CleanerProfileFactory, UserFactory

SERVICES = CleanerProfile._meta.get_field("service_types")
DAYS = CleanerProfile._meta.get_field("working_days")


# --- pure conversions ------------------------------------------------------------------


def test_each_choice_owns_the_bit_of_its_position():
    assert [SERVICES.bit(value) for value in ServiceType.values] == [1 << i for i in range(len(ServiceType))]
    assert DAYS.bit("mon") == 1 and DAYS.bit("sun") == 64


def test_mask_and_from_mask_round_trip_every_subset_of_days():
    for mask in range(1 << len(Weekday)):
        assert DAYS.mask(DAYS.from_mask(mask)) == mask


def test_mask_ignores_order_and_duplicates():
    assert DAYS.mask(["fri", "mon", "mon"]) == DAYS.mask({"mon", "fri"}) == 0b10001


@pytest.mark.parametrize("value", ["funday", "", "MON", None])
def test_unknown_value_is_a_validation_error(value):
    with pytest.raises(ValidationError) as info:
        DAYS.bit(value)
    assert "is not one of" in str(info.value)


def test_to_python_accepts_sets_lists_masks_and_comma_strings():
    expected = frozenset({"mon", "wed"})
    assert DAYS.to_python(expected) is expected
    assert DAYS.to_python(["wed", "mon"]) == expected
    assert DAYS.to_python({"wed", "mon"}) == expected
    assert DAYS.to_python(0b101) == expected
    assert DAYS.to_python("mon,wed") == expected
    assert DAYS.to_python("") == frozenset()
    assert DAYS.to_python(None) is None
    with pytest.raises(ValidationError):
        DAYS.to_python("mon,someday")


def test_get_prep_value():
    assert DAYS.get_prep_value(frozenset({"tue"})) == 2
    assert DAYS.get_prep_value(["tue", "thu"]) == 0b1010
    assert DAYS.get_prep_value(5) == 5
    assert DAYS.get_prep_value(None) is None
    assert DAYS.get_prep_value(frozenset()) == 0


def test_needs_choices():
    with pytest.raises(TypeError):
        ChoiceSetField()


def test_deconstruct_keeps_choices_and_drops_the_default():
    _name, path, _args, kwargs = DAYS.deconstruct()
    assert path == "jobs.fields.ChoiceSetField"
    assert kwargs["choices"] == list(Weekday.choices)
    assert "default" not in kwargs
    clone = ChoiceSetField(**kwargs)
    assert clone.values == DAYS.values


def test_value_to_string_is_sorted_and_comma_separated():
    profile = CleanerProfile(working_days=frozenset({"sun", "mon"}))
    assert DAYS.value_to_string(profile) == "mon,sun"


def test_no_integer_range_validators_on_a_set():
    # BigIntegerField's min/max validators would compare a frozenset with an int.
    assert DAYS.validators == []
    DAYS.clean(frozenset({"mon"}), None)


def test_form_field_is_checkboxes_with_the_sets_checked():
    Form = modelform_factory(CleanerProfile, fields=["service_types", "working_days"])
    form = Form(instance=CleanerProfile(service_types=frozenset({"deep"}), working_days=frozenset({"mon", "fri"})))
    html = str(form["working_days"])
    assert html.count('type="checkbox"') == 7
    assert html.count("checked") == 2
    bound = Form(data={"service_types": ["deep", "office"], "working_days": ["sat"]})
    assert bound.is_valid(), bound.errors
    assert bound.cleaned_data["service_types"] == ["deep", "office"]
    invalid = Form(data={"service_types": ["nope"], "working_days": []})
    assert not invalid.is_valid()
    assert set(invalid.errors) == {"service_types", "working_days"}


# --- the database ------------------------------------------------------------------------


@pytest.mark.django_db
def test_database_round_trip_stores_an_integer_and_reads_a_frozenset():
    profile = CleanerProfileFactory(service_types={"deep", "windows"}, working_days=["sat", "sun"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT service_types, working_days FROM jobs_cleanerprofile WHERE id = %s", [profile.pk]
        )
        raw = cursor.fetchone()
    assert raw == (SERVICES.mask({"deep", "windows"}), 0b1100000)
    profile = CleanerProfile.objects.get(pk=profile.pk)
    assert profile.service_types == frozenset({"deep", "windows"})
    assert isinstance(profile.working_days, frozenset)


@pytest.mark.django_db
def test_the_empty_set_is_zero_and_reads_back_empty():
    profile = CleanerProfileFactory(service_types=frozenset(), working_days=frozenset())
    profile.refresh_from_db()
    assert profile.service_types == frozenset()
    assert CleanerProfile.objects.filter(working_days=0).get() == profile


@pytest.mark.django_db
def test_values_list_and_exact_filter_use_the_set():
    profile = CleanerProfileFactory(working_days=frozenset({"mon", "tue"}))
    assert CleanerProfile.objects.filter(working_days=frozenset({"tue", "mon"})).get() == profile
    assert list(CleanerProfile.objects.values_list("working_days", flat=True)) == [frozenset({"mon", "tue"})]


@pytest.mark.django_db
@pytest.mark.parametrize("day", Weekday.values)
def test_bit_query_finds_exactly_who_works_that_day(day):
    weekend = CleanerProfileFactory(working_days=frozenset({"sat", "sun"}))
    weekdays = CleanerProfileFactory(working_days=frozenset({"mon", "tue", "wed", "thu", "fri"}))
    everyone = CleanerProfileFactory(working_days=frozenset(Weekday.values))
    CleanerProfileFactory(working_days=frozenset())
    works = ExpressionWrapper(F("working_days").bitand(DAYS.bit(day)), output_field=IntegerField())
    found = set(CleanerProfile.objects.alias(works=works).filter(works__gt=0).values_list("pk", flat=True))
    expected = {everyone.pk, weekend.pk if day in ("sat", "sun") else weekdays.pk}
    assert found == expected


@pytest.mark.django_db
def test_bit_query_for_any_of_several_services():
    deep = CleanerProfileFactory(service_types=frozenset({"deep"}))
    carpet = CleanerProfileFactory(service_types=frozenset({"carpet", "standard"}))
    CleanerProfileFactory(service_types=frozenset({"office"}))
    wanted = SERVICES.mask({"deep", "carpet"})
    any_of = ExpressionWrapper(F("service_types").bitand(wanted), output_field=IntegerField())
    found = set(CleanerProfile.objects.alias(m=any_of).filter(m__gt=0).values_list("pk", flat=True))
    assert found == {deep.pk, carpet.pk}


@pytest.mark.django_db
def test_saving_an_unknown_value_fails_before_the_database():
    profile = CleanerProfileFactory.build(user=UserFactory(), working_days=frozenset({"mon", "moonday"}))
    with pytest.raises(ValidationError), transaction.atomic():
        profile.save()
    assert not CleanerProfile.objects.exists()
