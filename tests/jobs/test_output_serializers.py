"""The API's output serializers build their fields once per class: the same fields, the same output, as DRF's own."""

import pytest
from rest_framework import serializers

from jobs.serializers import BidSerializer, JobSerializer, MessageSerializer, PaymentSerializer
from notifications.models import Notification
from notifications.serializers import NotificationSerializer
from project.serializers import OutputSerializer
from tests.factories import ClientFactory, JobBidFactory, JobMessageFactory, PaymentFactory

pytestmark = pytest.mark.django_db

OUTPUT_SERIALIZERS = [JobSerializer, BidSerializer, PaymentSerializer, MessageSerializer, NotificationSerializer]


def as_drf_builds_it(serializer_class):
    """The same serializer on DRF's ModelSerializer, which builds its fields per instance."""
    declared = {name: field.__class__(*field._args, **field._kwargs) for name, field in serializer_class._declared_fields.items()}
    methods = {name: value for name, value in vars(serializer_class).items() if name.startswith("get_")}  # SerializerMethodFields'
    return type(f"Plain{serializer_class.__name__}", (serializers.ModelSerializer,), {"Meta": serializer_class.Meta, **declared, **methods})


@pytest.mark.parametrize("serializer_class", OUTPUT_SERIALIZERS)
def test_the_fields_are_drfs(serializer_class):
    plain = as_drf_builds_it(serializer_class)
    for _ in range(2):  # the first instance builds them, the second copies them
        assert repr(serializer_class()).split("\n", 1)[1] == repr(plain()).split("\n", 1)[1]


def test_the_output_is_drfs_and_instances_do_not_share_fields():
    bid, message, payment = JobBidFactory(), JobMessageFactory(), PaymentFactory()
    notification = Notification.objects.create(recipient=ClientFactory(), notification_type="system_alert", title="Hi")
    for serializer_class, instance in [
        (BidSerializer, bid), (JobSerializer, bid.job), (MessageSerializer, message), (PaymentSerializer, payment),
        (NotificationSerializer, notification),
    ]:
        first, second = serializer_class(instance), serializer_class(instance)
        assert first.data == as_drf_builds_it(serializer_class)(instance).data
        assert first.data == second.data
        assert not set(map(id, first.fields.values())) & set(map(id, second.fields.values()))
        assert all(field.parent is first for field in first.fields.values())
    assert issubclass(BidSerializer, OutputSerializer)
