"""The admin: every page opens, and the ChoiceSetField checkboxes round-trip."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from jobs.models import (
    CleanerProfile,
    CleanerUnavailability,
    CleaningJob,
    ClientBlock,
    JobBid,
    JobMessage,
    Payment,
)
from tests.factories import (
    CleanerFactory,
    CleanerProfileFactory,
    CleanerUnavailabilityFactory,
    CleaningJobFactory,
    ClientBlockFactory,
    JobBidFactory,
    JobMessageFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ALL_MODELS = [CleanerProfile, CleanerUnavailability, ClientBlock, CleaningJob, JobBid, Payment, JobMessage]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-1")
    client.force_login(admin)
    return client


@pytest.fixture
def one_of_each():
    profile = CleanerProfileFactory()
    CleanerUnavailabilityFactory(cleaner=profile)
    ClientBlockFactory()
    job = CleaningJobFactory()
    JobBidFactory(job=job)
    PaymentFactory()
    JobMessageFactory()
    return profile


def _url(model, action, *args):
    return reverse(f"admin:jobs_{model._meta.model_name}_{action}", args=args)


def _checked(html: str, name: str) -> set[str]:
    """The values of the checked checkboxes named `name` in a rendered form."""
    values = set()
    for tag in re.findall(r"<input[^>]*>", html):
        if f'name="{name}"' in tag and "checked" in tag:
            values.add(re.search(r'value="([^"]*)"', tag).group(1))
    return values


def _profile_post_data(profile_user, **overrides):
    data = {
        "user": str(profile_user.pk),
        "is_verified": "on",
        "rating": "4.20",
        "service_types": ["deep", "windows"],
        "working_days": ["mon", "wed", "sat"],
        "latitude": "52.37",
        "longitude": "4.90",
        "service_radius_km": "12.5",
        "unavailable_days-TOTAL_FORMS": "1",
        "unavailable_days-INITIAL_FORMS": "0",
        "unavailable_days-MIN_NUM_FORMS": "0",
        "unavailable_days-MAX_NUM_FORMS": "1000",
        "unavailable_days-0-date": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_add_and_change_pages_open(admin_client, one_of_each, model):
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "add")).status_code == 200
    obj = model.objects.first()
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, django_assert_max_num_queries, model):
    """list_select_related: 30 rows cost the same queries as a handful would."""
    factory = {
        CleanerProfile: CleanerProfileFactory,
        CleanerUnavailability: CleanerUnavailabilityFactory,
        ClientBlock: ClientBlockFactory,
        CleaningJob: CleaningJobFactory,
        JobBid: JobBidFactory,
        Payment: PaymentFactory,
        JobMessage: JobMessageFactory,
    }[model]
    factory.create_batch(30)
    # session, user, count(s), the page of rows, filters' lookups: a small constant.
    with django_assert_max_num_queries(12):
        response = admin_client.get(_url(model, "changelist"))
    assert response.status_code == 200


def test_user_foreign_keys_use_autocomplete_not_a_select_of_every_user(admin_client, one_of_each):
    UserFactory.create_batch(5)
    html = admin_client.get(_url(CleaningJob, "add")).content.decode()
    client_select = re.search(r'<select[^>]*name="client"[^>]*>(.*?)</select>', html, re.S)
    assert client_select is not None
    assert "admin-autocomplete" in client_select.group(0)
    assert "<option" not in client_select.group(1).replace('<option value="" selected>', "")


def test_profile_change_page_shows_the_stored_sets_checked(admin_client):
    cleaner = CleanerFactory(
        profile__service_types=frozenset({"deep", "office"}),
        profile__working_days=frozenset({"tue", "sun"}),
    )
    profile = cleaner.cleaner_profile
    html = admin_client.get(_url(CleanerProfile, "change", profile.pk)).content.decode()
    assert 'type="checkbox"' in html
    assert _checked(html, "service_types") == {"deep", "office"}
    assert _checked(html, "working_days") == {"tue", "sun"}


def test_profile_change_page_post_saves_the_sets(admin_client):
    profile = CleanerFactory().cleaner_profile
    day_off = (timezone.now() + timedelta(days=5)).date()
    data = _profile_post_data(profile.user, **{"unavailable_days-0-date": day_off.isoformat()})
    response = admin_client.post(_url(CleanerProfile, "change", profile.pk), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    profile.refresh_from_db()
    assert profile.service_types == frozenset({"deep", "windows"})
    assert profile.working_days == frozenset({"mon", "wed", "sat"})
    assert profile.service_radius_km == 12.5
    assert list(profile.unavailable_days.values_list("date", flat=True)) == [day_off]
    # And the page shows the new values checked.
    html = admin_client.get(_url(CleanerProfile, "change", profile.pk)).content.decode()
    assert _checked(html, "working_days") == {"mon", "wed", "sat"}


def test_profile_add_page_post_creates_a_profile(admin_client):
    user = UserFactory()
    response = admin_client.post(_url(CleanerProfile, "add"), _profile_post_data(user))
    assert response.status_code == 302, response.content.decode()[:2000]
    profile = CleanerProfile.objects.get(user=user)
    assert profile.service_types == frozenset({"deep", "windows"})
    assert profile.working_days == frozenset({"mon", "wed", "sat"})


def test_profile_form_rejects_an_unknown_choice_and_missing_days(admin_client):
    user = UserFactory()
    data = _profile_post_data(user, service_types=["deep", "teleport"], working_days=[])
    response = admin_client.post(_url(CleanerProfile, "add"), data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "service_types" in errors
    assert "working_days" in errors
    assert not CleanerProfile.objects.filter(user=user).exists()


def test_profile_changelist_filters_by_service_bit(admin_client):
    deep = CleanerFactory(profile__service_types=frozenset({"deep"})).cleaner_profile
    CleanerFactory(profile__service_types=frozenset({"office"}))
    response = admin_client.get(_url(CleanerProfile, "changelist"), {"offers": "deep"})
    assert response.status_code == 200
    assert [p.pk for p in response.context["cl"].result_list] == [deep.pk]


def test_profile_changelist_filters_by_working_day(admin_client):
    CleanerFactory(profile__working_days=frozenset({"mon"}))
    sunday = CleanerFactory(profile__working_days=frozenset({"sun", "sat"})).cleaner_profile
    response = admin_client.get(_url(CleanerProfile, "changelist"), {"works_on": "sun"})
    assert [p.pk for p in response.context["cl"].result_list] == [sunday.pk]


def test_autocomplete_finds_users_by_username(admin_client):
    UserFactory(username="needle-user")
    UserFactory(username="haystack")
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {"term": "needle", "app_label": "jobs", "model_name": "cleaningjob", "field_name": "client"},
    )
    assert response.status_code == 200
    assert [r["text"] for r in response.json()["results"]] == ["needle-user"]
