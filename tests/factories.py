"""factory-boy factories for every model; defaults make an eligible pair by default.

A job's default place is the demo city's centre and a cleaner's default profile
sits on it, works every day and offers every service, so a plain
CleanerFactory() is eligible for a plain CleaningJobFactory(): tests then change
exactly the one thing they are about.
"""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.models import (
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

CITY_LAT = 52.3676
CITY_LON = 4.9041
PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    is_active = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ClientFactory(UserFactory):
    username = factory.Sequence(lambda n: f"client{n}")


class CleanerProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CleanerProfile

    user = factory.SubFactory(UserFactory, username=factory.Sequence(lambda n: f"cleaner{n}"))
    service_types = frozenset(ServiceType.values)
    working_days = frozenset(Weekday.values)
    latitude = CITY_LAT
    longitude = CITY_LON
    service_radius_km = 25.0
    is_verified = True
    rating = Decimal("4.50")


class CleanerFactory(UserFactory):
    """A user with a verified cleaner profile; pass profile__<field> to change it."""

    username = factory.Sequence(lambda n: f"cleaner{n}")
    profile = factory.RelatedFactory(CleanerProfileFactory, factory_related_name="user")


class CleanerUnavailabilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CleanerUnavailability

    cleaner = factory.SubFactory(CleanerProfileFactory)
    date = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=3)).date())


class ClientBlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClientBlock

    client = factory.SubFactory(ClientFactory)
    cleaner = factory.SubFactory(CleanerFactory)


class CleaningJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CleaningJob

    client = factory.SubFactory(ClientFactory)
    title = factory.Sequence(lambda n: f"Clean apartment #{n}")
    description = "Two bedrooms, one bathroom, kitchen."
    service_type = ServiceType.STANDARD
    address = "Damrak 1"
    city = "Amsterdam"
    latitude = CITY_LAT
    longitude = CITY_LON
    scheduled_start = factory.LazyFunction(lambda: timezone.now() + timedelta(days=3))
    duration_hours = Decimal("3.0")
    budget = Decimal("120.00")
    status = JobStatus.OPEN


class JobBidFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobBid

    job = factory.SubFactory(CleaningJobFactory)
    cleaner = factory.SubFactory(CleanerFactory)
    amount = Decimal("100.00")
    message = "I can do it."
    status = BidStatus.PENDING


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    job = factory.SubFactory(CleaningJobFactory, status=JobStatus.COMPLETED)
    payer = factory.SelfAttribute("job.client")
    payee = factory.SubFactory(CleanerFactory)
    amount = Decimal("100.00")
    status = PaymentStatus.SUCCEEDED


class JobMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JobMessage

    job = factory.SubFactory(CleaningJobFactory)
    sender = factory.SelfAttribute("job.client")
    recipient = factory.SubFactory(CleanerFactory)
    body = "When can you come?"
